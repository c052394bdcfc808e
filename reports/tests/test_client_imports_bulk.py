"""The base-client import's set-based commit (``client_imports._write_wave``): the same records as the services row by
row, refused rows reported, a bounded number of queries per batch, the batch whole or not at all."""

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from baseclients.models import (
    BaseClient,
    CareTask,
    ClientLead,
    ClientScore,
    ListEntry,
    Purchase,
    Referral,
    TierChange,
    Vehicle,
)
from baseclients.services import care
from baseclients.tests.factories import a_vin, buy
from dealercrm.tests.factories import VehicleSeriesFactory
from funnel.models import LeadNow, RollupMark
from leads import events
from leads.models import AssignmentChange, Deal, FlagEvent, Lead, OverdueFlag, StaleFlag, Visit
from leads.tests.factories import LeadFactory
from reports.models import ImportBatch, ImportKind, ImportRow
from reports.services import client_imports
from reports.services.imports import import_commit, import_create, import_parse, import_start_commit
from reports.tests.test_imports import xlsx

pytestmark = pytest.mark.django_db

# The queries of a one-batch commit of 200 sales of distinct buyers (new ones, base clients buying again, leads of
# the store): the import's own (rows locked, planned, marked done, progress) and a round's (leads and visits, deals,
# leads won, cards, purchases, vehicles, tiers, care), whatever the rows.
QUERIES_PER_BATCH = 84
HEADER = ["客户姓名", "手机", "车架号", "车牌号", "车系", "成交价", "订车日期", "交车日期", "销售顾问", "区域", "行业"]


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"
    from django.utils import translation

    with translation.override("en"):
        yield


def _day(days_ago: int) -> str:
    return (date.today() - timedelta(days=days_ago)).isoformat()


def run(org, rows) -> ImportBatch:
    """Upload, check and commit ``rows`` (a header and sales) as the store's manager, in this process."""
    batch = import_create(actor=org.manager, store=org.store, kind=ImportKind.BASE_CLIENTS, file_name="sales.xlsx",
                          content=xlsx([HEADER, *rows]))
    batch = import_parse(batch.pk)
    assert batch.status == ImportBatch.Status.DRY_RUN_READY, batch.error
    import_start_commit(actor=org.manager, batch=batch)
    return import_commit(batch.pk)


def row_by_row(monkeypatch) -> None:
    """The import as before: every sale through ``visit_log`` and ``deal_record`` (as while a receiver has no bulk
    form)."""
    monkeypatch.setattr(client_imports, "bulk_receivers", lambda: None)


@pytest.fixture
def world(org):
    """What the sales meet: a base client of the group (a repeat purchase), an active lead of the store that is
    pooled, overdue and stale, with a referral by a base client (its deal is a referral deal), a defeated lead (the
    customer back from the competitor pool), a VIN already on a card."""
    known = buy(store=org.store2, consultant=org.consultant_b, phone="+8613900000009").purchase.client
    referrer = buy(store=org.store, consultant=org.consultant, phone="+8613900000010").purchase.client
    long_ago = timezone.now() - timedelta(days=400)
    prospect = LeadFactory(store=org.store, assigned_to=None, phone="+8613600000001", first_visit_at=long_ago,
                           pooled_at=long_ago, district="浦东")
    StaleFlag.objects.create(lead=prospect, store=org.store, since=long_ago, max_dwell_days=30)
    OverdueFlag.objects.create(lead=prospect, since=long_ago)
    Referral.objects.create(lead=prospect, referrer_client=referrer, created_by=org.manager)
    defeated = LeadFactory(store=org.store, assigned_to=org.consultant2, phone="+8613600000002",
                           first_visit_at=long_ago, status="defeated")
    return {"known": known, "referrer": referrer, "prospect": prospect, "defeated": defeated,
            "taken_vin": Vehicle.objects.exclude(vin="").first().vin}


