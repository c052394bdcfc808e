"""Celery tasks of the funnel: the rollups' drain (every few seconds) and nightly reconciliation (funnel.rollups,
funnel.jobs), and the warm-up of the dashboard figures the rollups do not hold (funnel.figures), every five minutes.
The warm-up is not a JobRun: it changes no record, and a missed run only means the next reader counts the figures
themselves."""

from celery import shared_task

from dealercrm.jobs import job_summary
from leads.tasks import RETRYING

from . import rollups, rollups_stays
from .figures import warm_dashboards
from .jobs import rollups_reconcile


@shared_task(**RETRYING)
def warm_dashboard_figures(self) -> dict:
    return {"counted": warm_dashboards()}


@shared_task(**RETRYING)
def drain_rollups(self) -> dict:
    """Recount the store-days writes have marked since the last drain. Not a JobRun (it runs every few seconds and
    changes only derived rows); a second drain while one runs returns at once."""
    return {"recounted": rollups.drain()}


@shared_task(**RETRYING)
def drain_stays(self) -> dict:
    """Rebuild the time-in-stage rows of the leads writes have marked since the last drain (funnel.rollups_stays).
    Like drain_rollups: not a JobRun, and a second drain while one runs returns at once."""
    return {"rebuilt": rollups_stays.drain()}


@shared_task(**RETRYING)
def reconcile_rollups(self) -> dict:
    """The nightly reconciliation (funnel.jobs.rollups_reconcile). Returns the run's counts."""
    return job_summary(rollups_reconcile(task_id=self.request.id or ""))
