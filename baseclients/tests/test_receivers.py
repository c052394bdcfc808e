"""The base clients' receivers of leads.events run inside the lead's transaction: a deal whose VIN is already on a
card is refused whole (the same 400 on ``vin`` as before the check moved to the receiver)."""

from decimal import Decimal

import pytest

from baseclients.models import BaseClient, ClientLead, Purchase, Vehicle
from baseclients.tests.factories import buy
from leads.models import Deal, Status
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_a_vin_already_on_a_card_is_a_400_on_vin_and_nothing_of_the_deal_is_written(org, api_as):
    first = buy(store=org.store, consultant=org.consultant)
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    version = lead.version
    r = api_as(org.consultant).post(f"/api/v1/leads/{lead.pk}/deal/",
                                    {"price": "98000.00", "vin": first.vin.lower(), "plate": "粤B12345"},
                                    format="json")
    assert r.status_code == 400
    assert r.json() == {"vin": ["该车架号已登记在某位基盘客户名下。"]}  # the installation's language, zh-hans
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE and lead.version == version
    assert list(Deal.objects.values_list("pk", flat=True)) == [first.pk]
    assert Purchase.objects.count() == 1 and Vehicle.objects.count() == 1 and BaseClient.objects.count() == 1
    assert not ClientLead.objects.filter(lead=lead).exists()


def test_a_deal_makes_the_base_client_in_the_deals_transaction(org):
    deal = buy(store=org.store, consultant=org.consultant, phone="+8613900000051", plate="沪A12345")
    purchase = Purchase.objects.select_related("client").get(deal=deal)
    assert purchase.client.phone == "+8613900000051" and not purchase.is_repeat
    assert Vehicle.objects.get(deal=deal).plate == "沪A12345"
    assert deal.price == Decimal("150000.00")