def sales(org, world, series):
    vins = [a_vin() for _ in range(8)]
    return [
        ["张三", "13800000001", vins[0], "沪A12345", series.name, "15万", _day(200), _day(190), org.consultant.username,
         "闵行区", "IT"],
        ["老客户", "13900000009", vins[1], "", series.name_en, "198000", _day(200), _day(190), "", "", ""],
        ["公海客户", "13600000001", vins[2], "", "", "120000", _day(100), _day(95), "", "", "物流"],  # referral deal
        ["战败客户", "13600000002", vins[3], "", "", "130000", _day(100), _day(95), "", "", ""],  # row by row
        ["张三", "13800000001", vins[4], "", "", "90000", _day(50), _day(40), "", "闵行区", ""],  # a second car
        ["无号", "", vins[5], "", "", "100000", _day(60), _day(60), "", "徐汇", "金融"],  # a card without a phone
        ["无车架", "13700000007", "", "", "", "80000", "", _day(30), org.consultant2.username, "", ""],
        ["已有车架", "13700000008", world["taken_vin"], "", "", "80000", "", _day(30), "", "", ""],  # already there
        ["坏车牌", "13700000009", vins[6], "XYZ", "", "80000", "", _day(30), "", "", ""],
        ["李四", "13800000002", vins[7], "", "", "250000", _day(20), _day(10), "", "闵行", "IT"],
    ]


def snapshot(org) -> dict:
    """Everything the import wrote, by natural keys (ids and creation times differ between two runs)."""
    leads = {pk: (name, phone, first) for pk, name, phone, first in
             Lead.objects.values_list("pk", "name", "phone", "first_visit_at")}
    clients = {pk: phone or name for pk, phone, name in BaseClient.objects.values_list("pk", "phone", "name")}
    deal_lead = dict(Deal.objects.values_list("pk", "lead_id"))

    def rows(queryset, *fields, lead=(), client=(), deal=()):
        out = []
        for values in queryset.values(*fields):
            for f in lead:
                values[f] = leads.get(values[f])
            for f in client:
                values[f] = clients.get(values[f])
            for f in deal:
                values[f] = leads.get(deal_lead.get(values[f]))
            out.append(tuple(sorted(values.items(), key=lambda kv: kv[0])))
        return sorted(out, key=repr)

    return {
        "leads": rows(Lead.objects.all(), "pk", "store", "assigned_to", "name", "phone", "status", "source", "series",
                      "district", "industry", "grade", "first_visit_at", "next_follow_up_at", "pooled_at", "version",
                      "created_by", lead=["pk"]),
        "history": rows(Lead.history.all(), "id", "history_type", "history_change_reason", "history_user", "status",
                        "next_follow_up_at", "pooled_at", lead=["id"]),
        "visits": rows(Visit.objects.all(), "lead", "arrived_at", "is_first", "recorded_by", lead=["lead"]),
        "assignments": rows(AssignmentChange.objects.all(), "lead", "from_user", "to_user", "reason", lead=["lead"]),
        "flags": rows(FlagEvent.objects.all(), "lead", "kind", "action", "by", "reason", lead=["lead"]),
        "flag rows": sorted(map(repr, [*StaleFlag.objects.values_list("lead__phone"),
                                       *OverdueFlag.objects.values_list("lead__phone")])),
        "deals": rows(Deal.objects.all(), "lead", "series", "quantity", "price", "units_delivered", "ordered_at",
                      "delivered_at", "vin", "plate", "created_by", lead=["lead"]),
        "clients": rows(BaseClient.objects.all(), "pk", "group", "store", "assigned_to", "name", "phone", "region",
                        "industry", "fleet_size", "tier", "tier_basis", "loyalty_score", "power_score", "purchases",
                        "units", "referral_deals", "care_anchor", "version", client=["pk"]),
        "purchases": rows(Purchase.objects.all(), "client", "deal", "store", "at", "is_repeat", "referral__lead",
                          client=["client"], deal=["deal"], lead=["referral__lead"]),
        "links": rows(ClientLead.objects.all(), "client", "lead", client=["client"], lead=["lead"]),
        "vehicles": rows(Vehicle.objects.all(), "client", "deal", "series", "use", "vin", "plate", "ordered_at",
                         "delivered_at", "registered_at", "insurance_renewal_at", client=["client"], deal=["deal"]),
        "tiers": rows(TierChange.objects.all(), "client", "from_tier", "to_tier", "basis", "cause", "loyalty", "power",
                      "by", "owner", client=["client"]),
        "scores": rows(ClientScore.objects.all(), "client", "criterion__code", "points", client=["client"]),
        "care": rows(CareTask.objects.all(), "client", "item", "vehicle__vin", "store", "assigned_to", "kind",
                     "channel", "due_on", "status", client=["client"]),
        "lists": sorted(ListEntry.objects.values_list("group", "kind", "name")),
        # What the funnel's triggers recorded: the store-days marked for a recount, and the state-now counts (a
        # new buyer's lead goes in won: nothing to count now, as its insert and update net to nothing).
        "marks": sorted(set(RollupMark.objects.values_list("store_id", "day", "kind"))),
        "lead now": sorted((row["store_id"], row["consultant_id"], row["grade"], row["part"], row["at"], row["n"])
                           for row in LeadNow.objects.values("store_id", "consultant_id", "grade", "part", "at")
                           .annotate(n=Sum("n")).order_by() if row["n"]),
        "outcomes": rows(ImportRow.objects.all(), "number", "action", "error", "done", "lead", lead=["lead"]),
    }


