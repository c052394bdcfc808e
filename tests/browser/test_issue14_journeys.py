"""Issue 14's journeys in a real browser, in zh-hans (and English where the wording was the defect):
a consultant's walk-in → first follow-up → deal on a 390 px phone; a manager's review, reassignment and targets at
1366 px; a group admin's store comparison. Screenshots land in screenshots/ (issue14-*.png)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dealercrm.tests.factories import TEST_PASSWORD, VehicleSeriesFactory
from funnel.models import Target
from leads.models import FollowUp, Lead, ReviewStatus
from leads.tests.factories import FollowUpFactory, LeadFactory, VisitFactory

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone390(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def desk(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def english(page):
    toggler = page.locator(".navbar-toggler")
    if toggler.is_visible():  # a phone: the language switch is in the folded menu
        toggler.click()
        # Bootstrap's collapse animates: click the switch once the menu has finished opening, not mid-transition.
        expect(page.locator("#main-nav")).to_have_class(re.compile(r"\bshow\b"))
    switch = page.locator("#main-nav").get_by_role("button", name="English")
    if not switch.count():
        switch = page.get_by_role("button", name="English").first
    with page.expect_navigation():  # the switch posts and redirects back: wait for that page, then read it
        switch.click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_consultant_walk_in_first_follow_up_and_deal_on_a_phone(org, live_server, phone390, shot):
    page = phone390
    series = VehicleSeriesFactory(name="星耀 L7", name_en="Xingyao L7", brand__name="星辰汽车",
                                  brand__name_en="Star Auto")
    login(page, live_server, "c_north", TEST_PASSWORD)
    quick = page.locator("#quick-visit")

    # An anonymous walk-in: the confirmation finishes its sentence (no "Follow up by" with nothing after it).
    quick.locator("input[name=name]").fill("刘先生")
    quick.locator("button[type=submit]").click()
    expect(quick.locator(".alert-success")).to_contain_text(
        zh("No phone yet, so nothing falls due: add the phone on the lead's page when the customer gives it."))

    # A walk-in with a phone, graded C: the first follow-up falls due within a day, not in C's 14 days.
    quick.locator("input[name=name]").fill("王先生")
    quick.locator("input[name=phone]").fill("138 0013 8000")
    quick.locator("select[name=series]").select_option(str(series.pk))
    quick.locator("label[for=id_grade_3]").click()  # C (choices: later, A, B, C, D, E)
    quick.locator("button[type=submit]").click()
    result = quick.locator(".alert-success")
    expect(result).to_contain_text("王先生")
    lead = Lead.objects.get(phone="+8613800138000")
    assert lead.next_follow_up_at - lead.first_visit_at <= timedelta(days=1, hours=12)
    expect(result).to_contain_text(timezone.localtime(lead.next_follow_up_at).strftime("%m-%d %H:%M"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "issue14-walk-in-phone-zh")

    # The first follow-up, then the deal.
    result.get_by_role("link").click()
    expect(page.locator("#lead-name")).to_have_text("王先生")
    form = page.locator("#pane-follow-up form")
    form.locator("select[name=method]").select_option("phone")
    form.locator("textarea[name=content]").fill("电话回访：客户确认本周六来店试驾并谈价格。")
    form.locator("label[for=id_grade_after_1]").click()  # A
    form.locator("button[type=submit]").click()
    expect(page.locator("#lead-timeline .kind-follow_up")).to_contain_text("本周六来店试驾")
    page.locator("#tab-deal").click()
    deal = page.locator("#pane-deal form")
    deal.locator("input[name=price]").fill("168000")
    deal.locator("button[type=submit]").click()
    expect(page.locator(".lead-header .won-card")).to_be_visible()
    # A won lead does not promise "can close within 3 months" any more.
    expect(page.locator(".lead-header .grade-meaning")).to_have_text(zh("Bought: the deal is below."))
    lead.refresh_from_db()
    assert lead.status == "won"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "issue14-deal-phone-zh")
    english(page)
    expect(page.locator(".lead-header .grade-meaning")).to_have_text("Bought: the deal is below.")
    shot(page, "issue14-deal-phone-en")


def test_manager_reviews_reassigns_and_sets_targets(org, live_server, desk, shot):
    page = desk
    org.consultant.display_name, org.consultant2.display_name = "王磊", "李娜"
    org.consultant.save()
    org.consultant2.save()
    now = timezone.now()
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="赵女士", grade="B",
                       first_visit_at=now - timedelta(days=20))
    VisitFactory(lead=lead)
    follow_ups = [FollowUpFactory(lead=lead, created_by=org.consultant, occurred_at=now - timedelta(days=9 - i),
                                  content=f"第{i + 1}次回访：客户比较了竞品配置。") for i in range(3)]
    login(page, live_server, "m_north", TEST_PASSWORD)

    # Reviews: the menu, the count, ticking two and approving them together.
    nav = page.get_by_role("navigation").first
    nav.get_by_role("button", name=zh("Manage")).click()
    nav.get_by_role("link", name=zh("Reviews")).click()
    expect(page.locator("#review-count")).to_have_text("3")
    expect(page.locator("[data-oldest]")).to_contain_text("9")
    page.locator(f"#tick-{follow_ups[0].pk}").check()
    page.locator(f"#tick-{follow_ups[1].pk}").check()
    shot(page, "issue14-reviews-desktop-zh")
    page.get_by_role("button", name=zh("Approve the ticked follow-ups")).click()
    expect(page.locator("#review-count")).to_have_text("1")
    assert FollowUp.objects.filter(review_status=ReviewStatus.APPROVED).count() == 2
    # The last one through its card: the count drops in place.
    card = page.locator(f"#review-{follow_ups[2].pk}")
    card.get_by_role("button", name=zh("Approve")).click()
    expect(page.locator("#review-count")).to_have_text("0")

    # Reassign from the lead's own page.
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.locator("[data-reassign] select").select_option(str(org.consultant2.pk))
    page.locator("[data-reassign] button").click()
    expect(page.locator(".lead-facts")).to_contain_text("李娜")
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant2
    shot(page, "issue14-lead-reassigned-desktop-zh")

    # Targets: the store's revenue target is not carried into a consultant's row.
    page.goto(f"{live_server.url}/funnel/targets/?store={org.store.pk}")
    page.locator("input[name=units]").fill("40")
    page.locator("input[name=revenue]").fill("5400000")
    page.get_by_role("button", name=zh("Save")).click()
    page.locator(f"tr[data-consultant='{org.consultant.pk}']").get_by_role("link").click()
    expect(page.locator(".fnl-t-for")).to_contain_text("王磊")
    expect(page.locator("input[name=revenue]")).to_have_value("")
    page.locator("input[name=units]").fill("8")
    page.get_by_role("button", name=zh("Save")).click()
    target = Target.objects.get(consultant=org.consultant)
    assert (target.units, target.revenue) == (8, 0)
    shot(page, "issue14-targets-desktop-zh")
    english(page)
    shot(page, "issue14-targets-desktop-en")


def test_group_admin_compares_the_stores(org, live_server, desk, shot):
    page = desk
    now = timezone.now()
    for store, consultant, n in ((org.store, org.consultant, 5), (org.store2, org.consultant_b, 3)):
        for i in range(n):
            LeadFactory(store=store, assigned_to=consultant, name=f"客户{i}", grade="C",
                        first_visit_at=now - timedelta(minutes=10 + i), phone=f"+86137{store.pk:03d}{i:05d}")
    Target.objects.create(store=org.store, month=timezone.localdate().replace(day=1), units=20)
    login(page, live_server, "ga_alpha", TEST_PASSWORD)
    page.goto(f"{live_server.url}/funnel/?store=all")
    table = page.locator("#fnl-stores")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator(f"tr[data-store='{org.store.pk}'] [data-col=N]")).to_have_text("5")
    expect(table.locator(f"tr[data-store='{org.store2.pk}'] [data-col=N]")).to_have_text("3")
    expect(page.locator("a.fnl-cp").first).to_have_attribute("href", re.compile(r"^/help/figures/#cp[1-9]$"))
    shot(page, "issue14-stores-desktop-zh")
    english(page)
    expect(page.get_by_role("heading", name="Stores side by side")).to_be_visible()
    shot(page, "issue14-stores-desktop-en")
