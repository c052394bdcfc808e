"""The store manager's pages in a real browser: follow-up review through htmx, allocation, merge, a phone width."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dealercrm.tests.factories import TEST_PASSWORD, ConsultantFactory
from leads.models import FollowUp, Lead, ReviewStatus
from leads.tests.factories import FollowUpFactory, LeadFactory, VisitFactory

from .conftest import login, zh, zh_n


def top(page):
    """Full-page shots are taken from the top, so the sticky navbar sits where it belongs."""
    page.evaluate("window.scrollTo(0, 0)")
    return page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOTES = [
    ("phone", "reached", "C", "B", "电话回访：客户下周带家人来试驾，关注后排空间和油耗，已发送配置单。"),
    ("wechat", "appointment", "B", "B", "微信沟通了置换补贴政策，客户约了周六上午到店评估旧车。"),
    ("phone", "no_answer", "D", "D", "未接通。"),
    ("showroom", "reached", "E", "C", "到店看车，对比了竞品的价格，预算二十万左右，还没决定。"),
]


def _store_with_work(org):
    """A store worth looking at: three consultants with uneven loads, one who left still holding leads, an
    unassigned pool, overdue leads, and follow-ups waiting for review."""
    now = timezone.now()
    org.consultant.display_name, org.consultant2.display_name = "王磊", "李娜"
    org.consultant.save()
    org.consultant2.save()
    third = ConsultantFactory(username="c3_north", store=org.store, display_name="陈静")
    gone = ConsultantFactory(username="c4_north", store=org.store, display_name="赵强")
    plan = {
        org.consultant: "AABBBCCCCCDDDEEEEE-",
        org.consultant2: "ABCCDDE",
        third: "BCCDEE-",
        gone: "BCCE",
        None: "CDE--",
    }
    for person, grades in plan.items():
        for i, grade in enumerate(grades):
            LeadFactory(
                store=org.store, assigned_to=person, grade=None if grade == "-" else grade,
                next_follow_up_at=now - timedelta(days=2) if i % 5 == 4 else now + timedelta(days=3),
            )
    gone.is_active = False
    gone.save()
    # The same customer logged twice, once without a phone: a merge candidate.
    first = LeadFactory(store=org.store, assigned_to=org.consultant2, name="张伟", grade="C",
                        first_visit_at=now - timedelta(days=20))
    second = LeadFactory(store=org.store, assigned_to=third, name="张伟", phone="", grade="E",
                         first_visit_at=now - timedelta(days=6))
    VisitFactory(lead=first)
    VisitFactory(lead=first, is_first=False, arrived_at=now - timedelta(days=9))
    VisitFactory(lead=second)
    FollowUpFactory(lead=first, review_status=ReviewStatus.APPROVED)
    lead = Lead.objects.filter(assigned_to=org.consultant).first()
    follow_ups = []
    authors = [org.consultant, org.consultant2, third, org.consultant]
    for i, (method, outcome, before, after, content) in enumerate(NOTES):
        target = Lead.objects.filter(assigned_to=authors[i]).order_by("pk")[i]
        follow_ups.append(FollowUpFactory(
            lead=target, method=method, outcome=outcome, grade_before=before, grade_after=after, content=content,
            occurred_at=now - timedelta(hours=30 - i * 6),
        ))
    return lead, follow_ups


def test_manager_reviews_follow_ups_and_reads_the_allocation(org, live_server, page, shot):
    _lead, follow_ups = _store_with_work(org)
    login(page, live_server, "m_north", TEST_PASSWORD)

    page.goto(f"{live_server.url}/leads/reviews/")
    expect(page.get_by_role("heading", name=zh("Follow-up reviews"))).to_be_visible()
    cards = page.locator("article.mgr-review-card")
    expect(cards).to_have_count(len(NOTES))

    # Rejecting without a comment: the card stays, with the field error.
    first = page.locator(f"#review-{follow_ups[2].pk}")
    first.get_by_role("button", name=zh("Reject")).click()
    expect(first.locator(".invalid-feedback")).to_contain_text(zh("Say why the record is rejected."))
    assert FollowUp.objects.get(pk=follow_ups[2].pk).review_status == ReviewStatus.PENDING

    # With a comment: the card turns into its rejected state in place.
    comment = "请写清客户没接电话后的下一步安排。"
    first.get_by_role("textbox").fill(comment)
    first.get_by_role("button", name=zh("Reject")).click()
    expect(first).to_have_class(re.compile(r"\bmgr-review-rejected\b"))
    expect(first).to_contain_text(comment)
    expect(first.get_by_role("button", name=zh("Reject"))).to_have_count(0)

    approved = page.locator(f"#review-{follow_ups[0].pk}")
    approved.get_by_role("button", name=zh("Approve")).click()
    expect(approved).to_have_class(re.compile(r"\bmgr-review-approved\b"))

    fu = FollowUp.objects.get(pk=follow_ups[2].pk)
    assert (fu.review_status, fu.review_comment) == (ReviewStatus.REJECTED, comment)
    assert FollowUp.objects.get(pk=follow_ups[0].pk).review_status == ReviewStatus.APPROVED
    shot(top(page), "manager-reviews-zh")

    page.goto(f"{live_server.url}/leads/allocation/")
    matrix = page.locator("#mgr-matrix table")
    expect(matrix).to_be_visible()
    expect(matrix.locator("tbody tr")).to_have_count(5)  # four consultants (one deactivated) and the unassigned
    expect(page.locator("tr.mgr-row-heavy")).to_contain_text("王磊")
    expect(page.locator("tr.mgr-row-departed")).to_contain_text("赵强")
    expect(page.locator("tfoot")).to_contain_text(str(Lead.objects.filter(status="active").count()))
    shot(top(page), "manager-allocation-zh")


def test_manager_reassigns_from_the_drilldown(org, live_server, page, shot):
    _store_with_work(org)
    login(page, live_server, "m_north", TEST_PASSWORD)
    page.goto(f"{live_server.url}/leads/allocation/")

    page.locator("#mgr-matrix").get_by_role("link", name="王磊").click()
    drill = page.locator("#mgr-drilldown")
    expect(drill).to_contain_text("王磊")
    expect(page).to_have_url(re.compile(r"consultant="))
    row = drill.locator("tbody tr").first
    lead_id = int(row.get_attribute("id").removeprefix("lead-row-"))
    row.get_by_role("combobox").select_option(label="陈静")
    row.get_by_role("button", name=zh("Reassign")).click()

    done = page.locator(f"#lead-row-{lead_id}")
    expect(done).to_have_class(re.compile(r"\bmgr-row-done\b"))
    expect(done).to_contain_text("陈静")
    expect(page.locator("#mgr-flash .alert-success")).to_be_visible()
    # The matrix refreshed itself: the heaviest consultant now holds one lead fewer.
    expect(page.locator("tr.mgr-row-heavy td.fw-semibold")).to_have_text("18")
    assert Lead.objects.get(pk=lead_id).assigned_to.username == "c3_north"
    shot(top(page), "manager-allocation-drilldown-zh")


def test_manager_pages_fit_a_phone(org, live_server, phone, shot):
    _store_with_work(org)
    login(phone, live_server, "m_north", TEST_PASSWORD)
    pages = [("/leads/allocation/", "manager-allocation-phone-zh"), ("/leads/reviews/", "manager-reviews-phone-zh")]
    for path, name in pages:
        phone.goto(f"{live_server.url}{path}")
        expect(phone.locator("h1")).to_be_visible()
        # Tables scroll inside .table-responsive; the page itself never scrolls sideways.
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375, path
        shot(top(phone), name)


def test_merge_page_shows_the_pair_and_the_confirmation(org, live_server, page, shot):
    _store_with_work(org)
    login(page, live_server, "m_north", TEST_PASSWORD)
    page.goto(f"{live_server.url}/leads/merge/")
    pair = page.locator("article.mgr-pair")
    expect(pair).to_have_count(1)
    expect(pair).to_contain_text("张伟")
    shot(top(page), "manager-merge-zh")
    # Suggested (a filled button) only on evidence (issue 14); either way the pair's footer offers both directions.
    pair.locator(".card-footer a").last.click()
    expect(page.get_by_role("button", name=zh("Merge"))).to_be_visible()
    expect(page.locator("main")).to_contain_text("张伟")
    shot(top(page), "manager-merge-confirm-zh")


def test_manager_moves_a_departed_consultants_leads(org, live_server, page, shot):
    _store_with_work(org)
    login(page, live_server, "m_north", TEST_PASSWORD)
    page.goto(f"{live_server.url}/leads/allocation/")
    page.locator("tr.mgr-row-departed").get_by_role("link", name=zh("Move leads")).click()
    expect(page.get_by_role("heading", name=zh("Move a consultant's leads"))).to_be_visible()
    page.get_by_role("button", name=zh("Review the move")).click()

    expect(page.get_by_role("heading", name=zh("Confirm the move"))).to_be_visible()
    expect(page.locator(".mgr-confirm")).to_contain_text("4")
    shot(top(page), "manager-bulk-move-confirm-zh")
    assert Lead.objects.filter(assigned_to__username="c4_north", status="active").count() == 4
    page.get_by_role("button", name=zh_n("Move %(counter)s lead", "Move %(counter)s leads", 4)).click()

    expect(page.locator(".alert-success")).to_contain_text("4")
    expect(page.locator("tr.mgr-row-departed")).to_have_count(0)
    assert Lead.objects.filter(assigned_to__username="c4_north", status="active").count() == 0
