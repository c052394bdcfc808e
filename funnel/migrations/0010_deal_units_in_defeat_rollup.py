"""The defeats' rollup rows also sum the deals' units and amounts (target progress reads them). The rows kept so far
get them from the deals they already count: each (store, day or month, holder now) of the won leads' deals is one row
with no grade or reason (funnel.rollups_defeats.defeat_rows). PostgreSQL only: elsewhere the rows are not kept."""

from django.db import migrations, models

_DEALS = """
    SELECT l.store_id, {day} AS day, l.assigned_to_id AS consultant_id, sum(d.quantity) AS units,
           sum(d.price) AS revenue
    FROM leads_deal d JOIN leads_lead l ON l.id = d.lead_id WHERE l.status = 'won' GROUP BY 1, 2, 3
"""


def fill(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table, day in (("funnel_defeatday", "d.ordered_at"),
                           ("funnel_defeatmonth", "date_trunc('month', d.ordered_at)::date")):
            cursor.execute(f"""
                UPDATE {table} r SET units = x.units, revenue = x.revenue FROM ({_DEALS.format(day=day)}) x
                WHERE r.store_id = x.store_id AND r.day = x.day AND r.consultant_id IS NOT DISTINCT FROM x.consultant_id
                  AND r.grade_at_filing IS NULL AND r.highest_grade IS NULL AND r.reason_id IS NULL AND r.deals > 0
            """)


class Migration(migrations.Migration):

    dependencies = [
        ('funnel', '0009_ladder_months'),
    ]

    operations = [
        migrations.AddField(
            model_name='defeatday',
            name='revenue',
            field=models.DecimalField(decimal_places=2, default=0, max_digits=16, verbose_name='order amount (CNY)'),
        ),
        migrations.AddField(
            model_name='defeatday',
            name='units',
            field=models.IntegerField(default=0, verbose_name='units ordered'),
        ),
        migrations.AddField(
            model_name='defeatmonth',
            name='revenue',
            field=models.DecimalField(decimal_places=2, default=0, max_digits=16, verbose_name='order amount (CNY)'),
        ),
        migrations.AddField(
            model_name='defeatmonth',
            name='units',
            field=models.IntegerField(default=0, verbose_name='units ordered'),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
