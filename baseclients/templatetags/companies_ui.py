"""The company panel that company accounts add to the lead page."""

from django import template

from ..views_companies import lead_panel_context

register = template.Library()


@register.inclusion_tag("baseclients/companies/_lead_panel.html", takes_context=True)
def company_panel(context, lead):
    """The lead's company, its people's parts in the decision, the qualification (and the forms to change them)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"lead": lead}
    return {**lead_panel_context(user=user, lead=lead), "request": request}
