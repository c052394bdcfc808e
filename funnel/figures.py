"""The dashboard's counted figures. The funnel's own (the funnel and its mix, by source and channel, the trend, the
planner's base month, the store comparison, and the cohort columns N/K/F/C of the control points) are read from the
rollups on every request (funnel.rollups: exact, never stale), and so are the promotion rates (the control points'
promotion columns and the planner's measured rates, funnel.rollups_ladder) and the control points' workload columns
(follow-ups and rejections, funnel.rollups_followups). The rest of the page (the control points' ladder, overdue and
stale columns, the defeat figures, the time-in-stage and loss-by-stage panels) still goes through the figures cache
(dealercrm.figures), kept warm by a job for the views managers open first (this month and last month for each
store, this month and the last 12 months for each dealer group): the page says when those were counted."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from django.utils import timezone

from dealercrm import figures as figures_cache
from dealercrm.models import DealerGroup, Role, Store, User
from defeats.selectors import Period
from defeats.selectors import funnel_figures as defeat_figures
from defeats.stages import loss_by_stage

from . import calc, selectors, stage_times
from .forms import period_range

# The views counted ahead: what a manager opens first (the dashboard's default, and the month just closed) and what a
# group admin compares the stores on.
STORE_PERIODS = ("this_month", "last_month")
GROUP_PERIODS = ("this_month", "last_12")

# A monthly cohort younger than this is still converting: its F and C keep rising, so the trend marks it.
COHORT_MATURE_DAYS = 60


def dashboard_figures(*, user: User, store: Store | None, consultant: User | None, start: date, end: date,
                      today: date, compare_stores: bool, refresh: bool = False, with_funnel: bool = True):
    """The dashboard's counted figures: the funnel's own, the promotion rates and the follow-ups from the rollups,
    counted now (``funnel_figures``), and the rest (the control points' ladder, overdue and stale columns, the
    defeat figures, the two panels) from the figures cache (dealercrm.figures) for a manager's or group admin's
    view, keyed by what was counted: the store (or the whole dealer group), the consultant, the period and today. A
    consultant's own dashboard and a superuser's view across groups are counted live. Target progress is not here:
    it is cheap and a target just set shows at once. ``with_funnel=False``: the cached part only (the warm-up)."""
    is_consultant = user.role == Role.CONSULTANT and not user.is_superuser
    s = selectors.Slice(user=user, start=start, end=end, stores=[store] if store else [], consultant=consultant)

    # The planner's levers start from one whole month whose cohort has matured (a month target against a month's
    # levers; a young cohort's C is still rising): the period's own month when it qualifies, else the latest one
    # that does. Said on the page.
    base_month = calc.last_mature_month(end=end, today=today, mature_days=COHORT_MATURE_DAYS)

    def compute() -> dict:
        return {
            "points": selectors.control_points(s),
            # Control point 7's defeat figures (the KPI cards and the control-point table's columns).
            "defeats": defeat_figures(user=user, period=Period(start, end), stores=[store] if store else None,
                                      consultant=consultant),
            # The time-in-stage panel (funnel.stage_times) and the loss-by-stage panel (defeats.stages).
            "stage_times": stage_times.stage_times(s, today=today),
            "loss_by_stage": loss_by_stage(user=user, start_at=s.start_at, end_at=s.end_at,
                                           stores=[store] if store else None, consultant=consultant),
        }

    scope = ("store", store.pk) if store is not None else ("group", user.dealer_group_id)
    parts = (scope, consultant.pk if consultant else None, start, end, today)
    shared = not is_consultant and (store is not None or (not user.is_superuser and user.dealer_group_id))
    cached = figures_cache.get("dashboard", parts, compute, refresh=refresh, enabled=bool(shared))
    if not with_funnel:  # the warm-up: only what the cache holds
        return cached
    return replace(cached, value={
        **cached.value,
        # Counted for this request: the control points need no bringing up to date.
        **funnel_figures(s, base_month=base_month, compare_stores=compare_stores, points=cached.value["points"],
                         points_counted_now=not cached.cached),
        "rates": selectors.measured_promotion_rates(user=user, store=store),
    })


def funnel_figures(s: selectors.Slice, *, base_month: date, compare_stores: bool,
                   points: selectors.ControlPoints, points_counted_now: bool = False) -> dict:
    """The dashboard's funnel figures, from the rollups (live and exact): the period's funnel, by source and by
    channel, the twelve-month trend, the planner's base month, the store comparison, and ``points`` with their
    cohort columns (N, valid, K, followed, F, deals, C), promotion columns and workload columns (follow-ups, per
    day, rejected) counted now (``points_counted_now``: they were)."""
    metrics = selectors.funnel_metrics(s)
    base_first, base_last = calc.month_bounds(base_month)
    if (s.start, s.end) == (base_first, base_last):
        base = metrics
    else:
        base = selectors.funnel_metrics(replace(s, start=base_first, end=base_last))
    return {
        "metrics": metrics,
        "by_source": selectors.funnel_metrics(s, group_by="source"),
        "by_channel": selectors.funnel_metrics(s, group_by="channel"),
        "trend": selectors.monthly_trend(s),
        "base_month": base_month,
        "base": base,
        "by_store": selectors.funnel_metrics(s, group_by="store")["results"] if compare_stores else [],
        "points": points if points_counted_now else _with_live_follow_ups(
            _with_live_promotions(_with_live_cohort(points, s), s), s),
    }


def _with_live_cohort(points: selectors.ControlPoints, s: selectors.Slice) -> selectors.ControlPoints:
    """``points`` (maybe counted minutes ago) with each row's cohort columns, and the total's, from the rollups now."""
    counts = {keys["consultant"]: c for keys, c in selectors.cohort_counts(s, consultant="assigned_to")}
    if s.user.role == Role.CONSULTANT and not s.user.is_superuser:
        counts = {k: c for k, c in counts.items() if k == s.user.pk}

    def cohort(row: selectors.ControlPointRow, c: dict) -> selectors.ControlPointRow:
        n, valid, followed, deals = (c.get(name, 0) for name in ("N", "valid", "followed", "deals"))
        return replace(row, N=n, valid=valid, K=calc.rate(valid, n), followed=followed,
                       F=calc.rate(followed, valid), deals=deals, C=calc.rate(deals, followed))

    rows = [cohort(row, counts.get(row.consultant_id, {})) for row in points.rows]
    summed = {name: sum(c.get(name, 0) for c in counts.values()) for name in ("N", "valid", "followed", "deals")}
    return replace(points, rows=rows, total=cohort(points.total, summed))


def _with_live_promotions(points: selectors.ControlPoints, s: selectors.Slice) -> selectors.ControlPoints:
    """``points`` (maybe counted minutes ago) with each row's promotion columns, and the total's, from the ladder's
    rollup now (funnel.rollups_ladder). The total sums every consultant's counts, as ``control_points`` does."""
    own_only = s.user.role == Role.CONSULTANT and not s.user.is_superuser
    if own_only and s.consultant != s.user:
        s = replace(s, consultant=s.user)
    buckets = selectors.promotion_rates(s, by_consultant=True)
    if own_only:
        buckets = {k: b for k, b in buckets.items() if k == s.user.pk}
    names = [*selectors.RUNG_NAMES.values(), "E->A"]

    def promotions(row: selectors.ControlPointRow, held: dict, promoted: dict) -> selectors.ControlPointRow:
        held = {n: held.get(n, 0) for n in names}
        promoted = {n: promoted.get(n, 0) for n in names}
        return replace(row, held=held, promoted=promoted,
                       promotion={n: calc.rate(promoted[n], held[n]) for n in names})

    empty = {"held": {}, "promoted": {}}
    rows = []
    for row in points.rows:
        bucket = buckets.get(row.consultant_id, empty)
        rows.append(promotions(row, bucket["held"], bucket["promoted"]))
    total = promotions(points.total, {n: sum(b["held"][n] for b in buckets.values()) for n in names},
                       {n: sum(b["promoted"][n] for b in buckets.values()) for n in names})
    return replace(points, rows=rows, total=total)


