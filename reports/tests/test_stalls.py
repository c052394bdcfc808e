"""A killed worker never leaves an import or an export in limbo: a run without a heartbeat reads stalled (on the page,
in the API, after the sweep), is resumed or retried exactly once, and a late delivery of its old task writes nothing.
(The real killed worker: tests/integration/test_import_worker.py.)"""

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from dealercrm.tests.clients import client_for
from leads.models import Lead, Visit
from leads.tests.factories import FollowUpFactory, LeadFactory
from reports import tasks
from reports.models import ImportBatch, ImportRow, ReportFile
from reports.services import exports, imports, stalls

from .test_imports import HEADER, upload, xlsx

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(minutes=30)


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"
    settings.IMPORT_STALL_SECONDS = 300
    from django.utils import translation

    with translation.override("en"):
        yield


def _checked(org, api, capture, n=5):
    rows = [HEADER] + [[f"客户{i}", f"138000002{i:02d}", "2026-03-01", "", "", ""] for i in range(n)]
    with capture(execute=True):
        batch_id = upload(api, xlsx(rows), store=org.store.pk).json()["id"]
    return ImportBatch.objects.get(pk=batch_id)


def _killed_after_one_batch(org, batch, monkeypatch):
    """What a worker killed after its first committed batch leaves: importing, two rows done, then silence."""
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    imports.import_start_commit(actor=org.manager, batch=batch)
    pks = list(ImportRow.objects.filter(batch=batch).order_by("number").values_list("pk", flat=True)[:2])
    lk = {"users": {}, "series": {}, "channels": {}}
    imports._commit_batch(batch, pks, org.manager, org.store, lk)
    ImportBatch.objects.filter(pk=batch.pk).update(heartbeat_at=timezone.now() - LONG_AGO,
                                                   committed_at=timezone.now() - LONG_AGO)


