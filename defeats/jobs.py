"""The defeat workflow's morning counts, a part of the daily digests (leads' ``send_daily_digests``, a JobRun on the
beat schedule, idempotent: a second run the same day notifies nobody twice):

- applications without a verdict after the group's ``pending_alert_days`` (default 3): each manager of the store
  reads how many in their store summary;
- customers of the competitor pool and the nurture list whose contact (every ``nurture_interval_days``) or
  replacement re-contact has fallen due: each owner (a consultant's digest, a manager's store summary) reads how many.

Registered in apps.py as a ``dealercrm.notifications.DigestPart``."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from dealercrm.models import DealerGroup

from .models import Application, ApplicationStatus, DefeatSettings, PoolEntry, PoolStatus


def _settings_by_group() -> dict[int, DefeatSettings]:
    known = {s.group_id: s for s in DefeatSettings.objects.all()}
    for gid in DealerGroup.objects.exclude(pk__in=list(known)).values_list("pk", flat=True):
        known[gid] = DefeatSettings(group_id=gid)  # the defaults, unsaved
    return known


def pending_late_by_store(now: datetime) -> dict[int, dict]:
    """Per store: the applications waiting for a verdict longer than its group's days. One grouped query."""
    late = Q()
    days_by_group = {}
    for gid, s in _settings_by_group().items():
        late |= Q(store__group_id=gid, applied_at__lt=now - timedelta(days=s.pending_alert_days))
        days_by_group[gid] = s.pending_alert_days
    if not days_by_group:
        return {}
    rows = (Application.objects.filter(late, status=ApplicationStatus.PENDING)
            .values("store_id", "store__group_id").annotate(n=Count("pk")).order_by())
    return {r["store_id"]: {"defeat_pending_late": r["n"], "defeat_pending_days": days_by_group[r["store__group_id"]]}
            for r in rows}


def nurture_due_by_owner(now: datetime) -> dict[int, dict]:
    """Per owner: customers of the competitor pool or the nurture list due for a contact (or, in the pool, a
    replacement re-contact). One grouped query."""
    today = timezone.localdate(now)
    due = (PoolEntry.objects.filter(status=PoolStatus.IN_POOL)
           .filter(Q(next_contact_at__lte=now) | Q(replacement_due_on__lte=today)))
    return {owner: {"defeat_nurture_due": n}
            for owner, n in due.values("owner_id").annotate(n=Count("pk")).order_by().values_list("owner_id", "n")}
