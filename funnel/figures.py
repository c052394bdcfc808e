"""The dashboard's counted figures, all counted on every request, exact and live (a write shows in the next answer):
the funnel and its mix, by source and channel, the trend, the planner's base month and the store comparison from the
funnel's rollups (funnel.rollups); the control points -- their cohort, promotion and workload columns from the
rollups, their ladder, overdue and stale columns from the state-now counts (funnel.lead_now); the defeat figures and
loss by stage from the defeats' rollup (funnel.rollups_defeats); the time-in-stage panel from the kept stays
(funnel.rollups_stays). No figures cache: each part is a read of rollup rows or an index range, whatever the number
of leads (docs/scaling.md, benchmarks/README.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from dealercrm.models import Store, User
from defeats.selectors import Period

from . import calc, rollups_defeats, selectors, stage_times

# A monthly cohort younger than this is still converting: its F and C keep rising, so the trend marks it.
COHORT_MATURE_DAYS = 60


def dashboard_figures(*, user: User, store: Store | None, consultant: User | None, start: date, end: date,
                      today: date, compare_stores: bool) -> dict:
    """The dashboard's counted figures for ``user``'s view (a store or everything the user sees, a consultant or
    everyone, the period): the funnel's own (``funnel_figures``), the control points, the promotion rates, the
    defeat figures and the two panels, counted now. Target progress is not here: the view reads it."""
    s = selectors.Slice(user=user, start=start, end=end, stores=[store] if store else [], consultant=consultant)
    stores = [store] if store else None
    # The planner's levers start from one whole month whose cohort has matured (a month target against a month's
    # levers; a young cohort's C is still rising): the period's own month when it qualifies, else the latest one
    # that does. Said on the page.
    base_month = calc.last_mature_month(end=end, today=today, mature_days=COHORT_MATURE_DAYS)
    return {
        **funnel_figures(s, base_month=base_month, compare_stores=compare_stores,
                         points=selectors.control_points(s)),
        # Control point 7's defeat figures (the KPI cards and the control-point table's columns).
        "defeats": rollups_defeats.defeat_figures(user=user, period=Period(start, end), stores=stores,
                                                  consultant=consultant),
        # The time-in-stage panel (funnel.stage_times) and the loss-by-stage panel (defeats.stages' definition).
        "stage_times": stage_times.stage_times(s, today=today),
        "loss_by_stage": rollups_defeats.loss_by_stage(user=user, start_at=s.start_at, end_at=s.end_at,
                                                       stores=stores, consultant=consultant),
        "rates": selectors.measured_promotion_rates(user=user, store=store),
    }


def funnel_figures(s: selectors.Slice, *, base_month: date, compare_stores: bool,
                   points: selectors.ControlPoints) -> dict:
    """The dashboard's funnel figures, from the rollups (live and exact): the period's funnel, by source and by
    channel, the twelve-month trend, the planner's base month, the store comparison, and ``points`` (the control
    points, counted by the caller)."""
    # The period's funnel is the by-source figures' total (every lead has one source): the same sums, one count less.
    by_source = selectors.funnel_metrics(s, group_by="source")
    metrics = by_source["total"]
    base_first, base_last = calc.month_bounds(base_month)
    if (s.start, s.end) == (base_first, base_last):
        base = metrics
    else:
        base = selectors.funnel_metrics(replace(s, start=base_first, end=base_last))
    return {
        "metrics": metrics,
        "by_source": by_source,
        "by_channel": selectors.funnel_metrics(s, group_by="channel"),
        "trend": selectors.monthly_trend(s),
        "base_month": base_month,
        "base": base,
        "by_store": selectors.funnel_metrics(s, group_by="store")["results"] if compare_stores else [],
        "points": points,
    }
