"""Indexes for the defeat figures (measured on the bench data set: benchmarks/README.md, "Defeats").

- a store's applications filed in a period (the filing side of the figures; the verdict side has
  ``defeatapp_store_decided``): with both, a store-month's applications are one BitmapOr instead of a scan;
- the win-backs of a period (a few per cent of the steps);
- the deals of the defeat rate's denominator (deals ordered in a period, in the caller's stores): deals have no store,
  so these are two covering indexes on leads' tables, created here because only the defeat figures read them
  this way: the deals of the period by order day (``leads_deal``), and a store's won leads (``leads_lead``; a lead
  with a deal is always won). Without them a store-month's deal count read the store's every lead (~95 ms on the
  bench data); with them ~2.5 ms. Built CONCURRENTLY: a live database keeps taking writes meanwhile."""

from django.db import migrations, models

# PostgreSQL: covering and built without blocking writes. Elsewhere (the embedded SQLite default): plain indexes.
_INDEXES = {
    "defeats_deal_ordered": ("leads_deal (ordered_at) INCLUDE (lead_id)", "leads_deal (ordered_at)"),
    "defeats_lead_store_won": ("leads_lead (store_id) INCLUDE (id) WHERE status = 'won'",
                               "leads_lead (store_id) WHERE status = 'won'"),
}


def _create_leads_indexes(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    for name, (pg, plain) in _INDEXES.items():
        if postgres:
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {pg}")
        else:
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {plain}")


def _drop_leads_indexes(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name in _INDEXES:
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("defeats", "0003_reason_long_no_deal"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="application",
            index=models.Index(fields=["store", "applied_at"], include=["status"], name="defeatapp_store_applied"),
        ),
        migrations.AddIndex(
            model_name="defeatevent",
            index=models.Index(fields=["at"], include=["application"], condition=models.Q(kind="won_back"),
                               name="defeatevent_wonback_at"),
        ),
        migrations.RunPython(_create_leads_indexes, _drop_leads_indexes, elidable=False),
    ]
