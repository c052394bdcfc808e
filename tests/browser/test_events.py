"""Events in a real browser: the manager builds an event's guest list from filters (premium clients, the
competitor pool) and sees the count; a consultant takes the attendance at the door on a phone (search, tap, a
walk-in), in Chinese; a friend referred by an attendee buys and the results page says so."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from baseclients.models import BaseClient
from baseclients.services import referral_set
from baseclients.tests.factories import a_vin, buy
from campaigns import services
from campaigns.models import Invitation
from dealercrm.tests.factories import TEST_PASSWORD
from defeats import services as defeats
from defeats.tests.factories import pending_application
from leads.services import deal_record, visit_log
from leads.tests.factories import LeadFactory

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _premium(org, consultant, phone, name):
    pk = buy(store=org.store, consultant=consultant, phone=phone, name=name, delivered_days_ago=300).purchase.client_id
    BaseClient.objects.filter(pk=pk).update(tier="premium")
    return BaseClient.objects.get(pk=pk)


def test_guest_list_door_attendance_and_results(org, live_server, phone, page, shot):
    zhang = _premium(org, org.consultant, "+8613900001001", "张总")
    _premium(org, org.consultant2, "+8613900001002", "李总")
    lost = LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613900001003", name="陈先生",
                       first_visit_at=timezone.now() - timedelta(days=100))
    defeats.application_decide(actor=org.manager, application=pending_application(org, lead=lost),
                               verdict="confirm", comment="ok")
    event = services.event_create(actor=org.manager, store=org.store, kind="club", title="春季客户联谊会",
                                  held_on=timezone.localdate(), place="二楼会议厅")
    for tab in (phone, page):
        tab.set_default_timeout(30_000)
        tab.set_default_navigation_timeout(45_000)

    # 1. The manager ticks premium clients and the competitor pool: 3 picked, then invites them.
    login(page, live_server, org.manager.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/events/{event.pk}/targets/")
    page.get_by_label(zh("Premium")).check()
    page.get_by_label(zh("Competitor pool")).check()
    expect(page.locator("#ev-count .ev-count-num")).to_have_text("3")
    shot(page, "events-targets-desk")
    page.click("main form button[type=submit]")
    expect(page.get_by_text("李总")).to_be_visible()
    assert Invitation.objects.filter(event=event).count() == 3

    # 2. At the door, on a phone: the consultant finds 张总 by name and checks him in; a walk-in is added.
    login(phone, live_server, org.consultant.username, TEST_PASSWORD)
    phone.goto(f"{live_server.url}/events/{event.pk}/door/")
    phone.fill("#ev-q", "张")
    expect(phone.locator("#ev-door-results .ev-door-row")).to_have_count(1)
    phone.locator("#ev-door-results .ev-door-row").get_by_role("button", name=zh("Check in")).click()
    expect(phone.locator("#ev-door-results .ev-door-row.ev-arrived")).to_have_count(1)
    expect(phone.locator("#ev-door-count .ev-count-num")).to_have_text("1")  # the count follows the tap
    # A colleague's guest is not found by part of the phone, but is by the whole number.
    phone.fill("#ev-q", "1002")
    expect(phone.get_by_text(zh("Nobody on the list matches. Add them below as a walk-in."))).to_be_visible()
    phone.fill("#ev-q", "13900001002")
    expect(phone.get_by_text("李总")).to_be_visible()
    phone.click("details.ev-walk-in summary")
    phone.fill("#wi-name", "刘先生")
    phone.fill("#wi-phone", "13900001009")
    phone.click("details.ev-walk-in button[type=submit]")
    expect(phone.get_by_text(zh("%(name)s arrived.") % {"name": "刘先生"})).to_be_visible()
    shot(phone, "events-door-phone")
    assert BaseClient.objects.get(pk=zhang.pk).events_attended == 1

    # 3. 张总 refers 孙先生, who buys this month: invited 3, came 2, leads 1, referrals 1, deals 1.
    friend = visit_log(actor=org.consultant, store=org.store, name="孙先生", phone="+8613900001010",
                       source="referral", grade="B").lead
    referral_set(actor=org.consultant, lead=friend, referrer_client=zhang)
    deal_record(actor=org.consultant, lead=friend, price=Decimal("135000.00"), ordered_at=timezone.localdate(),
                delivered_at=timezone.localdate(), vin=a_vin())
    phone.goto(f"{live_server.url}/events/{event.pk}/results/")
    figures = phone.locator(".ev-result-figs dd")
    expect(figures).to_have_text(["3", "0", "2", "1", "1", "1", "1"])
    shot(phone, "events-results-phone")
