"""Every base-client page input that names an id (a store, a version) goes through a form field: not a number, or a
store outside the user's scope, is a 400 with a message, never a server error."""

import pytest

from baseclients import services
from baseclients.models import BaseClient, ClientScore
from dealercrm.tests.clients import HTMX, client_for

from .factories import buy

pytestmark = pytest.mark.django_db


def test_visit_hint_with_a_store_that_is_not_a_number_is_a_400(org):
    buy(store=org.store, consultant=org.consultant, phone="+8613812349999")
    r = client_for(org.admin).post("/base-clients/visit-hint/", {"phone": "138 1234 9999", "store": "abc"}, **HTMX)
    assert r.status_code == 400 and "Choose one of your stores." in r.content.decode()


def test_visit_hint_with_another_groups_store_is_a_400(org):
    buy(store=org.store, consultant=org.consultant, phone="+8613812349999")
    r = client_for(org.other_admin).post("/base-clients/visit-hint/", {"phone": "138 1234 9999",
                                                                        "store": org.store.pk})
    assert r.status_code == 400 and "Existing customer" not in r.content.decode()
    r = client_for(org.admin).post("/base-clients/visit-hint/", {"phone": "138 1234 9999", "store": org.store.pk})
    assert r.status_code == 200 and "Existing customer" in r.content.decode()


def test_referrer_search_with_a_store_that_is_not_a_number_is_a_400(org, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="x")
    r = client_for(root).post("/base-clients/referrer-search/", {"referrer_q": "王建", "store": "abc"})
    assert r.status_code == 400 and "Choose one of your stores." in r.content.decode()


def test_score_with_a_version_that_is_not_a_number_is_a_400(org):
    client = BaseClient.objects.get(purchase_rows__deal=buy(store=org.store, consultant=org.consultant))
    scores = {c.code: 1 for c in services.criteria_for(client.group_id) if not c.fact}
    before = list(ClientScore.objects.filter(client=client).values_list("criterion__code", "points"))
    r = client_for(org.consultant).post(f"/base-clients/{client.pk}/score/", {**scores, "version": "abc"})
    assert r.status_code == 400 and r.context["message"]
    assert list(ClientScore.objects.filter(client=client).values_list("criterion__code", "points")) == before
    r = client_for(org.consultant).post(f"/base-clients/{client.pk}/score/", {**scores, "version": client.version})
    assert r.status_code == 302
