"""The workspace's quick walk-in form names a referrer (optional, folded), with the full visit form's search."""

import pytest
from django.urls import reverse

from baseclients.models import BaseClient, Referral
from dealercrm.tests.clients import HTMX, client_for
from leads.models import Lead

from .factories import buy

pytestmark = pytest.mark.django_db


def test_the_quick_form_offers_the_referrer_search(org):
    page = client_for(org.consultant).get("/").content.decode()
    assert 'class="quick-referrer' in page and 'name="referrer_q"' in page


def test_a_quick_walk_in_with_a_referrer_credits_it(org):
    referrer = BaseClient.objects.get(purchase_rows__deal=buy(store=org.store, consultant=org.consultant))
    r = client_for(org.consultant).post(reverse("leads:visit"), {
        "quick": "1", "name": "周先生", "phone": "139 0013 9001", "source": "walk_in",
        "referrer": referrer.pk, "referral_types": ["old_user"]}, **HTMX)
    assert r.status_code == 200 and "New lead logged" in r.content.decode()
    lead = Lead.objects.get(phone="+8613900139001")
    referral = Referral.objects.get(lead=lead)
    assert (referral.referrer_client, referral.types) == (referrer, ["old_user"])


def test_without_a_referrer_nothing_is_recorded_and_another_groups_client_is_refused(org):
    other = BaseClient.objects.get(purchase_rows__deal=buy(store=org.other_store, consultant=org.other_manager))
    c = client_for(org.consultant)
    c.post(reverse("leads:visit"), {"quick": "1", "name": "吴", "phone": "13900139002", "source": "walk_in"}, **HTMX)
    assert not Referral.objects.filter(lead__phone="+8613900139002").exists()
    r = c.post(reverse("leads:visit"), {"quick": "1", "name": "郑", "phone": "13900139003", "source": "walk_in",
                                        "referrer": other.pk}, **HTMX)
    assert "Choose a base client of this dealer group." in r.content.decode()
    assert not Lead.objects.filter(phone="+8613900139003").exists()
