"""The control points' state-now columns (and the ladder, ``ladder_counts``) from the kept counts (funnel.lead_now)
answer exactly what the live definition answers (funnel.selectors.state_now with ``live``): at once after any
write, before and after the compaction folds the rows, as time moves the overdue and stale thresholds, when a group
raises a max dwell under folded rows, and for every reader (a consultant sees their own row only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dealercrm.tests.factories import ConsultantFactory, VehicleSeriesFactory
from funnel import lead_now
from funnel.models import LeadNow
from funnel.selectors import Slice, control_points, ladder_counts, state_now
from leads.models import Channel, GradeRule, Lead, local_day_start
from leads.selectors import open_counts, workspace
from leads.services import DuplicatePhone, StaleVersion

from .conftest import NOW, at, make_lead
from .test_rollups import DAYS, EXAMPLES, START, _apply, _moment, op

LATER = (timedelta(0), timedelta(hours=13), timedelta(days=3), timedelta(days=20), timedelta(days=200))


def readers(org) -> list[tuple]:
    return [(org.admin, {}), (org.manager, {}), (org.consultant, {}), (org.manager, {"consultant": org.consultant2}),
            (org.manager, {"stores": [org.store]}), (org.other_manager, {})]


def assert_same(org, now) -> None:
    today = local_day_start(now)
    for user in (org.admin, org.manager, org.consultant, org.consultant2, org.other_manager, org.other_admin):
        # The workspace's counts (leads.selectors.open_counts) likewise, whoever asks.
        window = {"user": user, "today": today, "tomorrow": today + timedelta(days=1)}
        assert open_counts(**window) == open_counts(**window, live=True), (user, now)
        for store in (org.store, org.store2, org.other_store):  # the allocation page's, per holder, any store asked
            held = {**window, "store": store, "by_consultant": True}
            assert open_counts(**held) == open_counts(**held, live=True), (user, store, now)
    for user, extra in readers(org):
        s = Slice(user=user, start=START, end=START + timedelta(days=DAYS), **extra)
        assert state_now(s, now=now) == state_now(s, now=now, live=True), (user, extra, now)
    for user, extra in readers(org):  # the ladder (the API's and the planner's) reads the same counts, now
        s = Slice(user=user, start=START, end=START + timedelta(days=DAYS), **extra)
        assert ladder_counts(s) == ladder_counts(s, live=True), (user, extra)


def test_the_counts_follow_writes_at_once_and_survive_the_folding(org, frozen):
    make_lead(org.store, org.consultant, "a", first=at(10, 1), phone="+8613800000041", grades=[("A", at(10, 1))])
    make_lead(org.store, org.consultant2, "e", first=at(11, 20), phone="+8613800000042", grades=[("E", at(11, 20))])
    lead = make_lead(org.store, org.consultant, "c", first=at(11, 1), phone="+8613800000043",
                     grades=[("C", at(11, 1))])
    Lead.objects.filter(pk=lead.pk).update(next_follow_up_at=at(11, 10))  # overdue on 11-23
    s = Slice(user=org.manager, start=START, end=START + timedelta(days=DAYS))
    counts = state_now(s, now=NOW)
    assert counts[org.consultant.pk] == {"A": 1, "B": 0, "C": 1, "D": 0, "E": 0, "ungraded": 0, "active": 2,
                                         "overdue": 1, "stale": 0}
    assert counts[org.consultant2.pk]["E"] == 1 and counts[org.consultant2.pk]["stale"] == 0
    assert_same(org, NOW)
    lead_now.compact(now=NOW)
    assert_same(org, NOW)
    # 60 days on: the E lead (14 days' max dwell) and A (90 days, held since 10-01) are stale.
    later = NOW + timedelta(days=60)
    assert state_now(s, now=later)[org.consultant2.pk]["stale"] == 1
    assert_same(org, later)
    lead_now.compact(now=later)
    assert LeadNow.objects.filter(folded=True).exists()
    lead_now.compact(now=later, full=True)
    assert_same(org, later)
    # The manager keeps the stale E lead: its clock restarts, at once.
    Lead.objects.filter(assigned_to=org.consultant2).update(dwell_kept_at=later)
    assert state_now(s, now=later)[org.consultant2.pk]["stale"] == 0
    assert_same(org, later)


def test_a_raised_max_dwell_under_folded_rows_is_counted_live_then_rebuilt(org, frozen):
    make_lead(org.store, org.consultant, "e", first=at(10, 1), phone="+8613800000051", grades=[("E", at(10, 1))])
    s = Slice(user=org.manager, start=START, end=START + timedelta(days=DAYS))
    lead_now.compact(now=NOW)
    assert state_now(s, now=NOW)[org.consultant.pk]["stale"] == 1  # 53 days at E, 14 allowed
    GradeRule.objects.update_or_create(group=org.group, grade="E",
                                       defaults={"meaning": "E", "follow_up_days": 3, "max_dwell_days": 100})
    assert lead_now.read(store_ids=[org.store.pk], now=NOW) is None  # a folded row the new rule splits
    assert state_now(s, now=NOW)[org.consultant.pk]["stale"] == 0
    assert_same(org, NOW)
    lead_now.compact(now=NOW)
    assert lead_now.read(store_ids=[org.store.pk], now=NOW) is not None
    assert_same(org, NOW)


def test_a_consultant_reads_their_own_row_and_nobody_reads_another_group(org, frozen):
    make_lead(org.store, org.consultant, "mine", first=at(11, 1), phone="+8613800000061", grades=[("B", at(11, 1))])
    make_lead(org.store, org.consultant2, "theirs", first=at(11, 1), phone="+8613800000062",
              grades=[("B", at(11, 1))])
    own = control_points(Slice(user=org.consultant, start=START, end=START + timedelta(days=DAYS)), now=NOW)
    assert [row.consultant_id for row in own.rows] == [org.consultant.pk] and own.total.active == 1
    other = control_points(Slice(user=org.other_manager, start=START, end=START + timedelta(days=DAYS)), now=NOW)
    assert other.total.active == 0
    manager = control_points(Slice(user=org.manager, start=START, end=START + timedelta(days=DAYS)), now=NOW)
    assert manager.total.active == 2 and manager.total.ladder["B"] == 2


def test_the_workspace_counts_from_the_kept_rows_for_each_role(org, frozen, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    midnight = local_day_start(NOW)
    due = {"yesterday": NOW - timedelta(days=1), "today": NOW + timedelta(hours=3), "midnight": midnight,
           "next midnight": midnight + timedelta(days=1), "tomorrow": NOW + timedelta(days=1),
           "next week": NOW + timedelta(days=7)}
    for n, (consultant, store, grade, when) in enumerate([
        (org.consultant, org.store, "A", "yesterday"), (org.consultant, org.store, "B", "today"),
        (org.consultant, org.store, None, "today"), (org.consultant2, org.store, "B", "yesterday"),
        (org.consultant2, org.store, "C", "tomorrow"), (org.consultant2, org.store, "D", "midnight"),
        (org.consultant2, org.store, "D", "next midnight"), (org.consultant_b, org.store2, "E", "today"),
        (org.consultant_b, org.store2, "D", "next week"),
    ]):
        lead = make_lead(store, consultant, f"l{n}", first=at(11, 1), phone=f"+86138000007{n:02d}",
                         grades=[(grade, at(11, 1))] if grade else ())
        Lead.objects.filter(pk=lead.pk).update(next_follow_up_at=due[when])
    lead_now.compact(now=NOW)  # the overdue rows folded: the counts read the folded row and the later ones
    today = local_day_start(NOW)

    def counts(user):
        return open_counts(user=user, today=today, tomorrow=today + timedelta(days=1))

    zero = dict.fromkeys(("A", "B", "C", "D", "E", "ungraded", "overdue", "due_today"), 0)
    assert counts(org.consultant) == zero | {"A": 1, "B": 1, "ungraded": 1, "overdue": 1, "due_today": 2}
    # Due at today's midnight: due today, not overdue; at tomorrow's: neither.
    assert counts(org.manager) == zero | {"A": 1, "B": 2, "C": 1, "D": 2, "ungraded": 1, "overdue": 2, "due_today": 3}
    assert counts(org.admin) == zero | {"A": 1, "B": 2, "C": 1, "D": 3, "E": 1, "ungraded": 1, "overdue": 2,
                                        "due_today": 4}
    assert counts(org.other_manager) == zero and counts(org.other_admin) == zero  # another group sees none
    by_holder = open_counts(user=org.manager, today=today, tomorrow=today + timedelta(days=1), store=org.store,
                            by_consultant=True)
    assert by_holder == {org.consultant.pk: zero | {"A": 1, "B": 1, "ungraded": 1, "overdue": 1, "due_today": 2},
                         org.consultant2.pk: zero | {"B": 1, "C": 1, "D": 2, "overdue": 1, "due_today": 1}}
    assert open_counts(user=org.manager, today=today, tomorrow=today + timedelta(days=1), store=org.store2,
                       by_consultant=True) == {}  # not their store
    assert_same(org, NOW)
    # The group admin's workspace reads them: no count over the leads' table, whatever the group's size.
    with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(8):
        ws = workspace(user=org.admin, now=NOW)
    assert not [q["sql"] for q in queries if "COUNT" in q["sql"] and 'FROM "leads_lead"' in q["sql"]]
    assert (ws.ladder, ws.overdue_count, ws.due_today_count) == (
        {"A": 1, "B": 2, "C": 1, "D": 3, "E": 1, "ungraded": 1}, 2, 4)
    assert len(ws.overdue) == 2 and len(ws.due_today) == 4


def test_a_bulk_rebuild_matches_the_triggers(org, frozen):
    for i in range(4):
        make_lead(org.store, org.consultant, f"l{i}", first=at(10, 1 + i), phone=f"+861380000007{i}",
                  grades=[("D", at(10, 1 + i))])
    Lead.objects.filter(store=org.store).update(assigned_to=None)  # as the reclaim job: one UPDATE
    before = lead_now.read(store_ids=[org.store.pk], now=NOW)
    lead_now.rebuild(store_ids=[org.store.pk])
    assert lead_now.read(store_ids=[org.store.pk], now=NOW) == before == {
        None: {"A": 0, "B": 0, "C": 0, "D": 4, "E": 0, "ungraded": 0, "active": 4, "overdue": 0, "stale": 0}}


now_op = st.one_of(
    op,
    st.tuples(st.just("keep"), st.integers(0, 30), st.integers(0, DAYS - 1)),
    st.tuples(st.just("due"), st.integers(0, 30), st.integers(0, DAYS + 20)),
    st.tuples(st.just("compact"), st.booleans()),
)


def _apply_now(step: tuple, org, people, series, channel) -> None:
    leads = list(Lead.objects.filter(store=org.store).order_by("pk"))
    if step[0] == "keep" and leads:  # the manager keeps a stale lead (the dwell clock restarts)
        Lead.objects.filter(pk=leads[step[1] % len(leads)].pk).update(dwell_kept_at=_moment(step[2], 9))
    elif step[0] == "due" and leads:
        Lead.objects.filter(pk=leads[step[1] % len(leads)].pk).update(next_follow_up_at=_moment(step[2], 8))
    elif step[0] == "compact":
        lead_now.compact(now=NOW, full=step[1])
    else:
        _apply(step, org, people, series, channel)


@pytest.mark.django_db
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=st.lists(now_op, min_size=3, max_size=25), compact_at=st.sampled_from([None, *LATER]),
       full=st.booleans())
def test_random_histories_read_the_same_state_now_as_live(org, steps, compact_at, full):
    with time_machine.travel(NOW, tick=False), transaction.atomic():
        savepoint = transaction.savepoint_create()
        people = [org.consultant, org.consultant2, ConsultantFactory(store=org.store)]
        series = VehicleSeriesFactory()
        channel = Channel.objects.filter(source="referral").first()
        for step in steps:
            try:
                with transaction.atomic():
                    _apply_now(step, org, people, series, channel)
                event(f"{step[0]}: written")
            except (ValidationError, PermissionDenied, DuplicatePhone, StaleVersion, ProtectedError):
                event(f"{step[0]}: refused")
        if compact_at is not None:
            lead_now.compact(now=NOW + compact_at, full=full)
        for later in LATER:
            if compact_at is None or later >= compact_at:  # time moves forward only
                assert_same(org, NOW + later)
        transaction.savepoint_rollback(savepoint)


def test_the_folding_is_scheduled_every_minute_and_nightly_in_full(org, settings, frozen):
    from funnel.tasks import compact_lead_now

    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "funnel.tasks.compact_lead_now"]
    assert [bool(e.get("kwargs", {}).get("full")) for e in entries] == [False]  # the nightly full one: reconcile's
    assert "funnel.tasks.reconcile_rollups" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert not any(e["task"] == "funnel.tasks.warm_dashboard_figures" for e in settings.CELERY_BEAT_SCHEDULE.values())
    make_lead(org.store, org.consultant, "a", first=at(10, 1), phone="+8613800000091", grades=[("E", at(10, 1))])
    assert compact_lead_now.apply(kwargs={"full": True}).get()["rows"] > 0
    assert_same(org, NOW)


def test_a_full_compaction_keeps_the_rows_of_a_store_without_grade_rules_unfolded(org, frozen):
    """A stale-clock row whose store has no threshold (a store removed with its rows left behind, as a bench
    reset's once were) is neither folded nor a failure: the night's full compaction goes on."""
    from funnel import lead_now
    from funnel.models import LeadNow

    make_lead(org.store, org.consultant, "a", first=at(10, 1), phone="+8613800000092", grades=[("E", at(10, 1))])
    LeadNow.objects.create(store_id=987654, consultant_id=None, grade="C", part="s", at=NOW - timedelta(days=400),
                           n=1)
    lead_now.compact(full=True)
    assert LeadNow.objects.filter(store_id=987654, folded=False).count() == 1
    assert_same(org, NOW)


def test_the_nightly_reconciliation_folds_every_key_once(org, frozen):
    """The night's one full compaction is the reconciliation's (in run_jobs as under the beat): a lead whose due time
    moved twice, not yet overdue, leaves three `o` delta rows that only a full compaction sums."""
    from funnel.jobs import rollups_reconcile

    lead = make_lead(org.store, org.consultant, "c", first=at(11, 1), phone="+8613800000093",
                     grades=[("C", at(11, 1))])
    for day in (26, 27):
        Lead.objects.filter(pk=lead.pk).update(next_follow_up_at=at(11, day))
    before = LeadNow.objects.filter(store_id=org.store.pk, part="o").count()
    assert before > LeadNow.objects.filter(store_id=org.store.pk, part="o").values("consultant_id", "at").distinct().count()
    run = rollups_reconcile(size=0)
    assert run.status == run.Status.SUCCEEDED
    rows = LeadNow.objects.filter(store_id=org.store.pk, part="o")
    assert rows.count() == rows.values("consultant_id", "at").distinct().count() < before
    assert_same(org, NOW)
