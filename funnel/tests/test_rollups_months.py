"""The month rollups (funnel.rollups_months): which slices they serve, that they sum the day rows exactly after any
write and drain, and that a store-month with a mark is read from the day rows and counted live meanwhile."""

from __future__ import annotations

from datetime import date

import pytest
from django.db.models import F

from funnel import rollups, rollups_months
from funnel.models import CohortDay, CohortMonth, RevisitMonth, RollupMark
from funnel.selectors import MonthPlan, Slice, funnel_metrics, month_plan, monthly_trend
from leads import services
from leads.models import Source

from .conftest import at

OCTOBER = {"start": date(2026, 10, 1), "end": date(2026, 10, 31)}

pytestmark = pytest.mark.django_db


def test_every_source_has_its_column():
    # N by source is read from n_<source> columns: a new source needs its column (and a migration).
    assert {f"n_{source}" for source in Source.values} <= {f.name for f in CohortMonth._meta.fields}


def test_the_plan_reads_whole_months_by_one_key(cohort):
    org = cohort.org
    s = Slice(user=org.manager, **OCTOBER)
    assert month_plan(s) == MonthPlan(dim="s", first=date(2026, 10, 1), last=date(2026, 10, 1),
                                      subtract_after=date(2026, 10, 1))
    assert month_plan(s, ["assigned_to", "assigned_to__display_name"]).dim == "c"
    assert month_plan(s, ["store", "store__name"]).dim == "s"
    # A consultant's own funnel is narrowed by consultant; by channel too, it needs two keys: the day rows.
    own = Slice(user=org.consultant, **OCTOBER)
    assert month_plan(own).dim == "c"
    assert month_plan(own, ["channel"]) is None
    assert month_plan(Slice(user=org.manager, **OCTOBER, source="walk_in"), ["series"]) is None
    # Days grouped into weeks cannot come from months; summed into months they can.
    assert month_plan(s, ["first_visit_day"]) is None
    assert month_plan(s, ["first_visit_day"], month_buckets=True).dim == "s"


def test_the_plan_takes_only_whole_months(cohort):
    user = cohort.org.admin
    # From mid-September to today (2026-11-23): October whole, November whole up to today, September's half not.
    plan = month_plan(Slice(user=user, start=date(2026, 9, 15), end=date(2026, 11, 23)))
    assert (plan.first, plan.last, plan.subtract_after) == (date(2026, 10, 1), date(2026, 11, 1), None)
    # A past period ending mid-month: its regrades stop mid-month, which month rows cannot tell.
    assert month_plan(Slice(user=user, start=date(2026, 9, 1), end=date(2026, 10, 20))) is None
    # No whole month inside.
    assert month_plan(Slice(user=user, start=date(2026, 10, 2), end=date(2026, 10, 31))) is None

def test_the_month_rows_can_be_switched_off(cohort, monkeypatch):
    monkeypatch.setattr(rollups_months, "ENABLED", False)
    assert month_plan(Slice(user=cohort.org.admin, **OCTOBER)) is None


def test_the_month_rows_sum_the_day_rows_after_writes_and_a_drain(cohort):
    org = cohort.org
    rollups.drain()
    services.visit_log(actor=org.manager, store=org.store, name="新客户", source="referral", phone="+8613900000077",
                       grade="C", assigned_to=org.consultant2, arrived_at=at(11, 20))
    services.lead_grade_change(actor=org.manager, lead=cohort.leads["L3"], to_grade="B", at=at(11, 21))
    rollups.drain()
    months = set(CohortDay.objects.values_list("store_id", "day"))
    for store_id, month in rollups_months.month_keys(months):
        assert not rollups_months.drifted("funnel_cohortday", store_id, month)
        assert not rollups_months.drifted("funnel_revisitday", store_id, month)
    # One grouping set per key: the source rows sum to the store-month's N, and so do the consultant rows.
    october = CohortMonth.objects.filter(store=org.store, month=date(2026, 10, 1), as_of_month=None)
    by_dim = {dim: sum(october.filter(dim=dim).values_list("n", flat=True)) for dim in "schv"}
    assert by_dim == {"s": 6, "c": 6, "h": 6, "v": 6}
    assert RevisitMonth.objects.filter(store=org.store, month=date(2026, 10, 1), dim="s").count() >= 1


