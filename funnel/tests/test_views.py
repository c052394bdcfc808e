"""The funnel pages: the dashboard's figures on the hand-built October cohort (see conftest.py), who sees what,
bounded query counts, the control-point table, the planner partial, and the manager's M and target entry."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dealercrm.tests.clients import HTMX, client_for
from dealercrm.tests.factories import ConsultantFactory, StoreFactory, UserFactory
from funnel.models import MarketEstimate, Target
from funnel.tests.conftest import NOW, at, make_lead
from leads.models import FollowUp, GradeRule, Lead, ReviewStatus

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("funnel:dashboard")
PLANNER = reverse("funnel:planner")
MARKET = reverse("funnel:market")
TARGETS = reverse("funnel:targets")
OCTOBER = {"period": "custom", "start": "2026-10-01", "end": "2026-10-31"}


def kpi(response, name: str) -> str:
    """The text of a KPI tile (``data-kpi="K"``) in the rendered page."""
    html = response.content.decode()
    marker = f'data-kpi="{name}">'
    start = html.index(marker) + len(marker)
    return html[start:html.index("<", start)]


def rows_by_consultant(response) -> dict:
    return {p["row"].consultant_id: p["row"] for p in response.context["point_rows"]}


# --- the dashboard's figures ---------------------------------------------------------------------------------------


def test_the_manager_sees_octobers_exact_figures(cohort):
    org = cohort.org
    response = client_for(org.manager).get(DASHBOARD, OCTOBER)
    assert response.status_code == 200
    m = response.context["metrics"]
    assert (m["N"], m["valid"], m["K"], m["followed"], m["F"], m["deals"], m["C"], m["M"]) == (
        6, 4, 0.6667, 3, 0.75, 2, 0.6667, 300)
    # Formatted as percentages with one decimal, "—" for nothing.
    assert (kpi(response, "N"), kpi(response, "K"), kpi(response, "F"), kpi(response, "C")) == (
        "6", "66.7%", "75.0%", "66.7%")
    assert (kpi(response, "deals"), kpi(response, "M"), kpi(response, "penetration")) == ("2", "300", "2.0%")
    # The charts get the same figures, with their labels, through json_script.
    charts = response.context["charts"]
    assert [step["value"] for step in charts["funnel"]] == [6, 4, 3, 2]
    assert [step["rate_label"] for step in charts["funnel"]] == ["", "K 66.7%", "F 75.0%", "C 66.7%"]
    assert charts["labels"]["valid"] == "Valid info"
    assert 'id="fnl-chart-data" type="application/json"' in response.content.decode()
    assert {g: item["share"] for g, item in zip("ABCDE", response.context["p_mix"], strict=True)} == {
        "A": 0.25, "B": 0.25, "C": 0.0, "D": 0.25, "E": 0.25}
    # The trend: 12 months to October, every month present.
    trend = charts["trend"]
    assert trend["months"][0] == "2025-11" and trend["months"][-1] == "2026-10"
    assert (trend["N"][-1], trend["deals"][-1], trend["N"][0], trend["K"][0]) == (6, 2, 0, None)
    # Sources in DOMAIN order, with conversion.
    sources = {row["key"]: row for row in response.context["sources"]}
    assert [row["key"] for row in response.context["sources"]] == ["walk_in", "referral", "outbound"]
    assert (sources["walk_in"]["N"], sources["referral"]["N"], sources["outbound"]["N"]) == (4, 1, 1)


def test_the_control_point_table_covers_each_consultant(cohort):
    org = cohort.org
    response = client_for(org.manager).get(DASHBOARD, OCTOBER)
    rows = rows_by_consultant(response)
    assert set(rows) == {org.consultant.pk, org.consultant2.pk}
    c1, c2 = rows[org.consultant.pk], rows[org.consultant2.pk]
    assert (c1.N, c1.valid, c1.K, c1.followed, c1.F, c1.deals, c1.C) == (4, 2, 0.5, 1, 0.5, 1, 1.0)
    assert (c2.N, c2.valid, c2.K, c2.followed, c2.F, c2.deals, c2.C) == (2, 2, 1.0, 2, 1.0, 1, 0.5)
    # Promotion rates per consultant add up to the store's (conftest: E->D 2/3, D->C 1/5, C->B 2/3, B->A 2/3).
    total = response.context["points"].total
    assert total.promotion == {"E->D": 0.6667, "D->C": 0.2, "C->B": 0.6667, "B->A": 0.6667, "E->A": 0.3333}
    assert (total.N, total.deals) == (6, 2)
    # Follow-ups written in October: L1 (c1), L5 and L6 (c2), over October's 31 days.
    assert (c1.follow_ups, c2.follow_ups, response.context["points"].days) == (1, 2, 31)
    assert c2.follow_ups_per_day == round(2 / 31, 2)
    # The ladder now: active leads per grade (L1 and L6 are won).
    assert c1.ladder == {"A": 1, "B": 0, "C": 0, "D": 2, "E": 2, "ungraded": 2}  # E: L3 and November's lead
    html = response.content.decode()
    assert "E→D" in html and "Store total" in html


def test_stale_overdue_and_rejections_on_a_hand_built_store(org, frozen):
    """Stale: held longer than the grade's max dwell, with the group's own rule where it has one (C: 30 days here,
    150 by default). Overdue: active, due before today. Rejections: the consultant's records of the period."""
    GradeRule.objects.create(group=org.group, grade="C", meaning="test", follow_up_days=14, max_dwell_days=30)
    c1, c2, s = org.consultant, org.consultant2, org.store

    def lead(person, grade, held_days, *, due=None, status="active", store=s):
        return Lead.objects.create(
            store=store, assigned_to=person, name="x", source="walk_in", grade=grade, status=status,
            grade_since=NOW - timedelta(days=held_days), first_visit_at=NOW - timedelta(days=held_days),
            next_follow_up_at=due,
        )

    lead(c1, "A", 91, due=NOW - timedelta(days=1))         # stale, overdue
    lead(c1, "A", 89, due=NOW - timedelta(hours=2))        # due today: neither
    lead(c1, "E", 15, due=NOW + timedelta(days=1))         # stale (E: 14 days)
    lead(c1, "C", 40)                                      # stale under the group's rule only
    lead(c1, "D", 200, due=NOW - timedelta(days=9), status="won")  # won: neither
    fresh = lead(c2, "B", 10, due=NOW - timedelta(days=3))  # overdue only
    lead(c2, "B", 121)                                     # stale (B: 120 days)
    lead(org.consultant_b, "A", 300, due=NOW - timedelta(days=5), store=org.store2)  # another store's
    FollowUp.objects.create(lead=fresh, occurred_at=NOW - timedelta(days=2), method="phone", content="…",
                            created_by=c2, review_status=ReviewStatus.REJECTED)
    FollowUp.objects.create(lead=fresh, occurred_at=NOW - timedelta(days=1), method="phone", content="…",
                            created_by=c2, review_status=ReviewStatus.APPROVED)

    response = client_for(org.manager).get(DASHBOARD, {"period": "this_month"})
    rows = rows_by_consultant(response)
    assert (rows[c1.pk].stale, rows[c1.pk].overdue, rows[c1.pk].rejected) == (3, 1, 0)
    assert (rows[c2.pk].stale, rows[c2.pk].overdue, rows[c2.pk].rejected, rows[c2.pk].follow_ups) == (1, 1, 1, 2)
    total = response.context["points"].total
    assert (total.stale, total.overdue, total.rejected) == (4, 2, 1)  # the other store's lead is not here
    assert response.context["points"].days == 23  # 2026-11-01 … today (the 23rd)


