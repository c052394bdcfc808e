"""Pages through the Django test client: login, the home page (the lead workspace), language, team, password change."""

import pytest
from django.urls import reverse

from dealercrm.models import User
from dealercrm.tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_is_in_chinese_by_default(client):
    resp = client.get(reverse("login"))
    assert resp.status_code == 200
    body = resp.content.decode()
    assert '<html lang="zh-hans">' in body
    assert "登录" in body


def test_wrong_credentials_are_told_on_the_login_page(org, client):
    resp = client.post(reverse("login"), {"username": "m_north", "password": "nope"})
    assert resp.status_code == 200
    assert "请输入一个正确的" in resp.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_then_home_shows_the_users_store(org, client):
    resp = client.post(reverse("login"), {"username": "m_north", "password": TEST_PASSWORD}, follow=True)
    assert resp.redirect_chain[-1][0] == reverse("home") == "/"
    assert "leads/workspace.html" in [t.name for t in resp.templates]
    body = resp.content.decode()
    assert "Alpha North" in body
    assert "Alpha South" not in body


def test_home_requires_login(client):
    resp = client.get(reverse("home"))
    assert resp.status_code == 302
    assert resp.url.startswith(reverse("login"))


def test_language_switch_turns_the_page_english(org, client):
    client.force_login(org.admin)
    assert "退出" in client.get(reverse("home")).content.decode()
    resp = client.post(reverse("set_language"), {"language": "en", "next": reverse("home")}, follow=True)
    body = resp.content.decode()
    assert '<html lang="en">' in body
    assert "Log out" in body and "退出" not in body


def test_group_admin_sees_every_store_of_the_group_on_home(org, client):
    client.force_login(org.admin)
    resp = client.get(reverse("home"))
    body = resp.content.decode()
    assert "Alpha North" in body and "Alpha South" in body and "Beta Central" not in body
    assert [store.name for store in resp.context["stores"]] == ["Alpha North", "Alpha South"]


def test_team_page_lists_scoped_staff_and_adds_a_consultant(org, client):
    client.force_login(org.manager)
    page = client.get(reverse("team")).content.decode()
    assert "c_north" in page and "c_south" not in page
    resp = client.post(
        reverse("team"),
        {"username": "walkin_pro", "display_name": "小王", "role": "consultant", "store": org.store.pk,
         "password": "Long-enough-9"},
    )
    assert resp.status_code == 302
    assert User.objects.get(username="walkin_pro").store == org.store


def test_team_form_shows_service_errors(org, client):
    client.force_login(org.manager)
    resp = client.post(
        reverse("team"),
        {"username": "c_north", "role": "consultant", "store": org.store.pk, "password": "Long-enough-9"},
    )
    assert resp.status_code == 200
    assert "already exists" in resp.content.decode() or "已存在" in resp.content.decode()


def test_consultant_has_no_team_form_and_cannot_post(org, client):
    client.force_login(org.consultant)
    assert b"<form method=\"post\" novalidate>" not in client.get(reverse("team")).content
    resp = client.post(reverse("team"), {"username": "x", "role": "consultant", "password": "Long-enough-9"})
    assert resp.status_code == 403
    assert not User.objects.filter(username="x").exists()


def test_password_change(org, client):
    client.force_login(org.consultant)
    resp = client.post(
        reverse("password_change"),
        {"old_password": TEST_PASSWORD, "new_password1": "Brand-new-pass-7", "new_password2": "Brand-new-pass-7"},
    )
    assert resp.status_code == 302
    org.consultant.refresh_from_db()
    assert org.consultant.check_password("Brand-new-pass-7")


def test_logout_is_a_post(org, client):
    client.force_login(org.consultant)
    resp = client.post(reverse("logout"))
    assert resp.status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_repeated_failed_logins_lock_the_username(org, client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post(reverse("login"), {"username": "m_north", "password": "nope"})
    resp = client.post(reverse("login"), {"username": "m_north", "password": TEST_PASSWORD})
    assert resp.status_code == 429
    assert "_auth_user_id" not in client.session
