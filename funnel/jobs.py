"""The rollups' jobs (funnel.rollups): the drain, every few seconds on the beat, and the nightly reconciliation, a
JobRun like the other daily jobs (leads.services.jobs): it drains what the night's jobs marked (the rollups' store-days,
the leads' stays) and folds the state-now counts, recounts a sample of store-days from the base tables,
repairs the ones whose rows drifted, logs them and tells the dealer group's admins; and it checks the time-in-stage
histograms against the sums of their Stay rows (refilled when they differ)."""

from __future__ import annotations

import logging
from datetime import date

from django.utils import timezone
from django.utils.translation import gettext_noop

from dealercrm.jobs import job_run, job_run_count
from dealercrm.models import JobRun, Role, Store, User
from dealercrm.notifications import Draft, notify_many

from . import lead_now, rollups, rollups_stays

logger = logging.getLogger(__name__)

DRIFT_KIND = "rollup_drift"
# Every store's last week (where the writes land) and this many store-days drawn at random from the whole history.
SAMPLE_SIZE = 300


def rollups_reconcile(*, size: int = SAMPLE_SIZE, seed: int | None = None, today: date | None = None,
                      extra: list[tuple] | None = None, task_id: str = "") -> JobRun:
    """Recount a sample of store-days and compare them with their rollup rows; repair the drifted ones (recounted
    through the drain) and notify each affected group's admins once per night. The run's ``flagged`` is the
    store-days that drifted, ``cleared`` those repaired, ``notified`` the admins told. ``extra``: more (store, day,
    kind) keys to check (an operator's suspicion)."""
    today = today or timezone.localdate()
    with job_run("rollups_reconcile", task_id=task_id) as run:
        # What the night's jobs marked, drained and folded first (the beat does it within seconds; run_jobs, in
        # one process, has no beat): the morning's pages read kept rows, not 400,000 reassigned leads counted live.
        rollups.drain()
        rollups_stays.drain()
        lead_now.compact(full=True)
        drift = rollups.reconcile(size=size, seed=seed, today=today, extra=extra or [])
        job_run_count(run, "flagged", len(drift))
        if drift:
            logger.warning("rollups: %s store-days had drifted and were recounted: %s", len(drift), drift[:50])
            job_run_count(run, "cleared", len(drift))
            job_run_count(run, "notified", _notify_admins(drift, today=today))
        # The time-in-stage histograms against the sums of their Stay rows (refilled when they differ).
        stays = rollups_stays.hist_drift()
        if stays:
            logger.warning("rollups: %s time-in-stage histogram rows had drifted and were refilled", stays)
            job_run_count(run, "flagged", stays)
            job_run_count(run, "cleared", stays)
    return run


def _notify_admins(drift: list[tuple], *, today: date) -> int:
    stores = dict(Store.objects.filter(pk__in={store_id for store_id, _day, _kind in drift})
                  .values_list("pk", "group_id"))
    by_group: dict[int, int] = {}
    for store_id, _day, _kind in drift:
        if store_id in stores:
            by_group[stores[store_id]] = by_group.get(stores[store_id], 0) + 1
    admins = User.objects.filter(role=Role.GROUP_ADMIN, is_active=True, dealer_group_id__in=list(by_group))
    return notify_many(
        Draft(admin.pk, DRIFT_KIND, {"count": by_group[admin.dealer_group_id]},
              dedupe_key=f"rollup_drift:{today.isoformat()}")
        for admin in admins.only("pk", "dealer_group_id")
    )


# The notification's text (rendered in the reader's language by dealercrm.notifications).
DRIFT_TEXT = gettext_noop("The nightly check found %(count)s store-days whose dashboard counts had drifted from the "
                          "leads; they were recounted and are exact again.")
