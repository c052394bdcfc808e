from django import template

register = template.Library()


@register.filter
def pct(value) -> str:
    """0.6543 → "65.4%"; None → "—"."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.1f}%"


@register.filter
def lead_status(value) -> str:
    """A lead status value ("defeat_pending") as its label, in the page's language."""
    from leads.models import Status

    return Status(value).label if value in Status.values else value


@register.inclusion_tag("defeats/partials/_lead_panel_body.html", takes_context=True)
def defeat_panel(context, lead):
    """The defeat panel on the lead page: file an application, the pending one, talk tracks (the steps themselves
    are in the lead's timeline)."""
    from ..views import lead_panel_context

    request = context.get("request")
    if request is None or lead is None:
        return {"lead": None}
    return {**lead_panel_context(user=request.user, lead=lead), "request": request}


def _funnel_slice_figures(context) -> dict | None:
    """``selectors.funnel_figures`` for the funnel dashboard's slice (its context: request, start, end, store,
    consultant), computed once per request: the KPI cards and the control-point table both read it."""
    from ..selectors import Period, funnel_figures

    request, start, end = context.get("request"), context.get("start"), context.get("end")
    if request is None or start is None or end is None:
        return None
    counted = context.get("figures")  # the dashboard's figures (funnel.figures), cached with the rest of its slice
    if counted is not None and "defeats" in getattr(counted, "value", {}):
        return counted.value["defeats"]
    store, consultant = context.get("store"), context.get("consultant")
    key = (start, end, getattr(store, "pk", None), getattr(consultant, "pk", None))
    cache = request.__dict__.setdefault("_defeat_funnel_figures", {})
    if key not in cache:
        cache[key] = funnel_figures(user=request.user, period=Period(start, end), stores=[store] if store else None,
                                    consultant=consultant)
    return cache[key]


@register.inclusion_tag("defeats/partials/_funnel_figures_body.html", takes_context=True)
def defeat_funnel_figures(context):
    """The funnel dashboard's defeat figures for its slice (store or all, consultant, period): defeat rate and
    false-defeat rate (control point 7, sales capability) and the applications pending now. Three queries, shared
    with the control-point table's columns."""
    figures = _funnel_slice_figures(context)
    if figures is None:
        return {"show": False}
    request = context["request"]
    return {"show": True, "figures": figures["total"], "pending": figures["total"]["pending_now"],
            "store": context.get("store"), "request": request, "user": request.user}


@register.simple_tag(takes_context=True)
def defeat_points(context) -> dict:
    """The control-point table's defeat columns: ``{consultant id: figures}`` and ``"total"`` (see
    ``_funnel_slice_figures``)."""
    figures = _funnel_slice_figures(context)
    if figures is None:
        return {}
    return {**figures["rows"], "total": figures["total"]}


@register.filter
def defeat_row(points: dict, consultant_id):
    """One consultant's defeat figures from ``defeat_points`` (zeros when they have none)."""
    return points.get(consultant_id) or {"defeats": 0, "deals": 0, "pending_now": 0, "defeat_rate": None}
