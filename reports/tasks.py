"""Celery tasks of the reports app: thin wrappers over ``reports.services`` (ids in, never phones or file contents).
Without REDIS_URL they run in-process (eager), after the upload's transaction commits.

An import's or an export's message can be delivered twice (``acks_late``: Redis redelivers after a killed worker) and
a stalled run can be resumed while its old message is still about. So each task works only while it holds the run
(a PostgreSQL advisory lock on the run's id, released when its connection dies with its worker) and only in the
status it was sent for; any other delivery returns at once, writing nothing. Sending a task that cannot reach the
broker leaves no run in limbo: :func:`queue_or_fail` marks it failed with a message."""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from celery import shared_task
from django.conf import settings
from django.db import connections
from django.utils import translation
from django.utils.translation import gettext as _

from dealercrm.jobs import job_summary
from leads.tasks import RETRYING

from .models import ImportBatch, ReportFile
from .services import files, imports, stalls

logger = logging.getLogger(__name__)

# The advisory lock's first key: which kind of run the second key (its id) names.
LOCK_IMPORT, LOCK_EXPORT = 7301, 7302


def _queue_errors() -> tuple[type[BaseException], ...]:
    from kombu.exceptions import KombuError

    errors: list[type[BaseException]] = [KombuError, OSError]
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - the embedded default has no Redis client to fail
        pass
    else:
        errors.append(RedisError)
    return tuple(errors)


def queue_or_fail(send: Callable[[], object], on_failure: Callable[[], None]) -> bool:
    """Send a task (``send()``, e.g. ``lambda: task.delay(pk)``); when the broker cannot be reached (Redis stopped,
    a network cut: kombu's OperationalError, redis' ConnectionError), call ``on_failure()`` (which marks the run
    failed with a message) instead of raising. Returns whether the task was sent. Meant for ``on_commit``: the
    run's row is committed by then, so it must not be left waiting for a task that never comes."""
    try:
        send()
    except _queue_errors():
        logger.exception("could not queue a task: the broker is unreachable")
        on_failure()
        return False
    return True


@contextmanager
def _holding(key: int, pk: int) -> Iterator[bool]:
    """Whether this task holds the run ``pk`` (a session advisory lock; PostgreSQL ends it with a dead worker's
    connection). Elsewhere (SQLite, the embedded default: one process) always true. Behind a transaction pooler
    (``DB_POOLER``) the lock is taken on the ``direct`` connection to PostgreSQL: a pooled connection's session is
    another client's after each transaction, and the lock would stay with it."""
    connection = connections["direct" if "direct" in settings.DATABASES else "default"]
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [key, pk])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [key, pk])
            except Exception:  # a broken connection: the lock went with it
                logger.warning("could not release the lock of run %s/%s", key, pk, exc_info=True)


def _skipped(pk: int, why: str) -> dict:
    logger.info("run %s skipped: %s", pk, why)
    return {"id": pk, "skipped": why}



def _fail(batch_id: int, exc: Exception) -> None:
    logger.exception("import %s failed", batch_id)
    ImportBatch.objects.filter(pk=batch_id).update(
        status=ImportBatch.Status.FAILED, error=_("The import stopped on an unexpected error; nothing more was "
                                                  "imported. Try again, or tell your administrator."))


def _language_of(batch_id: int):
    """The uploader's language, so that each refused row's reason reads in it."""
    language = ImportBatch.objects.filter(pk=batch_id).values_list("language", flat=True).first()
    return translation.override(language or settings.LANGUAGE_CODE)


def _import_run(batch_id: int, status: str, work) -> ImportBatch | dict:
    """Run ``work(batch_id)`` in the uploader's language only while this task holds the import and it is in
    ``status``: a second delivery while it runs, or a late one after a resume, a cancel or the end, does nothing
    (the skip's summary is returned instead of the import). A failure marks the import failed and is raised."""
    with _holding(LOCK_IMPORT, batch_id) as held:
        if not held:
            return _skipped(batch_id, "running elsewhere")
        if not ImportBatch.objects.filter(pk=batch_id, status=status).exists():
            return _skipped(batch_id, f"not {status!s}")
        try:
            with _language_of(batch_id):
                return work(batch_id)
        except Exception as exc:
            _fail(batch_id, exc)
            raise


@shared_task(bind=True, acks_late=True)
def import_parse_task(self, batch_id: int) -> dict:
    """Read an uploaded file and check every row (the dry run); a delivery for an import that is not waiting to be
    read, or that another worker is reading, does nothing."""
    batch = _import_run(batch_id, ImportBatch.Status.PARSING, imports.import_parse)
    if isinstance(batch, dict):
        return batch
    return {"id": batch.pk, "status": batch.status, "rows": batch.rows}


@shared_task(bind=True, acks_late=True, time_limit=60 * 60, soft_time_limit=55 * 60)
def import_commit_task(self, batch_id: int) -> dict:
    """Import the checked rows in self-standing batches (a redelivered task continues with the rows not done). Only
    one commit of an import runs at a time, and only while it is ``importing``: a late redelivery after a resume, a
    cancel or the end does nothing, so no row is written twice."""
    batch = _import_run(batch_id, ImportBatch.Status.IMPORTING, imports.import_commit)
    if isinstance(batch, dict):
        return batch
    return {"id": batch.pk, "status": batch.status, "rows": batch.rows, "seconds": batch.seconds}


@shared_task(**RETRYING)
def prepare_monthly_packs(self) -> dict:
    """On the 1st: each store's monthly pack and each group's store comparison for the month that ended."""
    return job_summary(files.monthly_packs_prepare(task_id=self.request.id or ""))


@shared_task(bind=True, acks_late=True, time_limit=60 * 60, soft_time_limit=55 * 60)
def export_run_task(self, file_id: int) -> dict:
    """Write a large export (a ReportFile) in the background; the page polls its progress. A delivery for a file
    that is ready, failed or stalled (retry sends a new one), or that another worker is writing, does nothing."""
    from .services import exports

    with _holding(LOCK_EXPORT, file_id) as held:
        if not held:
            return _skipped(file_id, "running elsewhere")
        if not ReportFile.objects.filter(
                pk=file_id, status__in=[ReportFile.Status.PENDING, ReportFile.Status.RUNNING]).exists():
            return _skipped(file_id, "not waiting")
        file = exports.export_run(file_id)
    return {"id": file.pk, "status": file.status, "rows": file.rows}


@shared_task(**RETRYING)
def recover_stalled_runs(self) -> dict:
    """Mark stalled every import and export whose worker died (no sign of life for IMPORT_STALL_SECONDS), and read
    again, once, each file whose reading stalled (nothing was imported yet: reading starts over). A stalled commit or
    export waits for the user's resume or retry: the page says what went in."""
    stalled_imports = stalls.imports_close_stalled()
    stalled_files = stalls.files_close_stalled()
    again = []
    for batch in ImportBatch.objects.filter(pk__in=stalled_imports, committed_at__isnull=True, stalls=1):
        try:
            imports.import_resume(actor=None, batch=batch)
        except stalls.NotStalled:
            continue
        queue_or_fail(lambda pk=batch.pk: import_parse_task.delay(pk), lambda pk=batch.pk: stalls.import_queue_failed(pk))
        again.append(batch.pk)
    return {"imports": stalled_imports, "files": stalled_files, "read_again": again}
