"""The promotion ladder's rollup (funnel.rollups_ladder) and the follow-ups' (funnel.rollups_followups) answer exactly
what the live definitions answer: the worked October store, a lead that holds a grade twice (counted once), the
triggers, the drain and the rebuild, and random histories built through the real services (hypothesis) compared
reader by reader, period by period."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from dealercrm.tests.factories import ConsultantFactory, VehicleSeriesFactory
from funnel import rollups, rollups_ladder, rollups_months
from funnel.models import FollowUpDay, LadderDay, LadderMonth, RollupMark
from funnel.selectors import Slice, control_points, follow_up_counts, measured_promotion_rates, promotion_rates
from leads import services
from leads.models import Channel, FollowUp, GradeChange, Lead
from leads.services import DuplicatePhone, StaleVersion

from .conftest import NOW, at, make_lead
from .test_rollups import DAYS, EXAMPLES, START, _apply, op

OCTOBER = {"start": date(2026, 10, 1), "end": date(2026, 10, 31)}
WORKED = {"E->D": 0.6667, "D->C": 0.2, "C->B": 0.6667, "B->A": 0.6667, "E->A": 0.3333}


def ladder_marks() -> int:
    return RollupMark.objects.filter(kind="l").count()


def both(s: Slice, **kwargs):
    return promotion_rates(s, **kwargs), promotion_rates(s, live=True, **kwargs)


def test_the_worked_october_reads_the_same_from_the_ladder_rows(cohort):
    s = Slice(user=cohort.org.manager, **OCTOBER)
    assert ladder_marks() > 0  # every grade change marked its days
    marked, live = both(s)
    assert marked == live and marked["rates"] == WORKED  # the marked days counted live
    rollups.drain()
    assert ladder_marks() == 0 and LadderDay.objects.exists()
    drained, live = both(s)
    assert drained == live and drained["rates"] == WORKED
    assert drained["held"] == {"E->D": 3, "D->C": 5, "C->B": 3, "B->A": 3, "E->A": 3}
    for user, extra in ((cohort.org.manager, {}), (cohort.org.admin, {}), (cohort.org.consultant, {}),
                        (cohort.org.manager, {"consultant": cohort.org.consultant2}), (cohort.org.other_manager, {})):
        s = Slice(user=user, **OCTOBER, **extra)
        for by_consultant in (False, True):
            rolled, live = both(s, by_consultant=by_consultant)
            assert rolled == live, (user, extra, by_consultant)


def test_a_grade_held_twice_counts_once(org, frozen):
    # E 10-01, D 10-03, E 10-05, D 10-08, A 10-10: E and the promotion E->D twice each.
    lead = make_lead(org.store, org.consultant, "twice", first=at(10, 1), phone="+8613800000031",
                     grades=[("E", at(10, 1)), ("D", at(10, 3)), ("E", at(10, 5)), ("D", at(10, 8)), ("A", at(10, 10))])
    rollups.drain()
    cases = {
        # period: (held E, promoted E->D, held D, E->A promoted)
        (date(2026, 10, 1), date(2026, 10, 10)): (1, 1, 1, 1),
        (date(2026, 10, 4), date(2026, 10, 6)): (1, 0, 1, 0),  # the second E spell; A only after the period
        (date(2026, 10, 4), date(2026, 10, 8)): (1, 1, 1, 0),  # the promotion of 10-08, the earlier one before
        (date(2026, 10, 3), date(2026, 10, 3)): (1, 1, 1, 0),  # the first spell ends on the period's day
        (date(2026, 10, 11), date(2026, 10, 20)): (0, 0, 0, 0),  # A since 10-10
    }
    for (start, end), (held_e, promoted_e, held_d, reached) in cases.items():
        s = Slice(user=org.manager, start=start, end=end)
        rolled, live = both(s)
        assert rolled == live, (start, end)
        assert (rolled["held"]["E->D"], rolled["promoted"]["E->D"], rolled["held"]["D->C"],
                rolled["promoted"]["E->A"]) == (held_e, promoted_e, held_d, reached), (start, end)
    assert lead.pk


def test_writes_mark_the_days_of_the_leads_whole_history(cohort):
    rollups.drain()
    l10 = cohort.leads["L10"]
    days = {gc.changed_at.astimezone(timezone.get_current_timezone()).date()
            for gc in GradeChange.objects.filter(lead=l10)}
    # A reassignment moves the lead's rows to another consultant: every day of its history is marked.
    services.lead_assign(actor=cohort.org.manager, lead=l10, to_user=cohort.org.consultant)
    assert days <= set(RollupMark.objects.filter(kind="l", store_id=l10.store_id).values_list("day", flat=True))
    s = Slice(user=cohort.org.manager, **OCTOBER)
    assert both(s, by_consultant=True)[0] == both(s, by_consultant=True)[1]
    rollups.drain()
    # Raw SQL, no service: a grade change inserted in the middle of the history.
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO leads_gradechange (lead_id, from_grade, to_grade, changed_at, reason) "
                       "VALUES (%s, 'D', 'E', %s, '')", [l10.pk, at(10, 4)])
    assert ladder_marks() > 0
    rolled, live = both(s, by_consultant=True)
    assert rolled == live
    rollups.drain()
    assert both(s, by_consultant=True)[0] == live
    # A write that changes nothing the ladder counts marks nothing for it.
    Lead.objects.filter(pk=l10.pk).update(notes="called", version=9)
    assert ladder_marks() == 0


def test_the_dashboards_reads_agree(cohort):
    rollups.drain()
    org = cohort.org
    s = Slice(user=org.manager, **OCTOBER, stores=[org.store])
    points = control_points(s)
    rates = {row.consultant_id: (row.held, row.promoted) for row in points.rows}
    live = promotion_rates(s, by_consultant=True, live=True)
    assert {k: (v["held"], v["promoted"]) for k, v in live.items()} == {
        k: v for k, v in rates.items() if k in live}
    assert all(not any(held.values()) for k, (held, _promoted) in rates.items() if k not in live)
    assert measured_promotion_rates(user=org.manager, store=org.store, today=NOW.date()) == promotion_rates(
        Slice(user=org.manager, start=NOW.date() - timedelta(days=365), end=NOW.date(), stores=[org.store]),
        live=True)["rates"]


def test_rebuild_recounts_the_ladder_from_scratch(cohort):
    rollups.drain()
    columns = ("store_id", "day", "prev_day", "reach_day", "consultant_id", "grade", "opened", "closed", "promoted",
               "reached", "reach_closed")
    expected = Counter(LadderDay.objects.values_list(*columns))
    LadderDay.objects.update(opened=99)
    rollups.rebuild()
    assert ladder_marks() == 0
    assert Counter(LadderDay.objects.values_list(*columns)) == expected


def test_the_read_is_a_fixed_number_of_queries(cohort, django_assert_max_num_queries):
    rollups.drain()
    s = Slice(user=cohort.org.admin, start=date(2026, 1, 1), end=date(2026, 12, 31))
    # The rows of the unmarked days, the marked days (none), nothing recounted.
    with django_assert_max_num_queries(2):
        promotion_rates(s, by_consultant=True)


@pytest.mark.django_db(transaction=True)
def test_a_read_outside_a_transaction_takes_one_snapshot(org):
    """The dashboard reads outside any transaction: the ladder's read opens a REPEATABLE READ one of its own."""
    with time_machine.travel(NOW, tick=False):
        make_lead(org.store, org.consultant, "snap", first=at(10, 1), phone="+8613800000032",
                  grades=[("E", at(10, 1)), ("D", at(10, 5))])
        s = Slice(user=org.manager, **OCTOBER)
        assert not connection.in_atomic_block
        for _drained in (False, True):
            rolled, live = both(s, by_consultant=True)
            assert rolled == live and rolled[org.consultant.pk]["promoted"]["E->D"] == 1
            rollups.drain()


