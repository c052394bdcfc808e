# The phone is unique in a store among the leads that hold it (active, defeat_pending, defeated), no longer among won
# ones: a buyer who comes back to buy again starts a new lead, linked to their base client (baseclients).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("leads", "0011_defeat_status_deal_delivery"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="lead",
            name="lead_unique_phone_in_store",
        ),
        migrations.AddConstraint(
            model_name="lead",
            constraint=models.UniqueConstraint(
                condition=models.Q(("phone", ""), _negated=True)
                & models.Q(("status__in", ["active", "defeat_pending", "defeated"])),
                fields=("store", "phone"),
                name="lead_unique_phone_in_store",
            ),
        ),
    ]
