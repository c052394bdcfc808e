"""The 1st-of-month job: packs for the month that ended, notifications with a link, idempotent, a JobRun."""

from datetime import date

import pytest

from dealercrm.models import JobRun, Notification
from dealercrm.tests.clients import client_for
from reports.models import ReportFile
from reports.services.files import monthly_packs_prepare

pytestmark = pytest.mark.django_db


def test_monthly_packs_are_prepared_once_and_managers_notified(org):
    run = monthly_packs_prepare(today=date(2026, 12, 1))
    assert run.status == JobRun.Status.SUCCEEDED
    packs = ReportFile.objects.filter(report="monthly-pack")
    assert {f.store for f in packs} == {org.store, org.store2, org.other_store}
    assert all(f.period_start == date(2026, 11, 1) and f.period_end == date(2026, 11, 30) for f in packs)
    assert ReportFile.objects.filter(report="store-comparison").count() == 2  # one per group
    note = Notification.objects.get(recipient=org.manager)
    assert note.kind == "report_ready" and note.url.startswith("/reports/files/")
    assert Notification.objects.filter(recipient=org.admin).count() == 1
    assert not Notification.objects.filter(recipient=org.consultant).exists()
    response = client_for(org.manager).get(note.url)
    assert response.status_code == 200 and response.content[:2] == b"PK"
    assert client_for(org.manager2).get(note.url).status_code == 404

    again = monthly_packs_prepare(today=date(2026, 12, 1))
    assert (again.flagged, again.notified) == (0, 0)
    assert ReportFile.objects.count() == 5 and Notification.objects.count() == 5
