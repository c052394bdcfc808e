"""The visit forms' lost-customer hint (POST /defeats/visit-hint/): a phone in the competitor pool or on the nurture
list says so; the customer is named only to whoever reads the phone in full; a partial phone matches nothing."""

import pytest

from dealercrm.tests.clients import client_for
from defeats import services
from defeats.models import PoolEntry
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

URL = "/defeats/visit-hint/"


def _lost(org, catalogue, *, kind="defeat", phone="+8613500135000", name="钱先生"):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name=name, phone=phone)
    extra = {"competitor_series": catalogue.accord} if kind == "defeat" else {}
    app = services.application_file(actor=org.consultant, lead=lead, kind=kind,
                                    reasons=["model_unsatisfied" if kind == "defeat" else "funding_not_ready"],
                                    **extra)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    return PoolEntry.objects.get(lead=lead)


def test_the_hint_names_a_pool_customer_to_who_reads_the_phone(org, catalogue):
    _lost(org, catalogue)
    r = client_for(org.consultant).post(URL, {"phone": "135 0013 5000"})
    body = r.content.decode()
    assert r.status_code == 200 and "In the competitor pool:" in body and "钱先生" in body and "Accord T" in body
    assert "wins them back" in body


def test_the_hint_says_only_that_for_a_colleague(org, catalogue):
    _lost(org, catalogue)
    body = client_for(org.consultant2).post(URL, {"phone": "13500135000"}).content.decode()
    assert "This phone is a customer in the competitor pool." in body and "钱先生" not in body


def test_the_nurture_list_and_no_match(org, catalogue):
    _lost(org, catalogue, kind="quasi")
    c = client_for(org.consultant)
    assert "On the nurture list:" in c.post(URL, {"phone": "13500135000"}).content.decode()
    assert c.post(URL, {"phone": "1350013"}).content.decode().strip() == ""  # a partial phone: nothing
    assert client_for(org.consultant_b).post(URL, {"phone": "13500135000"}).content.decode().strip() == ""


def test_the_visit_forms_ask_for_it_and_denials(org, catalogue):
    assert 'id="dft-visit-hint"' in client_for(org.consultant).get("/leads/visit/").content.decode()
    assert client_for(org.consultant).get(URL).status_code == 405
    assert client_for(org.admin).post(URL, {"phone": "13500135000", "store": org.other_store.pk}).status_code == 400
    _lost(org, catalogue)
    body = client_for(org.admin).post(URL, {"phone": "13500135000", "store": org.store.pk}).content.decode()
    assert "钱先生" in body
