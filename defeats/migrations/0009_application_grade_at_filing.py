"""Loss by stage: record on each defeat application the lead's grade when it was filed and the highest grade it had
reached by then, and set both for the applications filed before, from the grade history (one UPDATE with two
correlated look-ups per application on the grade history's (lead, changed_at) index; PostgreSQL and SQLite)."""

from django.db import migrations, models

from defeats.stages import record_grades


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        record_grades(cursor)


class Migration(migrations.Migration):

    dependencies = [
        ('defeats', '0008_defeat_target'),
        ('leads', '0017_lead_open_due'),
    ]

    operations = [
        migrations.AddField(
            model_name='application',
            name='grade_at_filing',
            field=models.CharField(blank=True, choices=[('A', 'A · closes within 3 months'), ('B', 'B · closes in 4–6 months'), ('C', 'C · wants a car, no urgency'), ('D', 'D · no plan now'), ('E', 'E · first contact only')], max_length=1, null=True, verbose_name='grade when filed'),
        ),
        migrations.AddField(
            model_name='application',
            name='highest_grade',
            field=models.CharField(blank=True, choices=[('A', 'A · closes within 3 months'), ('B', 'B · closes in 4–6 months'), ('C', 'C · wants a car, no urgency'), ('D', 'D · no plan now'), ('E', 'E · first contact only')], max_length=1, null=True, verbose_name='highest grade reached'),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
