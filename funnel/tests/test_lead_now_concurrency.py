"""The state-now counts (funnel.lead_now) and the defeats' rollup (funnel.rollups_defeats) under concurrent writes on
real PostgreSQL: two writers of one store and consultant never wait for each other (the counts are appended, no
unique key), and a compaction or a drain running while a writer is in flight leaves that writer's rows, so the
answer stays exact once it commits."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from defeats import services as defeat_services
from defeats.selectors import Period
from defeats.selectors import funnel_figures as live_defeat_figures
from funnel import lead_now, rollups, rollups_defeats
from funnel.selectors import Slice, state_now
from leads import services

from .conftest import in_flight

pytestmark = pytest.mark.django_db(transaction=True)


def _walk_in(org, name, phone, grade="C"):
    return services.visit_log(actor=org.manager, store=org.store, name=name, source="walk_in", phone=phone,
                              grade=grade, assigned_to=org.consultant)


def test_a_writer_in_flight_does_not_block_another_of_the_same_consultant(org):
    thread, release = in_flight(lambda: _walk_in(org, "慢客户", "13900139011"))
    done = []

    def second_writer():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")  # a wait on the first writer's rows would fail here
            started = time.monotonic()
            _walk_in(org, "快客户", "13900139012")
            done.append(time.monotonic() - started)
        finally:
            connection.close()

    second = threading.Thread(target=second_writer)
    second.start()
    second.join(15)
    release.set()
    thread.join(15)
    assert len(done) == 1 and done[0] < 2
    s = Slice(user=org.manager, start=timezone.localdate(), end=timezone.localdate())
    now = timezone.now()
    assert state_now(s, now=now) == state_now(s, now=now, live=True)
    assert state_now(s, now=now)[org.consultant.pk]["C"] == 2


def test_a_compaction_during_a_write_keeps_the_writers_rows(org):
    _walk_in(org, "先到客户", "13900139021")
    thread, release = in_flight(lambda: _walk_in(org, "在途客户", "13900139022"))
    later = timezone.now() + timedelta(days=400)  # every row past its threshold: all of them fold
    lead_now.compact(now=later, full=True)  # sees the committed lead only; the writer's rows are invisible
    release.set()
    thread.join(15)
    s = Slice(user=org.manager, start=timezone.localdate(), end=timezone.localdate())
    counts = state_now(s, now=later)
    assert counts == state_now(s, now=later, live=True)
    assert (counts[org.consultant.pk]["active"], counts[org.consultant.pk]["stale"]) == (2, 2)


def test_a_drain_during_a_filing_keeps_its_marks(org):
    lead = _walk_in(org, "战败客户", "13900139031").lead
    thread, release = in_flight(lambda: defeat_services.application_file(
        actor=org.manager, lead=lead, kind="defeat", reasons=["lost_contact"]))
    rollups.drain()  # the filing's marks are invisible to it: they stay for the next drain
    release.set()
    thread.join(15)
    today = timezone.localdate()
    period = Period(today, today)
    kept = rollups_defeats.defeat_figures(user=org.manager, period=period)
    assert kept == live_defeat_figures(user=org.manager, period=period)
    assert kept["total"]["defeats"] == 1
