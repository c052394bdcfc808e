import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


# Every deal so far was one unit: a card's units are its purchases, a deal's units delivered its vehicles (one each).
# The two inspection reminders (commercial every 12 months, private every 24) become one: the interval is now the
# group's inspection rule by the vehicle's use and segment; the private one is kept, switched off (its past tasks
# point at it).


def forward(apps, schema_editor):
    from django.db.models import Count, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    BaseClient = apps.get_model("baseclients", "BaseClient")
    Vehicle = apps.get_model("baseclients", "Vehicle")
    Deal = apps.get_model("leads", "Deal")
    CarePlanItem = apps.get_model("baseclients", "CarePlanItem")
    BaseClient.objects.update(units=models.F("purchases"))
    per_deal = (Vehicle.objects.filter(deal_id=OuterRef("pk")).order_by().values("deal_id")
                .annotate(n=Count("id")).values("n")[:1])
    Deal.objects.update(units_delivered=Coalesce(Subquery(per_deal), 0))
    CarePlanItem.objects.filter(kind="inspection", vehicle_use="commercial").update(
        vehicle_use="", title="年检提醒", title_en="Inspection reminder")
    CarePlanItem.objects.filter(kind="inspection", vehicle_use="private").update(is_active=False)


class Migration(migrations.Migration):

    dependencies = [
        ('baseclients', '0009_fleet_counts_vehicles_insurance_a_year_on'),
        ('leads', '0018_deal_quantity_unit_price_units_delivered'),
    ]

    operations = [
        migrations.AddField(
            model_name='baseclient',
            name='units',
            field=models.PositiveIntegerField(default=0, verbose_name='units bought'),
        ),
        migrations.AddField(
            model_name='tierrule',
            name='inspection_exempt_first_year',
            field=models.PositiveSmallIntegerField(default=6, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(15)], verbose_name='non-operating passenger cars: first inspection in year'),
        ),
        migrations.AddField(
            model_name='tierrule',
            name='inspection_operating_months',
            field=models.PositiveSmallIntegerField(default=12, validators=[django.core.validators.MinValueValidator(6), django.core.validators.MaxValueValidator(24)], verbose_name='operating vehicles, trucks and vans: inspected every (months)'),
        ),
        migrations.AddField(
            model_name='tierrule',
            name='inspection_yearly_from_year',
            field=models.PositiveSmallIntegerField(default=10, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(20)], verbose_name='non-operating passenger cars: yearly from year'),
        ),
        migrations.AlterField(
            model_name='careplanitem',
            name='vehicle_use',
            field=models.CharField(blank=True, choices=[('private', 'Private (non-operating)'), ('company', 'Company car (non-operating)'), ('commercial', 'Commercial (operating)'), ('rental', 'Rental')], help_text="Inspection reminders: only vehicles of this use (blank: every vehicle). The interval is the group's inspection rule.", max_length=20, verbose_name='vehicle use'),
        ),
        migrations.AlterField(
            model_name='vehicle',
            name='deal',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='vehicles', to='leads.deal', verbose_name='deal'),
        ),
        migrations.AlterField(
            model_name='vehicle',
            name='use',
            field=models.CharField(choices=[('private', 'Private (non-operating)'), ('company', 'Company car (non-operating)'), ('commercial', 'Commercial (operating)'), ('rental', 'Rental')], default='private', max_length=20, verbose_name='use'),
        ),
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