# --- who sees what -------------------------------------------------------------------------------------------------


def test_a_consultant_sees_only_their_own_numbers_and_row(cohort):
    org = cohort.org
    response = client_for(org.consultant).get(DASHBOARD, OCTOBER)
    assert response.status_code == 200
    m = response.context["metrics"]
    assert (m["N"], m["K"], m["F"], m["C"], m["deals"]) == (4, 0.5, 0.5, 1.0, 1)
    assert list(rows_by_consultant(response)) == [org.consultant.pk]
    assert response.context["is_consultant"] and not response.context["can_manage"]
    html = response.content.decode()
    assert str(org.consultant2) not in html
    assert MARKET not in html  # no links to the manager's entry pages


@pytest.mark.parametrize("param", ["consultant", "store"])
def test_a_consultant_gets_404_for_anyone_elses_figures(cohort, param):
    org = cohort.org
    other = {"consultant": org.consultant2.pk, "store": org.store2.pk}[param]
    assert client_for(org.consultant).get(DASHBOARD, {**OCTOBER, param: other}).status_code == 404
    assert client_for(org.consultant).get(DASHBOARD, {**OCTOBER, param: "garbage"}).status_code == 404


def test_the_group_admin_picks_either_store_or_all(cohort):
    org = cohort.org
    admin = client_for(org.admin)
    assert admin.get(DASHBOARD, {**OCTOBER, "store": org.store.pk}).context["metrics"]["N"] == 6
    assert admin.get(DASHBOARD, {**OCTOBER, "store": org.store2.pk}).context["metrics"]["N"] == 1
    everything = admin.get(DASHBOARD, OCTOBER)  # default for a group admin: every store of the group
    assert everything.context["store"] is None and everything.context["metrics"]["N"] == 7
    assert admin.get(DASHBOARD, {**OCTOBER, "store": "all"}).context["metrics"]["N"] == 7
    # Per store progress for the group's comparison.
    assert [line["name"] for line in everything.context["progress_stores"]] == ["Alpha North", "Alpha South"]
    # One consultant of the store: their numbers.
    one = admin.get(DASHBOARD, {**OCTOBER, "store": org.store.pk, "consultant": org.consultant2.pk})
    assert one.context["metrics"]["N"] == 2 and list(rows_by_consultant(one)) == [org.consultant2.pk]


