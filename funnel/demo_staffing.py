"""The demo stores' monthly unit targets (`seed_demo`, after the lead history), so the targets page, the progress
panel and the staffing planner have something to plan from: each month of the current year, the store's average
monthly deals of the last three full months plus a tenth (a target a little above what it sells). Months that already
have a store target keep it."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Count
from django.utils import timezone

from dealercrm.models import Role, Store, User
from leads.models import Deal

from .models import Target


def demo_targets_seed(*, stores: list[Store], today: date | None = None) -> int:
    """Create the missing store targets of the current year's months; returns how many were created."""
    today = today or timezone.localdate()
    first = today.replace(day=1)
    start = (first - timedelta(days=1)).replace(day=1)
    for _i in range(2):
        start = (start - timedelta(days=1)).replace(day=1)
    created = 0
    for store in stores:
        sold = Deal.objects.filter(lead__store=store, ordered_at__gte=start, ordered_at__lt=first).aggregate(
            n=Count("pk"))["n"]
        units = max(10, round(sold / 3 * 1.1))
        manager = User.objects.filter(store=store, role=Role.MANAGER).order_by("pk").first()
        rows = [Target(store=store, month=date(today.year, m, 1), units=units, set_by=manager) for m in range(1, 13)]
        before = Target.objects.filter(store=store, consultant__isnull=True, month__year=today.year).count()
        Target.objects.bulk_create(rows, ignore_conflicts=True)
        created += Target.objects.filter(store=store, consultant__isnull=True, month__year=today.year).count() - before
    return created
