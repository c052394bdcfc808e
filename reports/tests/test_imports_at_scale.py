"""The lead import's commit at scale: its plan looks phones up through indexes, whatever the batch's size, and a
batch costs a number of statements that does not grow with its rows."""

from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from baseclients.tests.factories import buy
from dealercrm.bulk import insert_rows
from leads.models import Lead, Visit
from reports.models import ImportBatch
from reports.services import imports
from reports.tests.test_imports import HEADER, xlsx

pytestmark = pytest.mark.django_db

# The statements of a commit of one batch of new leads and re-visits: the batch's rows, locks and plan, the visit
# service's look-ups and one INSERT per table, the rows marked done, the progress and the counts.
QUERIES_PER_BATCH = 40


def _rows(n: int, offset: int = 0) -> list[list]:
    return [[f"客户{i}", f"+86137{i + offset:08d}", datetime(2026, 3, 1 + i % 20), "自来", "CDE"[i % 3], ""]
            for i in range(n)]


def _checked(org, rows) -> ImportBatch:
    batch = imports.import_create(actor=org.manager, store=org.store, kind="leads", file_name="l.xlsx",
                                  content=xlsx([HEADER, *rows]))
    batch = imports.import_parse(batch.pk)
    imports.import_start_commit(actor=org.manager, batch=batch)
    return batch


def test_the_plan_finds_phones_through_the_holders_and_won_indexes(org):
    """More than 100 phones (PostgreSQL proves a partial index's ``phone <> ''`` from ``phone IN (…)`` up to 100
    only): the holders through the unique phone index, the won leads through ``lead_store_phone_won``, one BitmapOr;
    neither reads the store's leads. The same leads as ``not_merged()``."""
    won = buy(store=org.store, consultant=org.consultant, phone="+8613900000007").lead
    Lead.objects.create(store=org.store, name="并入", phone="+8613900000008", source="walk_in", status="merged",
                        first_visit_at=datetime(2026, 1, 5, 10, 0).astimezone())
    # A store of 20,000 leads, analysed: the plan a store of real size gets (a small table is read whole).
    n = 20_000
    insert_rows(Lead, {"name": [f"存量{i}" for i in range(n)], "phone": [f"+86135{i:08d}" for i in range(n)],
                       "status": ["active", "won", "defeated", "active", "merged"] * (n // 5)},
                constants={"store_id": org.store.pk, "source": "walk_in", "first_visit_day": won.first_visit_day})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    phones = {f"+86137{i:08d}" for i in range(150)} | {"+8613900000007", "+8613900000008"}
    found = imports._phone_leads(org.store, phones)
    assert set(found) == set(Lead.objects.not_merged().filter(store=org.store, phone__in=phones)) == {won}
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # as on a database larger than the test's
        plan = found.order_by("first_visit_at", "pk").values_list("phone", "pk").explain()
        holders = imports._phone_holders(org.store, phones).values_list("phone", "pk").explain()
    assert "lead_store_phone_won" in plan and "lead_unique_phone_in_store" in plan, plan
    assert "lead_unique_phone_in_store" in holders, holders


def test_a_batch_costs_the_same_statements_whatever_its_rows(org, known_lead, django_assert_max_num_queries):
    counts = []
    for day, (n, offset) in enumerate(((20, 0), (200, 1000)), start=1):
        batch = _checked(org, [*_rows(n, offset), ["老客户", known_lead.phone, datetime(2026, 4, day), "", "", ""]])
        with CaptureQueriesContext(connection) as queries:
            batch = imports.import_commit(batch.pk)
        assert (batch.status, batch.new, batch.revisits) == ("done", n, 1), batch.error
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    batch = _checked(org, _rows(300, 5000))
    with django_assert_max_num_queries(QUERIES_PER_BATCH):
        assert imports.import_commit(batch.pk).new == 300
    assert Visit.objects.filter(lead__store=org.store, lead__phone__startswith="+86137").count() == 520
    assert Visit.objects.filter(lead=known_lead).count() == 2


@pytest.fixture
def known_lead(org):
    return Lead.objects.create(store=org.store, assigned_to=org.consultant, name="老客户", phone="+8613900000001",
                               source="walk_in", first_visit_at=datetime(2026, 1, 5, 10, 0).astimezone(),
                               created_by=org.manager)
