"""A deal's units on the buyer's card: one vehicle (VIN, plate, use) per unit of the order, the first ones at the deal,
the rest delivered later in parts (a fleet order, 批售). The deal stays ONE purchase for the buyer; its ``quantity``
is what volume counts."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dealercrm.models import User
from leads.models import Deal
from leads.vehicles import units_normalize

from ..models import BaseClient, TierCause, Vehicle
from ._common import bump, lock_client
from .care import add_months, materialise
from .scoring import refresh


def validate_units(units: list[dict], *, room: int) -> list[dict]:
    """The units delivered now (``[{vin, plate, use}]``), normalised (``leads.vehicles.units_normalize``: at most
    ``room``, well formed, no VIN twice, a known use) and each VIN on no card yet. A 400 on ``vehicles`` naming the
    unit (1-based) otherwise."""
    units = units_normalize(units, room=room)
    units_free_or_error(units)
    return units


def units_free_or_error(units: list[dict]) -> None:
    """A 400 on ``vehicles`` naming each unit (1-based) whose (normalised) VIN is already on a base client's card."""
    taken = set(Vehicle.objects.filter(vin__in=[u["vin"] for u in units if u["vin"]]).values_list("vin", flat=True))
    errors = [_("Vehicle %(n)d: a vehicle with this VIN is already on a base client's card.") % {"n": number}
              for number, unit in enumerate(units, start=1) if unit["vin"] in taken]
    if errors:
        raise ValidationError({"vehicles": errors})


def unit_values(*, deal: Deal, units: list[dict], delivered_at: date | None) -> list[dict]:
    """The vehicles of ``units`` of ``deal`` as field values (attname → value; the card's ``client_id`` apart):
    delivered (and registered) on ``delivered_at``, insurance renewing a year on."""
    renewal = add_months(delivered_at, 12) if delivered_at else None
    return [{"deal_id": deal.pk, "series_id": deal.series_id, "vin": u["vin"], "plate": u["plate"], "use": u["use"],
             "ordered_at": deal.ordered_at, "delivered_at": delivered_at, "registered_at": delivered_at,
             "insurance_renewal_at": renewal} for u in units]


def unit_vehicles(*, client: BaseClient, deal: Deal, units: list[dict], delivered_at: date | None) -> list[Vehicle]:
    """The vehicles of ``units`` on ``client``'s card, unsaved (``unit_values``)."""
    vehicles = []
    for values in unit_values(deal=deal, units=units, delivered_at=delivered_at):
        del values["deal_id"]  # the deal itself, cached on the vehicle
        vehicles.append(Vehicle(client=client, deal=deal, **values))
    return vehicles


def deal_counts_units(deal: Deal, vehicles: list[Vehicle] | list[dict], delivered_at: date | None) -> list[str]:
    """Count ``vehicles`` (instances, or ``unit_values``) delivered on ``deal`` (``units_delivered``; the first
    delivery dates the deal's delivery, the first unit gives a deal without them its VIN and plate), in memory: the
    changed fields, for the caller's save."""
    fields = ["units_delivered"]
    deal.units_delivered += len(vehicles)
    if deal.delivered_at is None and delivered_at is not None and vehicles:
        deal.delivered_at = delivered_at
        fields.append("delivered_at")
    if not deal.vin and not deal.plate and vehicles:  # the deal's own VIN/plate: its first unit's
        first = vehicles[0]
        deal.vin, deal.plate = (first["vin"], first["plate"]) if isinstance(first, dict) else (first.vin, first.plate)
        fields += ["vin", "plate"]
    return fields


def units_create(*, client: BaseClient, deal: Deal, units: list[dict], delivered_at: date | None) -> list[Vehicle]:
    """The vehicles of ``units`` (validated by ``validate_units``) on ``client``'s card, delivered (and registered)
    on ``delivered_at``, insurance renewing a year on. Counts them on the deal (``units_delivered``; the first
    delivery dates the deal's delivery) and in the card's fleet size. Inside the caller's transaction."""
    from .clients import _fleet_counts_vehicles

    vehicles = Vehicle.objects.bulk_create(unit_vehicles(client=client, deal=deal, units=units,
                                                         delivered_at=delivered_at))
    deal.save(update_fields=deal_counts_units(deal, vehicles, delivered_at))
    if _fleet_counts_vehicles(client):
        client.save(update_fields=["fleet_size"])
    return vehicles


@transaction.atomic
def deal_deliver(*, actor: User, deal: Deal, vehicles: list[dict], delivered_at: date | None = None) -> list[Vehicle]:
    """Deliver more units of ``deal`` (default today): one vehicle each on the buyer's card, up to the order's
    quantity. Whoever may work the deal's lead may deliver (its consultant, the store's manager, the group's admin);
    a deal of a lead they may not see is the caller's 404. 400: no vehicles, more than the units left, a bad VIN or
    plate, a delivery before the order. The fleet size, tier and care plan follow."""
    from leads.services._common import require_can_work

    deal = Deal.objects.select_for_update().select_related("lead__store").get(pk=deal.pk)
    require_can_work(actor, deal.lead)
    delivered_at = delivered_at or timezone.localdate()
    errors = {}
    if not vehicles:
        errors["vehicles"] = [_("Give at least one vehicle delivered.")]
    if delivered_at < deal.ordered_at:
        errors["delivered_at"] = [_("Delivery cannot precede the order.")]
    if delivered_at > timezone.localdate():
        errors["delivered_at"] = [_("A delivery cannot be in the future.")]
    if errors:
        raise ValidationError(errors)
    units = validate_units(vehicles, room=deal.units_to_deliver)
    client_id = deal.purchase.client_id
    client = lock_client(client_id)
    created = units_create(client=client, deal=deal, units=units, delivered_at=delivered_at)
    bump(client, [])
    refresh(client, actor=actor, cause=TierCause.CARD)
    materialise(client_ids=[client.pk])
    return created
