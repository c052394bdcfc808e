"""The base-client journey of issue 12 ("done when"), in a real browser: a consultant delivers a car and the buyer
appears as a base client with the post-delivery visit due in three days; scoring moves them to a tier; a referral
they bring is credited when it closes; the manager reads the region concentration."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from baseclients.models import BaseClient, CareTask
from baseclients.vehicles import vin_with_check_digit
from dealercrm.tests.factories import TEST_PASSWORD
from leads.tests.factories import LeadFactory

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_delivery_to_base_client_scoring_referral_and_concentration(org, live_server, phone, page, shot):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="钱先生", phone="+8613912345678",
                       district="闵行区", industry="物流")
    vin = vin_with_check_digit("LSVAB2BD0MN777777")
    today = timezone.localdate()
    for tab in (phone, page):  # a loaded shared machine: first page loads of the live server can take long
        tab.set_default_timeout(30_000)
        tab.set_default_navigation_timeout(45_000)

    # 1. The consultant records the deal with the delivery on their phone.
    login(phone, live_server, org.consultant.username, TEST_PASSWORD)
    phone.goto(f"{live_server.url}/leads/{lead.pk}/")
    phone.click("#tab-deal")
    phone.fill("#pane-deal input[name=price]", "158000")
    phone.fill("#pane-deal input[name=delivered_at]", today.isoformat())
    phone.fill("#pane-deal input[name=unit_vin]", vin)
    phone.fill("#pane-deal input[name=unit_plate]", "沪A77777")
    phone.click("#pane-deal button[type=submit]")
    expect(phone.get_by_text(zh("Deal recorded. Congratulations!"))).to_be_visible()
    phone.reload()
    expect(phone.get_by_text(zh("Buyer's base client:"))).to_be_visible()
    client = BaseClient.objects.get(phone="+8613912345678")
    task = CareTask.objects.get(client=client, kind="delivery_visit")
    assert task.due_on == today + timedelta(days=3)

    # 2. The card shows the vehicle and the visit; the consultant scores the client on the phone.
    phone.goto(f"{live_server.url}/base-clients/{client.pk}/")
    expect(phone.get_by_text("沪A77777")).to_be_visible()
    phone.goto(f"{live_server.url}/base-clients/{client.pk}/?tab=care")
    expect(phone.get_by_text("交车后3日内上门回访").first).to_be_visible()  # the plan item's title (zh)
    shot(phone, "baseclients-card-care-phone")
    phone.goto(f"{live_server.url}/base-clients/{client.pk}/score/")
    for code, points in {"satisfaction": 15, "maintenance": 12, "repairs": 10, "word_of_mouth": 10,
                         "reputation": 15, "business": 15, "trade_word": 10, "reach": 10, "plans": 12}.items():
        phone.fill(f"input[name={code}]", str(points))
    shot(phone, "baseclients-score-phone")
    phone.click("main form button[type=submit]")
    expect(phone.get_by_text(zh("Potential")).first).to_be_visible()
    client.refresh_from_db()
    # loyalty 47 (events: from the door attendance), power 62 + fleet 1 car
    assert client.tier == "potential" and (client.loyalty_score, client.power_score) == (47, 64)

    # 3. A friend referred by the client buys: the referral deal is credited to the client.
    friend = LeadFactory(store=org.store, assigned_to=org.consultant, name="孙女士", phone="+8613912340000")
    from baseclients.services import referral_set

    referral_set(actor=org.consultant, lead=friend, referrer_client=client, types=["friends_family"])
    phone.goto(f"{live_server.url}/leads/{friend.pk}/")
    phone.click("#tab-deal")
    phone.fill("#pane-deal input[name=price]", "120000")
    phone.click("#pane-deal button[type=submit]")
    expect(phone.get_by_text(zh("Deal recorded. Congratulations!"))).to_be_visible()
    phone.reload()
    expect(phone.get_by_text(zh("Buyer's base client:"))).to_be_visible()
    client.refresh_from_db()
    assert client.referral_deals == 1 and client.tier == "premium"
    phone.goto(f"{live_server.url}/base-clients/{client.pk}/?tab=referrals")
    expect(phone.get_by_text("孙女士")).to_be_visible()

    # 4. The manager reads the region concentration, this year against last.
    login(page, live_server, org.manager.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/base-clients/analyses/")
    expect(page.get_by_role("heading", name=zh("Region concentration"))).to_be_visible()
    expect(page.locator("table").first.get_by_text("闵行区")).to_be_visible()
    page.wait_for_function("document.querySelector('#bc-chart-region canvas') !== null")
    shot(page, "baseclients-analyses")
