from django import template

from dealercrm import formats

register = template.Library()


@register.filter
def pct(value) -> str:
    """0.6543 → "65.4%"; None → "—" (``dealercrm.formats.rate``)."""
    return formats.rate(value)


@register.filter
def pct_number(value) -> str:
    """0.65 → "65" (a rate as the percent an input shows); None → ""."""
    if value is None or value == "":
        return ""
    return f"{float(value) * 100:g}"


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
    """The funnel dashboard's defeat figures for its slice (``defeats.selectors.funnel_figures``' definition): a part
    of the dashboard's counted figures (``funnel.figures.dashboard_figures``), so the KPI cards and the control-point
    table read one computation."""
    counted = context.get("figures")
    return counted["defeats"] if counted is not None else None


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
            "target": figures.get("target"),
            "store": context.get("store"), "request": request, "user": request.user}


@register.simple_tag(takes_context=True)
def defeat_points(context) -> dict:
    """The control-point table's defeat columns: ``{consultant id: figures}`` and ``"total"`` (see
    ``_funnel_slice_figures``; a row's own are summed by funnel.views, per consultant or per store team)."""
    figures = _funnel_slice_figures(context)
    if figures is None:
        return {}
    return {**figures["rows"], "total": figures["total"]}


@register.inclusion_tag("defeats/partials/_postmortem_panel.html", takes_context=True)
def post_mortem_panel(context, lead):
    """The lead page's post-mortem line: the lead's post-mortem when the user may read it, else the button that opens
    one on a won or lost lead (its consultant, the store's manager). One query."""
    from ..postmortems import can_open, post_mortem_list

    request = context.get("request")
    if request is None or lead is None or not lead.pk:
        return {"lead": None}
    pm = post_mortem_list(user=request.user).filter(lead_id=lead.pk).first()
    return {"lead": lead, "pm": pm, "can_open": pm is None and can_open(request.user, lead),
            "csrf_token": context.get("csrf_token")}
