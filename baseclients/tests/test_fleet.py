"""Fleet orders (批售): one deal of n units, its vehicles delivered in parts, one purchase for the buyer and n units
for volume; vehicle uses and the inspection rule by use, segment and age. Worked cases with the figures computed by
hand."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from baseclients import services
from baseclients.models import BaseClient, CareTask, Purchase, TierRule, Vehicle
from baseclients.services.care import add_months, inspection_dates, inspection_exempt
from dealercrm.tests.factories import VehicleSeriesFactory
from funnel import selectors as funnel
from funnel.selectors import Slice
from leads.models import Deal
from leads.services import deal_record
from leads.tests.factories import LeadFactory

from .factories import a_vin

pytestmark = pytest.mark.django_db


def _units(n: int, use: str = "commercial") -> list[dict]:
    return [{"vin": a_vin(), "plate": "", "use": use} for _ in range(n)]


# --- the inspection rule (pure) -------------------------------------------------------------------------------------

RULE = TierRule()  # the defaults: operating every 12 months; exempt cars in year 6 and 10, then yearly


def test_a_commercial_light_truck_is_inspected_every_year():
    # Registered 10 March 2020, reminders 30 days before: 8 Feb 2021 (10 Mar 2021 − 30 days) … 8 Feb 2026; in the
    # leap year 2024 February has 29 days, so 10 Mar − 30 days is 9 Feb.
    dates = list(inspection_dates(date(2020, 3, 10), exempt=False, rule=RULE, start=date(2020, 1, 1),
                                  end=date(2026, 12, 31), offset=-30))
    assert dates == [date(2021, 2, 8), date(2022, 2, 8), date(2023, 2, 8), date(2024, 2, 9), date(2025, 2, 8),
                     date(2026, 2, 8)]


def test_a_private_car_is_exempt_until_its_sixth_year_then_the_tenth_then_yearly():
    # Registered 20 May 2014: inspections in 2020 (year 6), 2024 (year 10), 2025, 2026, 2027; reminders 20 April.
    dates = list(inspection_dates(date(2014, 5, 20), exempt=True, rule=RULE, start=date(2014, 1, 1),
                                  end=date(2027, 12, 31), offset=-30))
    assert dates == [date(2020, 4, 20), date(2024, 4, 20), date(2025, 4, 20), date(2026, 4, 20), date(2027, 4, 20)]


def test_the_group_can_change_the_exempt_years():
    rule = TierRule(inspection_exempt_first_year=4, inspection_yearly_from_year=8)
    dates = list(inspection_dates(date(2014, 5, 20), exempt=True, rule=rule, start=date(2014, 1, 1),
                                  end=date(2023, 12, 31)))
    assert dates == [date(2018, 5, 20), date(2022, 5, 20), date(2023, 5, 20)]


@pytest.mark.parametrize(("use", "segment", "exempt"), [
    ("private", "suv", True), ("company", "midsize", True), ("private", None, True),
    ("commercial", "suv", False), ("rental", "compact", False),
    # Goods vehicles and vans: yearly whatever the use.
    ("private", "pickup", False), ("company", "light_truck", False), ("private", "light_bus", False),
])
def test_which_vehicles_are_exempt(use, segment, exempt):
    assert inspection_exempt(use, segment) is exempt


# --- a fleet order of five trucks, delivered 3 then 2 --------------------------------------------------------------

@pytest.fixture
def truck():
    return VehicleSeriesFactory(name="骏铃V5", name_en="Junling V5", segment="light_truck")


def _fleet_deal(org, truck, *, delivered_at, ordered_at):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, series=truck)
    return deal_record(actor=org.consultant, lead=lead, quantity=5, unit_price=Decimal("98000.00"),
                       ordered_at=ordered_at, delivered_at=delivered_at, vehicles=_units(3))


def test_a_fleet_order_is_one_purchase_of_five_units_with_five_vehicles(org, truck):
    today = timezone.localdate()
    services.ensure_group_defaults(org.group.pk)
    # The group's rule makes fleet buyers of 5+ vehicles premium; with it off, the order alone must not lift the
    # buyer (no repeat purchase, no repeat-buyer premium).
    TierRule.objects.filter(group=org.group).update(fleet_min=0)
    first = add_months(today, -12) + timedelta(days=10)
    second = add_months(today, -12) + timedelta(days=40)
    deal = _fleet_deal(org, truck, ordered_at=first - timedelta(days=20), delivered_at=first)
    assert (deal.quantity, deal.units_delivered, deal.price) == (5, 3, Decimal("490000.00"))
    deal.refresh_from_db()
    assert deal.unit_price == Decimal("98000.00")
    client = BaseClient.objects.get(purchase_rows__deal=deal)
    assert (client.purchases, client.units, client.fleet_size) == (1, 5, 3)

    services.deal_deliver(actor=org.consultant, deal=deal, vehicles=_units(2), delivered_at=second)

    deal.refresh_from_db()
    client.refresh_from_db()
    assert (deal.units_delivered, deal.delivered_at) == (5, first)
    assert (client.purchases, client.units, client.fleet_size) == (1, 5, 5)
    assert Purchase.objects.filter(client=client).count() == 1
    assert not Purchase.objects.get(client=client).is_repeat and not client.is_repeat_buyer
    assert client.tier != "premium"
    vehicles = Vehicle.objects.filter(deal=deal).order_by("delivered_at", "pk")
    assert [v.delivered_at for v in vehicles] == [first] * 3 + [second] * 2
    assert {v.use for v in vehicles} == {"commercial"}
    # Commercial: every vehicle's first inspection a year after its registration, reminded 30 days before; the
    # vehicles due the same day share one reminder (one call to the company per plan item and day).
    services.materialise(client_ids=[client.pk], start=today - timedelta(days=60), window_days=45)
    due = sorted(CareTask.objects.filter(client=client, kind="inspection").values_list("due_on", flat=True))
    assert due == [add_months(first, 12) - timedelta(days=30), add_months(second, 12) - timedelta(days=30)]
    for v in vehicles:
        assert not inspection_exempt(v.use, truck.segment)
        assert list(inspection_dates(v.registered_at, exempt=False, rule=RULE, start=v.registered_at,
                                     end=add_months(v.registered_at, 36))) == [
            add_months(v.registered_at, 12), add_months(v.registered_at, 24), add_months(v.registered_at, 36)]


def test_with_the_groups_fleet_rule_the_fleet_buyer_is_premium_as_a_fleet_buyer_not_a_repeat_buyer(org, truck):
    today = timezone.localdate()
    deal = _fleet_deal(org, truck, ordered_at=today - timedelta(days=3), delivered_at=today)
    services.deal_deliver(actor=org.consultant, deal=deal, vehicles=_units(2))
    client = BaseClient.objects.get(purchase_rows__deal=deal)
    assert (client.tier, client.tier_basis, client.purchases) == ("premium", "fleet", 1)


def test_the_order_counts_five_units_and_one_order(org, truck):
    today = timezone.localdate()
    deal = _fleet_deal(org, truck, ordered_at=today, delivered_at=today)
    progress = funnel.target_progress(user=org.manager, store=org.store, month=today)
    assert (progress["store"]["units"], progress["store"]["orders"]) == (5, 1)
    assert progress["store"]["revenue"] == Decimal("490000.00")
    [line] = funnel.target_progress_by_store(user=org.admin, stores=[org.store], month=today)
    assert (line["units"], line["orders"]) == (5, 1)
    first_seen = timezone.localtime(deal.lead.first_visit_at).date()
    figures = funnel.funnel_metrics(Slice(user=org.manager, start=first_seen, end=today))
    assert (figures["deals"], figures["units"]) == (1, 5)


# --- bad input and rights -------------------------------------------------------------------------------------------

def test_more_vehicles_than_units_is_refused_and_nothing_is_written(org, truck):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    with pytest.raises(ValidationError) as exc:
        deal_record(actor=org.consultant, lead=lead, quantity=2, unit_price=Decimal("1.00"), vehicles=_units(3))
    assert "vehicles" in exc.value.message_dict
    assert not Deal.objects.filter(lead=lead).exists()


def test_delivering_past_the_quantity_is_refused(org, truck):
    today = timezone.localdate()
    deal = _fleet_deal(org, truck, ordered_at=today, delivered_at=today)
    with pytest.raises(ValidationError) as exc:
        services.deal_deliver(actor=org.consultant, deal=deal, vehicles=_units(3))
    assert "vehicles" in exc.value.message_dict
    assert Vehicle.objects.filter(deal=deal).count() == 3


def test_a_colleague_may_not_deliver(org, truck):
    today = timezone.localdate()
    deal = _fleet_deal(org, truck, ordered_at=today, delivered_at=today)
    with pytest.raises(PermissionDenied):
        services.deal_deliver(actor=org.consultant2, deal=deal, vehicles=_units(1))
    services.deal_deliver(actor=org.manager, deal=deal, vehicles=_units(1))
    assert Deal.objects.get(pk=deal.pk).units_delivered == 4


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"quantity": 3, "price": Decimal("100.00")}, "price"),  # 33.333… a unit: not whole fen
    ({"quantity": 2, "price": Decimal("100.00"), "unit_price": Decimal("40.00")}, "price"),
    ({"quantity": 0, "price": Decimal("100.00")}, "quantity"),
    ({"quantity": 2}, "price"),
])
def test_amounts_that_do_not_add_up_are_refused(org, kwargs, field):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    with pytest.raises(ValidationError) as exc:
        deal_record(actor=org.consultant, lead=lead, **kwargs)
    assert field in exc.value.message_dict


def test_a_price_alone_divides_into_the_unit_price(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    deal = deal_record(actor=org.consultant, lead=lead, quantity=4, price=Decimal("300000.00"))
    deal.refresh_from_db()
    assert (deal.unit_price, deal.units_delivered) == (Decimal("75000.00"), 0)


def test_a_change_of_use_replans_the_inspection(org):
    # A private SUV registered 3 years ago: exempt (no inspection before year 6). Made commercial: yearly.
    today = timezone.localdate()
    suv = VehicleSeriesFactory(segment="suv")
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, series=suv)
    registered = add_months(today, -36) + timedelta(days=40)  # the reminder (30 days before) falls in 10 days
    deal = deal_record(actor=org.consultant, lead=lead, price=Decimal("200000.00"), ordered_at=registered,
                       delivered_at=registered, vin=a_vin())
    vehicle = Vehicle.objects.get(deal=deal)
    services.materialise(client_ids=[vehicle.client_id])
    assert not CareTask.objects.filter(vehicle=vehicle, kind="inspection").exists()
    services.vehicle_update(actor=org.consultant, vehicle=vehicle, use="commercial")
    [due] = CareTask.objects.filter(vehicle=vehicle, kind="inspection").values_list("due_on", flat=True)
    assert due == add_months(registered, 36) - timedelta(days=30)
