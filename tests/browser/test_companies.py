"""A consultant on a phone, in Chinese, adds a company with two people (the decider and an opponent), then links a
lead to it and records the qualification. Screenshots under screenshots/ (for people to look at)."""

import pytest
from playwright.sync_api import expect

from dealercrm.tests.factories import TEST_PASSWORD
from leads.companies import Company
from leads.tests.factories import LeadFactory

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _in_process(tasks_in_process):
    """The app's tasks run in-process here (as in the embedded default), whatever REDIS_URL says."""


def test_a_consultant_adds_a_company_with_two_people_on_a_phone(org, live_server, phone, shot):
    phone.set_default_timeout(30_000)
    phone.set_default_navigation_timeout(45_000)
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="陈总")
    login(phone, live_server, org.consultant.username, TEST_PASSWORD)

    phone.goto(f"{live_server.url}/base-clients/companies/")
    expect(phone.get_by_role("heading", name=zh("Companies"))).to_be_visible()
    phone.get_by_role("link", name=zh("Add a company")).click()

    phone.get_by_label(zh("Company name")).fill("上海顺达物流有限公司")
    phone.get_by_label(zh("Unified social credit code")).fill("91350100m000100y44")  # a typo in the last character
    phone.get_by_label(zh("Industry")).fill("物流运输")
    phone.fill("input[name=people-0-phone]", "139 1602 1801")
    phone.fill("input[name=people-0-name]", "陈国栋")
    phone.fill("input[name=people-0-title]", "总经理")
    phone.select_option("select[name=people-0-decision_role]", "decider")
    phone.fill("input[name=people-1-phone]", "13916021804")
    phone.fill("input[name=people-1-name]", "赵经理")
    phone.select_option("select[name=people-1-decision_role]", "opponent")
    phone.fill("input[name=people-1-note]", "和竞品经销商关系好")
    shot(phone, "companies-form-phone-zh")
    phone.locator("main form button[type=submit]").click()

    # The wrong check character is a field message; nothing was written and the rows keep what was typed.
    expect(phone.get_by_text(zh("The check character does not match: check the code for a typo."))).to_be_visible()
    assert not Company.objects.exists()
    expect(phone.locator("input[name=people-1-name]")).to_have_value("赵经理")
    shot(phone, "companies-form-error-phone-zh")
    phone.get_by_label(zh("Unified social credit code")).fill("91350100M000100Y43")
    phone.locator("main form button[type=submit]").click()

    expect(phone.get_by_role("heading", name="上海顺达物流有限公司")).to_be_visible()
    expect(phone.get_by_text(zh("Decider"))).to_be_visible()
    expect(phone.get_by_text(zh("Opponent"))).to_be_visible()
    expect(phone.get_by_text("139 1602 1801")).to_be_visible()
    shot(phone, "companies-page-phone-zh")
    company = Company.objects.get()
    assert company.owner == org.consultant and company.credit_code == "91350100M000100Y43"
    assert list(company.people.values_list("name", "decision_role", "phone")) == [
        ("陈国栋", "decider", "+8613916021801"), ("赵经理", "opponent", "+8613916021804")]

    # The lead page's company panel: link the lead, then qualify it.
    phone.goto(f"{live_server.url}/leads/{lead.pk}/")
    phone.select_option("#lead-company select[name=company]", str(company.pk))
    phone.locator("#lead-company button[type=submit]").last.click()
    expect(phone.locator("#lead-company").get_by_role("link", name="上海顺达物流有限公司")).to_be_visible()
    panel = phone.locator("#lead-company")
    panel.locator("label[for=id_need_0]").click()
    panel.locator("input[name=need_note]").fill("明年换 12 台轻卡")
    panel.locator("label[for=id_authority_1]").click()
    panel.get_by_role("button", name=zh("Save the qualification")).click()
    expect(phone.locator("#lead-company input[name=need_note]")).to_have_value("明年换 12 台轻卡")
    shot(phone, "companies-lead-panel-phone-zh")
    lead.refresh_from_db()
    assert lead.company == company
    assert (lead.qualification.need, lead.qualification.authority) == ("yes", "no")
