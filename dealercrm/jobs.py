"""Recording background job runs (``JobRun``): one row per run with its start, end, counts and, when it fails, the
error. The jobs themselves live in their apps (``leads.services.jobs``); they wrap their work in :func:`job_run`."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from .models import JobRun

logger = logging.getLogger(__name__)

#: The background jobs' labels on the /jobs/ page, by the name their runs record. Each app registers its own jobs'
#: in its AppConfig.ready() (register_job_label): this app does not know the apps built on it.
JOB_LABELS: dict[str, object] = {}


def register_job_label(name: str, label) -> None:
    JOB_LABELS[name] = label


# Stored as the run's error (English, like the other errors; the status is translated on the page).
ABANDONED_ERROR = "The worker running this job stopped without finishing it (no sign of life for {minutes} minutes)."


def heartbeat_timeout() -> timedelta:
    """How long a running run may go without a heartbeat before it counts as abandoned. Every committed batch beats,
    and a batch takes seconds; the default (10 minutes) is far above that and far below the broker's redelivery."""
    return timedelta(seconds=getattr(settings, "JOBS_HEARTBEAT_TIMEOUT", 600))


def close_abandoned_runs(*, job: str | None = None, now: datetime | None = None) -> list[int]:
    """Mark as ``abandoned`` every run (of ``job``, or of every job) still ``running`` whose last heartbeat (or start)
    is older than :func:`heartbeat_timeout`: its worker is gone (SIGKILL, out of memory, a restart) and nothing else
    will ever end it. Returns their ids. One UPDATE; the counts stay as its committed batches left them."""
    now = now or timezone.now()
    cutoff = now - heartbeat_timeout()
    dead = JobRun.objects.filter(status=JobRun.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
    if job is not None:
        dead = dead.filter(job=job)
    ids = list(dead.values_list("pk", flat=True))
    if ids:
        minutes = int(heartbeat_timeout().total_seconds() // 60)
        JobRun.objects.filter(pk__in=ids, status=JobRun.Status.RUNNING).update(
            status=JobRun.Status.ABANDONED, finished_at=now, error=ABANDONED_ERROR.format(minutes=minutes))
        logger.warning("job runs %s abandoned: no heartbeat since %s", ids, cutoff)
    return ids


def job_run_heartbeat(run: JobRun) -> None:
    """A sign of life from a run between batches (the batches' own count updates beat too)."""
    JobRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())


def tidy_tables(tables: list[str] | tuple[str, ...], *, changed: int) -> list[str]:
    """After a run that rewrote ``changed`` rows (at least ``JOBS_TIDY_MIN_ROWS``), ``VACUUM (ANALYZE)`` the tables it
    wrote, so the morning's pages are planned on fresh statistics and read index-only again: a first run over a
    backlog rewrites hundreds of thousands of rows, and until autovacuum comes round the planner works from the old
    counts (an emptied flag table still "empty", the visibility map cleared for every rewritten page). PostgreSQL only,
    and only outside a transaction (VACUUM cannot run in one: inside the tests' transactions it is skipped). Returns the
    tables tidied; a failure is logged, never raised (the run's work is committed and stands)."""
    if (not tables or changed < settings.JOBS_TIDY_MIN_ROWS or connection.vendor != "postgresql"
            or connection.in_atomic_block):
        return []
    done = []
    for table in tables:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
            done.append(table)
        except Exception:
            logger.exception("could not VACUUM (ANALYZE) %s", table)
    if done:
        logger.info("tidied %s after %s rows changed", ", ".join(done), changed)
    return done


@contextmanager
def job_run(job: str, *, task_id: str = "", tables: tuple[str, ...] = ()) -> Iterator[JobRun]:
    """Record one run of ``job``. The row is written (committed) at once with status ``running``; the body adds to
    ``run.flagged``, ``run.cleared`` and ``run.notified`` with :func:`job_run_count` inside each batch's transaction,
    so the counts commit with the rows they count, and each such update is the run's heartbeat. On exit the run is
    ``succeeded``; when the body raises, it is ``failed`` with the error text and the exception propagates (Celery
    then retries or records it). When the worker dies outright (SIGKILL: no exception, no exit) the heartbeat stops,
    and the next run of the job or the sweep (:func:`close_abandoned_runs`) marks the run ``abandoned``.

    Meant to run outside any transaction, so the run row and each batch commit on their own (inside one, as in the
    tests, each batch is a savepoint and everything commits or rolls back with the caller). ``tables`` are the tables
    the job writes: after a run that changed many rows they are vacuumed and analysed (:func:`tidy_tables`)."""
    # A run of this job whose worker died is closed first: it neither blocks nor is confused with this one.
    close_abandoned_runs(job=job)
    run = JobRun.objects.create(job=job, task_id=task_id or "", heartbeat_at=timezone.now())
    logger.info("job %s started (run %s)", job, run.pk)
    try:
        yield run
    except BaseException as exc:
        run.status = JobRun.Status.FAILED
        run.finished_at = timezone.now()
        run.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]
        try:
            # Only the outcome: the counts stay as the committed batches left them (see job_run_save).
            JobRun.objects.filter(pk=run.pk).update(status=run.status, finished_at=run.finished_at, error=run.error)
        except Exception:  # the job's own error matters more; the database may be what failed
            logger.exception("job %s: could not record the failure of run %s", job, run.pk)
        logger.warning("job %s failed (run %s): %s", job, run.pk, run.error)
        raise
    run.status = JobRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at", "flagged", "cleared", "notified"])
    logger.info("job %s succeeded (run %s): flagged %s, cleared %s, notified %s", job, run.pk, run.flagged,
                run.cleared, run.notified)
    tidy_tables(tables, changed=run.flagged + run.cleared + run.notified)


def job_run_save(run: JobRun) -> None:
    """Save the run's counts so far; call it inside a batch's transaction so they commit together with the batch."""
    JobRun.objects.filter(pk=run.pk).update(flagged=run.flagged, cleared=run.cleared, notified=run.notified,
                                            heartbeat_at=timezone.now())


def job_run_count(run: JobRun, counter: str, n: int) -> None:
    """Add ``n`` to the run's ``counter`` (``flagged``, ``cleared``, ``notified``), in memory and, as an increment,
    in the database: inside a batch's transaction the count commits with the rows it counts, in whatever order
    batches running side by side commit (a batch that rolls back takes its increment with it)."""
    setattr(run, counter, getattr(run, counter) + n)
    JobRun.objects.filter(pk=run.pk).update(**{counter: F(counter) + n}, heartbeat_at=timezone.now())



def job_summary(run: JobRun) -> dict:
    """A run's outcome as plain JSON values (a task's result, ``run_jobs``' output)."""
    return {
        "job": run.job,
        "run": run.pk,
        "status": run.status,
        "flagged": run.flagged,
        "cleared": run.cleared,
        "notified": run.notified,
        "seconds": round((run.finished_at - run.started_at).total_seconds(), 3) if run.finished_at else None,
    }
