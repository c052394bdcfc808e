"""Imports and background exports whose worker died: found by their heartbeat, marked ``stalled``, then resumed.

A worker killed outright (SIGKILL, out of memory, a container restart) records nothing, and Redis redelivers its task
only after the broker's visibility timeout (an hour). So every run beats: the dry run at each chunk it reads, the
commit at each batch it commits (``ImportBatch.heartbeat_at``), the export writer every ``PROGRESS_EVERY`` rows
(``ReportFile.heartbeat_at``). A run in ``parsing``, ``importing``, ``pending`` or ``running`` without a sign of life for
``IMPORT_STALL_SECONDS`` is marked ``stalled`` with a message saying what went in, by :func:`imports_close_stalled` and
:func:`files_close_stalled` (the sweep, ``reports.tasks.recover_stalled_runs``, every 5 minutes) and by the pages and
the API when they read a run (so a page is right even without beat). A stalled import is resumed (``import_resume``:
the commit continues with the rows not done) and a stalled export retried (``export_retry``), each exactly once."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..models import ImportBatch, ImportRow, ReportFile, RowAction
from .imports import _recount


class NotStalled(ValidationError):
    """Resume or retry of a run that is not stalled (any more): someone else resumed it first (API: 409)."""


def stall_timeout() -> timedelta:
    """How long a run may go without a heartbeat before it counts as stalled (``IMPORT_STALL_SECONDS``, default 5
    minutes): far above the seconds a batch or a chunk takes, far below the broker's hour."""
    return timedelta(seconds=getattr(settings, "IMPORT_STALL_SECONDS", 300))


def _minutes() -> int:
    return max(1, math.ceil(stall_timeout().total_seconds() / 60))


def _import_life():
    # The commit's start counts as a sign of life: a resumed or restarted commit is not stalled before its first batch.
    return Greatest(Coalesce("heartbeat_at", "created_at"), Coalesce("committed_at", "created_at"))


def import_stalled_message(batch: ImportBatch, done: int = 0) -> str:
    """What the stalled import's page says, in the uploader's language; ``done``: the rows that went in."""
    minutes = _minutes()
    with translation.override(batch.language or settings.LANGUAGE_CODE):
        if batch.status == ImportBatch.Status.IMPORTING:
            return ngettext(
                "The worker importing this file stopped (no sign of life for %(minutes)s minute): %(done)s of "
                "%(rows)s rows went in (marked as imported). Resume to import the others; none goes in twice.",
                "The worker importing this file stopped (no sign of life for %(minutes)s minutes): %(done)s of "
                "%(rows)s rows went in (marked as imported). Resume to import the others; none goes in twice.",
                minutes,
            ) % {"minutes": minutes, "done": done, "rows": batch.rows}
        return ngettext(
            "The worker reading this file stopped (no sign of life for %(minutes)s minute). Nothing was imported; "
            "resume to read it again.",
            "The worker reading this file stopped (no sign of life for %(minutes)s minutes). Nothing was imported; "
            "resume to read it again.", minutes,
        ) % {"minutes": minutes}


def imports_close_stalled(*, pk: int | None = None, now: datetime | None = None) -> list[int]:
    """Mark ``stalled`` every import (or the one ``pk``) still ``parsing`` or ``importing`` whose last sign of life is
    older than :func:`stall_timeout`. Returns their ids. Each is a conditional UPDATE on the status read, so a run that
    beats or finishes meanwhile is left alone; the rows and counts stay as the committed batches left them."""
    now = now or timezone.now()
    cutoff = now - stall_timeout()
    running = [ImportBatch.Status.PARSING, ImportBatch.Status.IMPORTING]
    found = ImportBatch.objects.filter(status__in=running).alias(life=_import_life()).filter(life__lt=cutoff)
    if pk is not None:
        found = found.filter(pk=pk)
    closed = []
    for batch in found.only("pk", "status", "language", "rows"):
        done = ImportRow.objects.filter(batch=batch, done=True).exclude(action=RowAction.REFUSED).count() \
            if batch.status == ImportBatch.Status.IMPORTING else 0
        changed = ImportBatch.objects.filter(pk=batch.pk, status=batch.status).alias(life=_import_life()).filter(
            life__lt=cutoff).update(status=ImportBatch.Status.STALLED, stalls=F("stalls") + 1,
                                    error=import_stalled_message(batch, done))
        if not changed:
            continue
        if batch.status == ImportBatch.Status.IMPORTING:
            # The counts as the committed batches left them (a commit counts at its end, and this one never ended).
            _recount(batch)
        closed.append(batch.pk)
    return closed


