"""The care job plans in SQL (one INSERT … SELECT per shape of plan item); ``plan_dates`` is the same rule in
Python (the demo's history uses it). They must agree, on awkward dates: month ends, 29 February, negative offsets,
commercial and private inspection intervals, tiers and refusals."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from baseclients import services
from baseclients.models import BaseClient, CarePlanItem, CareTask, DoNotContact, TierRule, Vehicle
from baseclients.services.care import plan_dates

from .factories import buy

pytestmark = pytest.mark.django_db


def _expected(client_ids, start, end):
    expected = set()
    for c in BaseClient.objects.filter(pk__in=client_ids):
        vehicles = list(c.vehicles.all())
        refused = set(DoNotContact.objects.filter(client=c).values_list("channel", flat=True))
        for item in CarePlanItem.objects.filter(group_id=c.group_id, is_active=True):
            if (item.tier and item.tier != c.tier) or item.channel in refused:
                continue
            expected |= {(c.pk, item.pk, due) for due, _v in plan_dates(item, c, vehicles, start, end)}
    return expected


def test_sql_planner_matches_plan_dates(org):
    today = timezone.localdate()
    clients = []
    shapes = [
        # (tier, anchor, birthday, vehicles: (use, delivered, registered, insurance))
        ("general", date(2024, 1, 31), date(1980, 2, 29),
         [("private", date(2024, 1, 31), date(2024, 2, 29), None),
          ("private", today - timedelta(days=80), today - timedelta(days=80), today - timedelta(days=80))]),
        ("premium", date(2023, 8, 31), date(1975, 12, 31),
         [("commercial", date(2023, 8, 31), None, date(2023, 9, 30)),
          ("private", today - timedelta(days=2), today - timedelta(days=2), today - timedelta(days=2))]),
        ("general", today - timedelta(days=2), None, [("private", today - timedelta(days=2), None, None)]),
        ("potential", today - timedelta(days=400), None, []),
        ("general", date(2022, 3, 15), date(1990, 7, 4), [("commercial", None, date(2022, 3, 31), None)]),
    ]
    for tier, anchor, birthday, vehicles in shapes:
        deal = buy(store=org.store, consultant=org.consultant, vin="")
        client = BaseClient.objects.get(purchase_rows__deal=deal)
        Vehicle.objects.filter(client=client).delete()
        CareTask.objects.filter(client=client).delete()
        BaseClient.objects.filter(pk=client.pk).update(tier=tier, care_anchor=anchor, birthday=birthday)
        for use, delivered, registered, insurance in vehicles:
            Vehicle.objects.create(client=client, use=use, delivered_at=delivered, registered_at=registered,
                                   insurance_renewal_at=insurance)
        clients.append(client.pk)
    DoNotContact.objects.create(client_id=clients[1], channel="visit", reason="x")
    start, end = today - timedelta(days=800), today + timedelta(days=45)
    services.materialise(client_ids=clients, start=start, window_days=45)
    planned = set(CareTask.objects.filter(client_id__in=clients).values_list("client_id", "item_id", "due_on"))
    expected = _expected(clients, start, end)
    assert planned == expected
    kinds = set(CareTask.objects.filter(client_id__in=clients).values_list("kind", flat=True))
    assert {"call", "visit", "birthday", "holiday", "insurance_renewal", "inspection", "delivery_visit",
            "first_maintenance"} <= kinds
    assert not CareTask.objects.filter(client_id=clients[1], channel="visit").exists()
    # A re-run creates nothing; the nightly full run marks the clients planned, and then skips them.
    assert services.materialise(client_ids=clients, start=start, window_days=45) == 0
    services.materialise()
    assert services.materialise() == 0
    assert set(TierRule.objects.values_list("care_planned_until", flat=True)) == {
        today + timedelta(days=services.care.care_window_days())}


def test_sql_planner_matches_plan_dates_on_the_inspection_rule(org):
    """Uses × segments × ages: exempt passenger cars (years 6 and 10, then yearly), operating vehicles and goods
    vehicles every 12 months; and a group's own rule (operating every 6 months)."""
    from baseclients.services.care import add_months
    from dealercrm.tests.factories import VehicleSeriesFactory

    today = timezone.localdate()
    series = {seg: VehicleSeriesFactory(segment=seg) for seg in ("suv", "light_truck", "pickup", "light_bus")}
    deal = buy(store=org.store, consultant=org.consultant, vin="")
    client = BaseClient.objects.get(purchase_rows__deal=deal)
    Vehicle.objects.filter(client=client).delete()
    CareTask.objects.filter(client=client).delete()
    for years in (3, 6, 10, 11, 12):
        registered = add_months(today, -12 * years) + timedelta(days=20)
        for use in ("private", "company", "commercial", "rental"):
            for seg in ("suv", "light_truck", "pickup", "light_bus", None):
                Vehicle.objects.create(client=client, use=use, series=series[seg] if seg else None,
                                       delivered_at=registered, registered_at=registered)
    start, end = today - timedelta(days=800), today + timedelta(days=45)
    services.materialise(client_ids=[client.pk], start=start, window_days=45)
    planned = set(CareTask.objects.filter(client=client, kind="inspection").values_list("client_id", "item_id",
                                                                                         "due_on"))
    expected = {row for row in _expected([client.pk], start, end)
                if CarePlanItem.objects.get(pk=row[1]).kind == "inspection"}
    assert planned == expected and planned
    # The group's own rule: operating vehicles every 6 months.
    TierRule.objects.filter(group=org.group).update(inspection_operating_months=6)
    CareTask.objects.filter(client=client).delete()
    services.materialise(client_ids=[client.pk], start=start, window_days=45)
    rule = TierRule.objects.get(group=org.group)
    planned = set(CareTask.objects.filter(client=client, kind="inspection").values_list("item_id", "due_on"))
    item = CarePlanItem.objects.get(group=org.group, kind="inspection", is_active=True)
    expected = {(item.pk, due) for v in client.vehicles.select_related("series")
                for due, _v in plan_dates(item, client, [v], start, end, rule)}
    assert planned == expected


def test_planning_deferred_plans_once_at_the_end_of_the_block_and_not_after_an_error(org):
    """Inside ``planning_deferred`` a client's planning (``materialise(client_ids=…)``) waits for the block's end,
    where the clients noted are planned once; a block left by an error plans nothing."""
    with services.planning_deferred():
        client = buy(store=org.store, consultant=org.consultant).purchase.client  # the deal plans its care
        assert not CareTask.objects.filter(client=client).exists()
        assert services.materialise(client_ids=[client.pk]) == 0
    deferred = set(CareTask.objects.filter(client=client).values_list("item_id", "due_on"))
    assert deferred
    other = buy(store=org.store, consultant=org.consultant).purchase.client  # planned at once, as always
    assert {due for _item, due in CareTask.objects.filter(client=other).values_list("item_id", "due_on")} == \
        {due for _item, due in deferred}
    with pytest.raises(RuntimeError), services.planning_deferred():
        third = buy(store=org.store, consultant=org.consultant).purchase.client
        raise RuntimeError("the batch fails")
    assert not CareTask.objects.filter(client=third).exists()
