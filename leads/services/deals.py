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

from ..models import Deal, Lead, Status
from ._common import bump, column_limits_or_error, lock, require_active, require_can_work
from .flags import clear_flags


@transaction.atomic
def deal_record(*, actor: User, lead: Lead, price: Decimal, series: VehicleSeries | None = None,
                ordered_at: date | None = None, delivered_at: date | None = None, vin: str = "", plate: str = "",
                trade_in: bool = False, financed: bool = False) -> Deal:
    """Record the lead's sale (price in CNY, Decimal) and make the lead won: one transaction, whole or nothing. The
    buyer becomes (or, buying again, stays) a base client with the vehicle (VIN and plate validated) in the same
    transaction: ``deal.purchase.client`` (baseclients)."""
    from baseclients.services import client_from_deal, validate_vehicle_ids

    if not isinstance(price, Decimal):
        raise ValidationError({"price": [_("The price must be a decimal amount.")]})
    if price < 0:
        raise ValidationError({"price": [_("The price cannot be negative.")]})
    column_limits_or_error(Deal, "price", price)  # 99999999999999 overflows numeric(12, 2)
    ordered_at = ordered_at or timezone.localdate()
    if delivered_at is not None and delivered_at < ordered_at:
        raise ValidationError({"delivered_at": [_("Delivery cannot precede the order.")]})
    vin, plate = validate_vehicle_ids(vin=vin, plate=plate)
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
    client_from_deal(actor=actor, deal=deal, lead=lead)
    return deal
