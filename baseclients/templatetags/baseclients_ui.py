"""Template tags for the blocks base clients add to other apps' pages (workspace, lead page, navbar)."""

from django import template
from django.utils.translation import gettext_lazy as _

from leads.templatetags.leads_ui import unit_rows_context

from .. import selectors
from ..models import BaseClient, ClientLead, Referral, VehicleUse

register = template.Library()


@register.inclusion_tag("baseclients/partials/_workspace_care_block.html", takes_context=True)
def care_today(context):
    """Today's and overdue care tasks of the user (a manager: the store's), beside the follow-ups. 3 queries."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not (user.store_id or user.is_superuser):
        return {"care": None}
    return {"care": selectors.care_today(user=user, limit=8), "request": request}


@register.inclusion_tag("baseclients/partials/_lead_panel_block.html", takes_context=True)
def lead_base_client(context, lead):
    """The lead's base client (a returning buyer, or the buyer of its deal) and its referrer."""
    link = ClientLead.objects.filter(lead=lead).select_related("client").first()
    referral = Referral.objects.filter(lead=lead).select_related("referrer_client", "referrer_staff").first()
    request = context.get("request")
    user = getattr(request, "user", None)
    form = None
    if lead.status == "active" and user is not None and user.is_authenticated:
        from ..forms import ReferrerForm

        initial = {"referral_types": referral.types} if referral else {}
        form = ReferrerForm(user=user, initial=initial)
    # A card links only for who may open it (a returning buyer's card or the referrer may be a colleague's): the
    # name is shown to everyone who sees the lead, the link only where it does not end in a 404.
    ids = {i for i in (link.client_id if link else None, referral.referrer_client_id if referral else None) if i}
    openable = set(BaseClient.objects.visible_to(user).filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    return {"link": link, "referral": referral, "lead": lead, "request": request, "referrer_form": form,
            "openable": openable}


@register.filter
def tier_class(tier: str) -> str:
    return {"premium": "bc-tier-premium", "potential": "bc-tier-potential"}.get(tier, "bc-tier-general")


@register.inclusion_tag("baseclients/partials/_deal_delivery.html", takes_context=True)
def deal_delivery(context, deal, form=None, next_url: str = ""):
    """An order's delivery: "3 of 5 delivered" and, for who may work its lead, the form delivering the rest."""
    from django.core.exceptions import PermissionDenied

    from leads.services._common import require_can_work

    from ..forms import DealDeliverForm

    request = context.get("request")
    user = getattr(request, "user", None)
    can_deliver = False
    if user is not None and user.is_authenticated and not deal.is_fully_delivered:
        try:
            require_can_work(user, deal.lead)
            can_deliver = True
        except PermissionDenied:
            pass
    form = form or DealDeliverForm()
    return {"deal": deal, "form": form, "can_deliver": can_deliver, "request": request,
            "csrf_token": context.get("csrf_token"), "next": next_url or (request.get_full_path() if request else ""),
            **unit_rows_context(form, f"deal-units-{deal.pk}", _("Vehicles delivered"), VehicleUse.COMMERCIAL
                                 if deal.quantity > 1 else VehicleUse.PRIVATE)}
