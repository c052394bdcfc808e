"""No search unmasks a phone. A user matches a phone by its digits only among the phones they see in full (their own
clients; a manager: the store's; a group admin: the group's); any other client matches by the whole number only, so
growing a search one digit at a time recovers nothing, while the number a customer gives still credits its
referrer. The referrer search (group-wide), the list's search (page and API) and the queryset rule itself."""

import re

import pytest

from baseclients.models import BaseClient
from dealercrm.tests.clients import client_for

from .factories import buy

pytestmark = pytest.mark.django_db

COLLEAGUES = "+8613812345678"  # org.consultant's client (org.store)
OTHER_STORES = "+8613987654321"  # org.consultant_b's client (org.store2, same group)
OWN = "+8613711112222"  # org.consultant2's own client


def _client(deal):
    return BaseClient.objects.get(purchase_rows__deal=deal)


def _suffixes(e164: str) -> list[str]:
    national = e164.removeprefix("+86")
    return [national[-n:] for n in range(2, len(national))]


def _prefixes(e164: str) -> list[str]:
    national = e164.removeprefix("+86")
    return [national[:n] for n in range(2, len(national))]


@pytest.fixture
def clients(org):
    return {
        "colleagues": _client(buy(store=org.store, consultant=org.consultant, phone=COLLEAGUES, name="甲客户")),
        "other_stores": _client(buy(store=org.store2, consultant=org.consultant_b, phone=OTHER_STORES,
                                    name="乙客户")),
        "own": _client(buy(store=org.store, consultant=org.consultant2, phone=OWN, name="丙客户")),
    }


def _referrer_hits(c, q: str) -> set[int]:
    body = c.post("/base-clients/referrer-search/", {"referrer_q": q}).content.decode()
    return {int(v) for v in re.findall(r'name="referrer" value="(\d+)"', body)}


@pytest.mark.parametrize("target", ["colleagues", "other_stores"])
def test_growing_a_suffix_in_the_referrer_search_never_matches_until_the_whole_number(org, clients, target):
    c = client_for(org.consultant2)
    client = clients[target]
    for partial in [*_suffixes(client.phone), *_prefixes(client.phone)]:
        assert client.pk not in _referrer_hits(c, partial), partial
    # The whole number, however it is typed, still finds the referrer (the referral is credited).
    national = client.phone.removeprefix("+86")
    for whole in (national, f"{national[:3]} {national[3:7]} {national[7:]}", client.phone, f"+86 {national}"):
        assert _referrer_hits(c, whole) == {client.pk}, whole


def test_the_referrer_search_finds_the_users_own_client_by_part_of_its_phone(org, clients):
    c = client_for(org.consultant2)
    assert _referrer_hits(c, "1111") == {clients["own"].pk}
    assert _referrer_hits(c, "37111") == {clients["own"].pk}


def test_a_manager_matches_partial_digits_in_their_store_only(org, clients):
    c = client_for(org.manager)
    assert _referrer_hits(c, "45678") == {clients["colleagues"].pk}
    assert _referrer_hits(c, "654321") == set()  # store2's client: masked for org.manager
    assert _referrer_hits(c, "13987654321") == {clients["other_stores"].pk}
    assert _referrer_hits(client_for(org.admin), "654321") == {clients["other_stores"].pk}


def test_the_referrer_search_answers_the_same_for_no_match_and_a_hidden_match(org, clients):
    """Nothing in the answer tells a masked partial match from no client at all."""
    c = client_for(org.consultant2)
    hidden = c.post("/base-clients/referrer-search/", {"referrer_q": "12345678"}).content
    nothing = c.post("/base-clients/referrer-search/", {"referrer_q": "00000000"}).content
    assert hidden == nothing


def test_the_list_search_matches_partial_digits_only_among_phones_shown_in_full(org, clients, api_as):
    own = client_for(org.consultant2).post("/base-clients/", {"q": "1111 2222"})
    assert own.status_code == 200 and "丙客户" in own.content.decode()
    manager = client_for(org.manager).post("/base-clients/", {"q": "5678"}).content.decode()
    assert "甲客户" in manager and "乙客户" not in manager
    api = api_as(org.consultant2).get("/api/v1/base-clients/", {"q": "2222"})
    assert api.status_code == 200 and [r["id"] for r in api.json()["results"]] == [clients["own"].pk]
    for partial in _suffixes(COLLEAGUES):
        assert api_as(org.consultant2).get("/api/v1/base-clients/", {"q": partial}).json()["results"] == []


def test_the_queryset_rule(org, clients):
    """BaseClient.objects.phone_search: the rule every base-client phone search uses, over unscoped rows."""
    search = BaseClient.objects.phone_search
    assert set(search(org.consultant2, "5678")) == set()
    assert set(search(org.consultant2, "138 1234 5678")) == {clients["colleagues"]}
    assert set(search(org.consultant2, "2222")) == {clients["own"]}
    assert set(search(org.consultant, "5678")) == {clients["colleagues"]}
    assert set(search(org.other_manager, "5678")) == set()
    assert set(search(org.manager, "5678")) == {clients["colleagues"]}
    assert set(search(org.manager, "4321")) == set()
    assert set(search(org.admin, "4321")) == {clients["other_stores"]}
    assert set(search(None, "5678")) == set()
