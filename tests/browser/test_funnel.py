"""The funnel dashboard in a real browser: ECharts draws under the strict CSP, htmx swaps the body when a selector
changes, the planner recalculates in place, and the page fits a 375 px phone without sideways scrolling.

Time cannot be frozen in the live server's thread, so the data is built relative to now: a year of traffic for one
store, with last month as the period looked at."""

import random
from datetime import datetime, time, timedelta
from decimal import Decimal
from importlib import import_module

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dealercrm.tests.factories import TEST_PASSWORD, ConsultantFactory
from funnel.models import MarketEstimate, Target
from leads.models import Channel, Deal, FollowUp, GradeChange, Lead, ReviewStatus, Status

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Records every CSP violation the page reports, whatever prints it: read back as window.__cspViolations.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""

SOURCES = [("walk_in", 62), ("referral", 22), ("outbound", 16)]
GRADES = [("E", 36), ("D", 28), ("C", 20), ("B", 11), ("A", 5)]


def top(page):
    page.evaluate("window.scrollTo(0, 0)")
    return page


def _month_start(day, back: int):
    first = day.replace(day=1)
    for _i in range(back):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def _a_year_of_traffic(org) -> tuple:
    """One store, four consultants, a year of first visits (most last month), follow-ups, deals, M and targets.
    Returns (first, last) day of last month."""
    rng = random.Random(20261123)
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    now = timezone.now()
    org.consultant.display_name, org.consultant2.display_name = "王磊", "李娜"
    org.consultant.save()
    org.consultant2.save()
    staff = [org.consultant, org.consultant2,
             ConsultantFactory(username="c3_north", store=org.store, display_name="陈静"),
             ConsultantFactory(username="c4_north", store=org.store, display_name="赵强")]
    # A transactional test's flush empties the channel list its migration seeded: put it back for this store.
    seeded = import_module("leads.migrations.0002_channels").CHANNELS
    for order, (source, code, name, name_en) in enumerate(seeded):
        Channel.objects.get_or_create(code=code, defaults={"source": source, "name": name, "name_en": name_en,
                                                           "sort_order": order})
    channels = {}
    for channel in Channel.objects.all():
        channels.setdefault(channel.source, []).append(channel)

    plans = []  # (lead, followed, won_on)
    phone_no = 0
    for back in range(12, 0, -1):
        first = _month_start(today, back)
        days = (_month_start(today, back - 1) - first).days
        for _i in range(rng.randint(28, 40) if back > 1 else 64):
            at = timezone.make_aware(datetime.combine(first + timedelta(days=rng.randrange(days)),
                                                      time(rng.randint(9, 19), rng.choice((0, 15, 30, 45)))), tz)
            source = rng.choices([s for s, _w in SOURCES], [w for _s, w in SOURCES])[0]
            has_phone = rng.random() < 0.78
            grade = rng.choices([g for g, _w in GRADES], [w for _g, w in GRADES])[0] if has_phone or rng.random() < .4 else None
            followed = has_phone and grade is not None and rng.random() < 0.62
            won = followed and rng.random() < (0.1 + 0.1 * "EDCBA".index(grade))
            phone_no += 1
            lead = Lead(
                store=org.store, assigned_to=rng.choice(staff), name=f"客户{phone_no}",
                phone=f"+86139{phone_no:08d}" if has_phone else "", source=source,
                channel=rng.choice(channels[source]) if channels.get(source) else None,
                grade=grade, status=Status.WON if won else Status.ACTIVE, first_visit_at=at,
                first_visit_day=at.date(),  # bulk_create does not call save(), which keeps it
                grade_since=at if grade else None, first_follow_up_at=at + timedelta(days=2) if followed else None,
                next_follow_up_at=at + timedelta(days=rng.choice((3, 7, 14, 30, 60))),
            )
            plans.append((lead, grade, followed, min(at + timedelta(days=rng.randint(3, 20)), now) if won else None))
    Lead.objects.bulk_create([p[0] for p in plans])
    changes, follow_ups, deals = [], [], []
    for lead, grade, followed, won_at in plans:
        if grade:
            changes.append(GradeChange(lead=lead, to_grade=grade, changed_at=lead.first_visit_at,
                                       changed_by=lead.assigned_to))
            if followed and grade != "A" and rng.random() < 0.3:
                up = "EDCBA"["EDCBA".index(grade) + 1]
                changes.append(GradeChange(lead=lead, from_grade=grade, to_grade=up, changed_by=lead.assigned_to,
                                           changed_at=lead.first_visit_at + timedelta(days=3)))
        if followed:
            follow_ups.append(FollowUp(
                lead=lead, store=lead.store, occurred_at=lead.first_follow_up_at, method="phone", content="电话回访，约了试驾。",
                created_by=lead.assigned_to,
                review_status=rng.choices(list(ReviewStatus.values), [2, 6, 1])[0],
            ))
        if won_at:
            deals.append(Deal(lead=lead, price=Decimal(rng.randrange(120_000, 260_000, 1000)),
                              ordered_at=timezone.localtime(won_at).date(), created_by=lead.assigned_to))
    GradeChange.objects.bulk_create(changes)
    FollowUp.objects.bulk_create(follow_ups)
    Deal.objects.bulk_create(deals)

    last_month = _month_start(today, 1)
    for back in range(12, 0, -1):
        if back != 4:  # one month without an estimate
            MarketEstimate.objects.create(store=org.store, month=_month_start(today, back),
                                          estimate=rng.randint(900, 1300), entered_by=org.manager)
    Target.objects.create(store=org.store, month=last_month, units=18, revenue=Decimal(3_400_000),
                          average_order_value=Decimal(188_000), set_by=org.manager)
    for person, units in zip(staff, (6, 5, 4, 3), strict=True):
        Target.objects.create(store=org.store, consultant=person, month=last_month, units=units,
                              revenue=Decimal(units * 188_000), set_by=org.manager)
    return last_month, today.replace(day=1) - timedelta(days=1)


