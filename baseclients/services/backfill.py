"""Base clients for the deals recorded before this app (or bulk-loaded by the demo and bench seeds, which write deals
without the deal service): one card per phone in a dealer group (one per deal without a phone), the purchases
(repeat from the second on, in order date order; a fleet order is one purchase of its units), the vehicles (a one-unit
deal's one; a fleet order's delivered units, commercial), then tiers and care planned set-based. Idempotent: deals
that have a purchase are skipped."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, F, OuterRef, Subquery

from dealercrm.models import DealerGroup
from leads.models import Deal

from ..models import BaseClient, ClientLead, Purchase, Vehicle, VehicleUse
from ..vehicles import plate_normalize, vin_normalize
from .care import add_months, materialise
from .scoring import retier_group

BATCH = 5000


def _valid(fn, value):
    try:
        return fn(value)
    except Exception:  # noqa: BLE001 - a malformed historical value is left out, not fatal
        return ""


def backfill(*, plan_care: bool = True) -> int:
    """Make base clients for every deal without a purchase. Returns how many deals were taken in."""
    taken = 0
    touched_groups: set[int] = set()
    added: dict[int, int] = {}
    added_units: dict[int, int] = {}
    one_unit_deals: list[int] = []
    last = 0
    seen_vins = set(Vehicle.objects.exclude(vin="").values_list("vin", flat=True))
    while True:
        deals = list(
            Deal.objects.filter(purchase__isnull=True, pk__gt=last)
            .select_related("lead__store")
            .order_by("pk")[:BATCH]
        )
        if not deals:
            break
        last = deals[-1].pk
        deals.sort(key=lambda d: (d.ordered_at, d.pk))
        with transaction.atomic():
            keys = {(d.lead.store.group_id, d.lead.phone) for d in deals if d.lead.phone}
            phones = {p for _g, p in keys}
            existing = {(c.group_id, c.phone): c for c in BaseClient.objects.filter(phone__in=phones)
                        if (c.group_id, c.phone) in keys}
            new_clients, client_of = [], {}
            for d in deals:
                lead = d.lead
                key = (lead.store.group_id, lead.phone) if lead.phone else ("deal", d.pk)
                if key in existing or key in client_of:
                    continue
                client = BaseClient(group_id=lead.store.group_id, store_id=lead.store_id,
                                    assigned_to_id=lead.assigned_to_id, name=lead.name, phone=lead.phone,
                                    region=lead.district, industry=lead.industry,
                                    care_anchor=d.delivered_at or d.ordered_at, created_at=lead.last_contact_at
                                    or lead.first_visit_at)
                client_of[key] = client
                new_clients.append(client)
            BaseClient.objects.bulk_create(new_clients, batch_size=BATCH)
            client_of.update(existing)
            # A card bought on before (a purchase here, or one before the CRM: purchases > 0) makes a repeat.
            had_purchase = {c.pk for c in existing.values() if c.purchases > 0} | set(
                Purchase.objects.filter(client__in=list(existing.values())).values_list("client_id", flat=True))
            purchases, vehicles, links = [], [], []
            for d in deals:
                lead = d.lead
                key = (lead.store.group_id, lead.phone) if lead.phone else ("deal", d.pk)
                client = client_of[key]
                purchases.append(Purchase(client=client, deal=d, store_id=lead.store_id, at=d.ordered_at,
                                          is_repeat=client.pk in had_purchase))
                had_purchase.add(client.pk)
                added[client.pk] = added.get(client.pk, 0) + 1
                added_units[client.pk] = added_units.get(client.pk, 0) + d.quantity
                vin = _valid(vin_normalize, d.vin)
                if vin in seen_vins:
                    vin = ""
                if vin:
                    seen_vins.add(vin)
                # A one-unit deal's vehicle is on the card delivered or not (as the deal service does); a fleet
                # order's are its delivered units (``units_delivered`` as loaded), the first carrying the deal's ids.
                units = 1 if d.quantity == 1 else d.units_delivered
                if d.quantity == 1:
                    one_unit_deals.append(d.pk)
                for n in range(units):
                    vehicles.append(Vehicle(client=client, deal=d, series_id=d.series_id, vin=vin if n == 0 else "",
                                            plate=_valid(plate_normalize, d.plate) if n == 0 else "",
                                            use=VehicleUse.PRIVATE if d.quantity == 1 else VehicleUse.COMMERCIAL,
                                            ordered_at=d.ordered_at, delivered_at=d.delivered_at,
                                            registered_at=d.delivered_at,
                                            insurance_renewal_at=add_months(d.delivered_at, 12) if d.delivered_at
                                            else None))
                links.append(ClientLead(client=client, lead=lead))
                touched_groups.add(lead.store.group_id)
            Purchase.objects.bulk_create(purchases, batch_size=BATCH)
            Vehicle.objects.bulk_create(vehicles, batch_size=BATCH)
            ClientLead.objects.bulk_create(links, batch_size=BATCH, ignore_conflicts=True)
            taken += len(deals)
    if touched_groups:
        # Each card's purchases grow by the deals taken in now (a card bought on before the CRM keeps its count).
        by_added: dict[int, list[int]] = {}
        for pk, n in added.items():
            by_added.setdefault(n, []).append(pk)
        with transaction.atomic():
            for n, ids in by_added.items():
                for i in range(0, len(ids), BATCH):
                    BaseClient.objects.filter(pk__in=ids[i:i + BATCH]).update(purchases=F("purchases") + n)
            by_units: dict[int, list[int]] = {}
            for pk, n in added_units.items():
                by_units.setdefault(n, []).append(pk)
            for n, ids in by_units.items():
                for i in range(0, len(ids), BATCH):
                    BaseClient.objects.filter(pk__in=ids[i:i + BATCH]).update(units=F("units") + n)
            for i in range(0, len(one_unit_deals), BATCH):
                Deal.objects.filter(pk__in=one_unit_deals[i:i + BATCH]).update(units_delivered=1)
            # The fleet counts the cars on the card (a larger figure typed on the card stays).
            _fleet_counts_vehicles(list(added))
        for gid in sorted(touched_groups & set(DealerGroup.objects.values_list("pk", flat=True))):
            retier_group(gid)
            if plan_care:
                materialise(group_id=gid)
    return taken


def _fleet_counts_vehicles(client_ids: list[int]) -> None:
    """Each card's fleet size is at least its vehicles (one UPDATE per batch, portable: the embedded SQLite too)."""
    vehicles = Subquery(Vehicle.objects.filter(client=OuterRef("pk")).order_by().values("client")
                        .annotate(n=Count("id")).values("n"))
    for i in range(0, len(client_ids), BATCH):
        BaseClient.objects.filter(pk__in=client_ids[i:i + BATCH], fleet_size__lt=vehicles).update(fleet_size=vehicles)