def import_refresh(batch: ImportBatch) -> ImportBatch:
    """``batch`` as a reader should see it: marked stalled first when its worker died (the on-read check)."""
    if batch.status in (ImportBatch.Status.PARSING, ImportBatch.Status.IMPORTING) and \
            imports_close_stalled(pk=batch.pk):
        batch.refresh_from_db()
    return batch


def files_close_stalled(*, pk: int | None = None, now: datetime | None = None) -> list[int]:
    """Mark ``stalled`` every background export (or the one ``pk``) still ``pending`` or ``running`` without a sign of
    life (its heartbeat, or its request) for :func:`stall_timeout`. Returns their ids."""
    now = now or timezone.now()
    cutoff = now - stall_timeout()
    running = [ReportFile.Status.PENDING, ReportFile.Status.RUNNING]
    found = ReportFile.objects.filter(status__in=running).alias(life=Coalesce("heartbeat_at", "created_at")).filter(
        life__lt=cutoff)
    if pk is not None:
        found = found.filter(pk=pk)
    closed = []
    for file in found.only("pk", "status", "language"):
        with translation.override(file.language or settings.LANGUAGE_CODE):
            message = ngettext(
                "The worker preparing this file stopped (no sign of life for %(minutes)s minute). Retry to prepare "
                "it again.",
                "The worker preparing this file stopped (no sign of life for %(minutes)s minutes). Retry to prepare "
                "it again.", _minutes()) % {"minutes": _minutes()}
        changed = ReportFile.objects.filter(pk=file.pk, status=file.status).alias(
            life=Coalesce("heartbeat_at", "created_at")).filter(life__lt=cutoff).update(
            status=ReportFile.Status.STALLED, error=message)
        if changed:
            closed.append(file.pk)
    return closed


def file_refresh(file: ReportFile) -> ReportFile:
    """``file`` as a reader should see it: marked stalled first when its worker died (the on-read check)."""
    if file.status in (ReportFile.Status.PENDING, ReportFile.Status.RUNNING) and files_close_stalled(pk=file.pk):
        file.refresh_from_db(fields=["status", "error"])
    return file


def not_stalled(status_display: str) -> NotStalled:
    return NotStalled({"status": [_("It is %(status)s now, not stalled: there is nothing to resume or retry (someone "
                                    "may have done it already).") % {"status": status_display}]})


def queue_unreachable_message() -> str:
    return _("The job queue is unreachable; try again in a minute.")


def import_queue_failed(batch_id: int) -> None:
    """The import's task could not be sent (the broker is down): it is ``failed`` with a message rather than left
    ``parsing`` or ``importing`` with nothing to run it. Reading again or committing again sends it again."""
    ImportBatch.objects.filter(pk=batch_id, status__in=[ImportBatch.Status.PARSING, ImportBatch.Status.IMPORTING]) \
        .update(status=ImportBatch.Status.FAILED, error=queue_unreachable_message())


def file_queue_failed(file_id: int) -> None:
    """The export's task could not be sent: the file is ``failed`` with a message (retry sends it again)."""
    ReportFile.objects.filter(pk=file_id, status=ReportFile.Status.PENDING).update(
        status=ReportFile.Status.FAILED, error=queue_unreachable_message())
