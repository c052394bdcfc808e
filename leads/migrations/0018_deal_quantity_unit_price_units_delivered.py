import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("leads", "0017_lead_open_due")]

    operations = [
        migrations.AddField(
            model_name="deal", name="quantity",
            field=models.PositiveIntegerField(default=1, validators=[django.core.validators.MinValueValidator(1)],
                                              verbose_name="units ordered"),
        ),
        migrations.AddField(
            model_name="deal", name="units_delivered",
            field=models.PositiveIntegerField(default=0, verbose_name="units delivered"),
        ),
        migrations.AlterField(
            model_name="deal", name="price",
            field=models.DecimalField(decimal_places=2, max_digits=12,
                                      validators=[django.core.validators.MinValueValidator(0)],
                                      verbose_name="order amount (CNY)"),
        ),
        migrations.AddConstraint(
            model_name="deal",
            constraint=models.CheckConstraint(condition=models.Q(quantity__gte=1), name="deal_quantity_at_least_one"),
        ),
        migrations.AddConstraint(
            model_name="deal",
            constraint=models.CheckConstraint(condition=models.Q(units_delivered__lte=models.F("quantity")),
                                              name="deal_delivered_within_quantity"),
        ),
        migrations.AddField(
            model_name="deal", name="unit_price",
            field=models.GeneratedField(db_persist=True, expression=models.F("price") / models.F("quantity"),
                                        output_field=models.DecimalField(decimal_places=2, max_digits=12),
                                        verbose_name="unit price (CNY)"),
        ),
    ]
