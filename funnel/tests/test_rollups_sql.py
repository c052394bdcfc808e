"""The set-based recount (PostgreSQL: funnel.rollups.cohort_select, revisit_select; funnel.rollups_ladder's
ladder_select) gives exactly the rows of the Python definition (cohort_rows, revisit_rows; ladder_rows): a worked
day by hand, then random histories written straight to the tables (hypothesis) — leads regraded after their
first-visit day, several grade changes on one local day (and at one instant), writes on either side of local and of
UTC midnight, merged leads, won fleet deals, re-visits, and data no service writes (a grade_since no change matches,
a deal on a lead that is not won) — in Shanghai and in two other time zones. Then the drain's and the rebuild's
statements, and the rebuild against the Python path."""

from __future__ import annotations

import os
from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dealercrm.tests.factories import VehicleSeriesFactory
from funnel import rollups, rollups_ladder
from funnel.models import CohortDay, FollowUpDay, LadderDay, RevisitDay, RollupMark
from funnel.rollups import COHORT, GRADES, REVISITS
from funnel.rollups_ladder import LADDER
from funnel.selectors import Slice, funnel_metrics
from leads.models import Channel, Deal, GradeChange, Lead, Source, Visit

SH = ZoneInfo("Asia/Shanghai")
BASE = date(2026, 10, 14)
EXAMPLES = int(os.environ.get("ROLLUPS_EXAMPLES", "40"))

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the set-based recount is PostgreSQL's")


def _at(day: date, clock: time, tz=SH) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz)


def _both(kind: str, stores: list[int], days: list[date]) -> tuple[Counter, Counter]:
    """The rows of these store-days by the Python definition and by the set-based SELECT, as multisets."""
    python = rollups.KINDS[kind].rows
    expected = Counter(row for store_id in stores for row in python(store_id, days))
    return expected, Counter(rollups.select_rows(kind, [(s, d) for s in stores for d in days]))


