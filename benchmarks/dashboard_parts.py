"""bench_dashboard_parts: the funnel dashboard's counted parts, each timed on its own.

For a store's month, a store's 12 months and the whole group's 12 months, as the store's manager (the group admin for
the group): the control points (and of them the promotion rates, the follow-ups and the state now, each also counted
live), the measured promotion rates, the defeat figures and loss by stage (from their rollup, and live), the
time-in-stage panel, and the funnel's own (``funnel_figures``: the rollups). Each part is called ``runs`` times in a row; the first
call and the median are printed (the first pays for the buffers PostgreSQL has not cached yet)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from dealercrm.models import DealerGroup, Role, Store, User
from defeats.selectors import Period
from defeats.selectors import funnel_figures as defeat_figures
from defeats.stages import loss_by_stage
from funnel import calc, figures, rollups_defeats, selectors, stage_times

BENCH_GROUP = "Bench Auto Group"


def _time(call: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times[0], statistics.median(times)


def parts(*, user: User, store: Store | None, start, end, today) -> dict[str, Callable[[], object]]:
    s = selectors.Slice(user=user, start=start, end=end, stores=[store] if store else [])
    stores = [store] if store else None
    base_month = calc.last_mature_month(end=end, today=today, mature_days=figures.COHORT_MATURE_DAYS)
    points = []  # counted once, by the control points' own timing
    now = timezone.now()

    def control_points():
        points[:] = [selectors.control_points(s)]
        return points[0]

    return {
        "control_points": control_points,
        "  of which promotion rates": lambda: selectors.promotion_rates(s, by_consultant=True),
        "  of which promotion rates, live": lambda: selectors.promotion_rates(s, by_consultant=True, live=True),
        "  of which follow-ups": lambda: selectors.follow_up_counts(s),
        "  of which follow-ups, live": lambda: selectors.follow_up_counts(s, live=True),
        "  of which state now": lambda: selectors.state_now(s, now=now),
        "  of which state now, live": lambda: selectors.state_now(s, now=now, live=True),
        "measured_promotion_rates": lambda: selectors.measured_promotion_rates(user=user, store=store, today=today),
        "defeat figures": lambda: rollups_defeats.defeat_figures(user=user, period=Period(start, end), stores=stores),
        "defeat figures, live": lambda: defeat_figures(user=user, period=Period(start, end), stores=stores),
        "stage_times": lambda: stage_times.stage_times(s, today=today),
        "loss_by_stage": lambda: rollups_defeats.loss_by_stage(user=user, start_at=s.start_at, end_at=s.end_at,
                                                               stores=stores),
        "loss_by_stage, live": lambda: loss_by_stage(user=user, start_at=s.start_at, end_at=s.end_at, stores=stores),
        # The funnel's own, and the control points brought up to date (their cohort columns, and here their
        # promotion columns too).
        "funnel (rollups)": lambda: figures.funnel_figures(
            s, base_month=base_month, compare_stores=store is None, points=points[0]),
        "  of which the funnel": lambda: selectors.funnel_metrics(s),
        "  of which by channel": lambda: selectors.funnel_metrics(s, group_by="channel"),
        "  of which the trend": lambda: selectors.monthly_trend(s),
        "  of which the cohort by consultant": lambda: selectors.cohort_counts(s, consultant="assigned_to"),
    }


def bench(*, runs: int = 3, live: bool = True, out=print) -> None:
    """``live=False``: leave out the live definitions' timings (minutes at ten million leads)."""
    today = timezone.localdate()
    group = DealerGroup.objects.get(name=BENCH_GROUP)
    store = Store.objects.filter(group=group).order_by("pk").first()
    manager = User.objects.filter(role=Role.MANAGER, store=store, is_active=True).order_by("pk").first()
    admin = User.objects.filter(role=Role.GROUP_ADMIN, dealer_group=group, is_active=True).order_by("pk").first()
    year_start = (today.replace(day=1) - timedelta(days=335)).replace(day=1)
    cases = [
        ("store, this month", manager, store, today.replace(day=1), today),
        ("store, 12 months", manager, store, year_start, today),
        ("group, 12 months", admin, None, year_start, today),
    ]
    out(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs; first / median of {runs} calls, ms")
    for label, user, scope, start, end in cases:
        out(f"{label} ({start} to {end})")
        for name, call in parts(user=user, store=scope, start=start, end=end, today=today).items():
            if not live and name.endswith(", live"):
                continue
            first, median = _time(call, runs)
            out(f"  {name:34s} {first:9.1f} {median:9.1f}")
