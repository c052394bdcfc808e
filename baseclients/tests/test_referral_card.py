"""The referral reward card (推荐有奖): every client's code, and a new lead giving it is a referral credited to the
card's client, through the same referral machinery as a picked referrer (API and visit form)."""

import pytest
from django.test import Client

from baseclients.cards import ALPHABET, card_code, client_id_of
from baseclients.models import Referral
from baseclients.tests.factories import buy
from leads.models import Lead

pytestmark = pytest.mark.django_db


def test_codes_are_six_unambiguous_characters_and_read_back():
    codes = {card_code(pk) for pk in range(1, 20001)}
    assert len(codes) == 20000  # no two clients share a code
    assert all(len(c) == 6 and not set(c) & set("0O1IL") for c in codes)
    assert client_id_of(card_code(4711)) == 4711
    assert client_id_of(card_code(4711).lower()) == 4711  # typed in lower case, with a space
    assert client_id_of(card_code(4711)[:3] + " " + card_code(4711)[3:]) == 4711
    code = card_code(4711)
    # Any one wrong character is caught by the check letter, not read as somebody else's card.
    for i in range(6):
        for ch in ALPHABET:
            if ch != code[i]:
                assert client_id_of(code[:i] + ch + code[i + 1:]) is None
    assert client_id_of("O0I1L2") is None and client_id_of("") is None and client_id_of("ABC") is None


def test_a_lead_created_with_the_code_is_a_referral_of_the_cards_client(org, api_as):
    referrer = buy(store=org.store, consultant=org.consultant2).purchase.client
    api = api_as(org.consultant)
    r = api.post("/api/v1/leads/", {"name": "新客户", "phone": "13700000001", "source": "walk_in",
                                    "referral_code": referrer.card_code.lower()}, format="json")
    assert r.status_code == 201, r.content
    lead = Lead.objects.get(pk=r.json()["id"])
    referral = Referral.objects.get(lead=lead)
    assert referral.referrer_client_id == referrer.pk and lead.source == "referral"
    assert r.json()["referrer"] == referrer.pk


def test_a_wrong_code_or_another_groups_card_is_a_400_and_no_lead(org, api_as):
    other = buy(store=org.other_store, consultant=_other_consultant(org)).purchase.client
    api = api_as(org.consultant)
    for code in ("ZZZZZZ", other.card_code):
        r = api.post("/api/v1/leads/", {"name": "新客户", "phone": "13700000002", "source": "walk_in",
                                        "referral_code": code}, format="json")
        assert r.status_code == 400 and "referral_code" in r.json(), r.content
    assert not Lead.objects.filter(phone="+8613700000002").exists()


def _other_consultant(org):
    from dealercrm.tests.factories import ConsultantFactory

    return ConsultantFactory(store=org.other_store)


def test_the_visit_form_takes_the_code(org):
    referrer = buy(store=org.store, consultant=org.consultant).purchase.client
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.consultant)
    page = client.get("/leads/visit/")
    assert 'name="referral_code"' in page.content.decode()
    r = client.post("/leads/visit/", {"name": "王先生", "phone": "13700000003", "source": "walk_in",
                                      "referral_code": "ZZZZZZ"})
    assert r.status_code == 200 and "No base client of this dealer group has this referral card code" in \
        r.content.decode()
    client.post("/leads/visit/", {"name": "王先生", "phone": "13700000003", "source": "walk_in",
                                  "referral_code": referrer.card_code})
    lead = Lead.objects.get(phone="+8613700000003")
    assert lead.referral.referrer_client_id == referrer.pk


def test_the_card_shows_the_code_and_prints(org):
    referrer = buy(store=org.store, consultant=org.consultant).purchase.client
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.consultant)
    assert referrer.card_code in client.get(f"/base-clients/{referrer.pk}/").content.decode()
    page = client.get(f"/base-clients/{referrer.pk}/card/")
    assert page.status_code == 200 and referrer.card_code in page.content.decode()
    client.force_login(org.consultant_b)  # another store's consultant: 404
    assert client.get(f"/base-clients/{referrer.pk}/card/").status_code == 404