def _scoped(kind: str, store_ids: list[int] | None) -> Counter:
    """The rows of the rebuild's scope (every day of ``store_ids``; None: every store), by the set-based SELECT."""
    sql, params = rollups.KINDS[kind].select(store_ids=store_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return Counter(tuple(row) for row in cursor.fetchall())


def _lead(org, *, first: datetime, phone: str = "", store=None, status: str = "active", grade=None, since=None,
          changes=(), follow_up=None, revisits=(), quantity=None, who=None, channel=None, series=None,
          source: str = "walk_in") -> Lead:
    lead = Lead.objects.create(
        store=store or org.store, assigned_to=who, name="客户", phone=phone, source=source, first_visit_at=first,
        grade=grade, grade_since=since, status=status, first_follow_up_at=follow_up, channel=channel, series=series,
        created_by=org.manager,
    )
    Visit.objects.create(lead=lead, arrived_at=first, is_first=True, recorded_by=org.manager)
    for when in revisits:
        Visit.objects.create(lead=lead, arrived_at=when, is_first=False, recorded_by=org.manager)
    for when, to_grade in changes:
        GradeChange.objects.create(lead=lead, to_grade=to_grade, changed_at=when, changed_by=org.manager)
    if quantity is not None:
        Deal.objects.create(lead=lead, price=Decimal(150000) * quantity, quantity=quantity, ordered_at=first.date(),
                            created_by=org.manager)
    return lead


# --- a worked day ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_day_near_midnight_counts_in_local_days_by_hand(org):
    c1 = org.consultant
    d14, d15, d17 = date(2026, 10, 14), date(2026, 10, 15), date(2026, 10, 17)
    # First seen a second before local midnight (15:59:59 UTC). E that evening; D at local midnight (16:00 UTC, still
    # the 14th in UTC), C and B later on the 15th (two more changes that day: B, the last, holds); A on the 17th is
    # the grade it holds now (grade_since).
    _lead(org, first=_at(d14, time(23, 59, 59)), phone="+8613800000001", who=c1, grade="A",
          since=_at(d17, time(8)), follow_up=_at(d15, time(10)),
          changes=[(_at(d14, time(23)), "E"), (_at(d15, time(0)), "D"), (_at(d15, time(9)), "C"),
                   (_at(d15, time(23, 59, 59)), "B"), (_at(d17, time(8)), "A")],
          revisits=[_at(d15, time(0)), _at(d14, time(7, 59, 59))])
    # A fleet order of five on the 14th (one deal, five units), a merged lead and an anonymous lead the same day.
    _lead(org, first=_at(d14, time(8)), phone="+8613800000002", who=c1, grade="B", since=_at(d14, time(8)),
          status="won", quantity=5, follow_up=_at(d14, time(9)), changes=[(_at(d14, time(8)), "B")],
          revisits=[_at(d15, time(0))])
    _lead(org, first=_at(d14, time(12)), phone="+8613800000003", who=c1, grade="A", since=_at(d14, time(12)),
          status="merged", changes=[(_at(d14, time(12)), "A")], revisits=[_at(d15, time(1))])
    _lead(org, first=_at(d14, time(0)), who=c1)
    store = org.store.pk
    rows = {
        COHORT: [
            # store, day, as_of, consultant, source, channel, series, n, valid, followed, deals, A..E, units
            (store, d14, d14, c1.pk, "walk_in", None, None, 3, 2, 2, 1, 0, 1, 0, 0, 1, 5),
            (store, d14, d15, c1.pk, "walk_in", None, None, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0),
            (store, d14, d17, c1.pk, "walk_in", None, None, 0, 0, 0, 0, 1, -1, 0, 0, 0, 0),
        ],
        # The re-visit at 00:00 on the 15th is the 15th's (16:00 UTC on the 14th); the one at 07:59:59 on the 14th
        # the 14th's (23:59:59 UTC on the 13th). The merged lead's re-visit is nobody's.
        REVISITS: [(store, d14, c1.pk, "walk_in", None, None, 1), (store, d15, c1.pk, "walk_in", None, None, 2)],
    }
    days = [BASE + timedelta(days=d) for d in range(-3, 6)]
    for kind, expected in rows.items():
        python, set_based = _both(kind, [store], days)
        assert python == Counter(expected) == set_based, kind
        assert _scoped(kind, [store]) == set_based == _scoped(kind, None)


# --- random histories --------------------------------------------------------------------------------------------

# Local clock times on either side of local midnight and of UTC midnight (08:00 in Shanghai), and midday.
CLOCK = [time(0), time(0, 0, 1), time(7, 59, 59), time(8), time(12), time(15, 59, 59), time(16), time(23, 59, 59)]
# (days after the lead's first-visit day, clock): -1 is the day before (a merge can bring older history along).
when = st.tuples(st.integers(-1, 5), st.sampled_from(CLOCK))

lead_spec = st.fixed_dictionaries({
    "store": st.integers(0, 1),
    "first": st.tuples(st.integers(0, 6), st.sampled_from(CLOCK)),
    "phone": st.booleans(),
    "source": st.sampled_from(Source.values),
    "who": st.integers(0, 2),
    "channel": st.booleans(),
    "series": st.booleans(),
    "status": st.sampled_from(["active", "active", "won", "won", "merged", "defeat_pending"]),
    "quantity": st.sampled_from([None, 1, 1, 3, 5]),  # the deal's (none: no deal); a lead not won may have one
    "changes": st.lists(st.tuples(when, st.sampled_from(GRADES)), max_size=5),
    # The current grade: the last change's (as the services keep it), another, or none.
    "grade": st.sampled_from(["last", "last", "last", *GRADES, None]),
    # grade_since: the last change's time (as the services keep it), none, or any time.
    "since": st.one_of(st.sampled_from(["last", "last", None]), when),
    "follow_up": st.one_of(st.none(), when),
    "revisits": st.lists(when, max_size=3),
})


def _write_history(org, specs: list[dict], tz, series) -> None:
    stores = [org.store, org.store2]
    people = [org.consultant, org.consultant2, None]
    channel = Channel.objects.order_by("pk").first()
    for i, spec in enumerate(specs):
        first_day = BASE + timedelta(days=spec["first"][0])

        def moment(offset_clock, first_day=first_day):
            offset, clock = offset_clock
            return _at(first_day + timedelta(days=offset), clock, tz)

        changes = sorted((moment(at), grade) for at, grade in spec["changes"])
        grade = changes[-1][1] if spec["grade"] == "last" and changes else spec["grade"]
        grade = None if grade == "last" else grade
        since = spec["since"]
        since = (changes[-1][0] if changes else None) if since == "last" else since and moment(since)
        first = _at(first_day, spec["first"][1], tz)
        _lead(org, store=stores[spec["store"]], first=first, phone=f"+86138{i:08d}" if spec["phone"] else "",
              status=spec["status"], grade=grade, since=since, changes=changes, quantity=spec["quantity"],
              follow_up=spec["follow_up"] and moment(spec["follow_up"]), who=people[spec["who"]],
              revisits=[moment(at) for at in spec["revisits"]], source=spec["source"],
              channel=channel if spec["channel"] else None, series=series if spec["series"] else None)
        first_local = first.astimezone(tz).date()
        if since and since.astimezone(tz).date() > first_local:
            event("regraded after its first-visit day")
            if len({at.astimezone(tz).date() for at, _g in changes}) < len(changes):
                event("several changes on one local day")
        if spec["status"] == "won" and (spec["quantity"] or 0) > 1:
            event("won fleet deal")


@pytest.mark.django_db
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(specs=st.lists(lead_spec, min_size=1, max_size=12),
       tz=st.sampled_from(["Asia/Shanghai", "Asia/Shanghai", "UTC", "America/New_York"]))
def test_random_histories_count_the_same_rows_set_based_as_in_python(org, specs, tz):
    zone = ZoneInfo(tz)
    with timezone.override(zone), transaction.atomic():
        savepoint = transaction.savepoint_create()
        _write_history(org, specs, zone, VehicleSeriesFactory())
        stores = [org.store.pk, org.store2.pk]
        days = [BASE + timedelta(days=d) for d in range(-3, 16)]  # every day the histories can reach, and more
        for kind in (COHORT, REVISITS):
            python, set_based = _both(kind, stores, days)
            assert set_based == python, (kind, specs, tz)
            # The rebuild's scopes: every day of these stores, every store.
            assert _scoped(kind, stores) == python == _scoped(kind, None), (kind, specs, tz)
            # A batch of a few scattered days, as a drain takes them.
            some = days[::3]
            python, set_based = _both(kind, stores[:1], some)
            assert set_based == python, (kind, specs, tz)
        transaction.savepoint_rollback(savepoint)


# --- the drain's and the rebuild's statements --------------------------------------------------------------------


def _inserts(queries, model) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith(f'INSERT INTO "{model._meta.db_table}"')]