def _open_dashboard(page, live_server, first, last):
    page.add_init_script(CSP_WATCH)
    login(page, live_server, "m_north", TEST_PASSWORD)
    page.goto(f"{live_server.url}/funnel/?period=last_month")
    n = Lead.objects.filter(first_visit_at__date__gte=first, first_visit_at__date__lte=last).count()
    expect(page.locator("[data-kpi=N]")).to_have_text(str(n))
    # ECharts draws each chart into a <canvas> inside its div.
    for chart in ("funnel", "mix", "trend", "source", "channel"):
        expect(page.locator(f"#fnl-chart-{chart} canvas").first).to_be_attached()
    page.wait_for_timeout(900)  # let the charts' entry animation finish before the shot


def test_manager_reads_the_funnel_dashboard(org, live_server, page, shot):
    first, last = _a_year_of_traffic(org)
    _open_dashboard(page, live_server, first, last)
    assert page.locator("#fnl-points tbody tr").count() == 4
    box = page.locator("#fnl-chart-funnel canvas").first.bounding_box()
    assert box["width"] > 300 and box["height"] > 200

    # A selector change swaps the dashboard through htmx and the charts are drawn again.
    page.select_option("select[name=period]", "this_year")
    expect(page.locator("#fnl-dashboard .fnl-lede")).to_contain_text(
        timezone.localdate().replace(month=1, day=1).isoformat())
    assert "period=this_year" in page.url
    expect(page.locator("#fnl-chart-funnel canvas").first).to_be_attached()

    # The planner recalculates in place: a target of 40 needs more traffic than the period brought.
    page.select_option("select[name=period]", "last_month")
    expect(page.locator("#fnl-dashboard .fnl-lede")).to_contain_text(first.isoformat())
    page.fill("#plan_target_units", "40")
    page.locator("#plan_target_units").press("Enter")
    expect(page.locator("[data-plan=target]")).to_have_text("40")
    expect(page.locator("[data-lever=N]")).to_be_visible()
    expect(page.locator(".fnl-ladder-plan tbody tr")).to_have_count(5)
    page.wait_for_timeout(900)

    assert page.evaluate("window.__cspViolations") == []
    shot(top(page), "funnel-dashboard-desktop-zh")

    # The manager's entry pages: M month by month, and the month's targets.
    page.get_by_role("link", name=zh("Market demand (M)")).click()
    expect(page.locator(".fnl-m-table tbody tr")).to_have_count(12)
    shot(top(page), "funnel-market-desktop-zh")
    page.goto(f"{live_server.url}/funnel/targets/?month={first:%Y-%m}")
    expect(page.locator(".fnl-target-table tbody tr")).to_have_count(5)  # the store and four consultants
    assert page.evaluate("window.__cspViolations") == []
    shot(top(page), "funnel-targets-desktop-zh")


def test_the_dashboard_fits_a_phone(org, live_server, phone, shot):
    first, last = _a_year_of_traffic(org)
    _open_dashboard(phone, live_server, first, last)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    # The wide control-point table scrolls inside its card, not the page.
    scroller = phone.locator(".fnl-points-scroll")
    assert scroller.evaluate("el => el.scrollWidth > el.clientWidth")
    box = phone.locator("#fnl-chart-trend canvas").first.bounding_box()
    assert box["width"] <= 375
    assert phone.evaluate("window.__cspViolations") == []
    shot(top(phone), "funnel-dashboard-phone-zh")

    # A consultant gets the same page for themselves: their own row only.
    phone.context.clear_cookies()
    login(phone, live_server, "c_north", TEST_PASSWORD)
    phone.goto(f"{live_server.url}/funnel/?period=last_month")
    expect(phone.locator("#fnl-points tbody tr")).to_have_count(1)
    expect(phone.locator("#fnl-points tbody")).to_contain_text("王磊")
    expect(phone.locator("#fnl-chart-funnel canvas").first).to_be_attached()
    phone.wait_for_timeout(900)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    assert phone.evaluate("window.__cspViolations") == []
    shot(top(phone), "funnel-dashboard-consultant-phone-zh")
