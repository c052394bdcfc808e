"""The funnel pages: the dashboard (managers, group admins, and consultants for themselves), the what-if planner
partial, and the manager's entry pages for the market estimate M and the monthly targets.

Views are thin: every figure comes from funnel.selectors (rates computed from SQL aggregates), every write goes
through funnel.services. Scoping follows the API: a store or consultant the user may not see is a 404; a
consultant opening a manager's entry page gets a 403. Views only *format* numbers (percentages with one decimal,
"—" for a null) for the templates and the charts' labels."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dealercrm import formats
from dealercrm.forms import add_service_errors
from dealercrm.models import Role, Store, User
from leads import deal_bases
from leads.models import Channel, Source

from . import calc, rollups_defeats, selectors, services
from .figures import COHORT_MATURE_DAYS, dashboard_figures
from .forms import DashboardForm, MarketEstimateForm, PlannerForm, TargetForm
from .models import MarketEstimate, Target
from .stage_panels import present_loss_by_stage, present_stage_times

GRADES = ("A", "B", "C", "D", "E")
RUNGS = ("E->D", "D->C", "C->B", "B->A")
RUNG_LABELS = [(rung, rung.replace("->", "→")) for rung in RUNGS]


# --- access --------------------------------------------------------------------------------------------------------


def role_required(view):
    """Anyone with a role (or a superuser); a logged-in user without one gets a 403."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not (request.user.is_superuser or request.user.role):
            raise PermissionDenied(_("Your account has no role yet."))
        return view(request, *args, **kwargs)

    return wrapped


def manager_required(view):
    """Store managers, group admins and superusers; consultants get a 403."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = request.user
        if not (user.is_superuser or user.role in (Role.MANAGER, Role.GROUP_ADMIN)):
            raise PermissionDenied(_("Only managers can open this page."))
        return view(request, *args, **kwargs)

    return wrapped


def _is_manager(user: User) -> bool:
    return user.is_superuser or user.role in (Role.MANAGER, Role.GROUP_ADMIN)


def _int_or_404(raw) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise Http404 from None


def _pick_store(user: User, raw, *, allow_all: bool) -> tuple[Store | None, list[Store]]:
    """The store a page works on, and the stores the user may pick from. ``raw`` is the requested id ("all" for
    every store, where allowed); one outside the user's scope is a 404. Default: the user's own store, else every
    store (the dashboard) or the first one (the entry pages)."""
    stores = list(Store.objects.visible_to(user).order_by("name"))
    if raw == "all" and allow_all:
        return None, stores
    if raw not in (None, ""):
        pk = _int_or_404(raw)
        store = next((s for s in stores if s.pk == pk), None)
        if store is None:
            raise Http404
        return store, stores
    own = next((s for s in stores if s.pk == user.store_id), None)
    if own or len(stores) == 1:
        return own or stores[0], stores
    return (None if allow_all else (stores[0] if stores else None)), stores


# --- formatting (no arithmetic on figures beyond ×100 for display) -------------------------------------------------


def pct(rate) -> str:
    """0.6667 → "66.7%"; None → "—" (``dealercrm.formats.rate``)."""
    return formats.rate(rate)


def num(value, digits: int = 0) -> str:
    """A count or a projection of one as a whole number (79.71 cars → "80"); with ``digits``, a decimal figure."""
    return formats.units(value) if digits == 0 else formats.number(value, digits)


def _rates(figures: dict) -> dict:
    return {k: pct(figures.get(k)) for k in ("K", "F", "C", "penetration")}


def _present_row(row: selectors.ControlPointRow) -> dict:
    return {
        "row": row,
        "K": pct(row.K), "F": pct(row.F), "C": pct(row.C),
        "promotion": [(rung, pct(row.promotion.get(rung)), row.held.get(rung, 0)) for rung in RUNGS],
        # Two decimals below one a day, so that a single follow-up in a month does not read as zero.
        "per_day": num(row.follow_ups_per_day, 2 if (row.follow_ups_per_day or 0) < 1 else 1),
        "ladder": [(g, row.ladder.get(g, 0)) for g in GRADES],
    }


# A run-rate from the first days of a month misleads (one sale on the 2nd "projects" 15.5): no projection before.
MIN_PROJECTION_DAYS = 7


def _present_progress(line: dict, *, state: str) -> dict:
    """A target-progress line for the page. ``state`` is calc.projection_state of its month: a closed month shows
    its final figure, the current month a run-rate projection once MIN_PROJECTION_DAYS have passed, otherwise
    nothing is projected. The average order value is the deals' own (revenue ÷ units) when there are any, else the
    target's."""
    units = line["units"] or 0
    target = line["target_units"]
    if state == "closed":
        projected, on_track = num(units), (target is not None and units >= target)
    elif state == "current" and line["projected_units"] is not None:
        projected = num(line["projected_units"])
        on_track = target is not None and line["projected_units"] >= target
    else:
        projected, on_track = "—", None
    revenue = line.get("revenue")
    aov = (Decimal(revenue) / units).quantize(Decimal("0.01")) if units and revenue else None
    return {
        **line,
        "state": state,
        "progress_pct": pct(line["progress"]),
        "projected": projected,
        # The bar's scale: the target, or the units done when no target is set (a full, neutral bar).
        "bar_max": target or max(units, 1),
        "on_track": on_track,
        "aov": aov or line.get("average_order_value"),
        "aov_is_actual": aov is not None,
    }


