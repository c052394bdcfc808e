"""The consultant's pages through the Django test client: workspace, quick and full visit log, list, detail and its
inline htmx forms, edit with a stale version."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dealercrm.tests.clients import HTMX
from dealercrm.tests.factories import VehicleSeriesFactory
from leads.models import Deal, FollowUp, GradeChange, Lead, ReviewStatus, Visit, local_day_start
from leads.tests.factories import FollowUpFactory, LeadFactory, VisitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def series(db):
    return VehicleSeriesFactory(name="星耀 L7", name_en="Xingyao L7")


def body(resp) -> str:
    return resp.content.decode()


# --- workspace -------------------------------------------------------------------------------------------------


def test_workspace_shows_a_consultants_due_and_overdue_follow_ups_only(org, client):
    today = local_day_start()
    LeadFactory(store=org.store, assigned_to=org.consultant, name="逾期李", next_follow_up_at=today - timedelta(days=2))
    LeadFactory(store=org.store, assigned_to=org.consultant, name="今天张", grade="A",
                next_follow_up_at=today + timedelta(hours=15))
    LeadFactory(store=org.store, assigned_to=org.consultant2, name="别人王", next_follow_up_at=today + timedelta(hours=10))
    client.force_login(org.consultant)
    page = body(client.get(reverse("home")))
    assert "逾期李" in page and "今天张" in page
    assert "别人王" not in page
    assert 'id="quick-visit"' in page
    # A consultant has no manager's queue.
    assert reverse("leads:reviews") not in page


def test_workspace_shows_the_consultants_full_phone_with_a_call_button(org, client):
    LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613800138000",
                next_follow_up_at=local_day_start() + timedelta(hours=12))
    client.force_login(org.consultant)
    page = body(client.get(reverse("home")))
    assert "138 0013 8000" in page and 'href="tel:+8613800138000"' in page


def test_workspace_ladder_counts_the_consultants_active_leads(org, client):
    for grade in ["A", "B", "B", None]:
        LeadFactory(store=org.store, assigned_to=org.consultant, grade=grade)
    LeadFactory(store=org.store, assigned_to=org.consultant2, grade="B")
    client.force_login(org.consultant)
    resp = client.get(reverse("home"))
    assert resp.context["ws"].ladder == {"A": 1, "B": 2, "C": 0, "D": 0, "E": 0, "ungraded": 1}


def test_manager_workspace_covers_the_store_and_links_pending_reviews(org, client):
    today = local_day_start()
    LeadFactory(store=org.store, assigned_to=org.consultant, name="北店甲", next_follow_up_at=today + timedelta(hours=9))
    LeadFactory(store=org.store, assigned_to=org.consultant2, name="北店乙", next_follow_up_at=today + timedelta(hours=11))
    LeadFactory(store=org.store2, assigned_to=org.consultant_b, name="南店丙", next_follow_up_at=today + timedelta(hours=9))
    FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant2))
    client.force_login(org.manager)
    resp = client.get(reverse("home"))
    page = body(resp)
    assert "北店甲" in page and "北店乙" in page and "南店丙" not in page
    assert resp.context["ws"].pending_reviews == 2
    assert reverse("leads:reviews") in page



def test_the_review_count_on_tiles_and_badges_stops_at_the_cap(org, client, monkeypatch):
    """The workspace's "to review" tile and the manager pages' Reviews badge count the waiting follow-ups up to
    REVIEW_BADGE_CAP and then say "999+" (here 2+); the review queue itself still counts them all."""
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leads import selectors

    for _ in range(3):
        FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    FollowUpFactory(lead=LeadFactory(store=org.store2, assigned_to=org.consultant_b))  # not the manager's
    monkeypatch.setattr(selectors, "REVIEW_BADGE_CAP", 2)
    client.force_login(org.manager)
    with CaptureQueriesContext(connection) as queries:
        page = body(client.get(reverse("home")))
    counted = [q["sql"] for q in queries if '"leads_followup"' in q["sql"] and "COUNT" in q["sql"]]
    assert len(counted) == 1 and "LIMIT 3" in counted[0]
    assert re.search(r'class="value">\s*2\+\s*</div>', page)
    badge = re.search(r'id="reviews-tab-badge"[^>]*>([^<]*)<', body(client.get(reverse("leads:allocation"))))
    assert badge.group(1) == "2+"
    assert re.search(r'id="review-count">\s*3\s*<', body(client.get(reverse("leads:reviews"))))  # the queue: all
    assert selectors.pending_review_count(user=org.manager) == 3  # more than the cap: cap + 1
    assert selectors.pending_review_count(user=org.manager2) == 1  # the other store's one
    monkeypatch.setattr(selectors, "REVIEW_BADGE_CAP", 999)
    assert re.search(r'class="value">\s*3\s*</div>', body(client.get(reverse("home"))))
    badge = re.search(r'id="reviews-tab-badge"[^>]*>([^<]*)<', body(client.get(reverse("leads:allocation"))))
    assert badge.group(1) == "3"

def test_group_admin_workspace_has_the_group_ladder_and_its_store_cards(org, client):
    LeadFactory(store=org.store, assigned_to=org.consultant, grade="A")
    LeadFactory(store=org.store2, assigned_to=org.consultant_b, grade="A")
    LeadFactory(store=org.other_store, assigned_to=None, grade="A")
    client.force_login(org.admin)
    resp = client.get(reverse("home"))
    page = body(resp)
    assert resp.context["ws"].ladder["A"] == 2
    assert "Alpha North" in page and "Alpha South" in page and "Beta Central" not in page
    cards = {store.name: (store.managers, store.consultants) for store in resp.context["stores"]}
    assert cards == {"Alpha North": (1, 2), "Alpha South": (1, 1)}
    # No store of their own: no walk-in form.
    assert 'id="quick-visit"' not in page


def test_workspace_query_count_does_not_grow_with_leads(org, client, django_assert_max_num_queries):
    client.force_login(org.manager)
    today = local_day_start()
    for i in range(30):
        LeadFactory(store=org.store, assigned_to=org.consultant if i % 2 else org.consultant2,
                    next_follow_up_at=today + timedelta(hours=i % 20 - 8))
    with django_assert_max_num_queries(16):
        assert client.get(reverse("home")).status_code == 200


# --- logging visits --------------------------------------------------------------------------------------------


def test_quick_visit_creates_a_lead_and_answers_with_the_partial(org, client, series):
    client.force_login(org.consultant)
    resp = client.post(
        reverse("leads:visit"),
        {"quick": "1", "name": "王先生", "phone": "139 0013 9000", "source": "walk_in", "series": series.pk, "grade": "C"},
        **HTMX,
    )
    assert resp.status_code == 200
    lead = Lead.objects.get(phone="+8613900139000")
    assert (lead.name, lead.grade, lead.assigned_to, lead.series) == ("王先生", "C", org.consultant, series)
    page = body(resp)
    assert "New lead logged: 王先生." in page
    assert reverse("leads:detail", args=[lead.pk]) in page
    # The ladder and recent leads are refreshed out of band.
    assert 'id="ladder"' in page and 'hx-swap-oob="true"' in page
    assert "<html" not in page


def test_quick_visit_with_a_known_phone_records_a_revisit(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="刘女士", phone="+8613700137000")
    client.force_login(org.consultant)
    resp = client.post(reverse("leads:visit"),
                       {"quick": "1", "name": "刘", "phone": "13700137000", "source": "walk_in"}, **HTMX)
    assert Lead.objects.filter(store=org.store).count() == 1
    assert Visit.objects.filter(lead=lead, is_first=False).count() == 1
    page = body(resp)
    assert "Re-visit recorded for 刘女士." in page
    assert reverse("leads:detail", args=[lead.pk]) in page


def test_quick_visit_with_a_colleagues_customers_phone_names_the_colleague_without_a_link(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant2, name="冯女士", phone="+8613700137001")
    client.force_login(org.consultant)
    resp = client.post(reverse("leads:visit"),
                       {"quick": "1", "name": "冯", "phone": "13700137001", "source": "walk_in"}, **HTMX)
    assert Visit.objects.filter(lead=lead, is_first=False).count() == 1
    page = body(resp)
    assert f"This customer is followed by {org.consultant2}." in page
    assert reverse("leads:detail", args=[lead.pk]) not in page and "冯女士" not in page


def test_quick_visit_channel_decides_the_source(org, client):
    client.force_login(org.consultant)
    from leads.models import Channel

    friend, _ = Channel.objects.get_or_create(code="friend", defaults={"source": "referral", "name": "亲友推荐",
                                                                       "name_en": "Friend referral"})
    client.post(reverse("leads:visit"),
                {"quick": "1", "name": "周先生", "source": "walk_in", "channel": friend.pk}, **HTMX)
    assert Lead.objects.get(name="周先生").source == "referral"


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"name": "赵先生", "phone": "12345"}, "phone", "Enter a valid phone number."),
        ({"name": "  ", "phone": "13800138000"}, "name", "Enter a name, or Mr./Ms. and a surname."),
    ],
)
def test_quick_visit_errors_show_on_the_form_and_write_nothing(org, client, data, field, message):
    client.force_login(org.consultant)
    resp = client.post(reverse("leads:visit"), {"quick": "1", "source": "walk_in", **data}, **HTMX)
    assert resp.status_code == 200
    assert resp.context["quick_form"].errors[field] == [message]
    assert message in body(resp)
    assert "is-invalid" in body(resp)
    assert not Lead.objects.exists() and not Visit.objects.exists()


def test_full_visit_page_logs_every_field_and_redirects_to_the_lead(org, client, series):
    client.force_login(org.consultant)
    arrived = timezone.localtime().replace(second=0, microsecond=0) - timedelta(hours=1)
    resp = client.post(
        reverse("leads:visit"),
        {
            "name": "孙女士", "phone": "13600136000", "gender": "female", "source": "outbound", "series": series.pk,
            "grade": "B", "budget": "180000", "purchase_type": "replacement", "district": "浦东", "industry": "金融",
            "arrived_at": arrived.strftime("%Y-%m-%dT%H:%M"),
            "left_at": (arrived + timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M"),
            "steps": ["needs_analysis", "test_drive"], "companions": "2", "note": "想要混动",
        },
    )
    lead = Lead.objects.get(phone="+8613600136000")
    assert resp.status_code == 302 and resp.url == reverse("leads:detail", args=[lead.pk])
    assert (lead.gender, lead.budget, lead.purchase_type, lead.district) == ("female", 180000, "replacement", "浦东")
    visit = lead.visits.get()
    assert (visit.test_drive, visit.quote, visit.companions, visit.minutes_on_lot) == (True, False, 2, 50)


def test_full_visit_page_with_a_known_phone_flashes_the_revisit(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="钱先生", phone="+8613500135000")
    client.force_login(org.consultant)
    resp = client.post(reverse("leads:visit"), {"name": "钱", "phone": "13500135000", "source": "walk_in"},
                       follow=True)
    assert resp.redirect_chain[-1][0] == reverse("leads:detail", args=[lead.pk])
    assert "Re-visit recorded for 钱先生." in body(resp)


def test_manager_chooses_the_consultant_on_the_visit_page(org, client):
    client.force_login(org.manager)
    form = client.get(reverse("leads:visit")).context["form"]
    assert set(form.fields["assigned_to"].queryset) == {org.consultant, org.consultant2}
    client.post(reverse("leads:visit"), {"name": "吴先生", "source": "walk_in", "assigned_to": org.consultant2.pk})
    assert Lead.objects.get(name="吴先生").assigned_to == org.consultant2


def test_group_admin_chooses_the_store_on_the_visit_page(org, client):
    client.force_login(org.admin)
    form = client.get(reverse("leads:visit")).context["form"]
    assert set(form.fields["store"].queryset) == {org.store, org.store2}
    resp = client.post(reverse("leads:visit"), {"name": "冯先生", "source": "walk_in"})
    assert resp.status_code == 200 and resp.context["form"].errors["store"]
    client.post(reverse("leads:visit"), {"name": "冯先生", "source": "walk_in", "store": org.store2.pk})
    lead = Lead.objects.get(name="冯先生")
    assert (lead.store, lead.assigned_to) == (org.store2, org.consultant_b)


# --- list ------------------------------------------------------------------------------------------------------


def test_list_shows_only_the_consultants_leads(org, client):
    LeadFactory(store=org.store, assigned_to=org.consultant, name="我的客户")
    LeadFactory(store=org.store, assigned_to=org.consultant2, name="同事客户")
    client.force_login(org.consultant)
    page = body(client.get(reverse("leads:list")))
    assert "我的客户" in page and "同事客户" not in page
    # A consultant has no consultant filter.
    assert 'name="assigned_to"' not in page


def test_list_filters_by_grade_and_searches_by_phone(org, client):
    LeadFactory(store=org.store, assigned_to=org.consultant, name="甲A", grade="A", phone="+8613100131000")
    LeadFactory(store=org.store, assigned_to=org.consultant, name="乙B", grade="B", phone="+8613200132000")
    LeadFactory(store=org.store, assigned_to=org.consultant, name="丙C", grade="C", phone="+8613300133000")
    client.force_login(org.consultant)
    page = body(client.get(reverse("leads:list"), {"grade": ["A", "B"]}))
    assert "甲A" in page and "乙B" in page and "丙C" not in page
    page = body(client.get(reverse("leads:list"), {"q": "132 0013"}))
    assert "乙B" in page and "甲A" not in page


def test_list_filters_overdue_and_by_consultant_for_a_manager(org, client):
    today = local_day_start()
    LeadFactory(store=org.store, assigned_to=org.consultant, name="逾期一", next_follow_up_at=today - timedelta(days=1))
    LeadFactory(store=org.store, assigned_to=org.consultant2, name="逾期二", next_follow_up_at=today - timedelta(days=1))
    LeadFactory(store=org.store, assigned_to=org.consultant, name="按时", next_follow_up_at=today + timedelta(days=2))
    client.force_login(org.manager)
    page = body(client.get(reverse("leads:list"), {"overdue": "true", "assigned_to": org.consultant.pk}))
    assert "逾期一" in page and "逾期二" not in page and "按时" not in page


def test_the_holder_filter_marks_the_manager_as_a_manager(org, client):
    from django.utils import translation

    client.force_login(org.manager)
    with translation.override("en"):
        page = body(client.get(reverse("leads:list"), HTTP_ACCEPT_LANGUAGE="en"))
    assert f'<option value="{org.manager.pk}">{org.manager} (manager)</option>' in page
    assert f'<option value="{org.consultant.pk}">{org.consultant}</option>' in page


def test_list_for_htmx_returns_only_the_results_partial(org, client):
    LeadFactory(store=org.store, assigned_to=org.consultant, name="甲")
    client.force_login(org.consultant)
    resp = client.get(reverse("leads:list"), {"q": "甲"}, **HTMX)
    page = body(resp)
    assert page.lstrip().startswith('<div id="lead-results"')
    assert "<html" not in page and 'id="lead-filters"' not in page


def test_list_paginates_25_a_page(org, client):
    for i in range(27):
        LeadFactory(store=org.store, assigned_to=org.consultant, name=f"客户{i:02d}")
    client.force_login(org.consultant)
    first = client.get(reverse("leads:list"))
    assert len(first.context["page"].object_list) == 25
    second = client.get(reverse("leads:list"), {"page": 2})
    assert len(second.context["page"].object_list) == 2


@pytest.mark.parametrize("count", [3, 30])
def test_list_query_count_is_constant(org, client, django_assert_max_num_queries, count, series):
    for i in range(count):
        LeadFactory(store=org.store, assigned_to=org.consultant if i % 2 else org.consultant2, series=series)
    client.force_login(org.manager)
    with django_assert_max_num_queries(10):
        assert client.get(reverse("leads:list"), {"status": "active"}).status_code == 200
    # The results partial alone: session, user, count, page.
    with django_assert_max_num_queries(4):
        assert client.get(reverse("leads:list"), {"status": "active"}, **HTMX).status_code == 200


# --- detail ----------------------------------------------------------------------------------------------------


def test_detail_is_404_for_another_consultants_lead(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant2)
    client.force_login(org.consultant)
    assert client.get(reverse("leads:detail", args=[lead.pk])).status_code == 404
    assert client.post(reverse("leads:follow_up", args=[lead.pk]), {"method": "phone", "content": "x"}).status_code == 404


def test_detail_is_404_for_another_stores_lead_for_a_manager(org, client):
    lead = LeadFactory(store=org.store2, assigned_to=org.consultant_b)
    client.force_login(org.manager)
    assert client.get(reverse("leads:detail", args=[lead.pk])).status_code == 404
    assert client.get(reverse("leads:edit", args=[lead.pk])).status_code == 404


def test_detail_shows_the_header_and_timeline(org, client, series):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="郑先生", grade="B", series=series,
                       phone="+8613800138000")
    VisitFactory(lead=lead, test_drive=True)
    client.force_login(org.consultant)
    page = body(client.get(reverse("leads:detail", args=[lead.pk])))
    assert "郑先生" in page and series.name_en in page and "138 0013 8000" in page
    assert "Test drive" in page or "试驾" in page
    assert 'id="pane-follow-up"' in page


def test_follow_up_by_htmx_promotes_the_grade_and_shows_on_the_timeline(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="C")
    client.force_login(org.consultant)
    resp = client.post(
        reverse("leads:follow_up", args=[lead.pk]),
        {"method": "wechat", "content": "客户确认下周来试驾", "outcome": "appointment", "grade_after": "B"},
        **HTMX,
    )
    assert resp.status_code == 200
    lead.refresh_from_db()
    assert lead.grade == "B"
    change = GradeChange.objects.get(lead=lead)
    assert (change.from_grade, change.to_grade, change.follow_up.content) == ("C", "B", "客户确认下周来试驾")
    page = body(resp)
    assert page.lstrip().startswith('<div id="lead-body"')
    assert "客户确认下周来试驾" in page
    assert "Follow-up recorded." in page
    assert [entry.kind for entry in resp.context["timeline"]][:2] == ["grade", "follow_up"]
    assert 'grade-badge grade-b grade-badge-lg' in page


def test_follow_up_without_content_shows_the_error_and_writes_nothing(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="C")
    client.force_login(org.consultant)
    resp = client.post(reverse("leads:follow_up", args=[lead.pk]), {"method": "phone", "content": ""}, **HTMX)
    assert resp.status_code == 200
    assert "Say what was discussed." in body(resp)
    assert not FollowUp.objects.exists()


def test_grade_change_records_the_reason(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="D")
    client.force_login(org.consultant)
    client.post(reverse("leads:grade", args=[lead.pk]), {"to_grade": "C", "reason": "换车计划提前",
                                                         "version": lead.version}, **HTMX)
    change = GradeChange.objects.get(lead=lead)
    assert (change.from_grade, change.to_grade, change.reason) == ("D", "C", "换车计划提前")


def test_grade_change_over_a_stale_version_is_refused(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="D")
    client.force_login(org.consultant)
    resp = client.post(reverse("leads:grade", args=[lead.pk]),
                       {"to_grade": "C", "reason": "x", "version": lead.version + 5}, **HTMX)
    assert "Someone else changed this lead" in body(resp)
    assert not GradeChange.objects.exists()


def test_grade_change_after_a_conflict_carries_the_current_version(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="D")
    client.force_login(org.consultant)
    resp = client.post(reverse("leads:grade", args=[lead.pk]),
                       {"to_grade": "C", "reason": "x", "version": lead.version + 5}, **HTMX)
    retry = resp.context["grade_form"]
    assert retry.data["version"] == str(lead.version) and retry.data["to_grade"] == "C"
    client.post(reverse("leads:grade", args=[lead.pk]), dict(retry.data.items()), **HTMX)
    lead.refresh_from_db()
    assert lead.grade == "C"


def test_follow_up_on_a_won_lead_says_why_nothing_happened(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, status="won")
    client.force_login(org.consultant)
    resp = client.post(reverse("leads:follow_up", args=[lead.pk]), {"method": "phone", "content": "再联系"}, **HTMX)
    assert resp.status_code == 200
    assert "alert-danger" in body(resp)
    assert not FollowUp.objects.exists()


def test_revisit_adds_a_visit(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    client.force_login(org.consultant)
    client.post(reverse("leads:revisit", args=[lead.pk]), {"steps": ["quote"], "companions": "1"}, **HTMX)
    visit = Visit.objects.get(lead=lead)
    assert (visit.is_first, visit.quote, visit.companions) == (False, True, 1)


def test_deal_makes_the_lead_won_and_hides_the_forms(org, client, series):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="A")
    client.force_login(org.consultant)
    resp = client.post(
        reverse("leads:deal", args=[lead.pk]),
        {"price": "215000", "series": series.pk, "ordered_at": timezone.localdate().isoformat()},
        **HTMX,
    )
    lead.refresh_from_db()
    assert lead.status == "won"
    assert Deal.objects.get(lead=lead).price == 215000
    for page in (body(resp), body(client.get(reverse("leads:detail", args=[lead.pk])))):
        assert 'id="pane-follow-up"' not in page and "hx-post" not in page
        assert "215,000" in page


def test_non_htmx_follow_up_redirects_back_to_the_lead(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    client.force_login(org.consultant)
    resp = client.post(reverse("leads:follow_up", args=[lead.pk]), {"method": "phone", "content": "电话回访"})
    assert resp.status_code == 302 and resp.url == reverse("leads:detail", args=[lead.pk])
    assert FollowUp.objects.get(lead=lead).review_status == ReviewStatus.PENDING


def test_manager_can_follow_up_a_lead_of_the_store(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    client.force_login(org.manager)
    resp = client.post(reverse("leads:follow_up", args=[lead.pk]), {"method": "phone", "content": "经理回访"}, **HTMX)
    assert resp.status_code == 200 and FollowUp.objects.filter(lead=lead).exists()


# --- edit ------------------------------------------------------------------------------------------------------


def edit_data(lead, **changes):
    data = {"version": lead.version, "name": lead.name, "phone": "", "gender": "", "source": lead.source,
            "channel": "", "series": "", "budget": "", "purchase_type": "", "district": "", "industry": "",
            "notes": ""}
    data.update(changes)
    return data


def test_edit_saves_the_customer_fields(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="旧名字")
    client.force_login(org.consultant)
    form = client.get(reverse("leads:edit", args=[lead.pk])).context["form"]
    assert form.initial["version"] == lead.version
    resp = client.post(reverse("leads:edit", args=[lead.pk]),
                       edit_data(lead, name="新名字", phone="13900139001", district="闵行"))
    assert resp.status_code == 302
    lead.refresh_from_db()
    assert (lead.name, lead.phone, lead.district) == ("新名字", "+8613900139001", "闵行")


def test_edit_with_a_stale_version_shows_the_conflict_and_changes_nothing(org, client):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="原名")
    client.force_login(org.consultant)
    stale = edit_data(lead, name="我的修改")
    # Someone else saves first.
    client.post(reverse("leads:edit", args=[lead.pk]), edit_data(lead, name="别人的修改", phone=""))
    resp = client.post(reverse("leads:edit", args=[lead.pk]), stale)
    assert resp.status_code == 409
    assert "Someone else changed this lead while you were editing it." in body(resp)
    lead.refresh_from_db()
    assert lead.name == "别人的修改"


def test_edit_with_another_customers_phone_is_refused(org, client):
    LeadFactory(store=org.store, assigned_to=org.consultant2, phone="+8613100131001")
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="甲")
    client.force_login(org.consultant)
    resp = client.post(reverse("leads:edit", args=[lead.pk]), edit_data(lead, phone="13100131001"))
    assert resp.status_code == 200
    assert resp.context["form"].errors["phone"]
    lead.refresh_from_db()
    assert lead.phone != "+8613100131001"
