"""The dashboard counts everything on every request (funnel.figures, no figures cache): a write shows on the next
page -- the funnel, the control points' ladder, overdue, stale and workload columns, the promotion rates, the defeat
figures and loss by stage --, the page says nothing about when it was counted, nothing crosses scopes, and the page's
number of queries does not grow with the leads."""

from datetime import date

import pytest
from django.urls import reverse

from dealercrm.tests.clients import client_for
from funnel import selectors
from funnel.tests.conftest import at, make_lead
from leads.models import Lead

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("funnel:dashboard")
OCTOBER = {"period": "custom", "start": "2026-10-01", "end": "2026-10-31"}


def live_n(user, *, store, start=date(2026, 10, 1), end=date(2026, 10, 31)) -> int:
    return selectors.funnel_metrics(selectors.Slice(user=user, start=start, end=end, stores=[store]))["N"]


def test_a_write_shows_on_the_next_page_and_no_lag_is_announced(cohort):
    org = cohort.org
    client = client_for(org.manager)
    first = client.get(DASHBOARD, OCTOBER)
    body = first.content.decode()
    assert first.context["metrics"]["N"] == 6
    assert "figures-freshness" not in body and "as of" not in body and "refresh=1" not in body
    points = first.context["figures"]["points"]
    active, overdue = points.total.active, points.total.overdue

    lead = make_lead(org.store, org.consultant, "new", first=at(10, 29), phone="+8613800000077",
                     grades=[("B", at(10, 29))])
    Lead.objects.filter(pk=lead.pk).update(next_follow_up_at=at(11, 1))  # overdue on 11-23
    after = client.get(DASHBOARD, OCTOBER)
    points = after.context["figures"]["points"]
    assert after.context["metrics"]["N"] == live_n(org.manager, store=org.store) == 7
    assert (points.total.active, points.total.overdue, points.total.ladder["B"]) == (
        active + 1, overdue + 1, first.context["figures"]["points"].total.ladder["B"] + 1)
    assert {row.consultant_id: row.N for row in points.rows}[org.consultant.pk] == 5


def test_the_defeat_figures_are_live(cohort):
    """Control point 7's figures (KPI cards, the table's columns) and loss by stage: an application filed now is on
    the next page."""
    from defeats.tests.factories import pending_application

    org = cohort.org
    client = client_for(org.manager)
    first = client.get(DASHBOARD)
    assert first.context["figures"]["defeats"]["total"]["pending_now"] == 0
    pending_application(org, lead=make_lead(org.store, org.consultant, "lost", first=at(11, 2),
                                            phone="+8613800000079"))
    again = client.get(DASHBOARD)
    assert 'data-kpi="defeats_pending">1<' in again.content.decode()
    assert again.context["figures"]["defeats"]["total"]["applications"] == 1


def test_the_promotion_rates_and_the_follow_ups_are_live(cohort):
    from leads import services

    org = cohort.org
    client = client_for(org.manager)
    first = client.get(DASHBOARD, OCTOBER)
    assert first.context["figures"]["points"].total.promoted["E->D"] == 2  # L7 and L10 of L3, L7, L10
    assert first.context["figures"]["points"].total.follow_ups == 3
    services.follow_up_log(actor=org.consultant, lead=cohort.leads["L3"], method="phone", content="电话回访",
                           grade_after="D", occurred_at=at(10, 30))
    points = client.get(DASHBOARD, OCTOBER).context["figures"]["points"]
    assert points.total.promoted["E->D"] == 3 and points.total.promotion["E->D"] == 1.0
    assert points.total.follow_ups == 4


def test_figures_never_cross_scopes(cohort):
    org = cohort.org
    north = client_for(org.manager).get(DASHBOARD, OCTOBER)
    south = client_for(org.manager2).get(DASHBOARD, OCTOBER)
    assert north.context["metrics"]["N"] == 6
    assert south.context["metrics"]["N"] == live_n(org.manager2, store=org.store2) == 1
    beta = client_for(org.other_admin).get(DASHBOARD, {**OCTOBER, "store": "all"})
    assert beta.context["metrics"]["N"] == 0 and beta.context["figures"]["points"].total.active == 0
    one = client_for(org.manager).get(DASHBOARD, {**OCTOBER, "consultant": org.consultant2.pk})
    assert one.context["metrics"]["N"] == 2
    own = client_for(org.consultant).get(DASHBOARD, OCTOBER)
    assert [row.consultant_id for row in own.context["figures"]["points"].rows] == [org.consultant.pk]


def test_the_queries_do_not_grow_with_the_leads(cohort, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    org = cohort.org
    client = client_for(org.manager)
    with CaptureQueriesContext(connection) as counted:
        client.get(DASHBOARD, OCTOBER)
    for i in range(5):
        make_lead(org.store, org.consultant2, f"more{i}", first=at(10, 3 + i), phone=f"+861380000088{i}",
                  grades=[("C", at(10, 3 + i))])
    with django_assert_max_num_queries(len(counted)):
        client.get(DASHBOARD, OCTOBER)


def test_the_labels_follow_the_readers_language(cohort):
    org = cohort.org
    english = client_for(org.manager).get(DASHBOARD, OCTOBER, HTTP_ACCEPT_LANGUAGE="en")
    assert english.context["sources"][0]["label"] == "Walk-in"
    chinese = client_for(org.admin).get(DASHBOARD, {**OCTOBER, "store": org.store.pk}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.context["sources"][0]["label"] == "自来"
