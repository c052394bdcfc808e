"""On a phone, after the deal: the new base-client card is linked at once (no reload), the lead offers no defeat
filing, and the care queue finds the buyer by search and calls them with one tap."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from baseclients.models import BaseClient
from baseclients.vehicles import vin_with_check_digit
from dealercrm.tests.factories import TEST_PASSWORD
from leads.tests.factories import LeadFactory

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_deal_card_link_at_once_then_search_and_call_from_the_care_queue(org, live_server, phone, shot):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="冯先生", phone="+8613912348888")
    phone.set_default_timeout(30_000)
    phone.set_default_navigation_timeout(45_000)
    login(phone, live_server, org.consultant.username, TEST_PASSWORD)
    phone.goto(f"{live_server.url}/leads/{lead.pk}/")
    expect(phone.locator("#defeat-apply-link")).to_be_visible()
    phone.click("#tab-deal")
    phone.fill("#pane-deal input[name=price]", "158000")
    phone.fill("#pane-deal input[name=delivered_at]", timezone.localdate().isoformat())
    phone.fill("#pane-deal input[name=unit_vin]", vin_with_check_digit("LSVAB2BD0MN888888"))
    phone.click("#pane-deal button[type=submit]")
    expect(phone.get_by_text(zh("Deal recorded. Congratulations!"))).to_be_visible()
    # No reload: the card link is right there, and the defeat filing is gone.
    client = BaseClient.objects.get(phone="+8613912348888")
    card = phone.locator(f"#lead-body a[href='/base-clients/{client.pk}/']")
    expect(card).to_be_visible()
    expect(phone.locator("#defeat-apply-link")).to_have_count(0)
    shot(phone, "after-deal-card-link-phone")

    phone.goto(f"{live_server.url}/base-clients/care/")
    phone.fill("#bc-care-q", "8888")
    expect(phone.locator("#bc-care-groups a.bc-call[href='tel:+8613912348888']").first).to_be_visible()
    phone.fill("#bc-care-q", "没有这个人")
    expect(phone.locator("#bc-care-groups a.bc-call")).to_have_count(0)
    phone.fill("#bc-care-q", "冯")
    expect(phone.locator("#bc-care-groups").get_by_text("冯先生").first).to_be_visible()
    shot(phone, "care-queue-search-call-phone")