def test_foreign_stores_are_404(cohort):
    org = cohort.org
    assert client_for(org.other_admin).get(DASHBOARD, {**OCTOBER, "store": org.store.pk}).status_code == 404
    assert client_for(org.manager).get(DASHBOARD, {**OCTOBER, "store": org.store2.pk}).status_code == 404
    assert client_for(org.other_admin).get(DASHBOARD, {"consultant": org.consultant.pk}).status_code == 404


def test_the_dashboard_needs_a_role(org):
    nobody = UserFactory(username="nobody", role="", store=None, dealer_group=None)
    assert client_for(nobody).get(DASHBOARD).status_code == 403
    assert Client().get(DASHBOARD).status_code == 302


def test_htmx_gets_the_dashboard_body_only(cohort):
    response = client_for(cohort.org.manager).get(DASHBOARD, OCTOBER, **HTMX, HTTP_HX_TARGET="fnl-dashboard")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="fnl-dashboard"' in html


def test_bad_dates_show_errors_and_this_month(cohort):
    response = client_for(cohort.org.manager).get(DASHBOARD, {"period": "custom", "start": "2026-10-31",
                                                              "end": "2026-10-01"})
    assert response.status_code == 200
    assert "The end comes before the start." in response.content.decode()
    assert response.context["start"] == date(2026, 11, 1)


def test_a_missing_m_links_the_manager_to_the_entry_page(cohort):
    org = cohort.org
    response = client_for(org.manager).get(DASHBOARD, {"period": "this_month"})  # November: no M
    assert response.context["metrics"]["M"] is None
    assert kpi(response, "penetration") == "—"
    assert f'href="{MARKET}?store={org.store.pk}"' in response.content.decode()


# --- query counts --------------------------------------------------------------------------------------------------


