"""Fleet orders over the API and on the pages: ``POST /api/v1/leads/{id}/deal/`` with ``quantity`` and
``vehicles``, ``POST /api/v1/deals/{id}/vehicles/`` delivering the rest (scoped like the lead), the card's
``purchases`` and ``units``; the deal form and the delivery form; query counts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from baseclients.models import BaseClient, Vehicle
from dealercrm.tests.clients import client_for
from dealercrm.tests.factories import VehicleSeriesFactory
from leads.models import Deal, Lead
from leads.tests.factories import LeadFactory

from .factories import a_vin

pytestmark = pytest.mark.django_db


def _units(n, use="commercial"):
    return [{"vin": a_vin(), "plate": "", "use": use} for _ in range(n)]


def _order(org, api_as, *, quantity=5, delivered=3, user=None):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant,
                       series=VehicleSeriesFactory(segment="light_truck"))
    today = timezone.localdate()
    r = api_as(user or org.consultant).post(f"/api/v1/leads/{lead.pk}/deal/", {
        "quantity": quantity, "unit_price": "98000.00", "ordered_at": today.isoformat(),
        "delivered_at": today.isoformat(), "vehicles": _units(delivered)}, format="json")
    assert r.status_code == 201, r.content
    return r.data


def test_a_fleet_deal_answers_with_its_quantity_deliveries_and_base_client(org, api_as):
    data = _order(org, api_as)
    assert (data["quantity"], data["units_delivered"], data["unit_price"], data["price"], data["total"]) == (
        5, 3, "98000.00", "490000.00", "490000.00")
    card = api_as(org.consultant).get(f"/api/v1/base-clients/{data['base_client']}/").data
    assert (card["purchases"], card["units"], card["repeat_purchases"], card["fleet_size"]) == (1, 5, 0, 3)
    assert [d["quantity"] for d in card["deals"]] == [5] and card["deals"][0]["units_delivered"] == 3
    assert {v["use"] for v in card["vehicles"]} == {"commercial"}


def test_delivering_the_rest_later(org, api_as):
    data = _order(org, api_as)
    r = api_as(org.consultant).post(f"/api/v1/deals/{data['id']}/vehicles/", {"vehicles": _units(2)}, format="json")
    assert r.status_code == 201, r.content
    assert (r.data["units_delivered"], len(r.data["vehicles"])) == (5, 5)
    assert r.data["vehicles"][-1]["delivered_at"] == timezone.localdate().isoformat()
    card = api_as(org.consultant).get(f"/api/v1/base-clients/{data['base_client']}/").data
    assert (card["purchases"], card["units"], card["fleet_size"]) == (1, 5, 5)
    r = api_as(org.consultant).post(f"/api/v1/deals/{data['id']}/vehicles/", {"vehicles": _units(1)}, format="json")
    assert r.status_code == 400 and "vehicles" in r.data


@pytest.mark.parametrize(("body", "field"), [
    ({"quantity": 2, "unit_price": "1.00", "vehicles": _units(3)}, "vehicles"),  # more vehicles than units
    ({"quantity": 0, "price": "1.00"}, "quantity"),
    ({"quantity": 3, "price": "100.00"}, "price"),  # 33.333… a unit
    ({"quantity": 2, "price": "100.00", "unit_price": "40.00"}, "price"),
    ({"quantity": 2, "unit_price": "1.00", "vehicles": [{"use": "flying"}]}, "vehicles"),
    ({"quantity": 2, "unit_price": "1.00", "vehicles": _units(1), "vin": a_vin()}, "vin"),
])
def test_deal_input_that_does_not_add_up_is_a_400(org, api_as, body, field):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    r = api_as(org.consultant).post(f"/api/v1/leads/{lead.pk}/deal/", body, format="json")
    assert r.status_code == 400 and field in r.data, r.content
    assert Lead.objects.get(pk=lead.pk).status == "active" and not Deal.objects.exists()


def test_the_same_vin_twice_is_a_400(org, api_as):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    vin = a_vin()
    r = api_as(org.consultant).post(f"/api/v1/leads/{lead.pk}/deal/", {
        "quantity": 2, "unit_price": "1.00", "vehicles": [{"vin": vin}, {"vin": vin.lower()}]}, format="json",
        HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 400 and "Vehicle 2" in r.data["vehicles"][0]
    assert not Vehicle.objects.exists()


def test_delivery_bad_input_is_a_400(org, api_as):
    data = _order(org, api_as)
    url = f"/api/v1/deals/{data['id']}/vehicles/"
    api = api_as(org.consultant)
    assert "vehicles" in api.post(url, {"vehicles": []}, format="json").data
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    r = api.post(url, {"vehicles": _units(1), "delivered_at": tomorrow}, format="json")
    assert r.status_code == 400 and "delivered_at" in r.data
    last_year = (timezone.localdate() - timedelta(days=365)).isoformat()
    r = api.post(url, {"vehicles": _units(1), "delivered_at": last_year}, format="json")
    assert r.status_code == 400 and "delivered_at" in r.data
    assert Deal.objects.get(pk=data["id"]).units_delivered == 3


@pytest.mark.parametrize("who", ["consultant2", "consultant_b", "manager2", "other_manager", "other_admin"])
def test_who_may_not_see_the_lead_gets_a_404(org, api_as, who):
    data = _order(org, api_as)
    r = api_as(getattr(org, who)).post(f"/api/v1/deals/{data['id']}/vehicles/", {"vehicles": _units(1)},
                                       format="json")
    assert r.status_code == 404
    assert api_as(getattr(org, who)).get(f"/api/v1/deals/{data['id']}/").status_code == 404
    assert Deal.objects.get(pk=data["id"]).units_delivered == 3


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_the_store_manager_and_the_group_admin_may_deliver(org, api_as, who):
    data = _order(org, api_as)
    r = api_as(getattr(org, who)).post(f"/api/v1/deals/{data['id']}/vehicles/", {"vehicles": _units(2)},
                                       format="json")
    assert r.status_code == 201 and r.data["units_delivered"] == 5


def test_query_counts_on_the_card_and_the_lists(org, api_as, django_assert_max_num_queries):
    orders = [_order(org, api_as, quantity=4, delivered=2) for _ in range(3)]
    client_id = orders[0]["base_client"]
    api = api_as(org.consultant)
    with django_assert_max_num_queries(4):
        assert api.get("/api/v1/base-clients/").data["count"] == 3
    with django_assert_max_num_queries(12):
        assert api.get(f"/api/v1/base-clients/{client_id}/").status_code == 200
    with django_assert_max_num_queries(4):
        assert len(api.get(f"/api/v1/deals/{orders[0]['id']}/").data["vehicles"]) == 2
    browser = client_for(org.consultant)
    with django_assert_max_num_queries(14):
        page = browser.get(f"/base-clients/{client_id}/")
    assert page.status_code == 200
    assert "2 of 4 delivered" in page.content.decode() or "已交付 2/4" in page.content.decode()


# --- the pages ------------------------------------------------------------------------------------------------------

def test_the_deal_form_takes_the_units_and_the_vehicles_delivered_now(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    today = timezone.localdate().isoformat()
    vins = [a_vin(), a_vin()]
    r = client_for(org.consultant).post(f"/leads/{lead.pk}/deal/", {
        "quantity": 3, "price": "120000.00", "ordered_at": today, "delivered_at": today,
        "unit_vin": [vins[0], "", vins[1]], "unit_plate": ["沪A12345", "", ""],
        "unit_use": ["commercial", "private", "rental"]})
    assert r.status_code == 302, r.content.decode()[:2000]
    deal = Deal.objects.get(lead=lead)
    assert (deal.quantity, deal.price, deal.units_delivered) == (3, 360000, 2)
    assert sorted(Vehicle.objects.filter(deal=deal).values_list("vin", "use")) == sorted(
        [(vins[0], "commercial"), (vins[1], "rental")])


def test_the_deal_form_shows_the_service_errors(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    today = timezone.localdate().isoformat()
    r = client_for(org.consultant).post(f"/leads/{lead.pk}/deal/", {
        "quantity": 1, "price": "1.00", "ordered_at": today, "unit_vin": [a_vin(), a_vin()],
        "unit_use": ["private", "private"]})
    assert r.status_code == 200 and not Deal.objects.exists()
    assert "unit left to deliver" in r.content.decode() or "待交付" in r.content.decode()


def test_the_delivery_form_on_the_card(org, api_as):
    data = _order(org, api_as)
    browser = client_for(org.consultant)
    card = f"/base-clients/{data['base_client']}/?tab=vehicles"
    r = browser.post(f"/base-clients/deals/{data['id']}/deliver/", {
        "next": card, "unit_vin": [a_vin(), a_vin()], "unit_use": ["commercial", "commercial"]})
    assert r.status_code == 302 and r["Location"] == card
    assert Deal.objects.get(pk=data["id"]).units_delivered == 5
    assert BaseClient.objects.get(pk=data["base_client"]).fleet_size == 5


def test_the_delivery_form_refuses_a_colleague_and_a_foreign_next(org, api_as):
    data = _order(org, api_as)
    r = client_for(org.consultant2).post(f"/base-clients/deals/{data['id']}/deliver/", {"unit_vin": [a_vin()]})
    assert r.status_code == 404
    r = client_for(org.consultant).post(f"/base-clients/deals/{data['id']}/deliver/", {
        "next": "https://evil.example/", "unit_vin": ["NOT A VIN"]})
    assert r.status_code == 302 and r["Location"] == f"/leads/{data['lead']}/"
    assert Deal.objects.get(pk=data["id"]).units_delivered == 3


def test_the_catalogue_carries_the_light_commercial_segments(org, api_as):
    VehicleSeriesFactory(name="骐远 K3 轻卡", segment="light_truck")
    VehicleSeriesFactory(name="骐远 V6 轻客", segment="light_bus")
    api = api_as(org.consultant)
    r = api.get("/api/v1/vehicles/series/", {"segment": "light_truck"})
    assert r.status_code == 200 and [s["segment"] for s in r.data["results"]] == ["light_truck"]
    assert api.get("/api/v1/vehicles/series/", {"segment": "light_bus"}).data["results"][0]["name"] == "骐远 V6 轻客"
    assert api.get("/api/v1/vehicles/series/", {"segment": "bicycle"}).status_code == 400