def test_the_follow_ups_read_the_same_from_their_rows(cohort):
    org = cohort.org
    assert RollupMark.objects.filter(kind="f").exists()
    readers = ((org.manager, {}), (org.admin, {}), (org.consultant, {}), (org.manager, {"consultant": org.consultant2}),
               (org.other_manager, {}), (org.manager, {"source": "walk_in"}))

    def agree():
        for user, extra in readers:
            s = Slice(user=user, **OCTOBER, **extra)
            assert follow_up_counts(s) == follow_up_counts(s, live=True), (user, extra)

    agree()  # marked: counted live
    rollups.drain()
    assert FollowUpDay.objects.exists()
    agree()
    s = Slice(user=org.manager, **OCTOBER)
    assert follow_up_counts(s) == {org.consultant.pk: {"n": 1, "rejected": 0},
                                   org.consultant2.pk: {"n": 2, "rejected": 0}}
    # A rejection, a reassignment (the rows follow the lead's consultant), a raw delete.
    follow_up = FollowUp.objects.get(lead=cohort.leads["L5"])
    services.follow_up_review(actor=org.manager, follow_up=follow_up, approve=False, comment="没有打")
    services.lead_assign(actor=org.manager, lead=cohort.leads["L1"], to_user=org.consultant2)
    agree()
    assert follow_up_counts(s)[org.consultant2.pk]["rejected"] == 1
    rollups.drain()
    agree()
    FollowUp.objects.filter(lead=cohort.leads["L6"]).delete()
    agree()
    rollups.drain()
    agree()
    assert follow_up_counts(s) == {org.consultant.pk: {"n": 1, "rejected": 0},
                                   org.consultant2.pk: {"n": 1, "rejected": 1}}