def _count(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(DASHBOARD, OCTOBER).status_code == 200
    return len(queries)


def test_the_dashboard_runs_a_fixed_number_of_queries(cohort, django_assert_max_num_queries, settings):
    org = cohort.org
    client = client_for(org.manager)
    # 30, the store's defeat-rate target card (the year so far and the same days of last year from the defeats'
    # rollup: marks and rows for the whole months and for the days after them, and the target), time in stage (the
    # grade rules, the figures), loss by stage (three), and the promotion rates twice (the control points', the
    # planner's) from the ladder's rollup: its rows, its marked days, and the store's marked days recounted (the
    # drain has not run here); the state now (the stores, the kept counts); the defeats' rollup recounts the store's
    # undrained days (four queries, for the figures and for loss by stage); target progress's deals from the same
    # rollup (its snapshot, its marks and rows, the undrained month recounted).
    with django_assert_max_num_queries(61):
        client.get(DASHBOARD, OCTOBER)
    before = _count(client)
    # More consultants, leads, follow-ups, grade changes and targets: not one query more.
    for i in range(3):
        person = ConsultantFactory(username=f"more{i}", store=org.store)
        Target.objects.create(store=org.store, consultant=person, month=date(2026, 10, 1), units=3)
        for j in range(4):
            make_lead(org.store, person, f"M{i}{j}", first=at(10, 5 + j), phone=f"+8613900{i:02d}{j:04d}",
                      grades=[("E", at(10, 5 + j)), ("D", at(10, 9 + j))], follow_ups=[at(10, 10 + j)])
    assert _count(client) == before


def test_the_group_admins_all_stores_view_is_bounded_too(cohort, django_assert_max_num_queries, settings):
    client = client_for(cohort.org.admin)
    # 33 for one store's page, and the stores side by side: one more figure set, whatever the stores; and the four
    # of time in stage and loss by stage; the promotion rates' reads recount each store's undrained days (two here),
    # and so do the defeats' rollup reads (four queries each, for the figures and for loss by stage).
    with django_assert_max_num_queries(55):
        assert client.get(DASHBOARD, OCTOBER).status_code == 200
    before = _count(client)
    for i in range(3):  # more stores in the group: their progress lines come from the same two queries
        StoreFactory(group=cohort.org.group, name=f"Alpha {i}")
    assert _count(client) == before


# --- the planner ---------------------------------------------------------------------------------------------------


def test_the_planner_works_the_domain_example(org):
    response = client_for(org.manager).post(PLANNER, {"target_units": 90, "N": 1500, "K": 60, "F": 40, "C": 20},
                                            **HTMX)
    assert response.status_code == 200
    plan = response.context["planner"]
    assert plan["projected"] == "72"
    levers = {lever["key"]: lever for lever in plan["levers"]}
    assert {k: lever["required"] for k, lever in levers.items()} == {
        "N": "1,875", "K": "75.0%", "F": "50.0%", "C": "25.0%"}
    assert not any(lever["unreachable"] for lever in levers.values())
    html = response.content.decode()
    assert "<html" not in html and 'data-plan="projected">72<' in html
    assert 'data-plan="required-N">1,875<' in html
    assert len(plan["ladder"]) == 5 and plan["ladder"][0]["need"] == "90"  # A = the unit target


def test_the_planner_flags_unreachable_levers(org):
    response = client_for(org.manager).post(PLANNER, {"target_units": 90, "N": 100, "K": 60, "F": 40, "C": 20},
                                            **HTMX)
    levers = {lever["key"]: lever for lever in response.context["planner"]["levers"]}
    assert [k for k, lever in levers.items() if lever["unreachable"]] == ["K", "F", "C"]
    # A rate above 100% is not shown as a rate ("K 1125.0%" read as a goal): it reads as what it is.
    assert levers["K"]["required"] == ">100%"
    html = response.content.decode()
    assert html.count("not reachable by this lever alone") == 3
    assert "1125.0%" not in html


def test_the_planner_reports_bad_input(org):
    response = client_for(org.manager).post(PLANNER, {"target_units": "-3", "N": "lots", "K": 150, "F": 40, "C": ""},
                                            **HTMX)
    assert response.status_code == 200
    assert response.context["planner"] is None
    assert set(response.context["planner_form"].errors) == {"target_units", "N", "K", "C"}
    assert 'aria-invalid="true"' in response.content.decode()


def test_the_planner_keeps_to_the_users_scope(org):
    data = {"target_units": 9, "N": 100, "K": 60, "F": 40, "C": 20}
    assert client_for(org.manager).post(PLANNER, {**data, "store": org.store2.pk}, **HTMX).status_code == 404
    assert client_for(org.consultant).post(PLANNER, {**data, "consultant": org.consultant2.pk},
                                           **HTMX).status_code == 404


# --- M entry -------------------------------------------------------------------------------------------------------


def test_the_manager_sees_and_sets_m(cohort):
    org = cohort.org
    client = client_for(org.manager)
    page = client.get(MARKET)
    assert page.status_code == 200
    rows = {row["month"]: row for row in page.context["rows"]}
    assert len(rows) == 12
    october = rows[date(2026, 10, 1)]
    assert (october["estimate"].estimate, october["N"], october["penetration"]) == (300, 6, "2.0%")
    assert rows[date(2026, 11, 1)]["estimate"] is None

    response = client.post(MARKET, {"store": org.store.pk, "month": "2026-12", "estimate": "320", "note": "上牌数"})
    assert response.status_code == 302
    row = MarketEstimate.objects.get(store=org.store, month=date(2026, 12, 1))
    assert (row.estimate, row.note, row.entered_by) == (320, "上牌数", org.manager)


@pytest.mark.parametrize("data", [
    {"month": "2026-12", "estimate": "-5"},
    {"month": "December", "estimate": "300"},
    {"month": "2026-12", "estimate": ""},
])
def test_bad_m_is_a_form_error_and_nothing_is_written(org, data):
    response = client_for(org.manager).post(MARKET, {"store": org.store.pk, **data})
    assert response.status_code == 200 and response.context["form"].errors
    assert not MarketEstimate.objects.exists()


def test_m_entry_is_for_managers(org):
    assert client_for(org.consultant).get(MARKET).status_code == 403
    data = {"store": org.store.pk, "month": "2026-12", "estimate": "300"}
    assert client_for(org.consultant).post(MARKET, data).status_code == 403
    assert client_for(org.other_admin).post(MARKET, data).status_code == 404
    assert client_for(org.manager2).get(MARKET, {"store": org.store.pk}).status_code == 404
    assert not MarketEstimate.objects.exists()
    assert client_for(org.admin).post(MARKET, {**data, "store": org.store2.pk}).status_code == 302
    assert MarketEstimate.objects.get().store == org.store2


# --- target entry --------------------------------------------------------------------------------------------------


def test_the_manager_sets_store_and_consultant_targets(org, frozen):
    client = client_for(org.manager)
    assert client.get(TARGETS).status_code == 200
    response = client.post(TARGETS, {"store": org.store.pk, "month": "2026-11", "units": "20",
                                     "revenue": "3000000"})
    assert response.status_code == 302
    store_target = Target.objects.get(store=org.store, consultant=None)
    assert (store_target.month, store_target.units, store_target.average_order_value) == (
        date(2026, 11, 1), 20, Decimal("150000.00"))
    client.post(TARGETS, {"store": org.store.pk, "month": "2026-11", "units": "6",
                          "consultant": org.consultant.pk})
    assert Target.objects.get(consultant=org.consultant).units == 6

    page = client.get(TARGETS, {"month": "2026-11"})
    lines = {line["consultant"]: line for line in page.context["lines"]}
    assert lines[None]["target_units"] == 20 and lines[org.consultant.pk]["target_units"] == 6
    assert lines[org.consultant2.pk].get("unset")
    # The dashboard shows the month's progress against them.
    dashboard = client.get(DASHBOARD, {"period": "this_month"})
    assert dashboard.context["progress_store"]["target_units"] == 20
    assert [line["name"] for line in dashboard.context["progress_consultants"]] == [str(org.consultant)]


@pytest.mark.parametrize("data", [
    {"month": "2026-11", "units": "-1"},
    {"month": "2026-11", "units": "5", "revenue": "-10"},
    {"month": "2026-11", "units": "5", "average_order_value": "0"},
    {"month": "11/2026", "units": "5"},
    {"month": "2026-11", "units": "5", "consultant": "other-store"},
])
def test_bad_targets_are_form_errors_and_nothing_is_written(org, data):
    if data.get("consultant") == "other-store":
        data = {**data, "consultant": org.consultant_b.pk}
    response = client_for(org.manager).post(TARGETS, {"store": org.store.pk, **data})
    assert response.status_code == 200 and response.context["form"].errors
    assert not Target.objects.exists()


def test_target_entry_is_for_managers(org):
    assert client_for(org.consultant).get(TARGETS).status_code == 403
    response = client_for(org.consultant).post(TARGETS, {"store": org.store.pk, "month": "2026-11", "units": "5"})
    assert response.status_code == 403
    assert client_for(org.other_admin).get(TARGETS, {"store": org.store.pk}).status_code == 404
    assert not Target.objects.exists()


def test_the_group_admins_store_picker_keeps_the_targets_month(org):
    response = client_for(org.admin).get(TARGETS, {"store": org.store.pk, "month": "2026-10"})
    assert response.status_code == 200
    html = response.content.decode()
    for store in (org.store, org.store2):
        assert f'href="?store={store.pk}&amp;month=2026-10"' in html
    assert f"?store={org.other_store.pk}" not in html


# --- periods and navigation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("period", "expected"), [
    ("this_month", (date(2026, 11, 1), date(2026, 11, 23))),
    ("last_month", (date(2026, 10, 1), date(2026, 10, 31))),
    ("this_quarter", (date(2026, 10, 1), date(2026, 11, 23))),
    ("last_90", (date(2026, 8, 26), date(2026, 11, 23))),
    ("this_year", (date(2026, 1, 1), date(2026, 11, 23))),
])
def test_named_periods(period, expected):
    from funnel.forms import period_range

    assert period_range(period, today=date(2026, 11, 23)) == expected