def test_a_drain_derives_a_store_month_once_its_last_mark_is_gone(cohort):
    """A batch deletes its marks before the recount and derives only the store-months left with no mark: a month
    whose other days are still marked waits (no reader sums it meanwhile: its figures stay exact), and the batch
    that removes its last mark derives it."""
    org = cohort.org
    rollups.drain()
    s = Slice(user=org.manager, **OCTOBER)
    store, october = org.store, date(2026, 10, 1)
    # Behind the drain's back: the month's rows doubled, and two of its days marked (as two writes would).
    CohortMonth.objects.filter(store=store, month=october).update(n=F("n") * 2)
    assert rollups_months.drifted("funnel_cohortday", store.pk, october)
    for day in (date(2026, 10, 1), date(2026, 10, 2)):
        RollupMark.objects.create(store_id=store.pk, day=day, kind=rollups.COHORT)
    assert funnel_metrics(s) == funnel_metrics(s, live=True)  # a marked month is read from its day rows
    assert rollups.drain(batch=1, max_batches=1) == 1
    assert RollupMark.objects.filter(kind=rollups.COHORT).count() == 1
    assert rollups_months.drifted("funnel_cohortday", store.pk, october)  # not derived: a mark is left
    assert funnel_metrics(s) == funnel_metrics(s, live=True)
    rollups.drain(batch=1)
    assert not rollups_months.drifted("funnel_cohortday", store.pk, october)
    assert funnel_metrics(s) == funnel_metrics(s, live=True)


def test_a_marked_store_month_is_read_from_the_day_rows_and_live(cohort):
    org = cohort.org
    rollups.drain()
    s = Slice(user=org.manager, start=date(2026, 10, 1), end=date(2026, 11, 23))
    before = funnel_metrics(s)
    services.visit_log(actor=org.manager, store=org.store, name="新客户", source="walk_in", phone="+8613900000078",
                       grade="B", assigned_to=org.consultant, arrived_at=at(11, 22))
    assert RollupMark.objects.filter(store_id=org.store.pk, kind="c").exists()
    # Not drained: November's month rows are stale, and not read.
    for group_by in (None, "month", "consultant", "source", "channel", "store"):
        assert funnel_metrics(s, group_by=group_by) == funnel_metrics(s, group_by=group_by, live=True), group_by
    assert funnel_metrics(s)["N"] == before["N"] + 1
    rollups.drain()
    assert funnel_metrics(s) == funnel_metrics(s, live=True)


def test_the_trend_and_the_year_read_the_same_either_way(cohort, monkeypatch):
    rollups.drain()
    org = cohort.org
    for user, extra in ((org.admin, {}), (org.consultant, {}), (org.manager, {"consultant": org.consultant2}),
                        (org.manager, {"source": "walk_in"}), (org.other_manager, {})):
        s = Slice(user=user, start=date(2026, 1, 1), end=date(2026, 11, 23), **extra)
        assert month_plan(s) is not None
        trend = monthly_trend(s)
        monkeypatch.setattr(rollups_months, "ENABLED", False)
        assert monthly_trend(s) == trend, (user, extra)
        monkeypatch.setattr(rollups_months, "ENABLED", True)
        for group_by in (None, "month", "consultant", "source", "channel", "series", "store"):
            assert funnel_metrics(s, group_by=group_by) == funnel_metrics(s, group_by=group_by, live=True), (
                user, extra, group_by)


