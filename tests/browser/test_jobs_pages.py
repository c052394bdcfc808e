"""The pages of the jobs' flags in a real browser: the manager keeps a stale lead, a consultant claims from the pool
on a phone, the bell's count drops when notifications are read. The flags are set on the leads directly: the
pages read them, whichever job set them."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dealercrm.models import Notification
from dealercrm.tests.factories import TEST_PASSWORD
from leads.models import FlagAction, FlagEvent, Lead
from leads.tests.factories import FollowUpFactory, LeadFactory, StaleFlagFactory

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def top(page):
    page.evaluate("window.scrollTo(0, 0)")
    return page


def _stale(org, name, *, grade="B", held=134, max_dwell=120, consultant=None):
    now = timezone.now()
    lead = LeadFactory(
        store=org.store, assigned_to=consultant or org.consultant, name=name, grade=grade,
        first_visit_at=now - timedelta(days=held + 3), grade_since=now - timedelta(days=held),
        last_contact_at=now - timedelta(days=30), next_follow_up_at=now - timedelta(days=2),
    )
    StaleFlagFactory(lead=lead, since=now - timedelta(days=held - max_dwell), max_dwell_days=max_dwell)
    FollowUpFactory(lead=lead, occurred_at=now - timedelta(days=30), method="phone", outcome="no_answer")
    return lead


def test_manager_keeps_a_stale_lead_with_a_reason_and_it_leaves_the_queue(org, live_server, page, shot):
    org.consultant.display_name = "王磊"
    org.consultant.save()
    kept = _stale(org, "周先生")
    _stale(org, "吴女士", grade="C", held=160, max_dwell=150, consultant=org.consultant2)
    login(page, live_server, "m_north", TEST_PASSWORD)

    nav = page.get_by_role("navigation").first
    nav.get_by_role("button", name=zh("Manage")).click()  # the manager's pages are in one menu (issue 14)
    nav.get_by_role("link", name=zh("Stale leads")).first.click()
    expect(page.get_by_role("heading", name=zh("Stale leads"))).to_be_visible()
    card = page.locator(f"#stale-{kept.pk}")
    expect(card).to_contain_text("周先生")
    expect(card).to_contain_text("王磊")
    expect(page.locator("article.stale-card")).to_have_count(2)
    shot(top(page), "stale-queue-zh")

    # No reason: the error shows inline, nothing changes.
    card.get_by_role("button", name=zh("Keep"), exact=True).last.click()
    expect(card.locator(".invalid-feedback")).to_contain_text(zh("Say why the lead stays in its grade."))
    assert Lead.objects.get(pk=kept.pk).stale_since is not None

    card = page.locator(f"#stale-{kept.pk}")
    card.get_by_role("textbox").fill("客户等五月新款上市再定")
    card.get_by_role("button", name=zh("Keep"), exact=True).last.click()
    expect(card).to_have_class(re.compile(r"\bstale-card-done\b"))
    expect(card).to_contain_text("客户等五月新款上市再定")

    lead = Lead.objects.get(pk=kept.pk)
    assert lead.stale_since is None and lead.dwell_kept_at is not None
    assert FlagEvent.objects.filter(lead=lead, action=FlagAction.KEPT, by=org.manager).exists()

    # Reloaded, the queue holds only the other lead.
    page.reload()
    expect(page.locator("article.stale-card")).to_have_count(1)
    expect(page.locator(f"#stale-{kept.pk}")).to_have_count(0)


def test_consultant_claims_a_pool_lead_on_a_phone(org, live_server, phone, shot):
    now = timezone.now()
    leads = [
        LeadFactory(store=org.store, assigned_to=None, name=name, phone=f"+861380013800{i}",
                    pooled_at=now - timedelta(days=3 - i), next_follow_up_at=now - timedelta(days=10))
        for i, name in enumerate(["郑先生", "钱女士", "孙先生"])
    ]
    login(phone, live_server, "c_north", TEST_PASSWORD)
    phone.goto(f"{live_server.url}/leads/pool/")
    expect(phone.get_by_role("heading", name=zh("Pool"))).to_be_visible()
    rows = phone.locator("li.pool-row")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("138****8000")  # masked: not theirs (yet)
    shot(top(phone), "pool-consultant-phone-zh")

    # A colleague claims the second lead first: this page still offers it, and says so when tapped.
    from leads import services

    services.lead_claim(actor=org.consultant2, lead=leads[1])
    phone.locator(f"#pool-{leads[1].pk}").get_by_role("button", name=zh("Claim")).click()
    # A 404 whose row (swapped in by pool.js) says so, without the lead's details.
    expect(phone.locator(f"#pool-{leads[1].pk}")).to_contain_text(
        zh("This lead is no longer in the pool: someone else has just claimed it, or it was assigned."))

    row = phone.locator(f"#pool-{leads[0].pk}")
    row.get_by_role("button", name=zh("Claim")).click()
    expect(row).to_contain_text(zh("Yours now"))
    # The page's count follows: three in the pool, a colleague's claim and this one leave one.
    expect(phone.locator("#pool-count .stat-value")).to_have_text("1")
    assert Lead.objects.get(pk=leads[0].pk).assigned_to == org.consultant
    assert Lead.objects.get(pk=leads[1].pk).assigned_to == org.consultant2
    shot(top(phone), "pool-consultant-claimed-phone-zh")

    row.get_by_role("link", name=zh("Open the lead")).click()
    expect(phone).to_have_url(re.compile(rf"/leads/{leads[0].pk}/$"))


def test_the_bell_count_drops_after_mark_read(org, live_server, page, shot):
    for params in ({"due_today": 4, "overdue": 2, "stale": 1, "reclaimed": 0}, {"due_today": 1, "overdue": 0,
                                                                               "stale": 0, "reclaimed": 1}):
        Notification.objects.create(recipient=org.consultant, kind=Notification.Kind.DIGEST, params=params)
    Notification.objects.create(recipient=org.consultant, kind=Notification.Kind.ASSIGNED,
                                params={"count": 1, "name": "冯先生"}, url="/leads/")
    Notification.objects.create(recipient=org.consultant2, kind=Notification.Kind.DIGEST, params={})
    login(page, live_server, "c_north", TEST_PASSWORD)

    count = page.locator("#nav-bell .nav-bell-count")
    expect(count).to_have_text("3")
    page.locator("#nav-bell a").click()
    expect(page.get_by_role("heading", name=zh("Notifications"))).to_be_visible()
    expect(page.locator("li.notif-unread")).to_have_count(3)
    shot(top(page), "notifications-zh")

    page.locator("li.notif-item").first.get_by_role("button", name=zh("Mark read")).click()
    expect(page.locator("li.notif-unread")).to_have_count(2)
    expect(count).to_have_text("2")

    page.get_by_role("button", name=zh("Mark all read")).click()
    expect(page.locator("li.notif-unread")).to_have_count(0)
    expect(page.locator("#nav-bell .nav-bell-count")).to_have_count(0)
    assert not Notification.objects.filter(recipient=org.consultant, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=org.consultant2, read_at__isnull=True).count() == 1