@pytest.mark.django_db
def test_a_drain_batch_is_one_insert_select_per_kind_whatever_its_stores_and_days(cohort):
    assert set(RollupMark.objects.values_list("store_id", flat=True)) == {cohort.org.store.pk, cohort.org.store2.pk}
    with CaptureQueriesContext(connection) as queries:
        recounted = rollups.drain()
    assert recounted > 10 and not RollupMark.objects.exists()
    for model in (CohortDay, RevisitDay, FollowUpDay, LadderDay):
        inserts = _inserts(queries.captured_queries, model)
        # An INSERT … SELECT, not rows written from Python (VALUES (…)); the ladder's SELECT unpivots with a VALUES
        # list of its own.
        assert len(inserts) == 1 and "SELECT" in inserts[0], model
        assert inserts[0].split("SELECT")[0].count("VALUES") == 0, model
    # No lead, visit, follow-up or grade change was read into Python.
    assert not [q for q in queries.captured_queries
                if q["sql"].startswith(('SELECT "leads_lead"', 'SELECT "leads_visit"', 'SELECT "leads_followup"',
                                        'SELECT "leads_gradechange"'))]
    s = Slice(user=cohort.org.manager, start=date(2026, 9, 1), end=date(2026, 11, 30))
    assert funnel_metrics(s) == funnel_metrics(s, live=True)


def _stored() -> dict:
    return {model: Counter(model.objects.values_list(*columns))
            for model, columns in ((CohortDay, rollups.COHORT_ROW), (RevisitDay, rollups.REVISIT_ROW))}


