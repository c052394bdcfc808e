"""Error pages: 400/403/404/405/500 inside the layout when logged in, in both languages (the user guide at /help/ is
tested in test_help.py)."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from dealercrm.error_pages import PLAIN_500, server_error
from dealercrm.tests.clients import client_for

pytestmark = pytest.mark.django_db

NAVBAR = 'id="main-nav"'


def test_a_consultant_opening_a_managers_page_gets_the_403_page_in_the_layout(org):
    response = client_for(org.consultant).get(reverse("leads:allocation"))
    assert response.status_code == 403
    html = response.content.decode()
    assert NAVBAR in html and "You do not have access to this page" in html
    assert f'href="{reverse("home")}"' in html


def test_get_on_a_post_only_page_is_the_405_page(org):
    response = client_for(org.manager).get(reverse("funnel:planner"))
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    html = response.content.decode()
    assert NAVBAR in html and "This address only takes a form" in html


def test_an_unknown_address_is_the_404_page(org):
    response = client_for(org.manager).get("/no-such-page/")
    assert response.status_code == 404
    assert NAVBAR in response.content.decode()
    assert "This page does not exist" in response.content.decode()


def test_the_400_page_carries_its_message(org):
    response = client_for(org.manager).get(reverse("funnel:targets"), {"month": "9999-12"})
    assert response.status_code == 400
    html = response.content.decode()
    assert NAVBAR in html and "Choose a month between" in html


def test_the_500_page_is_in_the_layout_and_has_a_plain_fallback(org, monkeypatch):
    request = RequestFactory().get("/x/", HTTP_ACCEPT_LANGUAGE="en")
    request.user = org.manager
    response = server_error(request)
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()

    def broken(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr("dealercrm.error_pages.render", broken)
    response = server_error(request)
    assert response.status_code == 500 and response.content.decode() == PLAIN_500


def test_error_pages_speak_chinese(org):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(org.consultant)
    html = client.get(reverse("leads:allocation")).content.decode()
    assert "你无权访问此页面" in html
    html = client.get("/no-such-page/").content.decode()
    assert "此页面不存在" in html


def test_logged_out_errors_offer_the_login(db):
    html = Client(HTTP_ACCEPT_LANGUAGE="en").get("/no-such-page/").content.decode()
    assert f'href="{reverse("login")}"' in html and NAVBAR not in html


def test_the_api_docs_lead_back_to_the_app_without_inline_style(org):
    response = client_for(org.manager).get(reverse("api-docs"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{reverse("home")}"' in html and "Back to DealerCRM" in html
    assert "<style" not in html and "<script>" not in html
