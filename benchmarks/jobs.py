"""bench_jobs: time each daily job (leads.services.jobs) over the seed_bench data set: first run over the backlog,
no-op re-run, and the next day's run.

The jobs change the data (flags, pool, history rows, notifications) and the funnel benchmarks read the same
database, so they run on a copy of it (``CREATE DATABASE … TEMPLATE``), dropped at the end: for real, each batch
its own committed transaction and ``JOBS_WORKERS`` connections side by side, as in production. ``floor`` times what
PostgreSQL alone needs for each job's change, as one statement in a transaction rolled back."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections
from django.db.models import F
from django.utils import timezone

from dealercrm.models import JobRun
from leads.models import Lead
from leads.services import jobs


@dataclass
class Result:
    job: str
    seconds: float
    run: JobRun


def _timed(name: str, batch_size: int, now=None) -> Result:
    runner: Callable[..., JobRun] = jobs.RUNNERS[name]
    kwargs = {} if name == jobs.JOB_DIGESTS else {"batch_size": batch_size}
    if now is not None:
        kwargs["now"] = now
    started = time.perf_counter()
    run = runner(**kwargs)
    return Result(name, time.perf_counter() - started, run)


def floor(*, out: Callable[[str], None]) -> None:
    """The floor: what each job's changes cost PostgreSQL alone, as ONE set-based statement with the job's own
    condition (no batches, no history rows, no run record, one connection), on a copy of the database of its own:
    the overdue and stale flags as one ``INSERT … SELECT`` each, the reclaim as one ``UPDATE`` of the leads."""
    from leads.models import OverdueFlag, StaleFlag

    with _on_a_copy():
        now = timezone.now()
        started = time.perf_counter()
        n = len(jobs._raise_flags(OverdueFlag, jobs.overdue_leads(now), jobs.OVERDUE_COLUMNS))
        out(f"  floor: overdue as one INSERT … SELECT  {time.perf_counter() - started:7.2f} s   {n:,} rows")
        started = time.perf_counter()
        stale, columns, _no_longer = jobs.stale_rules(now)
        n = len(jobs._raise_flags(StaleFlag, stale, columns))
        out(f"  floor: stale as one INSERT … SELECT    {time.perf_counter() - started:7.2f} s   {n:,} rows")
        started = time.perf_counter()
        n = jobs.reclaim_candidates(now).update(assigned_to=None, pooled_at=now, updated_at=now,
                                                version=F("version") + 1)
        out(f"  floor: reclaim as one UPDATE           {time.perf_counter() - started:7.2f} s   {n:,} rows")


def copy_room() -> tuple[int, int | None]:
    """(the bench database's size, the bytes free where PostgreSQL keeps its files, or None when that directory is
    not on this machine or not readable): whether ``_on_a_copy`` has room. A ten-million-lead bench (about 55 GB)
    rarely has room for a second copy of itself beside it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        size = cursor.fetchone()[0]
        # No row unless the role may read it (superusers, pg_read_all_settings): the room is then unknown.
        cursor.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
        row = cursor.fetchone()
    if row is None:
        return size, None
    try:
        return size, shutil.disk_usage(row[0]).free
    except OSError:
        return size, None


def no_room_for_a_copy() -> str | None:
    """Why ``_on_a_copy`` cannot copy the bench database (the copy, and room for its own rows and WAL), or None."""
    size, free = copy_room()
    if free is not None and free < size * 1.2:
        return (f"No room for a copy of the bench database: it takes {size / 2**30:.1f} GB and {free / 2**30:.1f} GB "
                "are free.")
    return None


@contextmanager
def _on_a_copy() -> Iterator[float]:
    """Run the body on a copy of the bench database (``CREATE DATABASE … TEMPLATE``: a file copy, the visibility map
    and statistics included), with every Django connection, in every thread, pointed at it; drop it afterwards.
    Yields the seconds the copy took."""
    import psycopg
    from psycopg import sql

    if reason := no_room_for_a_copy():
        raise RuntimeError(reason)
    params = connection.settings_dict
    source = params["NAME"]
    copy = f"{source}_jobs_run"
    settings_keys = {"host": "HOST", "port": "PORT", "user": "USER", "password": "PASSWORD"}
    maintenance = {key: params[name] for key, name in settings_keys.items() if params.get(name)}
    maintenance.update(dbname="postgres", autocommit=True)
    connections.close_all()
    started = time.perf_counter()
    with psycopg.connect(**maintenance) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(copy)))
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(copy), sql.Identifier(source)))
    seconds = time.perf_counter() - started
    params["NAME"] = copy  # the settings dict every connection of this alias is made from
    try:
        yield seconds
    finally:
        connections.close_all()
        params["NAME"] = source
        with psycopg.connect(**maintenance) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(copy)))


def bench(*, out: Callable[[str], None], batch_size: int = jobs.BATCH_SIZE, only: list[str] | None = None,
          workers: int | None = None) -> list[tuple[Result, Result, Result]]:
    """Each job's first run over the backlog, then its re-run, then a run as of the next day, for real (each batch
    commits, as in production) on a copy of the bench database that is dropped at the end."""
    names = [name for name in jobs.JOBS if not only or name in only]
    workers = workers or settings.JOBS_WORKERS
    out(f"{Lead.objects.count():,} leads; batch size {batch_size:,}; {workers} worker(s); jobs: {', '.join(names)}")
    pairs: list = []
    previous = settings.JOBS_WORKERS
    settings.JOBS_WORKERS = workers
    try:
        with _on_a_copy() as copied:
            out(f"Running on a copy of the database (CREATE DATABASE … TEMPLATE: {copied:.1f} s), dropped at the end.")
            firsts = []
            for name in names:
                first = _timed(name, batch_size)
                firsts.append(first)
                out(f"  {name:26} first run  {first.seconds:7.2f} s   flagged {first.run.flagged:>8,}  "
                    f"cleared {first.run.cleared:>7,}  notified {first.run.notified:>5,}")
            for first in firsts:
                again = _timed(first.job, batch_size)
                pairs.append((first, again))
                out(f"  {first.job:26} re-run     {again.seconds:7.2f} s   flagged {again.run.flagged:>8,}  "
                    f"cleared {again.run.cleared:>7,}  notified {again.run.notified:>5,}")
            # The nightly run: once the backlog is flagged, a day later only the leads that crossed a threshold in
            # that day change (and the digests are new for the day).
            tomorrow = timezone.now() + timedelta(days=1)
            for i, first in enumerate(firsts):
                nightly = _timed(first.job, batch_size, now=tomorrow)
                pairs[i] = (*pairs[i], nightly)
                out(f"  {first.job:26} next day   {nightly.seconds:7.2f} s   flagged {nightly.run.flagged:>8,}  "
                    f"cleared {nightly.run.cleared:>7,}  notified {nightly.run.notified:>5,}")
    finally:
        settings.JOBS_WORKERS = previous
    out("")
    out("| job | first run (backlog) | flagged | cleared | notified | re-run (no-op) | next day | flagged |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|")
    for first, again, nightly in pairs:
        out(f"| {first.job} | {first.seconds:.1f} s | {first.run.flagged:,} | {first.run.cleared:,} | "
            f"{first.run.notified:,} | {again.seconds:.2f} s | {nightly.seconds:.2f} s | {nightly.run.flagged:,} |")
    return pairs
