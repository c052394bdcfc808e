"""Two deals of one phone at once on real PostgreSQL: one card, two purchases, one of them a repeat."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from baseclients.models import BaseClient, Purchase
from leads import services
from leads.tests.factories import LeadFactory

from .factories import a_vin

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_simultaneous_deals_of_one_phone_make_one_card(org):
    leads = [LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613955556666"),
             LeadFactory(store=org.store2, assigned_to=org.consultant_b, phone="+8613955556666")]
    barrier = threading.Barrier(2)
    errors = []

    def deal(lead, actor):
        try:
            barrier.wait()
            services.deal_record(actor=actor, lead=lead, price=Decimal("100000"), vin=a_vin())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deal, args=(lead, who)) for lead, who in
               zip(leads, (org.consultant, org.consultant_b), strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    client = BaseClient.objects.get()
    assert client.purchases == 2
    assert sorted(Purchase.objects.values_list("is_repeat", flat=True)) == [False, True]