# --- the dashboard -------------------------------------------------------------------------------------------------


def _dashboard(request) -> dict:
    """Everything the dashboard shows, from the query string. A fixed number of queries whatever the data size."""
    user = request.user
    today = timezone.localdate()
    is_consultant = user.role == Role.CONSULTANT and not user.is_superuser
    store, stores = _pick_store(user, request.GET.get("store"), allow_all=not is_consultant)

    consultant = None
    raw_consultant = request.GET.get("consultant")
    if raw_consultant:
        consultant = User.objects.visible_to(user).filter(pk=_int_or_404(raw_consultant)).first()
        if consultant is None:
            raise Http404
    if is_consultant:
        consultant_choices = []
    else:
        consultant_choices = list(
            User.objects.visible_to(user)
            .filter(role=Role.CONSULTANT, store__in=[store.pk] if store else [s.pk for s in stores])
            .filter(is_active=True)
            .order_by("display_name", "username")
        )
        if consultant is not None and consultant not in consultant_choices:
            consultant_choices.append(consultant)

    data = request.GET.copy()
    data.setdefault("store", str(store.pk) if store else "all")
    form = DashboardForm(data, stores=stores, consultants=consultant_choices,
                         all_stores=len(stores) > 1 and not is_consultant, today=today)
    if form.is_valid():
        period, start, end = form.cleaned_data["period"], form.cleaned_data["start"], form.cleaned_data["end"]
    else:
        period = "this_month"
        start, end = today.replace(day=1), today
    # The date inputs show the range in force, so that switching to "custom" starts from it.
    form.data["start"], form.data["end"] = start.isoformat(), end.isoformat()

    compare_stores = store is None and len(stores) > 1 and not is_consultant
    figures = dashboard_figures(user=user, store=store, consultant=consultant, start=start, end=end, today=today,
                                compare_stores=compare_stores)
    base_month = figures["base_month"]
    metrics, by_source, by_channel = figures["metrics"], figures["by_source"], figures["by_channel"]
    trend, points = figures["trend"], figures["points"]

    # Target progress for the month holding the period's end (calendar basis: deals ordered in that month).
    month = end.replace(day=1)
    state = calc.projection_state(month=month, today=today, min_days=MIN_PROJECTION_DAYS)
    progress_store = progress_stores = None
    progress_consultants = []
    if store is not None:
        progress = selectors.target_progress(user=user, store=store, month=month, today=today)
        progress_store = _present_progress(progress["store"], state=state)
        progress_consultants = [_present_progress(line, state=state) for line in progress["consultants"]
                                if consultant is None or line["consultant"] == consultant.pk]
        if is_consultant or consultant is not None:
            # One person's page: their own target is the headline, and there is no per-consultant list.
            own = next(iter(progress_consultants), None)
            progress_store = own or (progress_store if is_consultant else None)
            progress_consultants = []
    else:
        progress_stores = [_present_progress(line, state=state) for line in
                           selectors.target_progress_by_store(user=user, stores=stores, month=month, today=today)]
    store_rows = _store_rows(figures["by_store"], progress_stores) if compare_stores else []

    # The planner: the period's levers and the month's unit target (the consultant's own when one is chosen).
    target_units = progress_store["target_units"] if progress_store else None
    if progress_stores is not None:
        targets = [line["target_units"] for line in progress_stores if line["target_units"] is not None]
        target_units = sum(targets) if targets else None
    base = figures["base"]
    planner_form = PlannerForm(initial={
        **PlannerForm.initial_from(base, target_units=target_units),
        "store": store.pk if store else None, "consultant": consultant.pk if consultant else None,
        "base_month": base_month,
    })
    planner = _plan(user, store=store, levers={"N": base["N"], "K": base["K"] or 0, "F": base["F"] or 0,
                                               "C": base["C"] or 0},
                    target_units=target_units, have=points.total.ladder, base_month=base_month,
                    rates=figures["rates"])

    p_mix = [{"grade": g, "share": metrics["P"][g], "label": pct(metrics["P"][g])} for g in GRADES]
    order = list(Source.values)  # walk-in, referral, outbound: the order DOMAIN §7 lists them
    # Labelled here, in the page's language.
    sources = sorted(({**row, **_rates(row), "label": str(Source(row["key"]).label)} for row in by_source["results"]),
                     key=lambda r: order.index(r["key"]))
    # Channel names in the page's language (the grouped figures carry the Chinese name only): one query.
    names = {c.pk: str(c) for c in Channel.objects.filter(pk__in=[r["key"] for r in by_channel["results"] if r["key"]])}
    channels = [{**row, **_rates(row), "label": names.get(row["key"]) or row["label"] or _("No channel")}
                for row in by_channel["results"]]
    for row in trend:
        row["immature"] = (today - calc.month_bounds(date.fromisoformat(row["month"]))[1]).days < COHORT_MATURE_DAYS
    charts = _chart_data(metrics, trend, sources, channels)
    # A group's page lists the control points per store team (the consultants now at each store, summed), with the
    # store's page a click away: its 740 consultants' rows were 1.2 MB of the page's 1.3 MB and 185 ms of rendering.
    teams = selectors.control_points_by_team(points) if compare_stores and consultant is None else []
    defeat_rows = figures["defeats"]["rows"]
    point_rows = [{**_present_row(row), "defeats": rollups_defeats.summed_figures(defeat_rows, members)}
                  for row, members in (teams or [(row, [row.consultant_id]) for row in points.rows])]
    stage_panel = present_stage_times(figures["stage_times"])
    loss_panel = present_loss_by_stage(figures["loss_by_stage"])

    return {
        "form": form,
        "figures": figures,
        "period": period,
        "start": start,
        "end": end,
        "month": month,
        "store": store,
        "stores": stores,
        "consultant": consultant,
        "is_consultant": is_consultant,
        "can_manage": _is_manager(user),
        "metrics": metrics,
        "rates": _rates(metrics),
        "p_mix": p_mix,
        "sources": sources,
        "channels": channels,
        "points": points,
        "point_rows": point_rows,
        "point_teams": bool(teams),
        "point_total": _present_row(points.total),
        "progress_store": progress_store,
        "progress_consultants": progress_consultants,
        "progress_stores": progress_stores,
        "progress_state": state,
        "min_projection_days": MIN_PROJECTION_DAYS,
        "store_rows": store_rows,
        "compare_stores": compare_stores,
        "has_immature": any(row["immature"] for row in trend),
        "mature_days": COHORT_MATURE_DAYS,
        "planner_form": planner_form,
        "planner": planner,
        "charts": charts,
        "grades": GRADES,
        "rung_labels": RUNG_LABELS,
        "stage_panel": stage_panel,
        "loss_panel": loss_panel,
    }


