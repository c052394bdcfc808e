"""The card page's new forms and the referrer search in a real browser (htmx, as a user works them): the visit
form finds a referrer by name and names it; the card is edited (a stale version is a form error); a visit logged on
the card closes the post-delivery visit. Screenshots under screenshots/."""

import pytest
from playwright.sync_api import expect

from baseclients.models import BaseClient, CareTask, ListEntry
from dealercrm.tests.factories import TEST_PASSWORD
from baseclients.tests.factories import buy
from leads.models import Lead

from .conftest import login, zh


@pytest.fixture(autouse=True)
def _in_process(tasks_in_process):
    """The app's tasks run in-process here (as in the embedded default), whatever REDIS_URL says."""


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_referrer_search_card_edit_and_logged_visit(org, live_server, page, phone, shot):
    for tab in (phone, page):
        tab.set_default_timeout(30_000)
        tab.set_default_navigation_timeout(45_000)
    deal = buy(store=org.store, consultant=org.consultant, phone="+8613812340777", name="王建国")
    client = BaseClient.objects.get(purchase_rows__deal=deal)
    login(phone, live_server, org.consultant.username, TEST_PASSWORD)

    # The quick-visit form hints a returning buyer as the phone is typed.
    phone.goto(f"{live_server.url}/")
    phone.fill("#quick-visit input[name=phone]", "138 1234 0777")
    phone.locator("#quick-visit input[name=name]").click()
    expect(phone.locator("#bc-visit-hint")).to_contain_text("王建国")
    shot(phone, "baseclients-quick-visit-hint-phone")

    # The full visit form: search the referrer by name, pick them, log the visit.
    phone.goto(f"{live_server.url}/leads/visit/")
    phone.fill("input[name=name]", "李先生")
    phone.fill("input[name=phone]", "139 0000 2222")
    phone.fill("#bc-referrer-q", "王建")
    phone.locator(f"#bc-referrer-results input[value='{client.pk}']").check()
    phone.get_by_label(zh("Friends/family referral")).check()
    shot(phone, "baseclients-visit-referrer-phone")
    phone.locator("main form button[type=submit]").last.click()
    expect(phone.get_by_role("link", name="王建国").first).to_be_visible()
    lead = Lead.objects.get(name="李先生")
    assert lead.source == "referral" and lead.referral.referrer_client_id == client.pk

    # The card: edit it; a second tab saving over the same version gets the conflict as a form error.
    page_login = page
    login(page_login, live_server, org.consultant.username, TEST_PASSWORD)
    for industry in ("物流", "建筑"):  # the card's industry is picked from the group's list
        ListEntry.objects.get_or_create(group=org.group, kind="industry", name=industry)
    page.goto(f"{live_server.url}/base-clients/{client.pk}/edit/")
    phone.goto(f"{live_server.url}/base-clients/{client.pk}/edit/")
    phone.select_option("select[name=industry]", "物流")
    phone.locator("main form button[type=submit]").click()
    expect(phone.get_by_text(zh("Card saved."))).to_be_visible()
    page.select_option("select[name=industry]", "建筑")
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_text(zh("Someone else changed this card while you were editing it. Reload to see their "
                               "changes, then edit again."))).to_be_visible()
    shot(page, "baseclients-edit-conflict")
    client.refresh_from_db()
    assert client.industry == "物流"

    # A visit logged on the card's care tab closes the post-delivery visit.
    phone.goto(f"{live_server.url}/base-clients/{client.pk}/?tab=care")
    phone.select_option("#id_method", "visit")
    phone.fill("#id_content", "送了脚垫，客户满意")
    phone.locator("form[action$='/contacts/'] button[type=submit]").click()
    expect(phone.get_by_text("送了脚垫，客户满意").first).to_be_visible()
    shot(phone, "baseclients-card-contact-phone")
    assert CareTask.objects.get(client=client, kind="delivery_visit").status == "done"
