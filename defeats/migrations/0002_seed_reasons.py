"""Seed the default reason taxonomy (zh and en names) for every dealer group that exists. Groups created
later get it from defeats.services.reasons_for on first use."""

from django.db import migrations

from defeats.taxonomy import default_reason_rows


def seed(apps, schema_editor):
    DealerGroup = apps.get_model("dealercrm", "DealerGroup")
    Reason = apps.get_model("defeats", "Reason")
    for group in DealerGroup.objects.all():
        by_code = {}
        for code, parent, name, name_en, note, competitor, order in default_reason_rows():
            by_code[code], _ = Reason.objects.get_or_create(
                group=group, code=code,
                defaults={"parent": by_code.get(parent), "name": name, "name_en": name_en, "requires_note": note,
                          "requires_competitor": competitor, "sort_order": order})


class Migration(migrations.Migration):
    dependencies = [("defeats", "0001_initial"), ("dealercrm", "0003_jobs")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