def test_the_same_records_as_row_by_row(org, world, monkeypatch):
    series = VehicleSeriesFactory()
    rows = sales(org, world, series)
    with transaction.atomic():
        with monkeypatch.context() as patch:
            row_by_row(patch)
            before = run(org, rows)
        expected = snapshot(org)
        transaction.set_rollback(True)
    after = run(org, rows)
    got = snapshot(org)
    assert (before.new, before.updated, before.unchanged, before.refused, before.done_rows) == \
        (after.new, after.updated, after.unchanged, after.refused, after.done_rows) == (5, 2, 1, 2, 8)
    for table, values in expected.items():
        assert got[table] == values, table
    # What the rows meant, read on the result.
    prospect = Lead.objects.get(pk=world["prospect"].pk)
    assert prospect.status == "won" and prospect.pooled_at is None and not StaleFlag.objects.filter(lead=prospect)
    assert Purchase.objects.get(deal__lead=prospect).referral.referrer_client == world["referrer"]
    assert BaseClient.objects.get(pk=world["referrer"].pk).referral_deals == 1
    zhang = BaseClient.objects.get(phone="+8613800000001")
    assert zhang.purchases == 2 and zhang.tier == "premium" and zhang.vehicles.count() == 2
    assert BaseClient.objects.get(pk=world["known"].pk).purchases == 2
    refused = dict(ImportRow.objects.filter(batch=after, action="refused").values_list("number", "error"))
    assert "plate" in refused[10]
    # Not in the competitor pool: the visit cannot win the customer back, and the deal service refuses the lead.
    assert "cannot be changed" in refused[5] and Lead.objects.get(pk=world["defeated"].pk).status == "defeated"


def test_refused_at_commit_alone(org):
    """Rows that changed since the dry run: refused with the services' messages, or already there; the rest go in."""
    series = VehicleSeriesFactory()
    vin = a_vin()
    rows = [["甲", "13800000101", vin, "", series.name, "100000", "", _day(10), "", "", ""],
            ["乙", "13800000102", a_vin(), "", "", "100000", "", _day(10), org.consultant2.username, "", ""],
            ["丙", "13800000103", a_vin(), "", "", "100000", "", _day(10), "", "", ""]]
    batch = import_create(actor=org.manager, store=org.store, kind=ImportKind.BASE_CLIENTS, file_name="s.xlsx",
                          content=xlsx([HEADER, *rows]))
    batch = import_parse(batch.pk)
    assert batch.new == 3
    buy(store=org.store2, consultant=org.consultant_b, vin=vin)  # the VIN goes on a card meanwhile
    org.consultant2.is_active = False  # the consultant leaves
    org.consultant2.save(update_fields=["is_active"])
    import_start_commit(actor=org.manager, batch=batch)
    batch = import_commit(batch.pk)
    assert batch.status == ImportBatch.Status.DONE
    assert (batch.new, batch.unchanged, batch.refused, batch.done_rows) == (1, 1, 1, 2)
    outcomes = {r.number: (r.action, r.error) for r in ImportRow.objects.filter(batch=batch)}
    assert outcomes[2] == ("unchanged", "")
    assert outcomes[3] == ("refused", "Choose an active consultant of this store.")
    assert set(Lead.objects.filter(store=org.store).values_list("name", flat=True)) == {"丙"}
    assert ImportRow.objects.get(batch=batch, number=4).lead.name == "丙"


