"""Celery tasks of the funnel: the rollups' drain (every few seconds) and nightly reconciliation (funnel.rollups,
funnel.jobs), and the folding of the state-now counts (funnel.lead_now), every minute and in full nightly. The
folding is not a JobRun: it changes only derived rows, and a missed run only means readers sum a few more rows."""

from celery import shared_task

from dealercrm.jobs import job_summary
from leads.tasks import RETRYING

from . import lead_now, rollups, rollups_stays
from .jobs import rollups_reconcile


@shared_task(**RETRYING)
def compact_lead_now(self, full: bool = False) -> dict:
    """Fold the state-now counts (funnel.lead_now.compact); a second compaction while one runs returns at once."""
    return {"rows": lead_now.compact(full=full)}


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
