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
from ..vehicles import vehicle_ids_normalize
from ._common import bump, column_limits_or_error, lock, require_active, require_can_work
from .flags import clear_flags


@transaction.atomic
def deal_record(*, actor: User, lead: Lead, price: Decimal, series: VehicleSeries | None = None,
                ordered_at: date | None = None, delivered_at: date | None = None, vin: str = "", plate: str = "",
                trade_in: bool = False, financed: bool = False) -> Deal:
    """Record the lead's sale (price in CNY, Decimal) and make the lead won: one transaction, whole or nothing. The
    VIN and plate are normalised and format-checked here; ``deal_recorded`` is sent in the same transaction (the
    buyer becomes, or buying again stays, a base client with the vehicle: ``deal.purchase.client``, and a VIN already
    on a card is a 400 on ``vin`` that undoes the deal)."""
    if not isinstance(price, Decimal):
        raise ValidationError({"price": [_("The price must be a decimal amount.")]})
    if price < 0:
        raise ValidationError({"price": [_("The price cannot be negative.")]})
    column_limits_or_error(Deal, "price", price)  # 99999999999999 overflows numeric(12, 2)
    ordered_at = ordered_at or timezone.localdate()
    if delivered_at is not None and delivered_at < ordered_at:
        raise ValidationError({"delivered_at": [_("Delivery cannot precede the order.")]})
    vin, plate = vehicle_ids_normalize(vin=vin, plate=plate)
    lead = lock(lead)
    require_can_work(actor, lead)
    require_active(lead)
    deal = Deal.objects.create(lead=lead, series=series or lead.series, price=price, ordered_at=ordered_at,
                               delivered_at=delivered_at, vin=vin, plate=plate, trade_in=trade_in, financed=financed,
                               created_by=actor)
    lead.status = Status.WON
    lead.next_follow_up_at = None
    lead.last_contact_at = timezone.now()
    lead._change_reason = gettext_noop("Deal recorded")
    flags = clear_flags(lead, actor=actor, at=lead.last_contact_at, reason=gettext_noop("Deal recorded"), stale=True,
                        overdue=True, pool=True)
    bump(lead, ["status", "next_follow_up_at", "last_contact_at", *flags], actor=actor)
    events.deal_recorded.send(sender=Deal, deal=deal, lead=lead, actor=actor)
    return deal
