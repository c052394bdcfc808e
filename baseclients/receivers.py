"""What base clients do when a lead changes (leads.events; connected in BaseclientsConfig.ready()). Each runs inside
the lead service's transaction: an error here undoes the lead's write."""

from __future__ import annotations

from .models import ClientLead
from .services import (
    client_from_deal,
    clients_from_deals,
    clients_with_phones,
    taken_vins,
    units_free_or_error,
    vin_free_or_error,
    vin_taken_error,
)


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
    returning buyer). One query finds them and one insert links them, whatever the batch's size."""
    leads = [result.lead for result in results if not result.is_revisit and result.lead.phone]
    if not leads:
        return
    returning = dict(clients_with_phones(store.group_id, {lead.phone for lead in leads})
                     .values_list("phone", "pk"))
    # As ``link_returning_buyer`` links one (get_or_create: a lead keeps its link), with one insert for the batch.
    ClientLead.objects.bulk_create([ClientLead(lead=lead, client_id=returning[lead.phone]) for lead in leads
                                    if lead.phone in returning], ignore_conflicts=True)


def deals_make_clients(*, sales, actor, **kwargs) -> None:
    """``deal_makes_client`` for many deals at once (the base-client import's batches send no ``deal_recorded``
    per deal but call this, ``reports.services.client_imports``): ``sales`` are (deal, lead, units) of one dealer
    group, each unit list as the signal's ``units``. A VIN already on a card is the same ValidationError on ``vin``,
    and nothing of the call is written."""
    if taken_vins(unit["vin"] for _deal, _lead, units in sales for unit in units):
        raise vin_taken_error()
    clients_from_deals(actor=actor, sales=sales)
