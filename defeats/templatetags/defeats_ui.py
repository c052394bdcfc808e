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
    """The defeat panel on the lead page: file an application, the pending one, talk tracks (the steps are in the lead's timeline)."""
    from ..views import lead_panel_context

    request = context.get("request")
    if request is None or lead is None:
        return {"lead": None}
    return {**lead_panel_context(user=request.user, lead=lead), "request": request}


@register.inclusion_tag("defeats/partials/_funnel_figures_body.html", takes_context=True)
def defeat_funnel_figures(context):
    """The funnel dashboard's defeat figures for its slice (store or all, consultant, period): defeat rate and
    false-defeat rate (control point 7, sales capability) and the applications pending now. Four queries."""
    from ..models import Application, ApplicationStatus
    from ..selectors import Period, defeat_metrics

    request, start, end = context.get("request"), context.get("start"), context.get("end")
    if request is None or start is None or end is None:
        return {"show": False}
    user = request.user
    store, consultant = context.get("store"), context.get("consultant")
    stores = [store] if store else None
    figures = defeat_metrics(user=user, period=Period(start, end), stores=stores, consultant=consultant,
                             with_reasons=False)
    pending = Application.objects.visible_to(user).filter(status=ApplicationStatus.PENDING)
    if stores:
        pending = pending.filter(store__in=stores)
    if consultant is not None:
        pending = pending.filter(consultant=consultant)
    return {"show": True, "figures": figures, "pending": pending.count(), "store": store, "request": request,
            "user": user}