def test_a_rebuild_sums_the_months_again(cohort):
    rollups.drain()
    CohortMonth.objects.all().delete()
    RevisitMonth.objects.all().delete()
    rollups.rebuild(store_ids=[cohort.org.store.pk])
    s = Slice(user=cohort.org.manager, **OCTOBER)
    assert CohortMonth.objects.filter(store=cohort.org.store).exists()
    assert funnel_metrics(s) == funnel_metrics(s, live=True)


def test_the_first_migrate_on_data_sums_the_month_rows(cohort):
    # A database migrated to the month rows with day rows already kept (and its triggers in place): post-migrate
    # sums them, and a later migrate leaves them alone.
    rollups.drain()
    CohortMonth.objects.all().delete()
    RevisitMonth.objects.all().delete()
    assert rollups_months.missing("funnel_cohortday", using="default")
    rollups.ensure_installed()
    assert not rollups_months.missing("funnel_cohortday", using="default")
    assert not rollups_months.missing("funnel_revisitday", using="default")
    s = Slice(user=cohort.org.admin, **OCTOBER)
    assert month_plan(s) is not None and funnel_metrics(s) == funnel_metrics(s, live=True)


def test_follow_up_counts_read_whole_months_from_their_month_rows(cohort):
    from funnel.models import FollowUpMonth
    from funnel.selectors import follow_up_counts

    rollups.drain()
    org = cohort.org
    since_october = {"start": date(2026, 10, 1), "end": date(2026, 11, 23)}
    for user, extra in ((org.admin, {}), (org.manager, {"consultant": org.consultant}), (org.consultant, {}),
                        (org.other_manager, {})):
        s = Slice(user=user, **since_october, **extra)
        assert follow_up_counts(s) == follow_up_counts(s, live=True), (user, extra)
    assert FollowUpMonth.objects.filter(store=org.store, month=date(2026, 10, 1)).exists()
    s = Slice(user=org.manager, **since_october)
    before = follow_up_counts(s)
    # A follow-up logged now: November is marked, read from its day rows and live until the drain.
    services.follow_up_log(actor=org.manager, lead=cohort.leads["L3"], method="phone", content="电话回访",
                           grade_after=None, occurred_at=at(11, 22))
    after = follow_up_counts(s)
    assert after == follow_up_counts(s, live=True)
    assert sum(c["n"] for c in after.values()) == sum(c["n"] for c in before.values()) + 1
    rollups.drain()
    assert not rollups_months.drifted("funnel_followupday", org.store.pk, date(2026, 11, 1))
    assert follow_up_counts(s) == after
    # Month rows edited behind the drain's back show: the whole month is read from them.
    FollowUpMonth.objects.filter(store=org.store, month=date(2026, 10, 1)).update(n=F("n") + 3)
    assert follow_up_counts(s) != follow_up_counts(s, live=True)
    assert rollups_months.drifted("funnel_followupday", org.store.pk, date(2026, 10, 1))


def test_a_past_month_subtracts_the_regrades_after_it(cohort):
    # L5 was D in October and became C on 2 November: October's total counts it as C, and its November row takes
    # that back for a period ending on 31 October; a period reaching today reads the total alone.
    rollups.drain()
    org = cohort.org
    l5 = cohort.leads["L5"]
    rows = CohortMonth.objects.filter(store=org.store, month=date(2026, 10, 1), dim="c", consultant=l5.assigned_to)
    total = rows.get(as_of_month=None)
    later = rows.get(as_of_month=date(2026, 11, 1))
    assert (later.p_d, later.p_c) == (-1, 1) and total.p_c >= 1
    october = Slice(user=org.manager, **OCTOBER)
    assert funnel_metrics(october)["P"]["C"] == 0 == funnel_metrics(october, live=True)["P"]["C"]
    to_today = Slice(user=org.manager, start=date(2026, 10, 1), end=date(2026, 11, 23))
    assert month_plan(to_today).subtract_after is None
    assert funnel_metrics(to_today) == funnel_metrics(to_today, live=True)