def test_last_month_on_the_dashboard_is_october(cohort):
    response = client_for(cohort.org.manager).get(DASHBOARD, {"period": "last_month"})
    assert (response.context["start"], response.context["end"]) == (date(2026, 10, 1), date(2026, 10, 31))
    assert response.context["metrics"]["N"] == 6


@pytest.mark.parametrize("who", ["consultant", "manager", "admin"])
def test_everyone_with_a_role_has_the_funnel_in_the_navbar(org, who):
    html = client_for(getattr(org, who)).get(reverse("home")).content.decode()
    assert f'href="{DASHBOARD}"' in html


def test_channel_names_follow_the_pages_language(cohort):
    from leads.models import Channel

    Lead.objects.filter(pk=cohort.leads["L1"].pk).update(channel=Channel.objects.get(code="showroom"))
    response = client_for(cohort.org.manager).get(DASHBOARD, OCTOBER)
    assert sorted(c["name"] for c in response.context["charts"]["channels"]) == ["No channel", "Showroom"]


# --- issue 14: numbers that must not mislead -------------------------------------------------------------------


def test_a_closed_month_shows_its_final_figure_and_the_deals_average_order_value(cohort):
    response = client_for(cohort.org.manager).get(DASHBOARD, OCTOBER)
    progress = response.context["progress_store"]
    assert response.context["progress_state"] == "closed"
    # L6 was ordered on 31 October (150,000): the month is over, so its figure is final, not "by month end".
    assert (progress["units"], progress["projected"], progress["aov_is_actual"]) == (1, "1", True)
    assert progress["aov"] == Decimal("150000.00")
    html = response.content.decode()
    assert "Month closed: final 1." in html and "by month end" not in html
    assert 'data-figure="aov">¥150,000' in html or 'data-figure="aov">150,000' in html or "150,000" in html


