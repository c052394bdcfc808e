"""Celery tasks for the daily jobs: thin wrappers over ``leads.services.jobs`` (the schedule is
``CELERY_BEAT_SCHEDULE`` in settings; ``manage.py run_jobs`` runs the same services in-process).

Every job is idempotent and sweeps by condition, so a task redelivered after a lost worker (``acks_late``) or
retried after a dropped database connection simply runs again.

A worker killed mid-run (SIGKILL, out of memory) acknowledges nothing: Redis redelivers its task only after the
broker's visibility timeout (1 hour, CELERY_BROKER_TRANSPORT_OPTIONS). :func:`recover_abandoned_jobs`, on the beat
schedule every 5 minutes, does not wait for that: a run without a heartbeat for JOBS_HEARTBEAT_TIMEOUT (10 minutes)
is closed as ``abandoned`` and its job sent again, so a killed run is finished within about 15 minutes. The late
redelivery then finds nothing left to do."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from dealercrm.jobs import close_abandoned_runs, job_summary
from dealercrm.models import JobRun

from .services import jobs

RETRYING = {
    "bind": True,
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "max_retries": 3,
}


@shared_task(**RETRYING)
def flag_stale_leads(self) -> dict:
    """Flag leads past their grade's max dwell; clear flags that no longer hold. Returns the run's counts."""
    return job_summary(jobs.leads_flag_stale(task_id=self.request.id or ""))


@shared_task(**RETRYING)
def flag_overdue_follow_ups(self) -> dict:
    """Flag leads whose follow-up date passed; clear flags that no longer hold. Returns the run's counts."""
    return job_summary(jobs.leads_flag_overdue(task_id=self.request.id or ""))


@shared_task(**RETRYING)
def reclaim_overdue_leads(self) -> dict:
    """Move long-overdue leads to their store's pool and tell who lost them. Returns the run's counts."""
    return job_summary(jobs.leads_reclaim(task_id=self.request.id or ""))


@shared_task(**RETRYING)
def send_daily_digests(self) -> dict:
    """Write each consultant's digest and each manager's store summary for today. Returns the run's counts."""
    return job_summary(jobs.notifications_send_digests(task_id=self.request.id or ""))


# The tasks of the leads' jobs, by the name their runs record.
TASKS = {
    jobs.JOB_STALE: flag_stale_leads,
    jobs.JOB_OVERDUE: flag_overdue_follow_ups,
    jobs.JOB_RECLAIM: reclaim_overdue_leads,
    jobs.JOB_DIGESTS: send_daily_digests,
}


@shared_task(**RETRYING)
def recover_abandoned_jobs(self) -> dict:
    """Close every run whose worker died (no heartbeat for JOBS_HEARTBEAT_TIMEOUT) as ``abandoned``, and send the
    job of each again unless a newer run of it has started since: the work it left undone is finished now rather
    than at the broker's redelivery, an hour later. Idempotent: the jobs sweep by condition."""
    closed = close_abandoned_runs()
    rerun = []
    for job in sorted(set(JobRun.objects.filter(pk__in=closed).values_list("job", flat=True))):
        latest = JobRun.objects.filter(job=job).order_by("-started_at", "-pk").first()
        if job in TASKS and latest is not None and latest.pk in closed:
            TASKS[job].delay()
            rerun.append(job)
    return {"abandoned": closed, "rerun": rerun}