@pytest.mark.django_db
def test_the_set_based_rebuild_writes_what_the_python_path_writes(cohort, monkeypatch):
    # The two kinds compared here (the ladder's and the follow-ups' set-based rows have their own tests).
    monkeypatch.setattr(rollups, "KINDS", {kind: rollups.KINDS[kind] for kind in (COHORT, REVISITS)})
    with CaptureQueriesContext(connection) as queries:
        days = rollups.rebuild()
    assert days > 0 and not RollupMark.objects.filter(kind__in=(COHORT, REVISITS)).exists()
    set_based = _stored()
    assert set_based[CohortDay] and set_based[RevisitDay]
    for model in (CohortDay, RevisitDay):
        assert len(_inserts(queries.captured_queries, model)) == 1, model
    # A handful of statements, however many store-days: lock, mark (2), lock, delete the marks, delete and insert
    # (2 × 2), the month tables looked up (1) and their rows summed again (2 × 2), and the transactions'
    # savepoints … and the tables analysed.
    assert len(queries.captured_queries) <= 24
    monkeypatch.setattr(rollups, "SET_BASED", False)  # as SQLite recounts: marks, then the drain in Python
    assert rollups.rebuild() == days
    assert _stored() == set_based and not RollupMark.objects.filter(kind__in=(COHORT, REVISITS)).exists()


@pytest.mark.django_db
def test_a_rebuild_of_one_store_leaves_the_others_rows_and_marks(cohort):
    org = cohort.org
    rollups.drain()
    RollupMark.objects.create(store_id=org.store.pk, day=date(2026, 10, 3), kind=COHORT)
    CohortDay.objects.update(n=F("n") + 7)
    RevisitDay.objects.all().delete()
    stale = Counter(CohortDay.objects.filter(store=org.store).values_list(*rollups.COHORT_ROW))
    rollups.rebuild(store_ids=[org.store2.pk])
    # store2 recounted: its one lead, no re-visits; the other store untouched (its stale rows, its mark).
    assert list(CohortDay.objects.filter(store=org.store2).values_list("n", flat=True)) == [1]
    assert Counter(CohortDay.objects.filter(store=org.store).values_list(*rollups.COHORT_ROW)) == stale
    assert RollupMark.objects.filter(store_id=org.store.pk).count() == 1
    assert not RollupMark.objects.filter(store_id=org.store2.pk).exists()
    rollups.rebuild(store_ids=[org.store.pk])
    s = Slice(user=org.admin, start=date(2026, 9, 1), end=date(2026, 11, 30))
    assert funnel_metrics(s) == funnel_metrics(s, live=True)
    assert not RollupMark.objects.exists()



@pytest.mark.django_db
@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York"])
def test_the_follow_ups_set_based_rows_are_the_python_rows(cohort, tz):
    # The cohort's follow-ups, one of them rejected by the manager's review, one on a merged lead (left out), counted
    # both ways for every day they can fall on, in a zone where local and UTC days differ.
    from leads.models import FollowUp, ReviewStatus

    FollowUp.objects.filter(pk=FollowUp.objects.order_by("pk").values("pk")[:1]).update(
        review_status=ReviewStatus.REJECTED)
    assert FollowUp.objects.filter(review_status=ReviewStatus.REJECTED).exists()
    with timezone.override(ZoneInfo(tz)):
        days = [date(2026, 9, 1) + timedelta(days=d) for d in range(120)]
        for store in (cohort.org.store.pk, cohort.org.store2.pk):
            python = Counter(rollups.KINDS["f"].rows(store, days))
            assert python or store == cohort.org.store2.pk
            assert Counter(rollups.select_rows("f", [(store, day) for day in days])) == python
            assert sum(row[-1] for row in python) == (1 if store == cohort.org.store.pk else 0)


# --- the ladder's rows, set-based ---------------------------------------------------------------------------------

# Grade histories written straight to the table in any order (changes at one instant keep their insertion order as
# their id order), reaching back and forth over local and UTC midnight, with A reached, lost and reached again.
ladder_change = st.tuples(st.integers(0, 9), st.sampled_from(CLOCK), st.sampled_from("EEDDCCBBA"))
ladder_lead = st.fixed_dictionaries({
    "store": st.integers(0, 1),
    "who": st.integers(0, 2),
    "status": st.sampled_from(["active", "active", "won", "merged", "defeated"]),
    "changes": st.lists(ladder_change, max_size=10),
})


