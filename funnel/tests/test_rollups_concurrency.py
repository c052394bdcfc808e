"""The rollups under concurrent writes on real PostgreSQL: writers of one store-day (today's, the hot one) never
wait for each other, and a drain or a rebuild running while a writer is in flight leaves that writer's mark for the
next drain, so the answer stays exact; while a rebuild recounts, readers count its days live."""

import threading
import time
from datetime import date

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from funnel import rollups
from funnel.models import CohortDay, CohortMonth, RevisitDay, RevisitMonth, RollupMark
from funnel.selectors import Slice, funnel_metrics
from leads import services
from leads.models import Lead

from .conftest import in_flight

pytestmark = pytest.mark.django_db(transaction=True)


def _walk_in(org, name, phone=""):
    return services.visit_log(actor=org.manager, store=org.store, name=name, source="walk_in", phone=phone,
                              assigned_to=org.consultant)


def test_a_writer_in_flight_does_not_block_another_writer_of_the_same_store_day(org):
    holding, release, done = threading.Event(), threading.Event(), []

    def slow_writer():
        try:
            with transaction.atomic():
                _walk_in(org, "慢客户")  # its mark is written, not committed
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    def second_writer():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")  # a wait on the first writer's rows would fail here
            started = time.monotonic()
            _walk_in(org, "快客户")
            done.append(time.monotonic() - started)
        finally:
            connection.close()

    first = threading.Thread(target=slow_writer)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=second_writer)
    second.start()
    second.join(15)
    release.set()
    first.join(15)
    assert len(done) == 1 and done[0] < 2


def test_a_drain_during_a_write_keeps_the_writers_mark(org):
    holding, release = threading.Event(), threading.Event()
    s = Slice(user=org.manager, start=rollups.timezone.localdate(), end=rollups.timezone.localdate())

    def writer():
        try:
            with transaction.atomic():
                _walk_in(org, "在途客户", phone="13900139001")
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    _walk_in(org, "先到客户")
    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    rollups.drain()  # sees the committed lead; the writer's mark is invisible, so it stays
    release.set()
    thread.join(15)
    assert RollupMark.objects.exists()
    assert funnel_metrics(s)["N"] == 2 == funnel_metrics(s, live=True)["N"]
    rollups.drain()
    assert not RollupMark.objects.exists() and funnel_metrics(s)["N"] == 2


def test_concurrent_writers_of_one_store_day_all_count(org):
    # Two threads, 15 walk-ins each, on today's store-day at once: every one is counted, drained or not.
    barrier = threading.Barrier(2)
    errors, seconds = [], []

    def burst(tag):
        try:
            barrier.wait()
            started = time.monotonic()
            for i in range(15):
                _walk_in(org, f"{tag}{i}")
            seconds.append(time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=burst, args=(tag,)) for tag in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    today = rollups.timezone.localdate()
    s = Slice(user=org.manager, start=today, end=today)
    assert funnel_metrics(s)["N"] == 30 == funnel_metrics(s, live=True)["N"]
    rollups.drain()
    assert funnel_metrics(s)["N"] == 30
    print(f"30 walk-ins on one store-day from two threads: {max(seconds):.2f} s")


def test_readers_count_live_while_a_rebuild_recounts(cohort, monkeypatch):
    org = cohort.org
    rollups.drain()
    s = Slice(user=org.manager, start=date(2026, 10, 1), end=date(2026, 10, 31))
    right = funnel_metrics(s, live=True)
    # Stale rows, as after a load with the triggers off: an unmarked day reads them.
    CohortDay.objects.update(n=F("n") + 5)
    RevisitDay.objects.all().delete()
    CohortMonth.objects.update(n=F("n") + 5)
    RevisitMonth.objects.all().delete()
    assert funnel_metrics(s) != right
    seen, replace = [], rollups._replace_set_based

    def read_meanwhile(*args, **kwargs):
        if not seen:  # the rebuild's recount is under way: its deletes and inserts are not committed yet

            def reader():
                try:
                    seen.append(funnel_metrics(s))
                finally:
                    connection.close()

            thread = threading.Thread(target=reader)
            thread.start()
            thread.join(30)
        return replace(*args, **kwargs)

    monkeypatch.setattr(rollups, "_replace_set_based", read_meanwhile)
    assert rollups.rebuild() > 0
    assert seen == [right]  # every day of the scope was marked, so counted live
    assert funnel_metrics(s) == right and not RollupMark.objects.exists()