def test_the_current_month_projects_only_after_its_first_days(org):
    import time_machine

    from funnel.tests.conftest import SH

    make_lead(org.store, org.consultant, "early", first=at(12, 1), phone="+8613800000101",
              grades=[("A", at(12, 1))], follow_ups=[at(12, 1, 11)], won=at(12, 2, 9))
    client = client_for(org.manager)
    with time_machine.travel(datetime(2026, 12, 2, 12, tzinfo=SH), tick=False):
        response = client.get(DASHBOARD, {"period": "this_month"})
    assert response.context["progress_state"] == "early"
    assert response.context["progress_store"]["projected"] == "—"
    html = response.content.decode()
    assert "A month-end projection shows from day 7 of the month." in html
    assert "15.5" not in html and "31.0" not in html
    with time_machine.travel(datetime(2026, 12, 10, 12, tzinfo=SH), tick=False):
        response = client.get(DASHBOARD, {"period": "this_month"})
    assert response.context["progress_state"] == "current"
    assert response.context["progress_store"]["projected"] == "3"  # 1 unit in 10 days of 31: 3.1, a whole car
    assert "At this pace: 3 by month end." in response.content.decode()


def test_the_planner_starts_from_the_latest_mature_month_and_says_so(cohort, frozen):
    import time_machine

    from funnel.tests.conftest import SH

    response = client_for(cohort.org.manager).get(DASHBOARD, {"period": "this_month"})  # 23 November
    form = response.context["planner_form"]
    # Not 23 days of November, nor October or September, whose cohorts are younger than 60 days: August.
    assert form.initial["base_month"] == date(2026, 8, 1)
    assert "Base: 2026-08, the latest month whose cohort has matured" in response.content.decode()
    # On 10 January October's cohort has matured: it is the base, with its own figures (N 6, K 66.67%).
    with time_machine.travel(datetime(2027, 1, 10, 12, tzinfo=SH), tick=False):
        response = client_for(cohort.org.manager).get(DASHBOARD, OCTOBER)
    form = response.context["planner_form"]
    assert form.initial["base_month"] == date(2026, 10, 1)
    assert form.initial["N"] == 6 and form.initial["K"] == Decimal("66.67")


