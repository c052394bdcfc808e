import django.db.models.deletion
from django.db import migrations, models


def fill_store(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # a join: one pass over each table
        schema_editor.execute("UPDATE leads_followup f SET store_id = l.store_id FROM leads_lead l WHERE l.id = f.lead_id")
    else:
        schema_editor.execute("UPDATE leads_followup SET store_id = "
                              "(SELECT store_id FROM leads_lead WHERE leads_lead.id = leads_followup.lead_id)")


class Migration(migrations.Migration):
    """Each follow-up keeps its lead's store (as visits do): the review queue and its count become one range of a
    partial index instead of a join over every pending follow-up's lead. Filled in one UPDATE; NOT NULL in 0015 (a
    separate transaction: PostgreSQL refuses to alter a table with pending deferred foreign-key checks)."""

    dependencies = [
        ("dealercrm", "0002_vehicle_catalogue"),
        ("leads", "0013_follow_up_policy"),
    ]

    operations = [
        migrations.AddField(
            model_name="followup",
            name="store",
            field=models.ForeignKey(db_index=False, editable=False, null=True,
                                    on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                    to="dealercrm.store", verbose_name="store"),
        ),
        migrations.RunPython(fill_store, migrations.RunPython.noop, elidable=True),
    ]
