"""A store's won leads by phone: the imports' plan looks a batch's phones up among the leads that hold them (the
unique ``lead_unique_phone_in_store``) and the leads that no longer do because they were won (a returning buyer's
row is a new lead, and a row at the moment of one of their visits is "already there"). Without this index that second
half read every lead of the store once per batch (benchmarks/README.md, "Imports"); with it both halves are index
scans (a BitmapOr). Built CONCURRENTLY, as the defeat figures' indexes on this table (defeats 0004): a live database
keeps taking writes meanwhile. Not in ``Lead.Meta``: only the imports' plan reads it, through that one query
(``reports.services.imports._plan``; a test there checks the plan uses it)."""

from django.db import migrations

NAME = "lead_store_phone_won"
COLUMNS = "leads_lead (store_id, phone) WHERE status = 'won'"


def _create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {NAME} ON {COLUMNS}")


def _drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("leads", "0021_work_record_indexes"),
    ]

    operations = [
        migrations.RunPython(_create, _drop, elidable=False),
    ]