def test_a_silent_import_reads_stalled_and_resumes_exactly_once(org, api_as, django_capture_on_commit_callbacks,
                                                                 monkeypatch):
    api = api_as(org.manager)
    batch = _checked(org, api, django_capture_on_commit_callbacks)
    _killed_after_one_batch(org, batch, monkeypatch)
    # Within the stall time it is still importing (a slow batch is not a dead worker)...
    ImportBatch.objects.filter(pk=batch.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=4))
    assert api.get(f"/api/v1/imports/{batch.pk}/").json()["status"] == "importing"
    # ... past it, the API and the page say stalled, without any sweep having run.
    ImportBatch.objects.filter(pk=batch.pk).update(heartbeat_at=timezone.now() - LONG_AGO)
    status = api.get(f"/api/v1/imports/{batch.pk}/").json()
    assert status["status"] == "stalled"
    assert "stopped" in status["error"] and "2 of 5 rows went in" in status["error"]
    assert status["done_rows"] == 2  # the count as the committed batch left it
    page = client_for(org.manager).get(f"/reports/imports/{batch.pk}/").content.decode()
    assert f'action="/reports/imports/{batch.pk}/resume/"' in page and "Resume the import" in page
    assert "hx-trigger" not in page.split('id="import-status"')[1].split(">")[0]  # no endless polling
    history = client_for(org.manager).get("/reports/imports/").content.decode()
    assert f"/reports/imports/{batch.pk}/resume/" in history

    assert api_as(org.manager2).post(f"/api/v1/imports/{batch.pk}/resume/").status_code == 404
    assert api_as(org.consultant).post(f"/api/v1/imports/{batch.pk}/resume/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        resumed = api.post(f"/api/v1/imports/{batch.pk}/resume/")
    assert resumed.status_code == 202, resumed.content
    again = api.post(f"/api/v1/imports/{batch.pk}/resume/")
    assert again.status_code == 409 and "nothing to resume" in str(again.json())
    status = api.get(f"/api/v1/imports/{batch.pk}/").json()
    assert (status["status"], status["done_rows"], status["new"]) == ("done", 5, 5)
    phones = list(Lead.objects.filter(store=org.store).values_list("phone", flat=True))
    assert len(phones) == len(set(phones)) == 5  # each row exactly once
    assert Visit.objects.filter(lead__store=org.store).count() == 5


def test_resume_from_the_page_twice_says_so(org, api_as, django_capture_on_commit_callbacks, monkeypatch):
    batch = _checked(org, api_as(org.manager), django_capture_on_commit_callbacks)
    _killed_after_one_batch(org, batch, monkeypatch)
    assert stalls.imports_close_stalled() == [batch.pk]
    client = client_for(org.manager)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(f"/reports/imports/{batch.pk}/resume/", follow=True)
    assert "Resumed" in first.content.decode()
    second = client.post(f"/reports/imports/{batch.pk}/resume/", follow=True).content.decode()
    assert "nothing to resume" in second
    assert Lead.objects.filter(store=org.store).count() == 5


def test_a_stalled_import_can_be_cancelled(org, api_as, django_capture_on_commit_callbacks, monkeypatch):
    api = api_as(org.manager)
    batch = _checked(org, api, django_capture_on_commit_callbacks)
    _killed_after_one_batch(org, batch, monkeypatch)
    stalls.imports_close_stalled()
    cancelled = api.post(f"/api/v1/imports/{batch.pk}/cancel/")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    assert "2 of 5 rows went in" in cancelled.json()["error"]


def test_the_sweep_marks_stalled_and_reads_a_stalled_file_again_once(org, api_as, django_capture_on_commit_callbacks):
    api = api_as(org.manager)
    batch = _checked(org, api, django_capture_on_commit_callbacks)
    # A worker killed while reading: parsing, and silent since.
    ImportBatch.objects.filter(pk=batch.pk).update(status="parsing", heartbeat_at=timezone.now() - LONG_AGO,
                                                   created_at=timezone.now() - LONG_AGO)
    with django_capture_on_commit_callbacks(execute=True):
        summary = tasks.recover_stalled_runs.apply().get()
    assert summary["imports"] == [batch.pk] and summary["read_again"] == [batch.pk]
    batch.refresh_from_db()
    assert (batch.status, batch.rows, batch.stalls) == ("dry_run_ready", 5, 1)
    # A reading that stalls a second time (the file itself may kill the worker) waits for the user.
    ImportBatch.objects.filter(pk=batch.pk).update(status="parsing", heartbeat_at=timezone.now() - LONG_AGO)
    summary = tasks.recover_stalled_runs.apply().get()
    assert summary["read_again"] == []
    batch.refresh_from_db()
    assert batch.status == "stalled" and "reading this file stopped" in batch.error
    page = client_for(org.manager).get(f"/reports/imports/{batch.pk}/").content.decode()
    assert "Read the file again" in page


def test_the_sweep_is_on_the_beat_schedule(settings):
    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "reports.tasks.recover_stalled_runs" in tasks_scheduled


def test_a_late_delivery_of_the_old_task_writes_nothing(org, api_as, django_capture_on_commit_callbacks,
                                                        monkeypatch):
    api = api_as(org.manager)
    batch = _checked(org, api, django_capture_on_commit_callbacks)
    _killed_after_one_batch(org, batch, monkeypatch)
    stalls.imports_close_stalled()
    # The broker redelivers the dead worker's message while the import is stalled: it must not import.
    assert tasks.import_commit_task.apply(args=[batch.pk]).get() == {"id": batch.pk, "skipped": "not importing"}
    assert Lead.objects.filter(store=org.store).count() == 2
    # And while another worker holds the import (another database session), a delivery does nothing either.
    imports.import_resume(actor=org.manager, batch=batch)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [tasks.LOCK_IMPORT, batch.pk])
        assert tasks.import_commit_task.apply(args=[batch.pk]).get()["skipped"] == "running elsewhere"
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [tasks.LOCK_IMPORT, batch.pk])
    assert Lead.objects.filter(store=org.store).count() == 2
    assert tasks.import_commit_task.apply(args=[batch.pk]).get()["status"] == "done"
    assert Lead.objects.filter(store=org.store).count() == 5
    # Done: one more delivery changes nothing.
    assert tasks.import_commit_task.apply(args=[batch.pk]).get()["skipped"] == "not importing"
    assert Lead.objects.filter(store=org.store).count() == 5