def _many(org, n: int, offset: int) -> list[list]:
    """``n`` sales of distinct buyers: every 4th a base client of the group buying again, every 5th an active lead
    of the store, the others new."""
    rows = []
    for i in range(n):
        phone = f"1380{offset + i:07d}"
        if i % 4 == 1:
            BaseClient.objects.create(group=org.group, store=org.store2, phone=f"+86{phone}", name=f"老{i}",
                                      purchases=1, units=1)
        elif i % 5 == 2:
            LeadFactory(store=org.store, assigned_to=org.consultant, phone=f"+86{phone}",
                        first_visit_at=timezone.now() - timedelta(days=400))
        rows.append([f"客户{i}", phone, a_vin(), "", "", "100000", "", _day(5 + i % 30), "", f"区{offset}-{i % 3}",
                     f"行业{offset}"])
    return rows


def _commit(org, rows) -> ImportBatch:
    batch = import_create(actor=org.manager, store=org.store, kind=ImportKind.BASE_CLIENTS, file_name="s.xlsx",
                          content=xlsx([HEADER, *rows]))
    batch = import_parse(batch.pk)
    import_start_commit(actor=org.manager, batch=batch)
    return batch


def test_queries_per_batch_do_not_grow_with_rows(org, django_assert_max_num_queries):
    assert import_commit(_commit(org, _many(org, 8, 9000)).pk).done_rows == 8  # the group's defaults made once
    counts = []
    for n, offset in ((40, 0), (200, 1000)):
        batch = _commit(org, _many(org, n, offset))
        with CaptureQueriesContext(connection) as queries:
            batch = import_commit(batch.pk)
        assert batch.done_rows == n, batch.error
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    batch = _commit(org, _many(org, 200, 2000))
    with django_assert_max_num_queries(QUERIES_PER_BATCH):
        assert import_commit(batch.pk).done_rows == 200
    assert Deal.objects.filter(lead__store=org.store).count() == 448


