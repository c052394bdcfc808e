"""Celery tasks for the base-client jobs: thin wrappers over ``baseclients.services.jobs``. Task arguments are ids,
never phones or VINs."""

from celery import shared_task

from dealercrm.jobs import job_summary
from leads.tasks import RETRYING

from .services import jobs


@shared_task(**RETRYING)
def plan_care_tasks(self) -> dict:
    """Plan care tasks a window ahead (idempotent)."""
    return job_summary(jobs.care_plan(task_id=self.request.id or ""))


@shared_task(**RETRYING)
def flag_overdue_care_tasks(self) -> dict:
    """Flag care tasks past their due day."""
    return job_summary(jobs.care_flag_overdue(task_id=self.request.id or ""))


@shared_task(**RETRYING)
def retier_group(self, group_id: int) -> dict:
    """Re-tier a group's clients after its tier rule or criteria changed."""
    return job_summary(jobs.retier(group_id=group_id, task_id=self.request.id or ""))
