"""`manage.py bench_state`: a benchmark figure is printed with its conditions, and a figure taken before the nightly
jobs, or on a busy machine, is flagged as unfit to publish."""

import pytest
from django.utils import timezone

from benchmarks.state import report
from dealercrm.models import JobRun
from leads.services.jobs import JOBS

pytestmark = pytest.mark.django_db


def test_the_conditions_say_whether_the_nightly_jobs_have_run(org, monkeypatch):
    monkeypatch.setattr("os.getloadavg", lambda: (0.1, 0.1, 0.1))
    lines = []
    assert report(lines.append) is False
    text = "\n".join(lines)
    assert "never run" in text and "this is not a morning" in text
    assert "leads_lead" in text and "cores" in text

    for job in JOBS:
        JobRun.objects.create(job=job, status=JobRun.Status.SUCCEEDED, finished_at=timezone.now())
    lines.clear()
    assert report(lines.append) is True
    assert "never run" not in "\n".join(lines)


def test_a_busy_machine_is_not_fit_for_publishing(org, monkeypatch):
    for job in JOBS:
        JobRun.objects.create(job=job, status=JobRun.Status.SUCCEEDED, finished_at=timezone.now())
    monkeypatch.setattr("os.getloadavg", lambda: (7.5, 3.0, 1.0))
    lines = []
    assert report(lines.append) is False
    assert any("machine is busy" in line for line in lines)
