"""The dashboard's figures cache (dealercrm.figures, funnel.figures): the funnel's own figures are read from the
rollups on every request; the rest (control points' ladder and workload, promotion rates, defeat figures) is counted
once and served for FIGURES_MAX_AGE with the time it was counted on the page; a refresh, an expiry or the warm-up job
counts it again; nothing is shared across scopes; a consultant's own dashboard is always live."""

from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dealercrm.tests.clients import client_for
from funnel import selectors
from funnel.figures import warm_dashboards
from funnel.tests.conftest import at, make_lead

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("funnel:dashboard")
OCTOBER = {"period": "custom", "start": "2026-10-01", "end": "2026-10-31"}


def live_n(user, *, store, start=date(2026, 10, 1), end=date(2026, 10, 31)) -> int:
    return selectors.funnel_metrics(selectors.Slice(user=user, start=start, end=end, stores=[store]))["N"]


def test_the_funnel_is_live_and_the_cached_rest_says_when_it_was_counted(cohort):
    org = cohort.org
    client = client_for(org.manager)
    first = client.get(DASHBOARD, OCTOBER)
    assert first.context["metrics"]["N"] == 6 and not first.context["figures"].cached
    assert 'data-testid="figures-freshness"' in first.content.decode()
    assert "Funnel live · control points and defeats as of 12:00" in first.content.decode()  # Asia/Shanghai
    # The refresh link keeps the page's filters and asks for a count now.
    assert 'href="?period=custom&amp;start=2026-10-01&amp;end=2026-10-31&amp;refresh=1"' in first.content.decode()
    active = first.context["figures"].value["points"].total.active

    make_lead(org.store, org.consultant, "new", first=at(10, 29), phone="+8613800000077")
    assert live_n(org.manager, store=org.store) == 7

    with time_machine.travel(at(11, 23, 12) + timedelta(minutes=3), tick=False):
        cached = client.get(DASHBOARD, OCTOBER)
    # The control points' ladder is from the cache (counted at 12:00, said so); the funnel and the control points'
    # cohort columns are read from the rollups now: the new lead is in them at once.
    points = cached.context["figures"].value["points"]
    assert cached.context["figures"].cached and points.total.active == active
    assert cached.context["metrics"]["N"] == 7 and points.total.N == 7
    assert {row.consultant_id: row.N for row in points.rows}[org.consultant.pk] == 5
    assert "as of 12:00" in cached.content.decode()

    refreshed = client.get(DASHBOARD, {**OCTOBER, "refresh": "1"})
    assert not refreshed.context["figures"].cached
    assert refreshed.context["figures"].value["points"].total.active == active + 1
    assert refreshed.context["metrics"]["N"] == live_n(org.manager, store=org.store) == 7


def test_figures_expire_after_max_age(cohort, settings):
    org = cohort.org
    client = client_for(org.manager)
    client.get(DASHBOARD, OCTOBER)
    make_lead(org.store, org.consultant, "new", first=at(10, 29), phone="+8613800000077")
    # Locmem's expiry reads the wall clock, which time-machine moves too.
    with time_machine.travel(at(11, 23, 12) + timedelta(seconds=settings.FIGURES_MAX_AGE + 1), tick=False):
        later = client.get(DASHBOARD, OCTOBER)
    assert not later.context["figures"].cached and later.context["metrics"]["N"] == 7


def test_the_warm_up_counts_the_default_views_ahead_and_they_equal_the_live_figures(cohort):
    org = cohort.org
    make_lead(org.store, org.consultant, "today", first=at(11, 23, 10), phone="+8613800000078")
    counted = warm_dashboards()
    # Each store with a manager (this month, last month), each group with an admin (this month, last 12 months).
    assert counted == 3 * 2 + 2 * 2
    page = client_for(org.manager).get(DASHBOARD)  # this month, the default
    assert page.context["figures"].cached
    november = live_n(org.manager, store=org.store, start=date(2026, 11, 1), end=date(2026, 11, 23))
    assert page.context["metrics"]["N"] == november == 2
    group = client_for(org.admin).get(DASHBOARD, {"store": "all", "period": "last_12"})
    assert group.context["figures"].cached
    live = selectors.funnel_metrics(selectors.Slice(user=org.admin, start=date(2025, 12, 1), end=date(2026, 11, 23)))
    assert group.context["metrics"] == live
    assert {r["name"] for r in group.context["store_rows"]} == {org.store.name, org.store2.name}


