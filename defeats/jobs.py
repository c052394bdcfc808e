"""The defeat workflow's daily jobs (recorded as JobRuns like the leads' jobs; idempotent: a second run the same day
notifies nobody twice, through the notifications' dedupe keys):

- ``defeats_pending_alerts``: applications without a verdict after the group's ``pending_alert_days`` (default 3):
  each manager of the store is told how many (``flagged``: the applications, ``notified``: the managers).
- ``defeats_nurture_due``: competitor-pool customers whose nurture contact (every ``nurture_interval_days``) or
  replacement re-contact has fallen due: each owner is told how many.

Both run with the morning digests (CELERY_BEAT_SCHEDULE) and in ``manage.py run_jobs``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from dealercrm.jobs import job_run, job_run_count
from dealercrm.models import DealerGroup, JobRun, Role, User
from dealercrm.notifications import Draft, notify_many

from .models import Application, ApplicationStatus, DefeatSettings, PoolEntry, PoolStatus
from .services import NOTIFY_NURTURE, NOTIFY_PENDING

JOB_PENDING = "defeats_pending_alerts"
JOB_NURTURE = "defeats_nurture_due"
JOBS = (JOB_PENDING, JOB_NURTURE)


def _settings_by_group() -> dict[int, DefeatSettings]:
    known = {s.group_id: s for s in DefeatSettings.objects.all()}
    for gid in DealerGroup.objects.exclude(pk__in=list(known)).values_list("pk", flat=True):
        known[gid] = DefeatSettings(group_id=gid)  # the defaults, unsaved
    return known


def defeats_pending_alerts(*, now: datetime | None = None, task_id: str = "") -> JobRun:
    now = now or timezone.now()
    day = timezone.localdate(now).isoformat()
    with job_run(JOB_PENDING, task_id=task_id) as run, transaction.atomic():
        late = Q()
        days_by_group = {}
        for gid, s in _settings_by_group().items():
            late |= Q(store__group_id=gid, applied_at__lt=now - timedelta(days=s.pending_alert_days))
            days_by_group[gid] = s.pending_alert_days
        counts = Counter()
        if days_by_group:
            counts = Counter(dict(Application.objects.filter(late, status=ApplicationStatus.PENDING)
                                  .values("store_id").annotate(n=Count("pk")).values_list("store_id", "n")))
        managers = User.objects.filter(role=Role.MANAGER, is_active=True, store_id__in=list(counts)).select_related(
            "store")
        url = reverse("defeats:queue")
        drafts = [Draft(m.pk, NOTIFY_PENDING, {"count": counts[m.store_id],
                                               "days": days_by_group.get(m.store.group_id, 3)},
                        f"{url}?store={m.store_id}", f"defeat_pending:{day}") for m in managers]
        job_run_count(run, "flagged", sum(counts.values()))
        job_run_count(run, "notified", notify_many(drafts))
    return run


def defeats_nurture_due(*, now: datetime | None = None, task_id: str = "") -> JobRun:
    now = now or timezone.now()
    today = timezone.localdate(now)
    with job_run(JOB_NURTURE, task_id=task_id) as run, transaction.atomic():
        due = (PoolEntry.objects.filter(status=PoolStatus.IN_POOL)
               .filter(Q(next_contact_at__lte=now) | Q(replacement_due_on__lte=today)))
        counts = Counter(dict(due.values("owner_id").annotate(n=Count("pk")).values_list("owner_id", "n")))
        url = reverse("defeats:pool")
        drafts = [Draft(owner, NOTIFY_NURTURE, {"count": n}, f"{url}?due=1", f"defeat_nurture:{today.isoformat()}")
                  for owner, n in counts.items()]
        job_run_count(run, "flagged", sum(counts.values()))
        job_run_count(run, "notified", notify_many(drafts))
    return run


RUNNERS: dict[str, Callable[..., JobRun]] = {JOB_PENDING: defeats_pending_alerts, JOB_NURTURE: defeats_nurture_due}
