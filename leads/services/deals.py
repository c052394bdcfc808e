"""Recording the sale."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dealercrm.models import User, VehicleSeries

from .. import events
from ..models import Deal, Lead, Status
from ..vehicles import VehicleUse, units_normalize, vehicle_ids_normalize
from ._common import bump, column_limits_or_error, lock, require_active, require_can_work
from .flags import clear_flags


_FEN = Decimal("0.01")


def deal_amounts(*, quantity: int, price: Decimal | None, unit_price: Decimal | None) -> tuple[Decimal, Decimal]:
    """(unit price, order amount) from what was given: ``unit_price`` (the amount is it × ``quantity``) or
    ``price``, the order's amount (the unit price is it ÷ ``quantity``, which must come out in whole fen). Both:
    they must agree. Money is Decimal, CNY."""
    errors = {}
    for field, value in (("price", price), ("unit_price", unit_price)):
        if value is not None and not isinstance(value, Decimal):
            errors[field] = [_("The price must be a decimal amount.")]
        elif value is not None and value < 0:
            errors[field] = [_("The price cannot be negative.")]
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        errors["quantity"] = [_("An order has at least one unit.")]
    if price is None and unit_price is None:
        errors["price"] = [_("Give the price (the order's amount) or the unit price.")]
    if errors:
        raise ValidationError(errors)
    if unit_price is None:
        unit_price = price / quantity
        if unit_price != unit_price.quantize(_FEN):
            raise ValidationError({"price": [_("The amount does not divide into equal unit prices in whole fen: "
                                               "give the unit price.")]})
        unit_price = unit_price.quantize(_FEN)
    total = unit_price * quantity
    if price is not None and price != total:
        raise ValidationError({"price": [_("The order's amount must be the unit price times the quantity.")]})
    column_limits_or_error(Deal, "price", total)  # 99999999999999 overflows numeric(12, 2)
    return unit_price, total


@transaction.atomic
def deal_record(*, actor: User, lead: Lead, price: Decimal | None = None, series: VehicleSeries | None = None,
                ordered_at: date | None = None, delivered_at: date | None = None, vin: str = "", plate: str = "",
                trade_in: bool = False, financed: bool = False, quantity: int = 1, unit_price: Decimal | None = None,
                vehicles: list[dict] | None = None) -> Deal:
    """Record the lead's sale and make the lead won: one transaction, whole or nothing. One order of ``quantity``
    units (default 1): ``price`` is the order's amount, ``unit_price`` a unit's (give either; ``deal_amounts``).
    ``vehicles`` (``[{vin, plate, use}]``, at most ``quantity``) are the units delivered now, on ``delivered_at``;
    the rest are delivered later (``baseclients.services.deal_deliver``). Without ``vehicles``, ``vin``/``plate``
    are the one vehicle (a one-unit deal's always, as before). The buyer becomes (or, buying again, stays) a base
    client with the vehicles in the same transaction: ``deal_recorded`` is sent with the units delivered now (the
    base clients make the card and its vehicles, ``deal.purchase.client``; a VIN already on a card is a 400 that
    undoes the deal)."""
    _unit_price, price = deal_amounts(quantity=quantity, price=price, unit_price=unit_price)
    ordered_at = ordered_at or timezone.localdate()
    if delivered_at is not None and delivered_at < ordered_at:
        raise ValidationError({"delivered_at": [_("Delivery cannot precede the order.")]})
    if vehicles is not None and (vin or plate):
        raise ValidationError({"vin": [_("Give the VIN and plate of each unit in the vehicles list.")]})
    if vehicles is None:  # the one vehicle of vin/plate: errors on those fields, as a one-unit deal always had
        vin, plate = vehicle_ids_normalize(vin=vin, plate=plate)
        units = [{"vin": vin, "plate": plate, "use": VehicleUse.PRIVATE}] if (quantity == 1 or vin or plate) else []
    else:
        units = units_normalize(vehicles, room=quantity)
    if delivered_at is not None and not units:
        raise ValidationError({"delivered_at": [_("List the vehicles delivered on this day.")]})
    lead = lock(lead)
    require_can_work(actor, lead)
    require_active(lead)
    first = units[0] if units else {"vin": "", "plate": ""}  # the deal's own VIN and plate: its first unit's
    deal = Deal.objects.create(lead=lead, series=series or lead.series, quantity=quantity, price=price,
                               ordered_at=ordered_at, delivered_at=delivered_at, vin=first["vin"],
                               plate=first["plate"], trade_in=trade_in, financed=financed, created_by=actor)
    lead.status = Status.WON
    lead.next_follow_up_at = None
    lead.last_contact_at = timezone.now()
    lead._change_reason = gettext_noop("Deal recorded")
    flags = clear_flags(lead, actor=actor, at=lead.last_contact_at, reason=gettext_noop("Deal recorded"), stale=True,
                        overdue=True, pool=True)
    bump(lead, ["status", "next_follow_up_at", "last_contact_at", *flags], actor=actor)
    events.deal_recorded.send(sender=Deal, deal=deal, lead=lead, actor=actor, units=units,
                              listed=vehicles is not None)
    return deal
