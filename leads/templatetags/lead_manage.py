"""Template tags for the manager's controls on a lead's own page. Unlike leads_ui (pure formatting) these read the
database: one query, and only for a user who manages the lead's store."""

from django import template

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