def _chart_data(metrics: dict, trend: list[dict], sources: list[dict], channels: list[dict]) -> dict:
    """What dashboard.js draws, with the labels translated here (json_script carries them to the page)."""
    return {
        "labels": {
            "N": _("Traffic (N)"), "valid": _("Valid info"), "followed": _("Followed up"),
            "deals": str(deal_bases.DEALS_COHORT),
            "K": "K", "F": "F", "C": "C", "customers": _("customers"), "share": _("Share"),
            "rates": _("Rate"), "count": _("Customers"), "none": "—",
            "immature": _("cohort still maturing"),
        },
        "funnel": [
            {"key": "N", "value": metrics["N"], "rate": None, "rate_label": ""},
            {"key": "valid", "value": metrics["valid"], "rate": metrics["K"], "rate_label": "K " + pct(metrics["K"])},
            {"key": "followed", "value": metrics["followed"], "rate": metrics["F"],
             "rate_label": "F " + pct(metrics["F"])},
            {"key": "deals", "value": metrics["deals"], "rate": metrics["C"], "rate_label": "C " + pct(metrics["C"])},
        ],
        "mix": [{"grade": g, "value": metrics["P"][g]} for g in GRADES],
        "trend": {
            "months": [row["month"][:7] for row in trend],
            "N": [row["N"] for row in trend],
            "valid": [row["valid"] for row in trend],
            "deals": [row["deals"] for row in trend],
            "K": [row["K"] for row in trend],
            "F": [row["F"] for row in trend],
            "C": [row["C"] for row in trend],
            "immature": [row["immature"] for row in trend],
        },
        "sources": [{"key": row["key"], "name": row["label"], "value": row["N"]} for row in sources],
        "channels": [{"name": row["label"], "value": row["N"]} for row in channels],
    }


