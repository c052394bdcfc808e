"""Celery tasks for the defeat jobs: thin wrappers over ``defeats.jobs`` (schedule: CELERY_BEAT_SCHEDULE; ``manage.py
run_jobs`` runs the same in-process). Idempotent, so a redelivered or retried task simply runs again."""

from celery import shared_task

from dealercrm.jobs import job_summary
from leads.tasks import RETRYING

from . import jobs


@shared_task(**RETRYING)
def alert_pending_applications(self) -> dict:
    """Tell managers about applications waiting for a verdict longer than the group's days."""
    return job_summary(jobs.defeats_pending_alerts(task_id=self.request.id or ""))


@shared_task(**RETRYING)
def notify_nurture_due(self) -> dict:
    """Tell pool owners about competitor-pool customers due for a contact."""
    return job_summary(jobs.defeats_nurture_due(task_id=self.request.id or ""))
