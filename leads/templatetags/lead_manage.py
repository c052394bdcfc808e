"""Template tags for the manager's controls on a lead's own page. Unlike leads_ui (pure formatting) these read the
database: one query, and only for a user who manages the lead's store."""

from django import template
from django.utils.html import format_html_join

from leads.forms_manager import store_consultants
from leads.services._common import manages_store

register = template.Library()


@register.simple_tag
def lead_assignees(user, lead):
    """The consultants ``user`` may give ``lead`` to, or None when the user does not manage its store (or the lead
    is closed): the lead page shows its reassign form only then."""
    if not getattr(user, "is_authenticated", False) or not lead.is_active or not manages_store(user, lead.store):
        return None
    return list(store_consultants(user, lead.store))


@register.simple_tag(takes_context=True)
def assignee_options(context, assignees, holder_id):
    """The ``<option>``s of a row's reassign select: every assignee but the lead's holder. Built once per list and
    holder (every row of the unassigned list, or of one consultant's drill-down, offers the same people), in Python:
    as template nodes, 50 rows × a store's consultants were most of the allocation page's rendering time."""
    # The whole render's cache (as IncludeNode keeps its templates): each included row has a render context of its own.
    cache = context.render_context.dicts[0].setdefault(assignee_options, {})
    key = (id(assignees), holder_id)
    if key not in cache:
        cache[key] = format_html_join(
            "", '<option value="{}">{}</option>', ((p.pk, str(p)) for p in assignees if p.pk != holder_id))
    return cache[key]