def _store_rows(by_store_results: list[dict], progress_stores: list[dict]) -> list[dict]:
    """The group admin's comparison: one row per store, the period's cohort funnel (N, K, F, C, deals) beside the
    month's target progress (calendar basis). One more figure set (three queries), whatever the number of stores."""
    by_store = {row["key"]: row for row in by_store_results}
    rows = []
    for line in progress_stores:
        figures = by_store.get(line["store"], {})
        rows.append({
            "store": line["store"], "name": line["name"], "N": figures.get("N", 0), "deals": figures.get("deals", 0),
            **_rates(figures), "progress": line,
        })
    return rows


def _lever_required(key: str, required, unreachable: bool) -> str:
    if required is None:
        return "—"
    if key == "N":
        return num(required)
    return ">100%" if unreachable else pct(required)


def _plan(user: User, *, store: Store | None, levers: dict, target_units: int | None, have: dict,
          base_month: date | None = None, rates: dict | None = None) -> dict:
    """The planner's results: the levers' projection and requirements (calc.plan_levers), and the ladder needed
    for the target (calc.plan_ladder on the store's measured promotion rates) beside the ladder held now."""
    target = target_units
    plan = calc.plan_levers(target_units=target or 0, **levers)
    current = {"N": levers["N"], "K": levers["K"], "F": levers["F"], "C": levers["C"]}
    lever_rows = []
    for key, name in (("N", _("Traffic")), ("K", _("Retention rate")), ("F", _("Follow-up rate")),
                      ("C", _("Close rate"))):
        required = plan.required[key] if target else None
        is_count = key == "N"
        unreachable = bool(target) and key in plan.unreachable
        lever_rows.append({
            "key": key, "name": name,
            "current": num(current[key]) if is_count else pct(current[key]),
            "required": _lever_required(key, required, unreachable),
            "unreachable": unreachable,
            "met": required is not None and required <= current[key],
        })
    if rates is None:
        rates = selectors.measured_promotion_rates(user=user, store=store)
    ladder = []
    if target:
        needed = calc.plan_ladder(a=calc.a_needed(target_units=target), promotion_rates=rates)
        for g in GRADES:
            held = have.get(g, 0)
            short = needed[g] - held if needed[g] is not None and needed[g] > held else 0
            rung = selectors.RUNG_NAMES.get(g)  # the rung this grade climbs: B → "B->A"
            ladder.append({"grade": g, "need": num(needed[g]), "have": num(held), "short": num(short) if short else "",
                           "rung": rung.replace("->", "→") if rung else "", "rate": pct(rates.get(rung)) if rung else ""})
    return {
        "target": target,
        "projected": num(plan.projected_units),
        "levers": lever_rows,
        "ladder": ladder,
        "rates": [(rung, pct(rates.get(rung))) for rung in RUNGS],
        "base_month": base_month,
    }


