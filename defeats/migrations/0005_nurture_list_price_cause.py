"""A quasi-defeat is not a defeat: confirmed quasi-defeats leave the competitor pool for the nurture list (no
competitor purchase, no replacement date); and the "price high" reason's cause becomes a countable choice."""

from django.db import migrations, models


def quasi_to_nurture(apps, schema_editor):
    PoolEntry = apps.get_model("defeats", "PoolEntry")
    PoolEntry.objects.filter(application__kind="quasi").update(
        list="nurture", purchased_on=None, replacement_due_on=None, competitor_brand=None, competitor_series=None)


def nurture_to_pool(apps, schema_editor):
    PoolEntry = apps.get_model("defeats", "PoolEntry")
    PoolEntry.objects.filter(list="nurture").update(list="competitor")


class Migration(migrations.Migration):

    dependencies = [
        ("defeats", "0004_metrics_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="application",
            name="price_cause",
            field=models.CharField(blank=True, choices=[
                ("really_high", "Really high for its positioning"), ("mark_up", "Dealer mark-up"),
                ("price_war", "Price war between dealers"), ("promotions", "Promotions that disagree with the maker's"),
                ("excuse", "The customer's excuse"), ("needs_misread", "Needs misread")],
                max_length=20, verbose_name="price: the cause"),
        ),
        migrations.AddField(
            model_name="poolentry",
            name="list",
            field=models.CharField(choices=[("competitor", "Competitor pool"), ("nurture", "Nurture list")],
                                   default="competitor", max_length=12, verbose_name="list"),
        ),
        migrations.RunPython(quasi_to_nurture, nurture_to_pool),
    ]