def _running_export(org, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(exports, "SMALL_ROWS", 2)
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    for _i in range(3):
        FollowUpFactory(lead=lead)
    # The request is queued, and the worker that took it dies before writing a row.
    monkeypatch.setattr(tasks.export_run_task, "delay", lambda pk: None)
    today = timezone.localdate()
    with django_capture_on_commit_callbacks(execute=True):
        client_for(org.manager).get(f"/reports/exports/follow-ups/?start={today - timedelta(days=30):%Y-%m-%d}")
    monkeypatch.undo()
    monkeypatch.setattr(exports, "SMALL_ROWS", 2)
    file = ReportFile.objects.get()
    ReportFile.objects.filter(pk=file.pk).update(status="running", progress=23,
                                                 heartbeat_at=timezone.now() - LONG_AGO)
    return file


def test_a_silent_export_reads_stalled_and_is_retried_once(org, api_as, monkeypatch,
                                                            django_capture_on_commit_callbacks):
    file = _running_export(org, monkeypatch, django_capture_on_commit_callbacks)
    client = client_for(org.manager)
    part = client.get(f"/reports/files/{file.pk}/status/").content.decode()
    assert "Stalled" in part and f"/reports/files/{file.pk}/retry/" in part and "hx-trigger" not in part
    page = client.get(f"/reports/files/{file.pk}/wait/").content.decode()
    assert "preparing this file stopped" in page
    api = api_as(org.manager)
    assert api.get(f"/api/v1/report-files/{file.pk}/").json()["status"] == "stalled"
    assert api_as(org.manager2).post(f"/api/v1/report-files/{file.pk}/retry/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        retried = api.post(f"/api/v1/report-files/{file.pk}/retry/")
    assert retried.status_code == 202, retried.content
    assert api.post(f"/api/v1/report-files/{file.pk}/retry/").status_code == 409
    file.refresh_from_db()
    assert (file.status, file.rows, file.progress) == ("ready", 3, 100)
    assert client.get(f"/reports/files/{file.pk}/").status_code == 200
    # A late delivery of the dead worker's message writes nothing more.
    assert tasks.export_run_task.apply(args=[file.pk]).get()["skipped"] == "not waiting"


def test_a_stalled_export_is_retried_from_its_page(org, monkeypatch, django_capture_on_commit_callbacks):
    file = _running_export(org, monkeypatch, django_capture_on_commit_callbacks)
    assert stalls.files_close_stalled() == [file.pk]
    assert client_for(org.consultant).post(f"/reports/files/{file.pk}/retry/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(org.manager).post(f"/reports/files/{file.pk}/retry/")
    assert response.status_code == 302
    file.refresh_from_db()
    assert file.status == "ready"
    again = client_for(org.manager).post(f"/reports/files/{file.pk}/retry/", follow=True).content.decode()
    assert "nothing to resume or retry" in again


@pytest.mark.django_db(transaction=True)
def test_a_resume_that_finishes_at_once_still_says_resumed(org, api_as, django_capture_on_commit_callbacks,
                                                           monkeypatch):
    # In the embedded default the commit runs in-process when the resume's transaction commits: by the time the
    # page writes its message the import is done, and it must still say the import resumed (not "read again").
    batch = _checked(org, api_as(org.manager), django_capture_on_commit_callbacks)
    _killed_after_one_batch(org, batch, monkeypatch)
    stalls.imports_close_stalled()
    page = client_for(org.manager).post(f"/reports/imports/{batch.pk}/resume/", follow=True).content.decode()
    assert "Resumed" in page and "read again" not in page
    batch.refresh_from_db()
    assert batch.status == "done" and Lead.objects.filter(store=org.store).count() == 5
