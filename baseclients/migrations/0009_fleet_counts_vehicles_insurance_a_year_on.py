from django.db import migrations

# Cards made by a deal showed fleet size 0 with a car on them, and the deal's car carried its delivery day as the
# insurance renewal date. The fleet now counts the card's vehicles (a larger typed figure stays); the renewal date of a
# deal's car is a year after its delivery. The care reminders fall on the same days as before (the planner now treats
# the renewal date as the first renewal). The tiers follow at the next re-scoring.
FORWARD = [
    """UPDATE baseclients_vehicle SET insurance_renewal_at = (insurance_renewal_at + interval '1 year')::date
       WHERE deal_id IS NOT NULL AND insurance_renewal_at = delivered_at""",
    """UPDATE baseclients_baseclient c SET fleet_size = v.n
       FROM (SELECT client_id, count(*) AS n FROM baseclients_vehicle GROUP BY client_id) v
       WHERE v.client_id = c.id AND c.fleet_size < v.n""",
]



def forward(apps, schema_editor):
    """The two statements on PostgreSQL; the same in Python elsewhere (the embedded SQLite default)."""
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement)
        return
    from django.db.models import Count, F

    Vehicle = apps.get_model("baseclients", "Vehicle")
    BaseClient = apps.get_model("baseclients", "BaseClient")
    for vehicle in Vehicle.objects.filter(deal__isnull=False, insurance_renewal_at=F("delivered_at")):
        day = vehicle.insurance_renewal_at
        try:
            vehicle.insurance_renewal_at = day.replace(year=day.year + 1)
        except ValueError:  # 29 February: PostgreSQL's interval gives 28 February
            vehicle.insurance_renewal_at = day.replace(year=day.year + 1, day=28)
        vehicle.save(update_fields=["insurance_renewal_at"])
    for row in Vehicle.objects.values("client_id").annotate(n=Count("id")):
        BaseClient.objects.filter(pk=row["client_id"], fleet_size__lt=row["n"]).update(fleet_size=row["n"])


class Migration(migrations.Migration):
    dependencies = [("baseclients", "0008_region_industry_lists")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
