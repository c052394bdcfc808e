"""A fleet order on a phone (zh-hans): the consultant records a deal of three light trucks with two delivered now
(one row each, a row added with "another vehicle"), the lead shows "2 of 3 delivered", and the third is delivered
later from the buyer's base-client card."""

import os
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from baseclients.models import BaseClient, Vehicle
from baseclients.vehicles import vin_with_check_digit
from dealercrm.tests.factories import TEST_PASSWORD, VehicleSeriesFactory
from leads.models import Deal
from leads.tests.factories import LeadFactory

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Screenshots for people to look at (not compared); FLEET_SHOTS moves them out of the repository.
SHOTS = Path(os.environ.get("FLEET_SHOTS", Path(__file__).resolve().parents[2] / "screenshots"))


def _shot(tab, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_fleet_deal_with_two_of_three_delivered_then_the_third_from_the_card(org, live_server, phone):
    truck = VehicleSeriesFactory(name="骐远 K5 轻卡", name_en="Qiyuan K5", segment="light_truck")
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="钱经理", phone="+8613912340555",
                       series=truck)
    vins = [vin_with_check_digit(f"LSVAB2BD0MN55555{i}") for i in range(3)]
    today = timezone.localdate().isoformat()
    phone.set_default_timeout(30_000)
    phone.set_default_navigation_timeout(45_000)
    login(phone, live_server, org.consultant.username, TEST_PASSWORD)

    # 1. The deal: three units at 98,000 each, two delivered now.
    phone.goto(f"{live_server.url}/leads/{lead.pk}/")
    phone.click("#tab-deal")
    pane = phone.locator("#pane-deal")
    pane.locator("input[name=quantity]").fill("3")
    pane.locator("input[name=price]").fill("98000")
    pane.locator("input[name=delivered_at]").fill(today)
    pane.get_by_role("button", name=zh("Another vehicle")).click()
    expect(pane.locator("input[name=unit_vin]")).to_have_count(2)
    for i in range(2):
        pane.locator("input[name=unit_vin]").nth(i).fill(vins[i])
        pane.locator("input[name=unit_plate]").nth(i).fill(f"沪D8800{i}")
        pane.locator("select[name=unit_use]").nth(i).select_option("commercial")
    _shot(phone, "fleet-deal-form-phone-zh")
    pane.locator("button[type=submit]").click()
    expect(phone.get_by_text(zh("Deal recorded. Congratulations!"))).to_be_visible()
    deal = Deal.objects.get(lead=lead)
    assert (deal.quantity, deal.units_delivered, int(deal.price)) == (3, 2, 294_000)
    expect(phone.locator(f"#deal-delivery-{deal.pk} [data-figure=delivered]")).to_have_text(
        zh("%(done)s of %(total)s delivered") % {"done": 2, "total": 3})
    _shot(phone, "fleet-lead-two-of-three-phone-zh")

    # 2. The third unit, from the card.
    client = BaseClient.objects.get(purchase_rows__deal=deal)
    phone.goto(f"{live_server.url}/base-clients/{client.pk}/")
    block = phone.locator(f"#deal-delivery-{deal.pk}")
    block.locator("summary").click()
    block.locator("input[name=unit_vin]").fill(vins[2])
    block.locator("input[name=unit_plate]").fill("沪D88002")
    _shot(phone, "fleet-card-deliver-phone-zh")
    block.get_by_role("button", name=zh("Record the delivery")).click()
    expect(phone.get_by_text("沪D88002")).to_be_visible()
    expect(phone.locator(f"#deal-delivery-{deal.pk}")).to_have_count(0)  # nothing left to deliver
    _shot(phone, "fleet-card-delivered-phone-zh")
    deal.refresh_from_db()
    client.refresh_from_db()
    assert (deal.units_delivered, client.purchases, client.units, client.fleet_size) == (3, 1, 3, 3)
    assert sorted(Vehicle.objects.filter(deal=deal).values_list("vin", flat=True)) == sorted(vins)
    assert set(Vehicle.objects.filter(deal=deal).values_list("use", flat=True)) == {"commercial"}
