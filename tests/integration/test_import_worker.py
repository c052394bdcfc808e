"""Imports and exports on a real prefork worker (``acks_late``, ``reject_on_worker_lost``), killed in the middle.

- Its pool child killed: the worker puts the message back, a fresh child continues; every row is written once.
- The whole worker killed: nothing puts the message back before the broker's visibility timeout, so the run goes
  silent; it reads ``stalled`` after IMPORT_STALL_SECONDS, is resumed (import) or retried (export) once (a second is a
  409) on a fresh worker, and the dead worker's message, redelivered later, writes nothing: each row exactly once, the
  counts right, the export file complete."""

import io
import time
from datetime import date

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count
from django.utils import timezone

from dealercrm.tests.clients import client_for
from leads.models import Lead, Visit
from reports.models import ImportBatch, ImportRow, ReportFile
from reports.services import exports
from reports.tests.test_imports import HEADER, xlsx

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]

ROWS = 120  # 12 batches of 10 on the slow worker, 0.2 s apart


def wait_for(check, what: str, timeout: float = 40):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def _status(batch_id: int) -> str:
    return ImportBatch.objects.filter(pk=batch_id).values_list("status", flat=True).get()


def _done(batch_id: int) -> int:
    return ImportRow.objects.filter(batch_id=batch_id, done=True).count()


def _upload_and_check(org, api) -> int:
    rows = [HEADER] + [[f"客户{i}", f"1390000{i:04d}", "2026-03-01", "", "", ""] for i in range(ROWS)]
    response = api.post("/api/v1/imports/", {"file": SimpleUploadedFile("big.xlsx", xlsx(rows)), "kind": "leads",
                                             "store": org.store.pk}, format="multipart")
    assert response.status_code == 201, response.content
    batch_id = response.json()["id"]
    wait_for(lambda: _status(batch_id) == "dry_run_ready", "the dry run on the worker")
    return batch_id


def _assert_every_row_once(org, batch_id: int) -> None:
    batch = ImportBatch.objects.get(pk=batch_id)
    assert (batch.status, batch.rows, batch.new, batch.done_rows, batch.refused) == ("done", ROWS, ROWS, ROWS, 0)
    per_phone = Lead.objects.filter(store=org.store).values("phone").annotate(n=Count("pk"))
    assert len(per_phone) == ROWS and {p["n"] for p in per_phone} == {1}  # one lead per phone...
    assert Visit.objects.filter(lead__store=org.store).count() == ROWS  # ... and one visit per row
    assert ImportRow.objects.filter(batch_id=batch_id, done=True).count() == ROWS


def _request_export(org) -> ReportFile:
    from reports.tasks import export_run_task

    file = exports.export_request(exports.EXPORTS["leads"], user=org.manager, stores=[org.store],
                                  start=date(2026, 1, 1), end=timezone.localdate())
    export_run_task.delay(file.pk)
    return file


def _file(file_id: int) -> ReportFile:
    return ReportFile.objects.get(pk=file_id)


def _assert_file_complete(org, file_id: int) -> None:
    file = _file(file_id)
    assert (file.status, file.rows, file.progress) == ("ready", ROWS, 100)
    book = openpyxl.load_workbook(io.BytesIO(bytes(file.content)))
    ids = [row[0] for row in book[book.sheetnames[1]].iter_rows(min_row=2, values_only=True)]
    assert sorted(ids) == sorted(Lead.objects.filter(store=org.store).values_list("pk", flat=True))  # each once


def test_a_killed_pool_child_is_replaced_and_the_run_continues_exactly_once(org, api_as, prefork_workers):
    worker = prefork_workers.start()
    api = api_as(org.manager)
    batch_id = _upload_and_check(org, api)
    assert api.post(f"/api/v1/imports/{batch_id}/commit/").status_code == 202
    wait_for(lambda: 30 <= _done(batch_id) < ROWS - 30, "the import half-way")
    prefork_workers.kill_child(worker)
    wait_for(lambda: _status(batch_id) == "done", "the redelivered import to finish")
    _assert_every_row_once(org, batch_id)

    file = _request_export(org)
    wait_for(lambda: 15 <= _file(file.pk).progress < 80, "the export half-way")
    prefork_workers.kill_child(worker)
    wait_for(lambda: _file(file.pk).status == "ready", "the redelivered export to finish")
    _assert_file_complete(org, file.pk)
    assert b"WorkerLostError" in worker.log.read_bytes()  # the child really died mid-task, twice
    assert worker.poll() is None


def test_a_killed_worker_leaves_stalled_runs_resumed_exactly_once(org, api_as, prefork_workers, settings):
    settings.IMPORT_STALL_SECONDS = 2
    api = api_as(org.manager)
    api.credentials(HTTP_ACCEPT_LANGUAGE="en")  # the import's messages are in its uploader's language
    first = prefork_workers.start()
    batch_id = _upload_and_check(org, api)
    assert api.post(f"/api/v1/imports/{batch_id}/commit/").status_code == 202
    wait_for(lambda: 30 <= _done(batch_id) < ROWS - 30, "the import half-way")
    prefork_workers.kill(first)
    went_in = _done(batch_id)
    # Silent now: stalled once IMPORT_STALL_SECONDS have passed, on the API and on the page (no sweep runs here).
    wait_for(lambda: api.get(f"/api/v1/imports/{batch_id}/").json()["status"] == "stalled", "the import stalled", 10)
    body = api.get(f"/api/v1/imports/{batch_id}/").json()
    assert body["done_rows"] == went_in < ROWS and f"{went_in} of {ROWS} rows went in" in body["error"]
    page = client_for(org.manager).get(f"/reports/imports/{batch_id}/").content.decode()
    assert "Resume the import" in page
    assert api.post(f"/api/v1/imports/{batch_id}/resume/").status_code == 202
    assert api.post(f"/api/v1/imports/{batch_id}/resume/").status_code == 409  # exactly once

    # A fresh worker; it also redelivers the dead worker's message (its visibility timeout is short here).
    second = prefork_workers.start(visibility_timeout=3)
    wait_for(lambda: _status(batch_id) == "done", "the resumed import to finish")
    wait_for(lambda: b"'skipped': 'not importing'" in second.log.read_bytes(), "the old message, redelivered")
    _assert_every_row_once(org, batch_id)

    file = _request_export(org)
    wait_for(lambda: 15 <= _file(file.pk).progress < 80, "the export half-way")
    prefork_workers.kill(second)
    wait_for(lambda: api.get(f"/api/v1/report-files/{file.pk}/").json()["status"] == "stalled", "the export stalled",
             10)
    part = client_for(org.manager).get(f"/reports/files/{file.pk}/status/").content.decode()
    assert f"/reports/files/{file.pk}/retry/" in part
    assert api.post(f"/api/v1/report-files/{file.pk}/retry/").status_code == 202
    assert api.post(f"/api/v1/report-files/{file.pk}/retry/").status_code == 409

    third = prefork_workers.start(visibility_timeout=3)
    wait_for(lambda: _file(file.pk).status == "ready", "the retried export to finish")
    wait_for(lambda: b"'skipped': 'not waiting'" in third.log.read_bytes(), "the old export message, redelivered")
    _assert_file_complete(org, file.pk)
    _assert_every_row_once(org, batch_id)  # and nothing moved meanwhile
