"""Issue 10 items 14 and 15 on the organisation API: a locked-out account's token request is a 429 with Retry-After
(not a 400 that reads like a wrong password), and staff and store names refuse invisible and control characters."""

import pytest
from rest_framework.test import APIClient

from dealercrm.tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"


def test_a_locked_out_account_gets_429_with_retry_after_even_with_the_right_password(org, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    answers = [client.post(TOKEN, {"username": "m_north", "password": "wrong"}, format="json").status_code
               for _ in range(3)]
    assert answers[:2] == [400, 400] and answers[2] == 429
    resp = client.post(TOKEN, {"username": "m_north", "password": TEST_PASSWORD}, format="json")
    assert resp.status_code == 429
    assert int(resp["Retry-After"]) == 15 * 60
    assert "locked" in resp.json()["detail"] and "token" not in resp.json()
    # Another username from the same address is not locked.
    assert client.post(TOKEN, {"username": "c_north", "password": TEST_PASSWORD}, format="json").status_code == 200


def test_wrong_credentials_below_the_limit_stay_400(org):
    resp = APIClient().post(TOKEN, {"username": "m_north", "password": "wrong"}, format="json")
    assert resp.status_code == 400


@pytest.mark.parametrize("name", ["\u202e", "\u202eabc", "\x00x", "\u2067店\u2069", "\x1b[31m红"])
def test_store_and_staff_names_refuse_invisible_and_control_characters(org, api_as, name):
    client = api_as(org.admin)
    resp = client.post("/api/v1/stores/", {"name": name}, format="json")
    assert resp.status_code == 400 and "name" in resp.json()
    resp = client.post("/api/v1/users/", {"username": "newbie", "password": "s3cret-pass-word", "role": "consultant",
                                          "store": org.store.pk, "display_name": name}, format="json")
    assert resp.status_code == 400 and "display_name" in resp.json()


def test_zero_width_characters_are_stripped_from_staff_names(org, api_as):
    resp = api_as(org.admin).post("/api/v1/users/", {"username": "newbie", "password": "s3cret-pass-word",
                                                      "role": "consultant", "store": org.store.pk,
                                                      "display_name": "\u200b小王\u200d"}, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["display_name"] == "小王"
