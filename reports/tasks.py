"""Celery tasks of the reports app: thin wrappers over ``reports.services`` (ids in, never phones or file contents).
Without REDIS_URL they run in-process (eager), after the upload's transaction commits."""

import logging

from celery import shared_task
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from dealercrm.jobs import job_summary
from leads.tasks import RETRYING

from .models import ImportBatch
from .services import files, imports

logger = logging.getLogger(__name__)



def _fail(batch_id: int, exc: Exception) -> None:
    logger.exception("import %s failed", batch_id)
    ImportBatch.objects.filter(pk=batch_id).update(
        status=ImportBatch.Status.FAILED, error=_("The import stopped on an unexpected error; nothing more was "
                                                  "imported. Try again, or tell your administrator."))


def _language_of(batch_id: int):
    """The uploader's language, so that each refused row's reason reads in it."""
    language = ImportBatch.objects.filter(pk=batch_id).values_list("language", flat=True).first()
    return translation.override(language or settings.LANGUAGE_CODE)


@shared_task(bind=True, acks_late=True)
def import_parse_task(self, batch_id: int) -> dict:
    """Read an uploaded file and check every row (the dry run)."""
    try:
        with _language_of(batch_id):
            batch = imports.import_parse(batch_id)
    except Exception as exc:
        _fail(batch_id, exc)
        raise
    return {"id": batch.pk, "status": batch.status, "rows": batch.rows}


@shared_task(bind=True, acks_late=True, time_limit=60 * 60, soft_time_limit=55 * 60)
def import_commit_task(self, batch_id: int) -> dict:
    """Import the checked rows in self-standing batches (a redelivered task continues with the rows not done)."""
    try:
        with _language_of(batch_id):
            batch = imports.import_commit(batch_id)
    except Exception as exc:
        _fail(batch_id, exc)
        raise
    return {"id": batch.pk, "status": batch.status, "rows": batch.rows, "seconds": batch.seconds}


@shared_task(**RETRYING)
def prepare_monthly_packs(self) -> dict:
    """On the 1st: each store's monthly pack and each group's store comparison for the month that ended."""
    return job_summary(files.monthly_packs_prepare(task_id=self.request.id or ""))


@shared_task(bind=True, acks_late=True, time_limit=60 * 60, soft_time_limit=55 * 60)
def export_run_task(self, file_id: int) -> dict:
    """Write a large export (a ReportFile) in the background; the page polls its progress."""
    from .services import exports

    file = exports.export_run(file_id)
    return {"id": file.pk, "status": file.status, "rows": file.rows}
