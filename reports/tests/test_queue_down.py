"""Redis stopped while a user uploads, commits or exports: the run is kept and marked failed with a message (page
message, API 503 with a body), never a 500 and never a run left ``parsing`` for ever. The broker really is
unreachable here (a closed port), the request really commits (the task is queued after the commit)."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from dealercrm.tests.clients import client_for
from leads.tests.factories import FollowUpFactory, LeadFactory
from reports.models import ImportBatch, ReportFile
from reports.services import exports

from .test_imports import HEADER, xlsx

pytestmark = pytest.mark.django_db(transaction=True)

DOWN = "The job queue is unreachable; try again in a minute."


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"
    from django.utils import translation

    with translation.override("en"):
        yield


def _reset_connections(app):
    # The app keeps its broker connections in pools made on first use: forget them so the next send uses broker_url.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """Celery sends to a Redis that is not there (nothing listens on port 1): what a stopped Redis looks like."""
    from dealercrm.celery import app

    keys = ("task_always_eager", "broker_url", "broker_connection_retry", "broker_connection_max_retries")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(task_always_eager=False, broker_url="redis://127.0.0.1:1/0")
    _reset_connections(app)
    yield
    app.conf.update(saved)
    _reset_connections(app)


def _upload_content():
    return xlsx([HEADER, ["张三", "13800000001", "2026-03-01", "", "", ""]])


def test_an_upload_with_the_queue_down_is_a_503_with_the_import_failed(org, api_as, broker_down):
    response = api_as(org.manager).post("/api/v1/imports/", {
        "file": SimpleUploadedFile("c.xlsx", _upload_content()), "kind": "leads", "store": org.store.pk},
        format="multipart")
    assert response.status_code == 503, response.content
    body = response.json()
    assert (body["status"], body["error"], body["detail"]) == ("failed", DOWN, DOWN)
    batch = ImportBatch.objects.get(pk=body["id"])
    assert batch.status == "failed" and batch.error == DOWN  # kept, and not "parsing" for ever


def test_an_upload_from_the_page_with_the_queue_down_says_so(org, broker_down):
    client = client_for(org.manager)
    response = client.post("/reports/imports/", {"kind": "leads", "store": org.store.pk,
                                                 "file": SimpleUploadedFile("c.xlsx", _upload_content())},
                           follow=True)
    assert response.status_code == 200
    assert DOWN in response.content.decode()
    assert ImportBatch.objects.get().status == "failed"


def test_a_commit_with_the_queue_down_fails_with_a_message_and_can_be_pressed_again(org, api_as, broker_down):
    batch = ImportBatch.objects.create(store=org.store, file_name="c.xlsx", content=b"x", created_by=org.manager,
                                       status="dry_run_ready", rows=1, new=1)
    response = api_as(org.manager).post(f"/api/v1/imports/{batch.pk}/commit/")
    assert response.status_code == 503 and response.json()["error"] == DOWN
    batch.refresh_from_db()
    assert batch.status == "failed"  # the page offers "Continue the import"; not "importing" with nothing running


def test_a_large_export_with_the_queue_down_is_failed_with_a_message(org, monkeypatch, broker_down):
    monkeypatch.setattr(exports, "SMALL_ROWS", 2)
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    for _i in range(3):
        FollowUpFactory(lead=lead)
    today = timezone.localdate()
    client = client_for(org.manager)
    response = client.get(f"/reports/exports/follow-ups/?start={today - timedelta(days=30):%Y-%m-%d}", follow=True)
    assert response.status_code == 200
    file = ReportFile.objects.get()
    assert (file.status, file.error) == ("failed", DOWN)
    page = response.content.decode()
    assert DOWN in page and f"/reports/files/{file.pk}/retry/" in page
