"""List exports: small ones at once, large ones in the background with progress, phones masked for consultants."""

import io
from datetime import timedelta

import openpyxl
import pytest
from django.utils import timezone

from dealercrm.tests.clients import client_for
from leads.tests.factories import FollowUpFactory, LeadFactory
from reports.models import ReportFile
from reports.services import exports

pytestmark = pytest.mark.django_db


def _sheet(content):
    book = openpyxl.load_workbook(io.BytesIO(content))
    return book[book.sheetnames[1]]


def test_a_small_export_downloads_at_once_and_masks_phones_for_consultants(org):
    LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613800138000", name="=cmd|' /C calc'!A0")
    today = timezone.localdate()
    url = f"/reports/exports/leads/?start={today - timedelta(days=10):%Y-%m-%d}&end={today:%Y-%m-%d}"
    manager = client_for(org.manager).get(url)
    assert manager.status_code == 200
    rows = [[c.value for c in r] for r in _sheet(manager.content).iter_rows()]
    assert rows[1][1] == "'=cmd|' /C calc'!A0"  # text, never a formula
    assert rows[1][2] == "138 0013 8000"
    consultant = client_for(org.consultant).get(url)
    assert [[c.value for c in r] for r in _sheet(consultant.content).iter_rows()][1][2] == "138****8000"
    assert len(list(_sheet(client_for(org.consultant2).get(url).content).iter_rows())) == 1  # header only


def test_a_large_export_runs_in_the_background_and_is_kept_a_day(org, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(exports, "SMALL_ROWS", 2)
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 1)
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    for _i in range(3):
        FollowUpFactory(lead=lead)
    today = timezone.localdate()
    client = client_for(org.manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(f"/reports/exports/follow-ups/?start={today - timedelta(days=30):%Y-%m-%d}")
    assert response.status_code == 302
    file = ReportFile.objects.get()
    assert (file.status, file.rows, file.created_by) == ("ready", 3, org.manager)
    assert file.expires_at > timezone.now() + timedelta(hours=23)
    assert client.get(response["Location"]).status_code == 200
    download = client.get(f"/reports/files/{file.pk}/")
    assert download.status_code == 200 and len(list(_sheet(download.content).iter_rows())) == 4
    assert client_for(org.manager2).get(f"/reports/files/{file.pk}/").status_code == 404
    assert client_for(org.consultant).get(f"/reports/files/{file.pk}/").status_code == 404
    ReportFile.objects.filter(pk=file.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(f"/reports/files/{file.pk}/").status_code == 404


def test_an_export_of_another_store_is_a_404(org):
    assert client_for(org.manager).get(f"/reports/exports/leads/?store={org.store2.pk}").status_code == 404
    assert client_for(org.manager).get("/reports/exports/nope/").status_code == 404