def test_cached_figures_never_cross_scopes(cohort):
    org = cohort.org
    north = client_for(org.manager).get(DASHBOARD, OCTOBER)
    south = client_for(org.manager2).get(DASHBOARD, OCTOBER)
    assert north.context["metrics"]["N"] == 6
    assert south.context["metrics"]["N"] == live_n(org.manager2, store=org.store2) == 1
    # The other group's admin, all stores: their own group's figures, not Alpha's.
    beta = client_for(org.other_admin).get(DASHBOARD, {**OCTOBER, "store": "all"})
    assert beta.context["metrics"]["N"] == 0
    # A manager filtering one consultant gets that consultant's figures, not the store's cached ones.
    one = client_for(org.manager).get(DASHBOARD, {**OCTOBER, "consultant": org.consultant2.pk})
    assert one.context["metrics"]["N"] == 2


def test_a_consultants_own_dashboard_is_live(cohort):
    org = cohort.org
    client = client_for(org.consultant)
    first = client.get(DASHBOARD, OCTOBER)
    assert not first.context["figures"].shared
    assert 'data-testid="figures-freshness"' not in first.content.decode()
    make_lead(org.store, org.consultant, "new", first=at(10, 29), phone="+8613800000077")
    assert client.get(DASHBOARD, OCTOBER).context["metrics"]["N"] == first.context["metrics"]["N"] + 1


def test_a_cached_dashboard_runs_few_queries(cohort, django_assert_max_num_queries):
    client = client_for(cohort.org.manager)
    client.get(DASHBOARD, OCTOBER)
    with CaptureQueriesContext(connection) as counted:
        client.get(DASHBOARD, {**OCTOBER, "refresh": "1"})
    with django_assert_max_num_queries(len(counted) - 8):  # the control points' and defeats' counts are gone
        assert client.get(DASHBOARD, OCTOBER).context["figures"].cached


def test_the_labels_follow_the_readers_language_not_the_counters(cohort):
    org = cohort.org
    counted = client_for(org.manager).get(DASHBOARD, OCTOBER, HTTP_ACCEPT_LANGUAGE="en")
    assert counted.context["sources"][0]["label"] == "Walk-in"
    page = client_for(org.admin).get(DASHBOARD, {**OCTOBER, "store": org.store.pk}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.context["figures"].cached
    assert page.context["sources"][0]["label"] == "自来"


def test_the_defeat_figures_are_cached_with_the_rest_of_the_slice(cohort, django_assert_max_num_queries):
    """Control point 7's figures (KPI cards, the table's columns) come from the same cached figure set."""
    from defeats.tests.factories import pending_application

    org = cohort.org
    client = client_for(org.manager)
    first = client.get(DASHBOARD)
    assert first.context["figures"].value["defeats"]["total"]["pending_now"] == 0
    pending_application(org, lead=make_lead(org.store, org.consultant, "lost", first=at(11, 2),
                                            phone="+8613800000079"))
    cached = client.get(DASHBOARD)
    assert cached.context["figures"].cached
    assert 'data-kpi="defeats_pending">0<' in cached.content.decode()  # as of the count, said on the page
    fresh = client.get(DASHBOARD, {"refresh": "1"})
    assert 'data-kpi="defeats_pending">1<' in fresh.content.decode()


def test_the_promotion_rates_and_the_follow_ups_are_live_on_a_cached_page(cohort):
    """The control points' promotion and workload columns and the planner's measured rates are read from their
    rollups on every request: a follow-up and a promotion logged after the count are on the next page, cached or
    not."""
    from leads import services

    org = cohort.org
    client = client_for(org.manager)
    first = client.get(DASHBOARD, OCTOBER)
    assert first.context["figures"].value["points"].total.promoted["E->D"] == 2  # L7 and L10 of L3, L7, L10
    assert first.context["figures"].value["points"].total.follow_ups == 3
    # L3 (E since 10-20) is followed up and moves up to D on 10-30, after the count.
    services.follow_up_log(actor=org.consultant, lead=cohort.leads["L3"], method="phone", content="电话回访",
                           grade_after="D", occurred_at=at(10, 30))
    cached = client.get(DASHBOARD, OCTOBER)
    points = cached.context["figures"].value["points"]
    assert cached.context["figures"].cached
    assert points.total.promoted["E->D"] == 3 and points.total.promotion["E->D"] == 1.0
    assert points.total.follow_ups == 4
    assert {row.consultant_id: row.follow_ups for row in points.rows}[org.consultant.pk] == 2
    s = selectors.Slice(user=org.manager, start=date(2026, 10, 1), end=date(2026, 10, 31), stores=[org.store])
    live = selectors.promotion_rates(s, by_consultant=True, live=True)
    assert {row.consultant_id: row.promoted for row in points.rows if row.consultant_id in live} == {
        who: bucket["promoted"] for who, bucket in live.items()}
    assert cached.context["figures"].value["rates"] == selectors.promotion_rates(
        selectors.Slice(user=org.manager, start=date(2025, 11, 23), end=date(2026, 11, 23), stores=[org.store]),
        live=True)["rates"]
