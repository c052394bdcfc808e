"""The organisation API: token auth, stores and staff, with grants and denials per role."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dealercrm.models import Store, User
from dealercrm.tests.factories import TEST_PASSWORD, ConsultantFactory

pytestmark = pytest.mark.django_db

STORES = "/api/v1/stores/"
USERS = "/api/v1/users/"


def new_user(**overrides):
    body = {"username": "newbie", "password": "Long-enough-9", "role": "consultant", "display_name": "新人"}
    body.update(overrides)
    return body


# --- token auth -------------------------------------------------------------------------------------------


def test_token_endpoint_issues_a_token_that_authenticates(org):
    anon = APIClient()
    resp = anon.post("/api/v1/auth/token/", {"username": "m_north", "password": TEST_PASSWORD}, format="json")
    assert resp.status_code == 200
    key = resp.json()["token"]
    assert Token.objects.get(key=key).user == org.manager
    anon.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    me = anon.get(f"{USERS}me/")
    assert me.status_code == 200
    assert me.json()["username"] == "m_north"


def test_token_endpoint_rejects_wrong_credentials_with_400(org):
    resp = APIClient().post("/api/v1/auth/token/", {"username": "m_north", "password": "wrong"}, format="json")
    assert resp.status_code == 400
    assert "token" not in resp.json()


def test_deactivated_user_gets_no_token(org):
    org.manager.is_active = False
    org.manager.save()
    resp = APIClient().post("/api/v1/auth/token/", {"username": "m_north", "password": TEST_PASSWORD}, format="json")
    assert resp.status_code == 400


@pytest.mark.parametrize("url", [STORES, USERS, f"{USERS}me/", "/api/v1/vehicles/series/"])
def test_anonymous_calls_are_refused(url):
    assert APIClient().get(url).status_code == 401


def test_a_bad_token_is_refused(org):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert client.get(STORES).status_code == 401


# --- stores -----------------------------------------------------------------------------------------------


def test_store_list_is_scoped(org, api_as):
    assert {s["name"] for s in api_as(org.admin).get(STORES).json()["results"]} == {"Alpha North", "Alpha South"}
    assert {s["name"] for s in api_as(org.manager).get(STORES).json()["results"]} == {"Alpha North"}
    assert {s["name"] for s in api_as(org.other_admin).get(STORES).json()["results"]} == {"Beta Central"}


def test_another_groups_store_is_404(org, api_as):
    assert api_as(org.admin).get(f"{STORES}{org.other_store.pk}/").status_code == 404
    assert api_as(org.manager).get(f"{STORES}{org.store2.pk}/").status_code == 404


def test_group_admin_creates_a_store_in_their_group(org, api_as):
    resp = api_as(org.admin).post(STORES, {"name": "Alpha East"}, format="json")
    assert resp.status_code == 201, resp.content
    assert Store.objects.get(pk=resp.json()["id"]).group == org.group


def test_group_admin_cannot_place_a_store_in_another_group(org, api_as):
    resp = api_as(org.admin).post(STORES, {"name": "Sneaky", "group": org.other_group.pk}, format="json")
    assert resp.status_code == 201
    assert Store.objects.get(name="Sneaky").group == org.group


@pytest.mark.parametrize("who", ["manager", "consultant"])
def test_managers_and_consultants_cannot_create_stores(org, api_as, who):
    resp = api_as(getattr(org, who)).post(STORES, {"name": "Nope"}, format="json")
    assert resp.status_code == 403
    assert not Store.objects.filter(name="Nope").exists()


def test_store_bad_input_gets_field_messages(org, api_as):
    client = api_as(org.admin)
    assert "name" in client.post(STORES, {}, format="json").json()
    dup = client.post(STORES, {"name": "Alpha North"}, format="json")
    assert dup.status_code == 400 and "name" in dup.json()


# --- users ------------------------------------------------------------------------------------------------


def test_user_list_is_scoped(org, api_as):
    usernames = {u["username"] for u in api_as(org.manager).get(USERS).json()["results"]}
    assert usernames == {"c_north", "c2_north", "m_north"}
    assert {u["username"] for u in api_as(org.consultant).get(USERS).json()["results"]} == {"c_north"}


def test_user_list_runs_a_constant_number_of_queries(org, api_as, django_assert_max_num_queries):
    client = api_as(org.admin)
    for i in range(15):
        ConsultantFactory(username=f"bulk{i}", store=org.store2)
    with django_assert_max_num_queries(3):
        resp = client.get(USERS)
    assert resp.json()["count"] == 21


def test_another_groups_user_is_404(org, api_as):
    assert api_as(org.admin).get(f"{USERS}{org.other_manager.pk}/").status_code == 404
    assert api_as(org.consultant).get(f"{USERS}{org.consultant2.pk}/").status_code == 404


def test_group_admin_creates_a_manager_in_any_store_of_the_group(org, api_as):
    resp = api_as(org.admin).post(USERS, new_user(role="manager", store=org.store2.pk), format="json")
    assert resp.status_code == 201, resp.content
    created = User.objects.get(username="newbie")
    assert (created.role, created.store, created.dealer_group) == ("manager", org.store2, org.group)
    assert "password" not in resp.json()


def test_manager_creates_a_consultant_in_their_store(org, api_as):
    resp = api_as(org.manager).post(USERS, new_user(store=org.store.pk), format="json")
    assert resp.status_code == 201, resp.content
    assert User.objects.get(username="newbie").store == org.store


def test_manager_cannot_staff_another_store_of_the_group(org, api_as):
    resp = api_as(org.manager).post(USERS, new_user(store=org.store2.pk), format="json")
    assert resp.status_code == 403
    assert not User.objects.filter(username="newbie").exists()


def test_manager_cannot_see_another_groups_store(org, api_as):
    resp = api_as(org.manager).post(USERS, new_user(store=org.other_store.pk), format="json")
    assert resp.status_code == 400
    assert "store" in resp.json()


def test_manager_cannot_create_a_manager(org, api_as):
    assert api_as(org.manager).post(USERS, new_user(role="manager", store=org.store.pk), format="json").status_code == 403


def test_consultant_cannot_create_staff(org, api_as):
    resp = api_as(org.consultant).post(USERS, new_user(store=org.store.pk), format="json")
    assert resp.status_code == 403


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"role": "ceo"}, "role"),
        ({"username": "c_north"}, "username"),
        ({"username": "C_NORTH"}, "username"),
        ({"username": "has space"}, "username"),
        ({"password": "12345678"}, "password"),
        ({"store": None, "role": "consultant"}, "store"),
        ({"store": 999999}, "store"),
    ],
)
def test_user_create_bad_input_is_400_with_field_messages(org, api_as, overrides, field):
    body = new_user(store=org.store.pk)
    body.update(overrides)
    resp = api_as(org.admin).post(USERS, body, format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()
    assert User.objects.count() == 8


def test_manager_deactivates_a_consultant_who_then_cannot_log_in(org, api_as):
    resp = api_as(org.manager).post(f"{USERS}{org.consultant.pk}/deactivate/")
    assert resp.status_code == 200
    assert resp.json()["is_active"] is False
    login = APIClient().post("/api/v1/auth/token/", {"username": "c_north", "password": TEST_PASSWORD}, format="json")
    assert login.status_code == 400


def test_deactivate_denials(org, api_as):
    assert api_as(org.consultant).post(f"{USERS}{org.consultant.pk}/deactivate/").status_code == 400
    assert api_as(org.consultant).post(f"{USERS}{org.consultant2.pk}/deactivate/").status_code == 404
    assert api_as(org.manager).post(f"{USERS}{org.consultant_b.pk}/deactivate/").status_code == 404
    assert api_as(org.manager).post(f"{USERS}{org.manager.pk}/deactivate/").status_code == 400
    assert api_as(org.manager2).post(f"{USERS}{org.manager.pk}/deactivate/").status_code == 404
    org.consultant2.refresh_from_db()
    assert org.consultant2.is_active


# --- catalogue, schema ------------------------------------------------------------------------------------


def test_vehicle_catalogue_is_seeded_and_listed(org, api_as):
    resp = api_as(org.consultant).get("/api/v1/vehicles/series/", {"brand__is_own": "true", "page_size": 100})
    names = {s["name_en"] for s in resp.json()["results"]}
    assert {"Corolla", "Camry", "RAV4"} <= names
    assert all(s["is_own"] for s in resp.json()["results"])


def test_openapi_schema_and_docs_are_served(org, client):
    client.force_login(org.manager)
    schema = client.get(reverse("schema"), HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/auth/token/", "/api/v1/stores/", "/api/v1/users/"} <= set(paths)
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
