"""Writes on the funnel: the manager's market estimates and targets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from dealercrm.models import Role, Store, User
from leads.services import manages_store

from .models import MarketEstimate, Target


def _require_manager(actor: User, store: Store) -> None:
    if not manages_store(actor, store):
        raise PermissionDenied(_("Only the store's manager can set this."))


def _first_of_month(month: date) -> date:
    if month.day != 1:
        raise ValidationError({"month": [_("Give the first day of the month (YYYY-MM-01).")]})
    return month


@transaction.atomic
def market_estimate_set(*, actor: User, store: Store, month: date, estimate: int, note: str = "") -> MarketEstimate:
    """Set (or replace) M for a store and month. The store's manager or the group admin."""
    _require_manager(actor, store)
    month = _first_of_month(month)
    if estimate < 0:
        raise ValidationError({"estimate": [_("Ensure this value is greater than or equal to 0.")]})
    row, _created = MarketEstimate.objects.update_or_create(
        store=store, month=month, defaults={"estimate": estimate, "note": note, "entered_by": actor}
    )
    return row


@transaction.atomic
def target_set(*, actor: User, store: Store, month: date, units: int, revenue: Decimal = Decimal(0),
               average_order_value: Decimal | None = None, consultant: User | None = None) -> Target:
    """Set (or replace) the month's target for the store, or for one consultant of it. Revenue in CNY (Decimal);
    without an average order value, revenue / units is assumed."""
    _require_manager(actor, store)
    month = _first_of_month(month)
    errors = {}
    if units < 0:
        errors["units"] = [_("Ensure this value is greater than or equal to 0.")]
    if revenue < 0:
        errors["revenue"] = [_("Ensure this value is greater than or equal to 0.")]
    if average_order_value is not None and average_order_value <= 0:
        errors["average_order_value"] = [_("Ensure this value is greater than 0.")]
    if consultant is not None and (consultant.store_id != store.pk or consultant.role != Role.CONSULTANT):
        errors["consultant"] = [_("Choose a consultant of this store.")]
    if errors:
        raise ValidationError(errors)
    if average_order_value is None and units and revenue:
        average_order_value = (revenue / units).quantize(Decimal("0.01"))
    row, _created = Target.objects.update_or_create(
        store=store, consultant=consultant, month=month,
        defaults={"units": units, "revenue": revenue, "average_order_value": average_order_value, "set_by": actor},
    )
    return row
