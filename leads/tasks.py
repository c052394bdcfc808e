"""Celery tasks for the daily jobs: thin wrappers over ``leads.services.jobs`` (the schedule is
``CELERY_BEAT_SCHEDULE`` in settings; ``manage.py run_jobs`` runs the same services in-process).

Every job is idempotent and sweeps by condition, so a task redelivered after a lost worker (``acks_late``) or
retried after a dropped database connection simply runs again."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from dealercrm.jobs import job_summary

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
