"""What base clients do when a lead changes (leads.events; connected in BaseclientsConfig.ready()). Each runs inside
the lead service's transaction: an error here undoes the lead's write."""

from __future__ import annotations

from .models import BaseClient
from .services import client_from_deal, link_returning_buyer, units_free_or_error, vin_free_or_error


def deal_makes_client(sender, *, deal, lead, actor, units=None, listed=False, **kwargs) -> None:
    """``deal_recorded``: the buyer's base client gets the purchase (one per order) and a vehicle per unit delivered
    now. A VIN already on a card is a ValidationError on ``vin`` (the deal's one vehicle) or on ``vehicles`` (a unit
    of the list), and the deal is undone; the user sees the field's message."""
    if listed:  # normalised by the deal service already
        units_free_or_error(units)
    else:
        vin_free_or_error(deal.vin)
    client_from_deal(actor=actor, deal=deal, lead=lead, units=units)


def visit_links_returning_buyer(sender, *, results, store, **kwargs) -> None:
    """``visit_logged``: each new lead whose phone is a base client's in the store's group is linked to that card (a
    returning buyer). One query finds them, whatever the batch's size."""
    leads = [result.lead for result in results if not result.is_revisit and result.lead.phone]
    if not leads:
        return
    returning = set(BaseClient.objects.filter(group_id=store.group_id, phone__in={lead.phone for lead in leads})
                    .values_list("phone", flat=True))
    for lead in leads:
        if lead.phone in returning:
            link_returning_buyer(lead)