def test_a_rebuild_during_a_write_keeps_the_writers_mark(org):
    holding, release = threading.Event(), threading.Event()
    today = rollups.timezone.localdate()
    s = Slice(user=org.manager, start=today, end=today)

    def writer():
        try:
            with transaction.atomic():
                _walk_in(org, "在途客户", phone="13900139002")
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    _walk_in(org, "先到客户")
    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    started = time.monotonic()
    rollups.rebuild()  # counts the committed lead; the writer's mark is invisible to it, so it stays
    assert time.monotonic() - started < 5  # it did not wait for the writer
    release.set()
    thread.join(15)
    assert RollupMark.objects.filter(store_id=org.store.pk, day=today, kind=rollups.COHORT).exists()
    assert funnel_metrics(s)["N"] == 2 == funnel_metrics(s, live=True)["N"]
    rollups.drain()
    assert not RollupMark.objects.exists() and funnel_metrics(s)["N"] == 2


def _vacuums(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the marks are vacuumed on PostgreSQL")
def test_a_drain_that_removed_marks_vacuums_their_table(org):
    """Under live use the marks come and go every few seconds and the table is analysed near empty; its index, not
    vacuumed, still holds every mark the drains removed, and a reader planned for an empty table walks them all
    (15,000 removed stay marks: 9 s for a store's time in stage; 20,000 rollup marks doubled a store's dashboard).
    Autovacuum comes minutes later, later still while its workers are busy with the large tables: so each drain
    that removed marks, even a few, vacuums their table (outside any transaction, as the beat runs it)."""
    from funnel import rollups, rollups_stays
    from funnel.models import RollupMark, StayMark

    rollups.drain()
    rollups_stays.drain()
    _walk_in(org, "Vacuum")
    assert RollupMark.objects.exists() and StayMark.objects.exists()  # the walk-in's writes marked both
    for drain, model in ((rollups.drain, RollupMark), (rollups_stays.drain, StayMark)):
        table = model._meta.db_table
        before = _vacuums(table)
        assert drain() > 0
        assert not model.objects.exists()
        assert _vacuums(table) == before + 1, table
        assert drain() == 0 and _vacuums(table) == before + 1  # nothing removed: nothing to vacuum


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the marks are vacuumed on PostgreSQL")
def test_a_long_drain_vacuums_its_marks_as_it_goes(org, monkeypatch):
    """The nightly jobs mark millions of store-days and leads; their drain runs for minutes, and the readers meanwhile
    probe a marks table full of removed marks (2.5M beside the reconciliation of a two-million-lead bench). A drain
    vacuums its marks table every ``TIDY_MARKS_EVERY`` removed marks as well as at its end."""
    from datetime import timedelta

    from dealercrm import bulk
    from funnel import rollups, rollups_stays
    from funnel.models import RollupMark, StayMark

    for n in range(6):
        _walk_in(org, f"Long drain {n}")
    rollups.drain()
    rollups_stays.drain()
    today = timezone.localdate()
    RollupMark.objects.bulk_create([RollupMark(store_id=org.store.pk, day=today - timedelta(days=n),
                                               kind=rollups.COHORT) for n in range(6)])
    StayMark.objects.bulk_create([StayMark(lead_id=pk) for pk in
                                  Lead.objects.filter(name__startswith="Long drain").values_list("pk", flat=True)])
    monkeypatch.setattr(bulk, "TIDY_MARKS_EVERY", 2)
    for drain, model in ((rollups.drain, RollupMark), (rollups_stays.drain, StayMark)):
        table = model._meta.db_table
        before = _vacuums(table)
        assert drain(batch=1) == 6 and not model.objects.exists()
        assert _vacuums(table) == before + 4, table  # after the 2nd, 4th and 6th mark, and at the end


# --- the stays: a reassignment sets the consultant on the lead's rows, drains and rebuilds hold the leads ----------


def _graded_lead(org):
    """A lead with stays (a grade set), its rows drained: held by ``org.consultant``."""
    from funnel import rollups_stays
    from leads.models import GradeChange

    lead = _walk_in(org, "改派客户", phone="13900139010").lead
    now = timezone.now()
    GradeChange.objects.create(lead=lead, from_grade=None, to_grade="B", changed_at=now)
    Lead.objects.filter(pk=lead.pk).update(grade="B", grade_since=now)
    rollups_stays.drain()
    return lead


def _consultants(lead) -> set:
    from funnel.models import Stay

    return set(Stay.objects.filter(lead_id=lead.pk).values_list("consultant_id", flat=True))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the stays are kept on PostgreSQL")
@pytest.mark.parametrize("rewrite", ["drain", "rebuild"])
def test_a_reassignment_while_the_stays_are_rewritten_gets_the_rewritten_rows(org, rewrite):
    """A drain (or a rebuild) deletes a lead's rows and writes them afresh with the consultant it reads. A
    reassignment committed meanwhile sets its consultant on the rows it can see; the rows about to be written are not
    among them, and it is not marked (its consultant alone changed). So the drain holds its leads while it rewrites
    them: the reassignment waits for it, then sets the consultant on the new rows. Without the hold the rows keep the
    old consultant for good (this test fails)."""
    from funnel import rollups_stays, stage_times
    from funnel.models import StayMark

    lead = _graded_lead(org)
    assert _consultants(lead) == {org.consultant.pk}
    StayMark.objects.create(lead_id=lead.pk)  # as a write of its grade would
    inside, errors = threading.Event(), []

    def pause_before_rows(execute, sql, params, many, context):
        if sql.lstrip().startswith("INSERT INTO funnel_stay ") and not inside.is_set():
            inside.set()
            time.sleep(1.5)  # the old rows deleted, the new ones not yet written: the reassignment comes now
        return execute(sql, params, many, context)

    def rewriter():
        try:
            with connection.execute_wrapper(pause_before_rows):
                if rewrite == "drain":
                    rollups_stays.drain()
                else:
                    rollups_stays.rebuild(store_ids=[org.store.pk])
        except Exception as error:  # noqa: BLE001 - any failure in the thread is reported below
            errors.append(error)
        finally:
            connection.close()

    def reassign():
        try:
            Lead.objects.filter(pk=lead.pk).update(assigned_to=org.consultant2)
        except Exception as error:  # noqa: BLE001 - any failure in the thread is reported below
            errors.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=rewriter)
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=reassign)
    second.start()
    first.join(15)
    second.join(15)
    assert not errors
    assert _consultants(lead) == {org.consultant2.pk}
    today = timezone.localdate()
    s = Slice(user=org.manager, start=today, end=today)
    assert stage_times.stage_times(s, group_by="consultant") == stage_times.stage_times(
        s, group_by="consultant", live=True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the stays are kept on PostgreSQL")
def test_a_drain_skips_a_lead_a_writer_holds_and_keeps_its_mark(org):
    """A drain does not wait for a writer: the lead a writer holds is skipped, its mark kept, and the next drain
    rebuilds it (with the consultant the writer committed)."""
    from funnel import rollups_stays
    from funnel.models import StayMark

    lead = _graded_lead(org)
    StayMark.objects.create(lead_id=lead.pk)
    _walk_in(org, "另一位客户", phone="13900139011")  # marked by its visit; not held by anyone
    thread, release = in_flight(lambda: Lead.objects.filter(pk=lead.pk).update(assigned_to=org.consultant2))
    started = time.monotonic()
    assert rollups_stays.drain() == 1  # the other lead only
    assert time.monotonic() - started < 5
    assert set(StayMark.objects.values_list("lead_id", flat=True)) == {lead.pk}
    release.set()
    thread.join(15)
    assert _consultants(lead) == {org.consultant2.pk}  # set by the writer's trigger on the rows it saw
    assert rollups_stays.drain() == 1 and not StayMark.objects.exists()
    assert _consultants(lead) == {org.consultant2.pk}