# --- random histories through the services ------------------------------------------------------------------------

# More regrades than the funnel's histories: spells held twice, promotions and demotions on one day.
ladder_op = st.one_of(
    op,
    st.tuples(st.just("review"), st.integers(0, 60), st.booleans()),
    st.tuples(st.just("grade"), st.integers(0, 30), st.integers(0, DAYS - 1), st.sampled_from("EDCBA")),
    st.tuples(st.just("follow_up"), st.integers(0, 30), st.integers(0, DAYS - 1), st.sampled_from("EDCBA")),
)


def _ladder_periods() -> list[tuple[date, date]]:
    day = timedelta(days=1)
    return [(START, START + DAYS * day), (START + 5 * day, START + 12 * day), (START + 20 * day, START + 20 * day),
            (START + 10 * day, START + 30 * day), (START - 30 * day, START + 3 * day)]


def _apply_step(step: tuple, org, people: list, series, channel) -> None:
    if step[0] != "review":
        return _apply(step, org, people, series, channel)
    follow_ups = list(FollowUp.objects.filter(store=org.store).order_by("pk"))
    if follow_ups:
        services.follow_up_review(actor=org.manager, follow_up=follow_ups[step[1] % len(follow_ups)], approve=step[2],
                                  comment="" if step[2] else "没有记录")
    return None