@role_required
@require_GET
def dashboard(request):
    """The funnel dashboard: selectors, the funnel and its mix, the trend, sources, the control-point table,
    target progress and the planner. htmx asks for the body only when a selector changes."""
    context = _dashboard(request)
    if request.htmx and request.htmx.target == "fnl-dashboard":
        return render(request, "funnel/partials/_dashboard.html", context)
    return render(request, "funnel/dashboard.html", context)


@role_required
@require_POST
def planner(request):
    """The what-if planner, recomputed from typed levers and target: no database writes."""
    form = PlannerForm(request.POST)
    context = {"planner_form": form, "planner": None}
    if form.is_valid():
        store = None
        if form.cleaned_data.get("store"):
            store = Store.objects.visible_to(request.user).filter(pk=form.cleaned_data["store"]).first()
            if store is None:
                raise Http404
        consultant = None
        if form.cleaned_data.get("consultant"):
            consultant = User.objects.visible_to(request.user).filter(pk=form.cleaned_data["consultant"]).first()
            if consultant is None:
                raise Http404
        today = timezone.localdate()
        have = selectors.ladder_counts(selectors.Slice(
            user=request.user, start=today, end=today, stores=[store] if store else [], consultant=consultant,
        ))["counts"]
        context["planner"] = _plan(request.user, store=store, levers=form.levers(),
                                   target_units=form.cleaned_data.get("target_units"), have=have,
                                   base_month=form.cleaned_data.get("base_month"))
    template = "funnel/partials/_planner.html" if request.htmx else "funnel/planner.html"
    return render(request, template, context)


# --- the manager's entry pages -------------------------------------------------------------------------------------


# The months the targets page moves between.
MIN_MONTH, MAX_MONTH = date(2000, 1, 1), date(2099, 12, 1)


def _month_list(today: date, months: int = 12) -> list[date]:
    first = today.replace(day=1)
    out = [first]
    for _i in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
        out.append(first)
    return out