def _write_ladder(org, specs: list[dict], tz) -> None:
    stores, people = [org.store, org.store2], [org.consultant, org.consultant2, None]
    for spec in specs:
        changes = [(_at(BASE + timedelta(days=offset), clock, tz), grade) for offset, clock, grade in spec["changes"]]
        _lead(org, store=stores[spec["store"]], first=_at(BASE, time(9), tz), status=spec["status"],
              who=people[spec["who"]], changes=changes,
              grade=max(changes)[1] if changes else None, since=max(changes)[0] if changes else None)
        if len({at for at, _g in changes}) < len(changes):
            event("changes at one instant")
        if any(g == "A" for _at_, g in changes):
            event("reached A")


def _ladder_both(stores: list[int], days: list[date]) -> tuple[Counter, Counter]:
    python = Counter(row for store_id in stores for row in rollups_ladder.ladder_rows(store_id, days))
    return python, Counter(rollups.select_rows(LADDER, [(s, d) for s in stores for d in days]))


@pytest.mark.django_db
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(specs=st.lists(ladder_lead, min_size=1, max_size=10),
       tz=st.sampled_from(["Asia/Shanghai", "Asia/Shanghai", "UTC", "America/New_York"]))
def test_random_grade_histories_count_the_same_ladder_rows_set_based_as_lead_rows(org, specs, tz):
    zone = ZoneInfo(tz)
    with timezone.override(zone), transaction.atomic():
        savepoint = transaction.savepoint_create()
        _write_ladder(org, specs, zone)
        stores = [org.store.pk, org.store2.pk]
        days = [BASE + timedelta(days=d) for d in range(-2, 12)]
        python, set_based = _ladder_both(stores, days)
        assert set_based == python, (specs, tz)
        assert _scoped(LADDER, stores) == python == _scoped(LADDER, None), (specs, tz)
        for some in (days[::3], days[5:9], [days[-3]]):  # a drain's scattered batches
            python, set_based = _ladder_both(stores[:1], some)
            assert set_based == python, (specs, tz, some)
        transaction.savepoint_rollback(savepoint)


@pytest.mark.django_db
def test_the_ladder_rows_of_a_worked_history_by_hand(org):
    # E, D and C on the 14th (C at the same instant as D, written after it: D's spell is the one between), E again on
    # the 15th, D and A on the 17th.
    d14, d15, d17 = date(2026, 10, 14), date(2026, 10, 15), date(2026, 10, 17)
    _lead(org, first=_at(d14, time(9)), who=org.consultant, grade="A", since=_at(d17, time(11)),
          changes=[(_at(d14, time(9)), "E"), (_at(d14, time(10)), "D"), (_at(d14, time(10)), "C"),
                   (_at(d15, time(9)), "E"), (_at(d17, time(10)), "D"), (_at(d17, time(11)), "A")])
    store, c1 = org.store.pk, org.consultant.pk
    expected = Counter([
        # store, day, prev_day, reach_day, consultant, grade, opened, closed, promoted, reached, reach_closed
        (store, d14, None, None, c1, "E", 1, 1, 1, 0, 0),  # the first E spell, promoted to D
        (store, d14, None, d17, c1, "E", 0, 0, 0, 0, 1),  # … that reached A on the 17th
        (store, d17, None, None, c1, "E", 0, 1, 0, 1, 0),  # that reach; the second E spell's end
        (store, d15, d14, None, c1, "E", 1, 0, 0, 0, 0),  # the second E spell: the previous one ended on the 14th
        (store, d17, d14, None, c1, "E", 0, 0, 1, 1, 0),  # its promotion (the previous one on the 14th), its reach
        (store, d17, None, d17, c1, "E", 0, 0, 0, 0, 1),
        (store, d14, None, None, c1, "D", 1, 1, 1, 0, 0),  # D for no time at all, promoted to C
        (store, d17, d14, None, c1, "D", 1, 0, 0, 0, 0),  # D again on the 17th …
        (store, d17, None, None, c1, "D", 0, 1, 0, 0, 0),  # … left for A (not the next grade up)
        (store, d14, None, None, c1, "C", 1, 0, 0, 0, 0),
        (store, d15, None, None, c1, "C", 0, 1, 0, 0, 0),
    ])
    python, set_based = _ladder_both([store], [d14, d15, d17])
    assert python == expected == set_based
