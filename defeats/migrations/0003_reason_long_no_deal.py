"""The reason the stale queue's "file as quasi-defeat" uses (a long time without a deal), for the
groups seeded by 0002."""

from django.db import migrations


def seed(apps, schema_editor):
    Reason = apps.get_model("defeats", "Reason")
    for parent in Reason.objects.filter(code="customer", parent__isnull=True):
        Reason.objects.get_or_create(group_id=parent.group_id, code="long_no_deal", defaults={
            "parent": parent, "name": "长期未成交（滞留）", "name_en": "A long time without a deal (stale)",
            "sort_order": parent.sort_order + 8})


class Migration(migrations.Migration):
    dependencies = [("defeats", "0002_seed_reasons")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
