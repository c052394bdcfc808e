import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("dealercrm", "0002_vehicle_catalogue"),
        ("leads", "0014_followup_store"),
    ]

    operations = [
        migrations.AlterField(
            model_name="followup",
            name="store",
            field=models.ForeignKey(db_index=False, editable=False, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="+", to="dealercrm.store", verbose_name="store"),
        ),
        migrations.RemoveIndex(model_name="followup", name="followup_pending"),
        migrations.AddIndex(
            model_name="followup",
            index=models.Index(condition=models.Q(("review_status", "pending")), fields=["store", "occurred_at"],
                               name="followup_store_pending"),
        ),
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(fields=["first_visit_at", "id"], name="lead_newest"),
        ),
    ]
