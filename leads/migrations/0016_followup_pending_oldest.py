from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("leads", "0015_followup_store_not_null_and_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="followup",
            index=models.Index(condition=models.Q(("review_status", "pending")), fields=["occurred_at", "id"],
                               name="followup_pending_oldest"),
        ),
    ]