@pytest.mark.django_db
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=st.lists(ladder_op, min_size=3, max_size=25), drain_at_end=st.booleans())
def test_random_histories_read_the_same_ladder_as_live(org, steps, drain_at_end):
    with time_machine.travel(NOW, tick=False), transaction.atomic():
        savepoint = transaction.savepoint_create()
        consultant3 = ConsultantFactory(store=org.store)
        people = [org.consultant, org.consultant2, consultant3]
        series = VehicleSeriesFactory()
        channel = Channel.objects.filter(source="referral").first()
        for step in steps:
            try:
                with transaction.atomic():
                    _apply_step(step, org, people, series, channel)
                event(f"{step[0]}: written")
            except (ValidationError, PermissionDenied, DuplicatePhone, StaleVersion, ProtectedError):
                event(f"{step[0]}: refused")
        if drain_at_end:
            rollups.drain()
        for start, end in _ladder_periods():
            for user, extra in ((org.admin, {}), (org.manager, {}), (org.consultant, {}),
                                (org.manager, {"consultant": org.consultant2}), (org.manager, {"stores": [org.store]})):
                s = Slice(user=user, start=start, end=end, **extra)
                for by_consultant in (False, True):
                    rolled, live = both(s, by_consultant=by_consultant)
                    assert rolled == live, (steps, start, end, user, extra, by_consultant)
                assert follow_up_counts(s) == follow_up_counts(s, live=True), (steps, start, end, user, extra)
        transaction.savepoint_rollback(savepoint)


# --- the month rows -----------------------------------------------------------------------------------------------

# Periods over months of history, with NOW on 2026-11-23: whole months, a past month, months to today, a start or an
# end mid-month (or both), no whole month at all, a day either side of a month's turn, twelve months.
MONTH_PERIODS = [
    (date(2026, 9, 1), date(2026, 9, 30)), (date(2026, 8, 1), date(2026, 10, 31)),
    (date(2026, 10, 1), date(2026, 11, 23)), (date(2026, 8, 15), date(2026, 10, 31)),
    (date(2026, 9, 1), date(2026, 10, 20)), (date(2026, 8, 15), date(2026, 10, 20)),
    (date(2026, 9, 10), date(2026, 10, 5)), (date(2026, 8, 31), date(2026, 9, 1)),
    (date(2025, 12, 1), date(2026, 11, 30)), (date(2026, 11, 1), date(2026, 11, 30)),
]


def _month_reads_agree(org, periods=MONTH_PERIODS, context=()) -> None:
    readers = ((org.admin, {}, (False, True)), (org.consultant, {}, (False,)),
               (org.manager, {"consultant": org.consultant2}, (True,)), (org.manager, {"stores": [org.store]}, (True,)))
    for start, end in periods:
        for user, extra, groupings in readers:
            s = Slice(user=user, start=start, end=end, **extra)
            for by_consultant in groupings:
                rolled, live = both(s, by_consultant=by_consultant)
                assert rolled == live, (*context, start, end, user, extra, by_consultant)


def test_the_month_rows_read_partial_months_exactly(org, frozen, django_assert_max_num_queries):
    july, aug, sep, oct_ = (lambda d, h=10: at(7, d, h)), (lambda d, h=10: at(8, d, h)), \
        (lambda d, h=10: at(9, d, h)), (lambda d, h=10: at(10, d, h))
    # E in July, promoted; E again in August, promoted in September; A after the period's end (in its end month).
    make_lead(org.store, org.consultant, "x", first=july(5), phone="+8613800000041",
              grades=[("E", july(5)), ("D", july(10)), ("E", aug(20)), ("D", sep(15)), ("A", oct_(25))])
    # D, promoted on 08-18 (in the period), D again and promoted again in September (counted once: prev_day 08-18).
    make_lead(org.store, org.consultant, "y", first=aug(1), phone="+8613800000042",
              grades=[("D", aug(1)), ("C", aug(18)), ("D", sep(5)), ("C", sep(10))])
    # E twice in September, promoted twice: once in a period that covers September.
    make_lead(org.store, org.consultant2, "z", first=sep(3), phone="+8613800000043",
              grades=[("E", sep(3)), ("D", sep(5)), ("E", sep(10)), ("D", sep(12))])
    rollups.drain()
    september = promotion_rates(Slice(user=org.manager, start=date(2026, 9, 1), end=date(2026, 9, 30)),
                                by_consultant=True)
    assert (september[org.consultant2.pk]["held"]["E->D"], september[org.consultant2.pk]["promoted"]["E->D"]) == (1, 1)
    assert LadderMonth.objects.filter(prev_month__isnull=False).exists()
    assert LadderMonth.objects.filter(reach_month=date(2026, 10, 1)).exists()
    s = Slice(user=org.manager, start=date(2026, 8, 15), end=date(2026, 10, 20))
    with django_assert_max_num_queries(2):
        rolled = promotion_rates(s)
    assert rolled == promotion_rates(s, live=True)
    # E: x (its second spell; A reached only after the period) and z.
    assert (rolled["held"]["E->D"], rolled["promoted"]["E->D"], rolled["promoted"]["E->A"]) == (2, 2, 0)
    # D: y once (its second spell's previous one ended in the period), x (D from 07-10 to 08-20, then demoted) and z.
    assert (rolled["held"]["D->C"], rolled["promoted"]["D->C"]) == (3, 1)
    # September marked: its month rows are not read, its day rows are and the marked day is counted live.
    RollupMark.objects.create(store_id=org.store.pk, day=date(2026, 9, 12), kind="l")
    assert promotion_rates(s) == rolled
    _month_reads_agree(org)
    rollups.drain()
    _month_reads_agree(org)


