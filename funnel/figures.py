"""The dashboard's counted figures, through the figures cache (dealercrm.figures), and the job that keeps the
views managers open first (this month and last month for each store, this month and the last 12 months for each
dealer group) counted ahead, so nobody waits for a count: a figure shown from the cache is at most FIGURES_MAX_AGE
old, and the page says when it was counted."""

from __future__ import annotations

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
                      today: date, compare_stores: bool, refresh: bool = False):
    """The dashboard's counted figures (the funnel, by source and channel, the trend, the control points, the
    planner's base month, its figures and the promotion rates, the store comparison, the defeat figures), from the
    figures cache
    (dealercrm.figures) for a manager's or group admin's view, keyed by what was counted: the store (or the whole
    dealer group), the consultant, the period and today. A consultant's own dashboard and a superuser's view
    across groups are counted live. Target progress is not here: it is cheap and a target just set shows at once."""
    is_consultant = user.role == Role.CONSULTANT and not user.is_superuser
    s = selectors.Slice(user=user, start=start, end=end, stores=[store] if store else [], consultant=consultant)

    # The planner's levers start from one whole month whose cohort has matured (a month target against a month's
    # levers; a young cohort's C is still rising): the period's own month when it qualifies, else the latest one
    # that does. Said on the page.
    base_month = calc.last_mature_month(end=end, today=today, mature_days=COHORT_MATURE_DAYS)

    def compute() -> dict:
        metrics = selectors.funnel_metrics(s)
        base_first, base_last = calc.month_bounds(base_month)
        if (start, end) == (base_first, base_last):
            base = metrics
        else:
            base = selectors.funnel_metrics(selectors.Slice(
                user=user, start=base_first, end=base_last, stores=[store] if store else [], consultant=consultant))
        return {
            "metrics": metrics,
            "by_source": selectors.funnel_metrics(s, group_by="source"),
            "by_channel": selectors.funnel_metrics(s, group_by="channel"),
            "trend": selectors.monthly_trend(s),
            "points": selectors.control_points(s),
            "base_month": base_month,
            "base": base,
            "rates": selectors.measured_promotion_rates(user=user, store=store),
            "by_store": selectors.funnel_metrics(s, group_by="store")["results"] if compare_stores else [],
            # Control point 7's defeat figures (the KPI cards and the control-point table's columns).
            "defeats": defeat_figures(user=user, period=Period(start, end), stores=[store] if store else None,
                                      consultant=consultant),
            # The time-in-stage panel (funnel.stage_times) and the loss-by-stage panel (defeats.stages).
            "stage_times": stage_times.stage_times(s, today=today),
            "loss_by_stage": loss_by_stage(user=user, start_at=s.start_at, end_at=s.end_at,
                                           stores=[store] if store else None, consultant=consultant),
        }

    scope = ("store", store.pk) if store is not None else ("group", user.dealer_group_id)
    parts = (scope, consultant.pk if consultant else None, start, end, today, compare_stores)
    shared = not is_consultant and (store is not None or (not user.is_superuser and user.dealer_group_id))
    return figures_cache.get("dashboard", parts, compute, refresh=refresh, enabled=bool(shared))


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
                      compare_stores=compare_stores, refresh=True)
