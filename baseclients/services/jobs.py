"""The base-client jobs, each recorded as a JobRun: plan care tasks a window ahead, flag overdue care tasks,
re-tier a group after its rule changed, and the care digests."""

from __future__ import annotations

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from dealercrm.jobs import job_run, job_run_count
from dealercrm.models import DealerGroup, JobRun
from dealercrm.notifications import Draft, notify_many

from ..models import CareStatus, CareTask
from .care import flag_overdue, materialise

CARE_DIGEST = "care_digest"
from .scoring import retier_group


def care_plan(*, task_id: str = "") -> JobRun:
    """Plan the care tasks of every client due within the window (BASECLIENTS_CARE_WINDOW_DAYS, default 30).
    Idempotent: a re-run creates nothing. ``flagged`` counts the tasks created."""
    with job_run("baseclients_care_plan", task_id=task_id) as run:
        materialise(job_run=run)
    return run


def care_flag_overdue(*, task_id: str = "") -> JobRun:
    """Flag care tasks still pending after their due day. ``flagged`` counts the tasks flagged."""
    with job_run("baseclients_care_overdue", task_id=task_id) as run:
        flag_overdue(job_run=run)
    return run


def retier(*, group_id: int | None = None, task_id: str = "") -> JobRun:
    """Re-tier every client of the group (every group without ``group_id``) set-based, after its rule changed;
    ``flagged`` counts the clients that moved, ``cleared`` the scores cut to a lowered maximum. Then plan the new
    tiers' care."""
    with job_run("baseclients_retier", task_id=task_id) as run:
        groups = [group_id] if group_id else list(DealerGroup.objects.values_list("pk", flat=True))
        for gid in groups:
            moved, cut = retier_group(gid, job_run=run)
            job_run_count(run, "flagged", moved)
            job_run_count(run, "cleared", cut)
            if moved:
                materialise(group_id=gid)
    return run


def care_digests(*, task_id: str = "") -> JobRun:
    """Tell each consultant how many care tasks are due today and overdue (one notification a day, idempotent)."""
    today = timezone.localdate()
    with job_run("baseclients_care_digest", task_id=task_id) as run:
        rows = (CareTask.objects.filter(status=CareStatus.PENDING, due_on__lte=today, assigned_to__isnull=False,
                                        assigned_to__is_active=True)
                .values("assigned_to").annotate(today=Count("pk", filter=Q(due_on=today)),
                                                overdue=Count("pk", filter=Q(due_on__lt=today))))
        url = reverse("baseclients:care_queue")
        drafts = [Draft(r["assigned_to"], CARE_DIGEST,
                        {"care_today": r["today"], "care_overdue": r["overdue"]}, url,
                        f"care-digest-{today.isoformat()}") for r in rows]
        job_run_count(run, "notified", notify_many(drafts))
    return run


JOBS = ["care_flag_overdue", "care_plan", "care_digests"]
RUNNERS = {"care_flag_overdue": care_flag_overdue, "care_plan": care_plan, "care_digests": care_digests}