def test_the_month_rows_can_be_switched_off_for_the_ladder(cohort, monkeypatch, django_assert_max_num_queries):
    rollups.drain()
    s = Slice(user=cohort.org.admin, start=date(2026, 9, 1), end=date(2026, 11, 30))
    on = promotion_rates(s, by_consultant=True)
    monkeypatch.setattr(rollups_months, "ENABLED", False)
    assert promotion_rates(s, by_consultant=True) == on == promotion_rates(s, by_consultant=True, live=True)


def test_marking_everything_drops_the_month_rows_too(cohort):
    rollups.drain()
    org = cohort.org
    months = Counter(LadderMonth.objects.values_list("store_id", "month", "prev_month", "reach_month",
                                                     "consultant_id", "grade", *rollups_months.LADDER_COUNTS))
    # A month with no grade change left (its leads moved while the triggers were missing): nothing marks it.
    LadderMonth.objects.create(store=org.store, month=date(2026, 3, 1), consultant=org.consultant, grade="E", opened=5)
    with transaction.atomic():
        rollups._locked("default", wait=True)
        rollups_ladder.mark_all()
    rollups.drain()
    assert Counter(LadderMonth.objects.values_list("store_id", "month", "prev_month", "reach_month",
                                                   "consultant_id", "grade", *rollups_months.LADDER_COUNTS)) == months
    s = Slice(user=org.manager, start=date(2026, 3, 1), end=date(2026, 11, 30))
    assert promotion_rates(s) == promotion_rates(s, live=True)


def test_the_reconciliation_checks_the_ladders_month_rows(cohort):
    rollups.drain()
    org = cohort.org
    october = date(2026, 10, 1)
    assert not rollups_months.drifted("funnel_ladderday", org.store.pk, october)
    LadderMonth.objects.filter(store=org.store, month=october, prev_month__isnull=True,
                               reach_month__isnull=True).update(opened=F("opened") + 1)
    assert rollups_months.drifted("funnel_ladderday", org.store.pk, october)
    drift = rollups.reconcile(size=0, today=NOW.date(), extra=[(org.store.pk, date(2026, 10, 3), "l")])
    assert (org.store.pk, october, "l") in drift
    assert not rollups_months.drifted("funnel_ladderday", org.store.pk, october)
    assert not RollupMark.objects.exists()