def _with_live_follow_ups(points: selectors.ControlPoints, s: selectors.Slice) -> selectors.ControlPoints:
    """``points`` (maybe counted minutes ago) with each row's workload columns (follow-ups, per day, rejected), and
    the total's, from the follow-ups' rollup now (funnel.rollups_followups), as ``control_points`` counts them."""
    own_only = s.user.role == Role.CONSULTANT and not s.user.is_superuser
    if own_only and s.consultant != s.user:
        s = replace(s, consultant=s.user)
    counts = selectors.follow_up_counts(s)

    def workload(row: selectors.ControlPointRow, n: int, rejected: int) -> selectors.ControlPointRow:
        per_day = round(n / points.days, 2) if points.days else None
        return replace(row, follow_ups=n, rejected=rejected, follow_ups_per_day=per_day)

    rows = [workload(row, counts.get(row.consultant_id, {}).get("n", 0),
                     counts.get(row.consultant_id, {}).get("rejected", 0)) for row in points.rows]
    total = workload(points.total, sum(r.follow_ups for r in rows), sum(r.rejected for r in rows))
    return replace(points, rows=rows, total=total)


def warm_dashboards(*, today: date | None = None) -> int:
    """Count, into the cache, the dashboards managers and group admins open first: each store's this month and last
    month (as its manager sees them) and each group's this month and last 12 months (as a group admin sees them).
    Returns how many figure sets were counted. Counted as an active manager or group admin of the scope, so the key and the rows
    are exactly what that reader's page would count; a scope without one is left to be counted on first view."""
    today = today or timezone.localdate()
    counted = 0
    managers = {u.store_id: u for u in User.objects.filter(role=Role.MANAGER, is_active=True, store__isnull=False)
                .order_by("pk")}
    for store in Store.objects.filter(pk__in=list(managers)).order_by("pk"):
        for period in STORE_PERIODS:
            start, end = period_range(period, today=today)
            _warm(managers[store.pk], store=store, start=start, end=end, today=today, compare_stores=False)
            counted += 1
    admins = {u.dealer_group_id: u for u in User.objects.filter(role=Role.GROUP_ADMIN, is_active=True,
                                                                 dealer_group__isnull=False).order_by("pk")}
    for group in DealerGroup.objects.filter(pk__in=list(admins)).order_by("pk"):
        several = Store.objects.filter(group=group).count() > 1
        for period in GROUP_PERIODS:
            start, end = period_range(period, today=today)
            _warm(admins[group.pk], store=None, start=start, end=end, today=today, compare_stores=several)
            counted += 1
    return counted


def _warm(user: User, *, store: Store | None, start: date, end: date, today: date, compare_stores: bool) -> None:
    dashboard_figures(user=user, store=store, consultant=None, start=start, end=end, today=today,
                      compare_stores=compare_stores, refresh=True, with_funnel=False)