def test_a_new_buyer_is_written_once(org):
    """A new buyer's lead goes in won and their card as the deal leaves it (purchase counted, fleet, scores, tier):
    no UPDATE of either, and the lead's history is its "+" row as the visit made it, then the deal's "~" row."""
    rows = [[f"新客{i}", f"1371000{i:04d}", a_vin(), "", "", "100000", _day(40), _day(30 - i), "", "闵行", "IT"]
            for i in range(12)]
    batch = _commit(org, rows)
    with CaptureQueriesContext(connection) as queries:
        batch = import_commit(batch.pk)
    assert batch.done_rows == 12 and batch.new == 12
    updates = [q["sql"][:40] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert not [sql for sql in updates if "leads_lead" in sql or "baseclients_baseclient" in sql], updates
    lead = Lead.objects.get(phone="+8613710000003")
    assert (lead.status, lead.next_follow_up_at, lead.version) == ("won", None, 2)
    history = list(Lead.history.filter(id=lead.pk).order_by("history_id")
                   .values_list("history_type", "status", "history_change_reason"))
    assert history == [("+", "active", None), ("~", "won", "Deal recorded")]
    assert Lead.history.filter(id=lead.pk, history_type="+").get().next_follow_up_at is not None
    client = BaseClient.objects.get(phone="+8613710000003")
    assert (client.purchases, client.units, client.fleet_size, client.version) == (1, 1, 1, 2)
    assert client.care_anchor == date.fromisoformat(_day(27))
    assert client.created_at == client.updated_at == client.tier_since
    assert list(client.tier_changes.order_by("pk").values_list("cause", "to_tier", "at")) == [
        ("initial", "general", client.created_at)]
    assert ClientScore.objects.filter(client=client).count() == 1  # the fleet criterion's points
    assert Purchase.objects.get(client=client).is_repeat is False and client.vehicles.count() == 1


def test_a_batch_plans_its_cards_care_once(org):
    """A batch of two rounds (a buyer's second car waits for the first) plans the care of its cards once, after the
    rounds (``planning_deferred``): one statement per shape of plan item, and every card planned as its last state
    asks (the repeat buyer premium: the premium plan's tasks)."""
    rows = [["甲", "13720000001", a_vin(), "", "", "100000", _day(40), _day(30), "", "", ""],
            ["乙", "13720000002", a_vin(), "", "", "100000", _day(40), _day(30), "", "", ""],
            ["甲", "13720000001", a_vin(), "", "", "120000", _day(10), _day(5), "", "", ""]]
    batch = _commit(org, rows)
    with CaptureQueriesContext(connection) as queries:
        assert import_commit(batch.pk).done_rows == 3
    plans = [q for q in queries.captured_queries if "INSERT INTO baseclients_caretask" in q["sql"]]
    assert len(plans) == len(care._SHAPES)
    twice = BaseClient.objects.get(phone="+8613720000001")
    assert twice.tier == "premium" and twice.purchases == 2
    assert CareTask.objects.filter(client=twice).exists() and CareTask.objects.filter(client__phone="+8613720000002")
    assert not CareTask.objects.filter(client=twice, item__tier__in=["general", "potential"]).exists()


def test_a_failure_mid_batch_leaves_nothing_of_it(org, monkeypatch):
    """An error that is no refusal (here: after the base clients were written) undoes the whole batch: no lead, deal
    or card of it, its rows not done, the import failed; committing again imports it."""
    rows = _many(org, 30, 0)
    counts = (Lead.objects.count(), Deal.objects.count(), BaseClient.objects.count(), Vehicle.objects.count())
    real = client_imports.BULK_DEAL_RECEIVERS["baseclients.deal_makes_client"]

    def fails(**kwargs):
        real(**kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setitem(client_imports.BULK_DEAL_RECEIVERS, "baseclients.deal_makes_client", fails)
    batch = import_create(actor=org.manager, store=org.store, kind=ImportKind.BASE_CLIENTS, file_name="s.xlsx",
                          content=xlsx([HEADER, *rows]))
    batch = import_parse(batch.pk)
    import_start_commit(actor=org.manager, batch=batch)
    batch = import_commit(batch.pk)
    assert batch.status == ImportBatch.Status.FAILED and "disk full" in batch.error
    assert (Lead.objects.count(), Deal.objects.count(), BaseClient.objects.count(), Vehicle.objects.count()) == counts
    assert not ImportRow.objects.filter(batch=batch, done=True).exists()
    monkeypatch.setitem(client_imports.BULK_DEAL_RECEIVERS, "baseclients.deal_makes_client", real)
    import_start_commit(actor=org.manager, batch=batch)
    batch = import_commit(batch.pk)
    assert batch.status == ImportBatch.Status.DONE and batch.done_rows == 30
    assert Deal.objects.count() == counts[1] + 30


def test_a_round_the_database_refuses_goes_row_by_row(org, monkeypatch):
    """A database error in a round (a VIN another transaction put on a card after the look-up) undoes the round
    and records its sales one by one: each goes in, or is refused alone with the reason."""
    rows = _many(org, 12, 0)
    real = client_imports.BULK_DEAL_RECEIVERS["baseclients.deal_makes_client"]
    calls = []

    def unlucky(**kwargs):
        calls.append(len(kwargs["sales"]))
        real(**kwargs)
        raise IntegrityError('duplicate key value violates unique constraint "vehicle_unique_vin"')

    monkeypatch.setitem(client_imports.BULK_DEAL_RECEIVERS, "baseclients.deal_makes_client", unlucky)
    batch = run(org, rows)
    assert calls == [12]
    assert batch.status == ImportBatch.Status.DONE and batch.done_rows == 12
    assert Purchase.objects.filter(deal__lead__store=org.store).count() == 12
    assert Vehicle.objects.filter(deal__lead__store=org.store).count() == 12


def test_a_receiver_without_a_bulk_form_gets_every_deal(org):
    """A ``deal_recorded`` receiver the import has no bulk form for: the sales go through the deal service one by
    one, so it hears of each."""
    heard = []

    def receiver(sender, *, deal, **kwargs):
        heard.append(deal.vin)

    events.deal_recorded.connect(receiver, dispatch_uid="tests.hears_deals")
    try:
        assert client_imports.bulk_receivers() is None
        batch = run(org, _many(org, 5, 0))
    finally:
        events.deal_recorded.disconnect(dispatch_uid="tests.hears_deals")
    assert batch.done_rows == 5 and len(heard) == 5
    assert client_imports.bulk_receivers() is not None
