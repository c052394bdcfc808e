"""The user guide on a phone, in zh-hans and in English: open it, follow "log a walk-in" as written (open the
workspace, fill the quick form, tap the button the guide names) and see the result the guide promises."""

import pytest
from playwright.sync_api import expect

from dealercrm.tests.factories import TEST_PASSWORD
from leads.models import Lead

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Per language: the browser's locale, the index's link to the task, the name and phone the test types, and the
# words the guide promises the result will show.
CASES = {
    "zh-hans": ("zh-CN", "登记到店客户", "王先生", "139 1000 2001", "首次跟进"),
    "en": ("en-US", "Log a walk-in", "Mr Wang", "139 1000 2002", "First follow-up due"),
}


@pytest.mark.parametrize("lang", list(CASES))
def test_a_consultant_follows_the_guide_to_log_a_walk_in_on_a_phone(org, live_server, browser, lang):
    locale, task, name, phone_number, promise = CASES[lang]
    context = browser.new_context(viewport={"width": 375, "height": 760}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale=locale)
    phone = context.new_page()
    phone.set_default_timeout(10_000)
    login(phone, live_server, org.consultant.username, TEST_PASSWORD)

    # The guide, from the menu's Help, in the user's language; its index leads to the task.
    phone.goto(f"{live_server.url}/help/")
    expect(phone.locator("html")).to_have_attribute("lang", lang)
    phone.get_by_role("link", name=task, exact=True).click()
    expect(phone).to_have_url(f"{live_server.url}/help/consultant/#log-a-walk-in")
    expect(phone.locator("#log-a-walk-in")).to_be_in_viewport()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    steps = phone.locator("xpath=//h2[@id='log-a-walk-in']/following-sibling::ol[1]/li")
    expect(steps).to_have_count(5)
    workspace, form_title, button = (steps.nth(i).locator("strong").first.inner_text() for i in (0, 1, 4))

    # 1. Open the workspace (from the menu, as a phone shows it).
    phone.locator("button.navbar-toggler").click()
    phone.locator("#main-nav").get_by_role("link", name=workspace, exact=True).click()
    # 2-4. The form the guide names: name, phone; the source is already walk-in; grade B.
    quick = phone.locator("#quick-visit")
    expect(quick.get_by_role("heading", name=form_title)).to_be_visible()
    quick.locator("input[name=name]").fill(name)
    quick.locator("input[name=phone]").fill(phone_number)
    quick.locator("label[for=id_grade_2]").click()  # B (choices: later, A, B, C, D, E)
    # 5. The button the guide names.
    quick.get_by_role("button", name=button, exact=True).click()

    result = quick.locator(".alert-success")
    expect(result).to_contain_text(name)
    expect(result).to_contain_text(promise)
    lead = Lead.objects.get(phone="+86" + phone_number.replace(" ", ""))
    assert (lead.grade, lead.assigned_to_id, lead.source) == ("B", org.consultant.pk, "walk_in")
    context.close()
