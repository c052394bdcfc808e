"""Each daily job end to end through the broker: the task is sent to Redis, a real worker runs it against the test
database, the result comes back through the result backend, and the database shows the effects."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dealercrm.models import JobRun, Notification
from leads import tasks
from leads.models import AssignmentChange, FlagEvent, Lead, local_day_start
from leads.tests.factories import LeadFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    # celery 5.x result backend on redis-py 8; not ours to fix.
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]

DAY = timedelta(days=1)
TIMEOUT = 60


def send(task, worker):
    result = task.apply_async(queue=worker.queue)
    return result, result.get(timeout=TIMEOUT)


def test_the_tasks_are_not_eager_here(celery_worker):
    from dealercrm.celery import app

    assert app.conf.task_always_eager is False
    assert app.conf.broker_url.startswith("redis://")


def test_flag_stale_leads_through_the_broker(org, celery_worker):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="E",
                       grade_since=timezone.now() - 20 * DAY)
    result, summary = send(tasks.flag_stale_leads, celery_worker)
    assert summary["flagged"] == 1 and summary["status"] == "succeeded"
    lead.refresh_from_db()
    assert lead.stale_max_dwell_days == 14 and lead.stale_since is not None
    run = JobRun.objects.get(pk=summary["run"])
    assert run.task_id == result.id  # the worker's own task id, recorded
    assert FlagEvent.objects.get(lead=lead).job_run_id == run.pk
    # Again through the broker: nothing changes.
    _result, again = send(tasks.flag_stale_leads, celery_worker)
    assert (again["flagged"], again["cleared"]) == (0, 0)


def test_flag_overdue_follow_ups_through_the_broker(org, celery_worker):
    due = local_day_start() - 2 * DAY + timedelta(hours=10)
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, next_follow_up_at=due)
    _result, summary = send(tasks.flag_overdue_follow_ups, celery_worker)
    assert summary["flagged"] == 1
    lead.refresh_from_db()
    assert lead.overdue_since == due


def test_reclaim_overdue_leads_through_the_broker(org, celery_worker):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant,
                       next_follow_up_at=local_day_start() - 10 * DAY)
    _result, summary = send(tasks.reclaim_overdue_leads, celery_worker)
    assert (summary["flagged"], summary["notified"]) == (1, 2)
    lead.refresh_from_db()
    assert lead.assigned_to is None and lead.pooled_at is not None
    assert AssignmentChange.objects.get(lead=lead).from_user == org.consultant
    assert set(Notification.objects.values_list("recipient_id", "kind")) == {
        (org.consultant.pk, "reclaimed"), (org.manager.pk, "reclaimed")}


def test_send_daily_digests_through_the_broker(org, celery_worker):
    LeadFactory(store=org.store, assigned_to=org.consultant, next_follow_up_at=local_day_start() + timedelta(hours=15))
    _result, summary = send(tasks.send_daily_digests, celery_worker)
    digest = Notification.objects.get(recipient=org.consultant, kind="digest")
    assert digest.params["due_today"] == 1
    assert summary["notified"] == Notification.objects.count()
    _result, again = send(tasks.send_daily_digests, celery_worker)
    assert again["notified"] == 0  # once a day


def test_a_failing_job_is_recorded_failed_and_the_error_reaches_the_caller(org, celery_worker, monkeypatch):
    from leads.services import jobs

    def boom(job, batch):
        raise RuntimeError("disk full")

    # The worker runs in this process (a thread), so the seam is shared with it.
    monkeypatch.setattr(jobs, "_batch_done", boom)
    LeadFactory(store=org.store, assigned_to=org.consultant, grade="E", grade_since=timezone.now() - 20 * DAY)
    result = tasks.flag_stale_leads.apply_async(queue=celery_worker.queue)
    with pytest.raises(RuntimeError, match="disk full"):
        result.get(timeout=TIMEOUT)
    run = JobRun.objects.get(task_id=result.id)
    assert run.status == JobRun.Status.FAILED and "disk full" in run.error
    assert Lead.objects.filter(stale_flag__isnull=False).count() == 1  # the committed batch stays