# Histories over five months written straight to the tables (the triggers mark them), drained; then more changes and
# marks that no drain has recounted yet (their store-months read from the day rows, their days live), then drained.
month_change = st.tuples(st.integers(0, 145), st.sampled_from([0, 9, 23]), st.sampled_from("EEDDCCBBA"))
# A history starting on any day and lasting up to seven weeks: spells held twice within a month and across months.
month_lead = st.fixed_dictionaries({
    "store": st.integers(0, 1), "who": st.integers(0, 2), "merged": st.booleans(), "from": st.integers(0, 100),
    "changes": st.lists(st.tuples(st.integers(0, 45), st.sampled_from([0, 9, 23]), st.sampled_from("EEDDCCBBA")),
                        min_size=1, max_size=8),
})


def _month_history(org, specs: list[dict]) -> list[Lead]:
    people = [org.consultant, org.consultant2, None]
    leads = []
    for i, spec in enumerate(specs):
        changes = sorted((at(7, 1, hour) + timedelta(days=spec["from"] + offset), grade)
                         for offset, hour, grade in spec["changes"])
        leads.append(make_lead([org.store, org.store2][spec["store"]], people[spec["who"]], f"m{i}",
                               first=changes[0][0], phone=f"+86139{i:08d}",
                               grades=[(grade, when) for when, grade in changes],
                               status="merged" if spec["merged"] else "active"))
    return leads


@pytest.mark.django_db
@settings(max_examples=max(EXAMPLES // 2, 5), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(specs=st.lists(month_lead, min_size=1, max_size=12),
       later=st.lists(st.tuples(st.integers(0, 11), month_change), max_size=4),
       marked_days=st.lists(st.integers(0, 145), max_size=3))
# A lead only ever graded A holds no rung: no ladder row, so no month row either (the case CI drew once).
@example(specs=[{"store": 0, "who": 0, "merged": False, "from": 0, "changes": [(0, 0, "A")]}], later=[],
         marked_days=[])
def test_random_histories_read_the_same_from_the_month_rows_as_live(org, specs, later, marked_days):
    with time_machine.travel(NOW, tick=False), transaction.atomic():
        savepoint = transaction.savepoint_create()
        leads = _month_history(org, specs)
        rollups.drain()
        # Month rows exist once a lead that is not merged has held a rung (E to B); A is the top, not a rung.
        assert LadderMonth.objects.exists() or all(
            spec["merged"] or all(grade == "A" for _offset, _hour, grade in spec["changes"]) for spec in specs)
        _month_reads_agree(org, context=(specs,))
        for index, (offset, hour, grade) in later:
            GradeChange.objects.create(lead=leads[index % len(leads)], to_grade=grade,
                                       changed_at=at(7, 1, hour) + timedelta(days=offset))
        for offset in marked_days:
            RollupMark.objects.create(store_id=org.store.pk, day=date(2026, 7, 1) + timedelta(days=offset), kind="l")
        _month_reads_agree(org, context=(specs, later, marked_days))
        rollups.drain()
        _month_reads_agree(org, context=(specs, later, marked_days))
        transaction.savepoint_rollback(savepoint)


def test_marking_every_follow_up_day_drops_the_month_rows_too(cohort):
    """As the ladder's: a month with no follow-up left (deleted while the triggers were missing) gets no mark, so the
    rebuild's marking must drop the month rows it would otherwise leave behind."""
    from funnel import rollups_followups
    from funnel.models import FollowUpMonth

    rollups.drain()
    org = cohort.org
    months = Counter(FollowUpMonth.objects.values_list("store_id", "month", "author_id", "consultant_id", "n",
                                                       "rejected"))
    FollowUpMonth.objects.create(store=org.store, month=date(2026, 3, 1), author=org.consultant,
                                 consultant=org.consultant, n=7)
    with transaction.atomic():
        rollups._locked("default", wait=True)
        rollups_followups.mark_all()
    rollups.drain()
    assert Counter(FollowUpMonth.objects.values_list("store_id", "month", "author_id", "consultant_id", "n",
                                                     "rejected")) == months
    s = Slice(user=org.manager, start=date(2026, 3, 1), end=date(2026, 11, 30))
    assert follow_up_counts(s) == follow_up_counts(s, live=True)