def test_each_figure_says_its_basis_and_young_cohorts_are_marked(cohort):
    response = client_for(cohort.org.manager).get(DASHBOARD, OCTOBER)
    html = response.content.decode()
    assert 'data-basis="cohort"' in html and 'data-basis="calendar"' in html
    trend = response.context["charts"]["trend"]
    marked = dict(zip(trend["months"], trend["immature"], strict=True))
    # 23 November: October and September ended less than 60 days ago; August did not.
    assert (marked["2026-10"], marked["2026-09"], marked["2026-08"]) == (True, True, False)
    assert 'data-note="immature"' in html


def test_control_point_marks_read_as_references_not_counts(cohort):
    html = client_for(cohort.org.manager).get(DASHBOARD, OCTOBER).content.decode()
    assert html.count('class="fnl-cp"') >= 8
    assert f'href="{reverse("help_page", args=["figures"])}#cp2"' in html  # each mark opens its first point
    assert "Control points 2 · 3 · 6 · 7 of the daily sales management" in html


def test_the_group_admin_compares_the_stores_side_by_side(cohort, django_assert_max_num_queries):
    org = cohort.org
    Target.objects.create(store=org.store, month=date(2026, 10, 1), units=4)
    client = client_for(org.admin)
    # 36 from the rollups' reads, and the four of time in stage and loss by stage; the promotion rates' reads
    # recount each store's undrained days (two stores here, twice), and so do the defeats' rollup reads.
    with django_assert_max_num_queries(55):
        response = client.get(DASHBOARD, {**OCTOBER, "store": "all"})
    rows = {row["name"]: row for row in response.context["store_rows"]}
    assert set(rows) == {"Alpha North", "Alpha South"}
    north, south = rows["Alpha North"], rows["Alpha South"]
    assert (north["N"], north["K"], north["deals"], north["progress"]["units"], north["progress"]["target_units"]) == (
        6, "66.7%", 2, 1, 4)
    assert (south["N"], south["deals"], south["progress"]["target_units"]) == (1, 0, None)
    html = response.content.decode()
    assert 'id="fnl-stores"' in html and f'data-store="{org.store.pk}"' in html
    # A manager (one store) gets no comparison.
    assert client_for(org.manager).get(DASHBOARD, OCTOBER).context["store_rows"] == []


def test_a_targets_row_holds_only_what_was_typed_for_it(org, frozen):
    client = client_for(org.manager)
    client.post(TARGETS, {"store": org.store.pk, "month": "2026-11", "units": "40", "revenue": "5400000"})
    # The consultant's row opens empty: nothing of the store's row is carried into it.
    page = client.get(TARGETS, {"store": org.store.pk, "month": "2026-11", "consultant": org.consultant.pk})
    form = page.context["form"]
    assert form.initial.get("revenue") is None and form.initial.get("units") is None
    html = page.content.decode()
    assert f'<input type="hidden" name="consultant" value="{org.consultant.pk}"' in html
    assert '<select name="consultant"' not in html  # the row is picked in the table, not switched in the form
    response = client.post(TARGETS, {"store": org.store.pk, "month": "2026-11", "units": "8",
                                     "consultant": org.consultant.pk})
    assert response.status_code == 302
    target = Target.objects.get(consultant=org.consultant)
    assert (target.units, target.revenue) == (8, Decimal("0"))
    assert Target.objects.get(consultant=None).revenue == Decimal("5400000")
    # A consultant of another store is a 404, not an empty form.
    assert client.get(TARGETS, {"store": org.store.pk, "consultant": org.consultant_b.pk}).status_code == 404


