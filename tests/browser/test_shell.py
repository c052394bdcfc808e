"""The page shell in a real browser: login, the role's home page in zh-hans, the language switch, a phone width."""

import pytest
from playwright.sync_api import expect

from dealercrm.tests.factories import TEST_PASSWORD

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_home_and_language_switch(org, live_server, page, shot):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    login(page, live_server, "ga_alpha", "wrong-password")
    expect(page.locator(".alert-danger")).to_be_visible()
    shot(page, "login-error-zh")

    login(page, live_server, "ga_alpha", TEST_PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("heading", name="门店", exact=True)).to_be_visible()
    expect(page.get_by_text("Alpha South")).to_be_visible()
    expect(page.get_by_text("Beta Central")).to_have_count(0)
    shot(page, "home-admin-zh")

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Stores", exact=True)).to_be_visible()
    shot(page, "home-admin-en")


def test_phone_width_collapses_the_navigation(org, live_server, phone, shot):
    login(phone, live_server, "m_north", TEST_PASSWORD)
    nav_link = phone.get_by_role("link", name="团队")
    expect(nav_link).to_be_hidden()
    phone.get_by_role("button", name="菜单").click()
    phone.get_by_role("button", name=zh("Manage")).click()  # the manager's pages are in one menu (issue 14)
    expect(nav_link).to_be_visible()
    shot(phone, "home-manager-phone-menu-zh")
    nav_link.click()
    expect(phone.get_by_role("heading", name="团队")).to_be_visible()
    # Nothing wider than the screen: the page must not scroll sideways on a 375 px phone.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    shot(phone, "team-manager-phone-zh")
