"""What the visit forms say when a lost customer walks in: a win-back (defeated, on a list) or a pending application
closed, not a plain "re-visit recorded"."""

import pytest
from django.urls import reverse

from dealercrm.tests.clients import HTMX, client_for
from defeats import services
from leads.models import Status
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

PHONE = "+8613500135000"


def _defeated(org, catalogue, kind="defeat"):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="钱先生", phone=PHONE)
    extra = {"competitor_series": catalogue.accord} if kind == "defeat" else {}
    app = services.application_file(actor=org.consultant, lead=lead, kind=kind,
                                    reasons=["model_unsatisfied" if kind == "defeat" else "funding_not_ready"],
                                    **extra)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    lead.refresh_from_db()
    assert lead.status == Status.DEFEATED
    return lead


def test_the_quick_walk_in_says_it_is_a_win_back(org, catalogue):
    _defeated(org, catalogue)
    r = client_for(org.consultant).post(reverse("leads:visit"), {"quick": "1", "name": "钱", "phone": "13500135000",
                                                                 "source": "walk_in"}, **HTMX)
    body = r.content.decode()
    assert "钱先生 came back: won back from the defeats" in body and "Re-visit recorded for" not in body


def test_the_full_visit_form_says_it_too_for_the_nurture_list(org, catalogue):
    _defeated(org, catalogue, kind="quasi")
    r = client_for(org.consultant).post(reverse("leads:visit"), {"name": "钱", "phone": "13500135000",
                                                                 "source": "walk_in"}, follow=True)
    assert "钱先生 came back: won back from the defeats" in r.content.decode()


def test_a_pending_application_closed_by_the_visit_is_said_so(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="孙女士", phone=PHONE)
    services.application_file(actor=org.consultant, lead=lead, kind="quasi", reasons=["funding_not_ready"])
    r = client_for(org.consultant).post(reverse("leads:visit"), {"name": "孙", "phone": "13500135000",
                                                                 "source": "walk_in"}, follow=True)
    assert "孙女士 came back: the pending defeat application is closed" in r.content.decode()


def test_a_plain_revisit_is_still_a_revisit(org):
    LeadFactory(store=org.store, assigned_to=org.consultant, name="李先生", phone=PHONE)
    r = client_for(org.consultant).post(reverse("leads:visit"), {"name": "李", "phone": "13500135000",
                                                                 "source": "walk_in"}, follow=True)
    assert "Re-visit recorded for 李先生." in r.content.decode()
