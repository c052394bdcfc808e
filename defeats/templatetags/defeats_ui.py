from django import template

register = template.Library()


@register.filter
def pct(value) -> str:
    """0.6543 → "65.4%"; None → "—"."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.1f}%"


@register.inclusion_tag("defeats/partials/_lead_panel_body.html", takes_context=True)
def defeat_panel(context, lead):
    """The defeat panel on the lead page: file an application, the pending one, the defeat history, talk tracks."""
    from ..views import lead_panel_context

    request = context.get("request")
    if request is None or lead is None:
        return {"lead": None}
    return {**lead_panel_context(user=request.user, lead=lead), "request": request}
