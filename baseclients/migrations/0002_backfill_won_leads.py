# Base clients for every deal recorded before this app: one card per phone in a dealer group (one per deal without a
# phone), each deal a purchase (repeat from the second on, in order-date order), its vehicle, the lead linked. Written
# on the historical models, so it stays runnable whatever the models become; tiers beyond "repeat buyer → premium" and
# the care plan come from the first scoring and the care job. Later deals go through the deal service; seeds that
# bulk-load deals call `manage.py baseclients_backfill` (the same, with the current rules).

from django.db import migrations

BATCH = 5000


def forwards(apps, schema_editor):
    from baseclients.vehicles import plate_normalize, vin_normalize

    Deal = apps.get_model("leads", "Deal")
    BaseClient = apps.get_model("baseclients", "BaseClient")
    Purchase = apps.get_model("baseclients", "Purchase")
    Vehicle = apps.get_model("baseclients", "Vehicle")
    ClientLead = apps.get_model("baseclients", "ClientLead")
    TierChange = apps.get_model("baseclients", "TierChange")

    def valid(fn, value):
        try:
            return fn(value)
        except Exception:  # noqa: BLE001 - a malformed historical value is left out
            return ""

    deals = Deal.objects.select_related("lead__store").order_by("ordered_at", "pk")
    if not deals.exists():
        return
    clients, counts, vins = {}, {}, set()
    for start in range(0, deals.count(), BATCH):
        batch = list(deals[start:start + BATCH])
        new = []
        for d in batch:
            lead = d.lead
            key = (lead.store.group_id, lead.phone) if lead.phone else ("deal", d.pk)
            if key not in clients:
                clients[key] = BaseClient(
                    group_id=lead.store.group_id, store_id=lead.store_id, assigned_to_id=lead.assigned_to_id,
                    name=lead.name, phone=lead.phone, region=lead.district, industry=lead.industry,
                    care_anchor=d.delivered_at or d.ordered_at, created_at=lead.last_contact_at or lead.first_visit_at)
                new.append(clients[key])
        BaseClient.objects.bulk_create(new)
        purchases, vehicles, links = [], [], []
        for d in batch:
            lead = d.lead
            client = clients[(lead.store.group_id, lead.phone) if lead.phone else ("deal", d.pk)]
            purchases.append(Purchase(client=client, deal=d, store_id=lead.store_id, at=d.ordered_at,
                                      is_repeat=counts.get(client.pk, 0) > 0))
            counts[client.pk] = counts.get(client.pk, 0) + 1
            vin = valid(vin_normalize, d.vin)
            if vin in vins:
                vin = ""
            vins.add(vin)
            vehicles.append(Vehicle(client=client, deal=d, series_id=d.series_id, vin=vin,
                                    plate=valid(plate_normalize, d.plate), ordered_at=d.ordered_at,
                                    delivered_at=d.delivered_at, registered_at=d.delivered_at,
                                    insurance_renewal_at=d.delivered_at))
            links.append(ClientLead(client=client, lead=lead))
        Purchase.objects.bulk_create(purchases)
        Vehicle.objects.bulk_create(vehicles)
        ClientLead.objects.bulk_create(links, ignore_conflicts=True)
    by_count = {}
    for pk, n in counts.items():
        by_count.setdefault(n, []).append(pk)
    for n, ids in by_count.items():
        for i in range(0, len(ids), BATCH):
            BaseClient.objects.filter(pk__in=ids[i:i + BATCH]).update(purchases=n)
    repeat = BaseClient.objects.filter(purchases__gt=1)
    TierChange.objects.bulk_create(
        [TierChange(client_id=pk, from_tier="general", to_tier="premium", basis="repeat_buyer", owner_id=owner)
         for pk, owner in repeat.values_list("pk", "assigned_to_id")])
    repeat.update(tier="premium", tier_basis="repeat_buyer")


class Migration(migrations.Migration):

    dependencies = [
        ("baseclients", "0001_initial"),
        ("leads", "0012_phone_unique_among_holders"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