@manager_required
@require_http_methods(["GET", "POST"])
def market(request):
    """M per store and month: the last 12 months with N and penetration beside each, and a form to set one."""
    raw = request.POST.get("store") if request.method == "POST" else request.GET.get("store")
    store, stores = _pick_store(request.user, raw, allow_all=False)
    if store is None:
        raise Http404
    today = timezone.localdate()
    initial = {"month": today.replace(day=1)}
    if request.GET.get("month"):
        try:
            initial["month"] = MarketEstimateForm.base_fields["month"].clean(request.GET["month"])
        except ValidationError:
            raise Http404 from None
        existing = MarketEstimate.objects.visible_to(request.user).filter(store=store, month=initial["month"]).first()
        if existing:
            initial.update(estimate=existing.estimate, note=existing.note)
    form = MarketEstimateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            row = services.market_estimate_set(actor=request.user, store=store, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except PermissionDenied:
            form.add_error(None, _("You may not set the market demand of this store."))
        else:
            messages.success(request, _("Market demand for %(month)s set to %(m)s.") % {
                "month": row.month.strftime("%Y-%m"), "m": f"{row.estimate:,}"})
            return redirect(f"{reverse('funnel:market')}?store={store.pk}")

    s = selectors.Slice(user=request.user, start=today.replace(day=1), end=today, stores=[store])
    trend = {row["month"]: row for row in selectors.monthly_trend(s)}
    estimates = {
        e.month: e for e in MarketEstimate.objects.visible_to(request.user)
        .filter(store=store, month__gte=_month_list(today)[-1]).select_related("entered_by")
    }
    rows = []
    for month in _month_list(today):
        figures = trend.get(month.isoformat(), {})
        rows.append({"month": month, "estimate": estimates.get(month), "N": figures.get("N", 0),
                     "penetration": pct(figures.get("penetration")), "is_current": month == today.replace(day=1)})
    return render(request, "funnel/market.html", {
        "store": store, "stores": stores, "form": form, "rows": rows, "can_manage": True,
    })


@manager_required
@require_http_methods(["GET", "POST"])
def targets(request):
    """The month's targets for a store and each of its consultants, with progress, and a form to set one."""
    raw = request.POST.get("store") if request.method == "POST" else request.GET.get("store")
    store, stores = _pick_store(request.user, raw, allow_all=False)
    if store is None:
        raise Http404
    today = timezone.localdate()
    month = today.replace(day=1)
    raw_month = request.GET.get("month")
    if raw_month:
        month_field = TargetForm.base_fields["month"]
        try:
            month = month_field.clean(raw_month)
        except ValidationError:
            raise Http404 from None
        if not (MIN_MONTH <= month <= MAX_MONTH):
            # The page links the months before and after: year 1 or 9999 has none (and no dealer plans there).
            return render(request, "400.html", {"message": _("Choose a month between %(first)s and %(last)s.") % {
                "first": f"{MIN_MONTH:%Y-%m}", "last": f"{MAX_MONTH:%Y-%m}"}}, status=400)
    consultants = (User.objects.visible_to(request.user)
                   .filter(store=store, role=Role.CONSULTANT, is_active=True).order_by("display_name", "username"))
    # The form edits ONE row, chosen from the table (?consultant=, or the store's own row): a save holds only what
    # was typed for that row, never the values of the row shown before (a store's revenue target silently saved
    # for a consultant was the trap).
    editing = None
    if request.method == "GET" and request.GET.get("consultant"):
        editing = consultants.filter(pk=_int_or_404(request.GET["consultant"])).first()
        if editing is None:
            raise Http404
    initial = {"month": month, "consultant": editing}
    existing = Target.objects.visible_to(request.user).filter(store=store, month=month, consultant=editing).first()
    if existing:
        initial.update(units=existing.units, revenue=existing.revenue,
                       average_order_value=existing.average_order_value)
    form = TargetForm(request.POST or None, consultants=consultants, initial=initial)
    if request.method == "POST":
        raw_consultant = request.POST.get("consultant", "")
        # isdecimal, not isdigit: int() refuses "²"; the form itself says what is wrong with the value.
        editing = (consultants.filter(pk=int(raw_consultant)).first()
                   if raw_consultant.isdecimal() and int(raw_consultant) < 2**31 else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            row = services.target_set(
                actor=request.user, store=store, month=data["month"], units=data["units"],
                revenue=data["revenue"] or 0, average_order_value=data["average_order_value"],
                consultant=data["consultant"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except PermissionDenied:
            form.add_error(None, _("You may not set targets for this store."))
        else:
            who = str(row.consultant) if row.consultant else store.name
            messages.success(request, ngettext("Target for %(who)s in %(month)s set to %(units)s unit.",
                                               "Target for %(who)s in %(month)s set to %(units)s units.", row.units)
                             % {"who": who, "month": row.month.strftime("%Y-%m"), "units": row.units})
            return redirect(f"{reverse('funnel:targets')}?store={store.pk}&month={row.month:%Y-%m}")

    progress = selectors.target_progress(user=request.user, store=store, month=month, today=today)
    state = calc.projection_state(month=month, today=today, min_days=MIN_PROJECTION_DAYS)
    by_consultant = {line["consultant"]: line for line in progress["consultants"]}
    lines = [{"consultant": None, "name": store.name, **_present_progress(progress["store"], state=state)}]
    for c in consultants:
        line = by_consultant.pop(c.pk, None)
        if line is None:
            line = {"consultant": c.pk, "name": str(c), "target_units": None, "target_revenue": None,
                    "average_order_value": None, "units": None, "revenue": None, "projected_units": None,
                    "progress": None}
            lines.append({**line, "progress_pct": "—", "projected": "—", "bar_max": 1, "on_track": None,
                          "unset": True})
        else:
            lines.append(_present_progress(line, state=state))
    lines.extend(_present_progress(line, state=state) for line in by_consultant.values())  # staff who left
    previous = (month - timedelta(days=1)).replace(day=1)
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return render(request, "funnel/targets.html", {
        "store": store, "stores": stores, "form": form, "lines": lines, "month": month,
        "previous": previous if previous >= MIN_MONTH else None,
        "following": following if following <= MAX_MONTH else None, "can_manage": True,
        "editing": editing, "editing_store": editing is None, "progress_state": state,
    })
