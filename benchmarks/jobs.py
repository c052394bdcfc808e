"""bench_jobs: time each daily job (leads.services.jobs) over the seed_bench data set, first run and re-run.

The jobs change the data (flags, pool, history rows, notifications), and the funnel benchmarks read the same
database, so every run happens inside ONE transaction that is rolled back at the end: grades, assignments and flags
are exactly as before. Inside it each job's batches are savepoints rather than commits (a commit per 5,000 leads costs
a WAL flush, a few milliseconds: noise at this scale). A rollback leaves dead row versions and clears the visibility
map of every page it touched, which would slow the funnel's index-only scans, so the touched tables are vacuumed
afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from dealercrm.models import JobRun
from leads.models import Lead
from leads.services import jobs

VACUUM = ["leads_lead", "leads_staleflag", "leads_overdueflag", "leads_flagevent", "leads_assignmentchange", "dealercrm_notification", "dealercrm_jobrun"]


@dataclass
class Result:
    job: str
    seconds: float
    run: JobRun


class _Rollback(Exception):
    pass


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
    condition (no batches, no history rows, no run record), inside a transaction rolled back: the overdue and stale
    flags as one ``INSERT … SELECT`` each, the reclaim as one ``UPDATE`` of the leads."""
    from leads.models import OverdueFlag, StaleFlag

    now = timezone.now()
    try:
        with transaction.atomic():
            started = time.perf_counter()
            n = len(jobs._raise_flags(OverdueFlag, jobs.overdue_unflagged(now), jobs.OVERDUE_COLUMNS))
            out(f"  floor: overdue as one INSERT … SELECT  {time.perf_counter() - started:7.2f} s   {n:,} rows")
            started = time.perf_counter()
            stale, columns, _no_longer = jobs.stale_rules(now)
            n = len(jobs._raise_flags(StaleFlag, stale, columns))
            out(f"  floor: stale as one INSERT … SELECT    {time.perf_counter() - started:7.2f} s   {n:,} rows")
            started = time.perf_counter()
            n = jobs.reclaim_candidates(now).update(assigned_to=None, pooled_at=now, updated_at=now,
                                                    version=F("version") + 1)
            out(f"  floor: reclaim as one UPDATE           {time.perf_counter() - started:7.2f} s   {n:,} rows")
            raise _Rollback
    except _Rollback:
        pass


def bench(*, out: Callable[[str], None], batch_size: int = jobs.BATCH_SIZE, only: list[str] | None = None,
          vacuum: bool = True) -> list[tuple[Result, Result, Result]]:
    names = [name for name in jobs.JOBS if not only or name in only]
    out(f"{Lead.objects.count():,} leads; batch size {batch_size:,}; jobs: {', '.join(names)}")
    out("Everything below runs in one transaction, rolled back at the end.")
    pairs: list = []
    try:
        with transaction.atomic():
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
            raise _Rollback
    except _Rollback:
        out("Rolled back: the bench data is as it was.")
    if vacuum:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for table in VACUUM:
                cursor.execute(f'VACUUM (ANALYZE) "{table}"')
        out(f"VACUUM (ANALYZE) of {', '.join(VACUUM)}: {time.perf_counter() - started:.1f} s")
    out("")
    out("| job | first run (backlog) | flagged | cleared | notified | re-run (no-op) | next day | flagged |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|")
    for first, again, nightly in pairs:
        out(f"| {first.job} | {first.seconds:.1f} s | {first.run.flagged:,} | {first.run.cleared:,} | "
            f"{first.run.notified:,} | {again.seconds:.2f} s | {nightly.seconds:.2f} s | {nightly.run.flagged:,} |")
    return pairs
