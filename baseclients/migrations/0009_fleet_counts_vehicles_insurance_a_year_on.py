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


class Migration(migrations.Migration):
    dependencies = [("baseclients", "0008_region_industry_lists")]

    operations = [migrations.RunSQL(FORWARD, migrations.RunSQL.noop)]
