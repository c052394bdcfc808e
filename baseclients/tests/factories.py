"""Base-client test helpers: a won lead through the real deal service, so every test's client is made as in life."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from baseclients.vehicles import vin_with_check_digit
from leads.services import deal_record
from leads.tests.factories import LeadFactory

_vin_seq = iter(range(10_000, 99_999))


def a_vin() -> str:
    return vin_with_check_digit(f"LSVAB2BD0M{next(_vin_seq):07d}")


def buy(*, store, consultant, actor=None, phone=None, delivered_days_ago=0, vin=None, plate="", **lead_kwargs):
    """A lead of ``store`` held by ``consultant`` and its deal (delivered today by default); returns the deal."""
    kwargs = {"store": store, "assigned_to": consultant, **lead_kwargs}
    if phone is not None:
        kwargs["phone"] = phone
    lead = LeadFactory(**kwargs)
    delivered = timezone.localdate() - timedelta(days=delivered_days_ago)
    return deal_record(actor=actor or consultant, lead=lead, price=Decimal("150000.00"),
                       ordered_at=delivered - timedelta(days=5), delivered_at=delivered,
                       vin=a_vin() if vin is None else vin, plate=plate)