@pytest.mark.parametrize("month", ["9999-12", "0001-01"])
def test_a_month_without_neighbours_is_a_400_with_a_message(org, month):
    response = client_for(org.manager).get(TARGETS, {"store": org.store.pk, "month": month})
    assert response.status_code == 400
    assert "Choose a month between 2000-01 and 2099-12." in response.content.decode()
    assert not Target.objects.exists()


def test_the_targets_page_at_the_edge_months_has_no_link_beyond(org):
    html = client_for(org.manager).get(TARGETS, {"store": org.store.pk, "month": "2099-12"}).content.decode()
    assert "month=2100-01" not in html and "month=2099-11" in html


def test_a_lead_the_manager_kept_is_not_stale_on_the_control_points(org, frozen):
    from leads.tests.factories import LeadFactory

    long_ago = NOW - timedelta(days=40)  # E's max dwell is 14 days
    LeadFactory(store=org.store, assigned_to=org.consultant, grade="E", grade_since=long_ago)
    LeadFactory(store=org.store, assigned_to=org.consultant, grade="E", grade_since=long_ago,
                dwell_kept_at=NOW - timedelta(days=3))  # kept three days ago: its clock restarted
    response = client_for(org.manager).get(DASHBOARD, {"period": "this_month"})
    assert response.context["point_total"]["row"].stale == 1


def test_a_groups_control_points_are_one_row_per_store_team(cohort):
    """The group's page sums the control points per store team (the consultants now at each store), one row a store
    with its page a link away; a store's page (a manager's, or the group admin's with a store picked) keeps one row
    per consultant. The team rows add up to the same total, defeat columns included."""
    from defeats.tests.factories import pending_application
    from funnel.selectors import Slice, control_points

    org = cohort.org
    pending_application(org, lead=make_lead(org.store2, org.consultant_b, "filed", first=at(10, 9),
                                            phone="+8613800000096"))
    Lead.objects.filter(pk=cohort.leads["L2"].pk).update(assigned_to=None)  # a lead nobody holds
    response = client_for(org.admin).get(DASHBOARD, OCTOBER)
    assert response.context["point_teams"]
    teams = [p["row"] for p in response.context["point_rows"]]
    assert [row.store_id for row in teams] == [org.store.pk, org.store2.pk, None]  # by name, then nobody's
    by_consultant = control_points(Slice(user=org.admin, start=date(2026, 10, 1), end=date(2026, 10, 31)), now=NOW)
    for team in teams:
        members = [r for r in by_consultant.rows
                   if (r.store_id if r.consultant_id is not None else None) == team.store_id]
        assert members, team
        for name in ("N", "valid", "followed", "deals", "follow_ups", "rejected", "overdue", "stale", "active"):
            assert getattr(team, name) == sum(getattr(r, name) for r in members), (team.name, name)
        assert team.held == {k: sum(r.held[k] for r in members) for k in team.held}
    assert (teams[0].N, teams[1].N, teams[2].N) == (5, 2, 1)  # North (L2 is nobody's now), South (its filing), L2
    total = response.context["point_total"]["row"]
    assert (total.N, total.deals, total.active) == (sum(t.N for t in teams), sum(t.deals for t in teams),
                                                    sum(t.active for t in teams))
    defeats = {p["row"].store_id: p["defeats"] for p in response.context["point_rows"]}
    assert defeats[org.store2.pk]["pending_now"] == 1 and defeats[org.store.pk]["pending_now"] == 0
    html = response.content.decode()
    assert f'data-team="{org.store.pk}"' in html and f'href="?store={org.store2.pk}&amp;period=custom' in html
    assert "data-consultant=" not in html and "Control points by store team" in html
    # A store's page: its consultants.
    for page in (client_for(org.manager).get(DASHBOARD, OCTOBER),
                 client_for(org.admin).get(DASHBOARD, {**OCTOBER, "store": org.store.pk})):
        assert not page.context["point_teams"]
        assert {org.consultant.pk, org.consultant2.pk} <= set(rows_by_consultant(page))
        assert "data-team=" not in page.content.decode()
