"""The base-client jobs, each recorded as a JobRun: plan care tasks a window ahead, flag overdue care tasks,
re-tier a group after its rule changed; and the care part of the morning digest."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q
from django.utils import timezone

from dealercrm.jobs import job_run, job_run_count
from dealercrm.models import DealerGroup, JobRun

from ..models import BaseClient, CareStatus, CareTask, TierChange
from .care import flag_overdue, materialise
from .repurchase import plan_repurchase
from .scoring import retier_group


def care_plan(*, task_id: str = "") -> JobRun:
    """Plan the care tasks of every client due within the window (BASECLIENTS_CARE_WINDOW_DAYS, default 30), and
    the repurchase reminders (``repurchase.plan_repurchase``). Idempotent: a re-run creates nothing. ``flagged``
    counts the tasks created."""
    with job_run("baseclients_care_plan", task_id=task_id, tables=(CareTask._meta.db_table,)) as run:
        materialise(job_run=run)
        plan_repurchase(job_run=run)
    return run


def care_flag_overdue(*, task_id: str = "") -> JobRun:
    """Flag care tasks still pending after their due day. ``flagged`` counts the tasks flagged."""
    with job_run("baseclients_care_overdue", task_id=task_id, tables=(CareTask._meta.db_table,)) as run:
        flag_overdue(job_run=run)
    return run


def retier(*, group_id: int | None = None, task_id: str = "") -> JobRun:
    """Re-tier every client of the group (every group without ``group_id``) set-based, after its rule changed;
    ``flagged`` counts the clients that moved, ``cleared`` the scores cut to a lowered maximum. Then plan the new
    tiers' care."""
    with job_run("baseclients_retier", task_id=task_id,
                 tables=tuple(m._meta.db_table for m in (BaseClient, TierChange, CareTask))) as run:
        groups = [group_id] if group_id else list(DealerGroup.objects.values_list("pk", flat=True))
        for gid in groups:
            moved, cut = retier_group(gid, job_run=run)
            job_run_count(run, "flagged", moved)
            job_run_count(run, "cleared", cut)
            if moved:
                materialise(group_id=gid)
    return run


def care_counts(now: datetime) -> dict[int, dict]:
    """Care for the morning digest (a part of leads' digest, registered in apps.py): per owner, pending tasks due
    today and overdue. One grouped query on the owners' pending index."""
    today = timezone.localdate(now)
    rows = (CareTask.objects.filter(status=CareStatus.PENDING, due_on__lte=today, assigned_to__isnull=False)
            .values("assigned_to").annotate(today=Count("assigned_to", filter=Q(due_on=today)),
                                            overdue=Count("assigned_to", filter=Q(due_on__lt=today))).order_by())
    return {r["assigned_to"]: {"care_today": r["today"], "care_overdue": r["overdue"]} for r in rows}


JOBS = ["care_flag_overdue", "care_plan"]
RUNNERS = {"care_flag_overdue": care_flag_overdue, "care_plan": care_plan}
