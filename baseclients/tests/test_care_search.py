"""The care queue's search (the page's box, posted; the care-task API's ``?q=``) by name, phone within the masking
rule and series, and its tap-to-call links: only where the user sees the phone in full."""

from datetime import timedelta

import pytest
from django.utils import timezone

from baseclients.models import BaseClient, CareTask, Vehicle
from dealercrm.tests.clients import HTMX, client_for
from dealercrm.tests.factories import VehicleBrandFactory, VehicleSeriesFactory

from .factories import buy

pytestmark = pytest.mark.django_db


@pytest.fixture
def clients(org):
    class C:
        pass

    c = C()
    c.zhang = BaseClient.objects.get(purchase_rows__deal=buy(store=org.store, consultant=org.consultant,
                                                             phone="+8613812345678", name="张三丰"))
    c.li = BaseClient.objects.get(purchase_rows__deal=buy(store=org.store, consultant=org.consultant,
                                                          phone="+8613900001111", name="李四"))
    series = VehicleSeriesFactory(brand=VehicleBrandFactory(name="丰田Q", name_en="Toyota Q", is_own=True),
                                  name="凯美瑞Q", name_en="Camry Q")
    Vehicle.objects.filter(client=c.li).update(series=series)
    CareTask.objects.filter(client__in=[c.zhang, c.li]).update(due_on=timezone.localdate() - timedelta(days=1))
    return c


def _names(c, q):
    body = c.post("/base-clients/care/", {"q": q}, **HTMX).content.decode()
    return {name for name in ("张三丰", "李四") if name in body}


def test_the_care_queue_finds_by_name_phone_and_series(org, clients, django_assert_max_num_queries):
    c = client_for(org.consultant)
    assert _names(c, "张三") == {"张三丰"}
    assert _names(c, "138 1234 5678") == {"张三丰"}
    assert _names(c, "5678") == {"张三丰"}
    assert _names(c, "Camry") == {"李四"}
    assert _names(c, "") == {"张三丰", "李四"}
    with django_assert_max_num_queries(12):
        r = c.post("/base-clients/care/", {"q": "李"}, **HTMX)
    assert 'id="bc-care-groups"' in r.content.decode() and "<html" not in r.content.decode()
    # Without JS: the same POST renders the whole page with the search box filled in.
    r = c.post("/base-clients/care/", {"q": "李"})
    assert r.status_code == 200 and 'name="q"' in r.content.decode() and "张三丰" not in r.content.decode()


def test_a_masked_phone_is_not_found_by_digits_nor_called(org, clients):
    # A task handed to a colleague: they see the task, the client's phone masked.
    CareTask.objects.filter(client=clients.zhang).update(assigned_to=org.consultant2)
    c = client_for(org.consultant2)
    assert _names(c, "") == {"张三丰"}
    for n in range(4, 11):
        assert _names(c, "13812345678"[-n:]) == set()
    body = c.get("/base-clients/care/").content.decode()
    assert "138****5678" in body and "tel:" not in body
    assert _names(client_for(org.manager2), "5678") == set()


def test_tap_to_call_where_the_phone_is_readable(org, clients):
    body = client_for(org.consultant).get("/base-clients/care/").content.decode()
    assert 'href="tel:+8613812345678"' in body
    card = client_for(org.consultant).get(f"/base-clients/{clients.zhang.pk}/").content.decode()
    assert 'href="tel:+8613812345678"' in card
    card = client_for(org.consultant2).get(f"/base-clients/{clients.zhang.pk}/")
    assert card.status_code == 404 or "tel:" not in card.content.decode()


def test_the_api_shares_the_search(org, clients, api):
    api.force_authenticate(org.consultant)
    url = "/api/v1/care-tasks/"
    r = api.get(url, {"q": "5678"})
    assert r.status_code == 200 and {row["base_client"] for row in r.json()["results"]} == {clients.zhang.pk}
