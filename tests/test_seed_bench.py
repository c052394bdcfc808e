"""The benchmark seed (`manage.py seed_bench`, benchmarks/seed.py) on a small set: the model invariants the services
keep, the shares it promises, and its refusals.

COPY needs no commit, so the module seeds once inside a transaction that is rolled back after the last test (as
leads/tests/test_demo.py does); each test runs in a savepoint of it. Inside a transaction the seed runs ANALYZE
but not VACUUM."""

from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, OuterRef, Q, Subquery
from django.test import override_settings
from django.utils import timezone

from baseclients.models import BaseClient, CareTask, TierCause, TierChange
from benchmarks.seed import (
    BENCH_GROUP,
    SHANGHAI,
    TABLES,
    BenchSeedError,
    _check_foreign_keys,
    bench_shape,
    column_defaults,
)
from dealercrm.demo import DEMO_GROUP
from dealercrm.models import DealerGroup, Role, Store, User
from leads.models import (
    GRADE_ORDER,
    AssignmentChange,
    Deal,
    FollowUp,
    GradeChange,
    Lead,
    Status,
    Visit,
)
from leads.phones import phone_normalize
from leads.tests.factories import reference_data

pytestmark = pytest.mark.django_db
LEADS, STORES, MONTHS = 3000, 3, 3
VALID = ~Q(phone="") & Q(grade__isnull=False)  # DOMAIN §4: a reachable phone and a grade
LOADED = [model._meta.db_table for model, _ in TABLES.values()]
INDEXES: dict[str, list] = {}  # the loaded tables' indexes as migrated, before the seed (filled by the fixture)


def _indexes(tables) -> list[tuple[str, str, str, bool]]:
    """(table, index, definition up to its WHERE, partial?): a partial index built again from its definition reads
    its predicate back in another, equivalent spelling (casts made explicit)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename, indexname, split_part(indexdef, ' WHERE ', 1), indexdef LIKE '%% WHERE %%' "
                       "FROM pg_indexes WHERE tablename = ANY(%s) ORDER BY 1, 2", [list(tables)])
        return cursor.fetchall()


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_bench", stdout=out, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def bench(django_db_setup, django_db_blocker):
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=fast), transaction.atomic():
        reference_data()
        INDEXES["before"] = _indexes(LOADED)
        output = seed(leads=LEADS, stores=STORES, months=MONTHS, chunk=1000)  # three COPY rounds
        yield output
        transaction.set_rollback(True)


@pytest.fixture
def leads(bench):
    return Lead.objects.filter(store__group__name=BENCH_GROUP)


def test_organisation_counts_and_summary(bench, leads):
    group = DealerGroup.objects.get(name=BENCH_GROUP)
    stores = Store.objects.filter(group=group)
    assert stores.count() == STORES and len({s.name for s in stores}) == STORES
    for store in stores:
        assert store.staff.filter(role=Role.MANAGER).count() == 1
        assert 12 <= store.staff.filter(role=Role.CONSULTANT).count() <= 16
    assert User.objects.filter(dealer_group=group, role=Role.GROUP_ADMIN).count() == 1
    # One shared password hash (hashed once), and it works.
    assert User.objects.filter(dealer_group=group).values("password").distinct().count() == 1
    assert User.objects.get(username="bench_admin").check_password("bench1234")
    assert leads.count() == LEADS
    sizes = sorted(leads.values("store").annotate(n=Count("pk")).values_list("n", flat=True))
    assert sizes[0] < sizes[-1]  # stores of different sizes
    assert f"N={LEADS:,} leads" in bench and "followed=" in bench and "deals=" in bench
    assert "ANALYZE leads_followup" in bench


def test_one_first_visit_per_lead_at_first_visit_time_in_showroom_hours(leads):
    firsts = Visit.objects.filter(lead__in=leads, is_first=True)
    assert firsts.count() == LEADS
    assert firsts.values("lead").distinct().count() == LEADS
    assert not firsts.exclude(arrived_at=F("lead__first_visit_at")).exists()
    assert not Visit.objects.filter(lead__in=leads, arrived_at__lt=F("lead__first_visit_at")).exists()
    assert not Visit.objects.filter(lead__in=leads, left_at__lt=F("arrived_at")).exists()
    weekend = Counter()
    for arrived in firsts.values_list("arrived_at", flat=True):
        local = timezone.localtime(arrived, SHANGHAI)
        assert 9 <= local.hour < 20
        weekend[local.weekday() >= 5] += 1
    assert weekend[True] / 2 > weekend[False] / 5  # busier weekends
    revisits = Visit.objects.filter(lead__in=leads, is_first=False).count()
    assert 0.08 <= revisits / LEADS <= 0.25


def test_leads_span_the_months_up_to_now(leads):
    span = leads.aggregate(first=Min("first_visit_at"), last=Max("first_visit_at"))
    now = timezone.now()
    assert span["last"] <= now
    # Three months back, on the same day of the month clamped to the 28th (31 Jan → 28 Oct: 95 days).
    assert 80 <= (now - span["first"]).days <= 95
    assert leads.filter(first_visit_at__gte=now - timedelta(days=30)).count() > LEADS / 5


def test_grade_is_the_latest_grade_change_and_grades_move_one_rung(leads):
    latest = GradeChange.objects.filter(lead=OuterRef("pk")).order_by("-changed_at", "-id")
    rows = leads.annotate(last_to=Subquery(latest.values("to_grade")[:1]),
                          last_at=Subquery(latest.values("changed_at")[:1]))
    assert not rows.filter(grade__isnull=False).exclude(grade=F("last_to")).exists()
    assert not rows.filter(grade__isnull=False).exclude(grade_since=F("last_at")).exists()
    assert not rows.filter(grade__isnull=True, last_to__isnull=False).exists()
    rank = {g: i for i, g in enumerate(GRADE_ORDER)}
    changes = GradeChange.objects.filter(lead__in=leads)
    for before, after in changes.filter(from_grade__isnull=False).values_list("from_grade", "to_grade"):
        assert abs(rank[after] - rank[before]) == 1
    assert changes.filter(from_grade__isnull=True).count() == leads.filter(grade__isnull=False).count()
    # A change after a follow-up rides on it.
    ridden = changes.filter(follow_up__isnull=False)
    assert ridden.count() == changes.filter(from_grade__isnull=False).count() > 0
    assert not ridden.exclude(changed_at=F("follow_up__occurred_at")).exists()
    assert not ridden.exclude(from_grade=F("follow_up__grade_before"), to_grade=F("follow_up__grade_after")).exists()
    assert not ridden.exclude(lead=F("follow_up__lead")).exists()


def test_phones_are_valid_e164_and_unique_per_store_and_about_40_percent_anonymous(leads):
    anonymous = leads.filter(phone="").count() / LEADS
    assert 0.33 <= anonymous <= 0.47
    for store_id in Store.objects.filter(group__name=BENCH_GROUP).values_list("pk", flat=True):
        phones = list(leads.filter(store=store_id).exclude(phone="").values_list("phone", flat=True))
        assert len(phones) == len(set(phones))
        for phone in phones:
            assert phone.startswith("+861") and phone_normalize(phone) == phone


def test_won_leads_have_one_deal_and_nothing_due(leads):
    won = leads.filter(status=Status.WON)
    deals = Deal.objects.filter(lead__in=leads)
    assert won.count() == deals.count() > 0
    assert not won.filter(deal__isnull=True).exists()
    assert not deals.exclude(lead__status=Status.WON).exists()
    assert not won.filter(next_follow_up_at__isnull=False).exists()
    assert not deals.filter(price__lte=0).exists() and not deals.filter(delivered_at__lt=F("ordered_at")).exists()
    assert deals.filter(lead__grade="A").count() / deals.count() > 0.7
    assert not won.filter(follow_ups__isnull=True).exists()


def test_anonymous_leads_have_nothing_due_and_no_follow_ups(leads):
    anonymous = leads.filter(phone="")
    assert not anonymous.filter(next_follow_up_at__isnull=False).exists()
    assert not FollowUp.objects.filter(lead__phone="", lead__in=leads).exists()
    assert not leads.filter(status=Status.ACTIVE).exclude(phone="").filter(next_follow_up_at__isnull=True).exists()


def test_active_graded_leads_form_a_pyramid(leads):
    active = leads.filter(status=Status.ACTIVE, grade__isnull=False)
    for subset in [active, *(active.filter(store=s) for s in Store.objects.filter(group__name=BENCH_GROUP))]:
        counts = Counter(subset.values_list("grade", flat=True))
        assert counts["E"] > counts["D"] > counts["C"] > counts["B"] > counts["A"] > 0, counts


def test_funnel_shares_valid_followed_deals(leads):
    valid = leads.filter(VALID)
    followed = valid.filter(first_follow_up_at__isnull=False).count()
    assert 0.5 <= valid.count() / LEADS <= 0.67  # K
    assert 0.5 <= followed / valid.count() <= 0.7  # F
    assert 0.10 <= Deal.objects.filter(lead__in=leads).count() / valid.count() <= 0.15
    per_lead = FollowUp.objects.filter(lead__in=leads).count() / LEADS
    assert 1.0 <= per_lead <= 4.0  # ~3 over 13 months; fewer over three


def test_follow_ups_agree_with_their_lead(leads):
    follow_ups = FollowUp.objects.filter(lead__in=leads)
    firsts = leads.annotate(first=Min("follow_ups__occurred_at"), last=Max("follow_ups__occurred_at"))
    assert not firsts.exclude(first_follow_up_at=F("first")).filter(first__isnull=False).exists()
    assert not firsts.filter(first__isnull=True, first_follow_up_at__isnull=False).exists()
    assert not follow_ups.filter(occurred_at__lte=F("lead__first_visit_at")).exists()
    assert not follow_ups.filter(occurred_at__gt=timezone.now()).exists()
    assert not firsts.filter(last_contact_at__lt=F("last")).exists()
    assert not firsts.filter(last__isnull=False, last_contact_at__lt=F("last")).exists()
    latest_due = FollowUp.objects.filter(lead=OuterRef("pk")).order_by("-occurred_at", "-id").values(
        "next_follow_up_at")[:1]
    worked = leads.filter(status=Status.ACTIVE, first_follow_up_at__isnull=False)
    assert not worked.annotate(due=Subquery(latest_due)).exclude(next_follow_up_at=F("due")).exists()
    assert not follow_ups.exclude(created_by__store=F("lead__store")).exists()
    assert follow_ups.filter(review_status="pending").count() < follow_ups.count() / 5
    assert not follow_ups.filter(review_status="pending", reviewed_by__isnull=False).exists()


def test_every_lead_has_an_assignment_and_its_owner_is_the_latest(leads):
    assert not leads.filter(assignment_changes__isnull=True).exists()
    latest = AssignmentChange.objects.filter(lead=OuterRef("pk")).order_by("-changed_at", "-id")
    assert not leads.annotate(owner=Subquery(latest.values("to_user")[:1])).exclude(assigned_to=F("owner")).exists()
    assert not leads.exclude(assigned_to__store=F("store")).exists()


def test_no_history_rows_and_sequences_continue_after_the_loaded_ids(leads):
    assert not Lead.history.filter(store__group__name=BENCH_GROUP).exists()
    lead = leads.first()
    high = Lead.objects.aggregate(m=Max("pk"))["m"]
    created = Lead.objects.create(store=lead.store, name="新客户", source="walk_in")
    visit = Visit.objects.create(lead=created, is_first=True, arrived_at=created.first_visit_at)
    assert created.pk > high and visit.pk > 0


def test_foreign_keys_are_checked_after_the_load(leads):
    with connection.cursor() as cursor:
        _check_foreign_keys(cursor, ["leads_followup", "leads_lead"])  # the loaded rows pass
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE leads_followup SET lead_id = -1 WHERE id = (SELECT min(id) FROM leads_followup)")
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
        with pytest.raises(BenchSeedError, match="leads_followup_lead_id"):
            _check_foreign_keys(cursor, ["leads_followup"])


def test_refuses_when_the_bench_group_exists_without_reset(bench):
    with pytest.raises(CommandError, match="--reset"):
        seed(leads=100, stores=1, months=1)


def test_reset_replaces_the_bench_group(leads):
    old_users = set(User.objects.filter(dealer_group__name=BENCH_GROUP).values_list("pk", flat=True))
    output = seed(leads=400, stores=2, months=2, reset=True, seed=7)
    assert "Removed the previous" in output
    assert DealerGroup.objects.filter(name=BENCH_GROUP).count() == 1
    assert leads.count() == Lead.objects.count() == 400
    assert Store.objects.filter(group__name=BENCH_GROUP).count() == 2
    assert not User.objects.filter(pk__in=old_users).exists()
    assert Visit.objects.filter(is_first=True).count() == 400
    assert Lead.objects.aggregate(m=Min("pk"))["m"] == 1  # TRUNCATE ... RESTART IDENTITY: only bench data here
    # The time-in-stage histograms are those of the new group only: the sums of its Stay rows.
    from funnel import rollups_stays

    assert rollups_stays.hist_drift(repair=False) == 0
    from funnel.models import LeadNow  # nor state-now counts of the removed stores

    assert not LeadNow.objects.exclude(store_id__in=Store.objects.values("pk")).exists()


def test_refuses_a_database_holding_the_demo_group_unless_forced(leads):
    DealerGroup.objects.create(name=DEMO_GROUP)
    with pytest.raises(CommandError, match="demo group"):
        seed(leads=100, stores=1, months=1, reset=True)
    assert leads.count() == LEADS
    # Forced: the demo group stays, only the bench rows are replaced (DELETE, not TRUNCATE).
    other = Store.objects.create(group=DealerGroup.objects.get(name=DEMO_GROUP), name="演示店")
    kept = Lead.objects.create(store=other, name="演示客户", source="walk_in", phone="+8613800138000")
    output = seed(leads=300, stores=1, months=1, reset=True, force=True)
    assert "TRUNCATE" not in output
    assert leads.count() == 300
    assert Lead.objects.filter(pk=kept.pk).exists()
    assert Visit.objects.filter(lead__in=leads, is_first=True).count() == 300


def test_refuses_anything_but_postgresql(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="PostgreSQL"):
        seed(leads=10)


def test_the_load_ends_with_its_rollups_recounted_in_bulk(bench, leads):
    """COPY ran without the rollups' triggers (or they marked every day): the seed recounts the rollups at its end,
    so nothing is left marked and the group's funnel reads exactly the live count."""
    from funnel.models import CohortDay, RollupMark
    from funnel.selectors import Slice, funnel_metrics

    assert "Rollups:" in bench
    stores = list(leads.values_list("store_id", flat=True).distinct())
    assert not RollupMark.objects.filter(store_id__in=stores).exists()
    assert CohortDay.objects.filter(store_id__in=stores).exists()
    admin = User.objects.get(dealer_group__name=BENCH_GROUP, role=Role.GROUP_ADMIN)
    today = timezone.localdate()
    s = Slice(user=admin, start=today - timedelta(days=31 * MONTHS), end=today)
    for group_by in (None, "month", "store", "source"):
        assert funnel_metrics(s, group_by=group_by) == funnel_metrics(s, group_by=group_by, live=True)


def test_the_shape_follows_the_size_unless_given():
    # Up to 5M leads the published shape (10 stores, 13 months); from 5M on a 50-store group over three years.
    assert bench_shape(1_000_000) == (10, 13)
    assert bench_shape(4_999_999) == (10, 13)
    assert bench_shape(5_000_000) == bench_shape(10_000_000) == (50, 36)
    assert bench_shape(10_000_000, stores=20) == (20, 36)
    assert bench_shape(200_000, stores=50, months=36) == (50, 36)
    assert bench_shape(10_000_000, months=12) == (50, 12)


def test_the_seed_uses_the_shape_of_its_size(leads, monkeypatch):
    import benchmarks.seed as bench_module

    monkeypatch.setattr(bench_module, "LARGE", 500)  # 500 leads count as a large bench here
    monkeypatch.setattr(bench_module, "LARGE_SHAPE", (4, 2))
    output = seed(leads=600, reset=True)
    assert "4 stores" in output and "600 leads over 2 months" in output
    assert Store.objects.filter(group__name=BENCH_GROUP).count() == 4
    assert leads.filter(first_visit_at__lt=timezone.now() - timedelta(days=2 * 31 + 1)).count() == 0


def test_secondary_indexes_are_built_again_after_the_load(bench):
    """The loaded tables' secondary indexes were dropped for the load and built after it: the same indexes, with
    the same definitions, as migrated."""
    assert "secondary indexes built" in bench
    assert len(INDEXES["before"]) > 3 * len(LOADED)
    assert _indexes(LOADED) == INDEXES["before"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_index WHERE indrelid = ANY(%s::regclass[]) AND NOT indisvalid",
                       [LOADED])
        assert cursor.fetchone()[0] == 0


def test_keep_indexes_loads_into_them(leads):
    output = seed(leads=500, stores=2, months=2, reset=True, keep_indexes=True)
    assert "secondary indexes built" not in output
    assert leads.count() == 500
    assert _indexes(LOADED) == INDEXES["before"]


def test_column_defaults_fill_what_a_bulk_writer_does_not_name():
    columns, values = column_defaults(TierChange, ["client_id", "from_tier", "to_tier", "basis"], now=timezone.now(),
                                      skip_pk=True)
    defaults = dict(zip(columns, values, strict=True))
    assert "id" not in defaults and "client_id" not in defaults
    assert defaults["cause"] == TierCause.SCORING  # a field added after the writer: its model default
    assert defaults["job_run_id"] is None
    with pytest.raises(BenchSeedError, match="no field"):
        column_defaults(TierChange, ["nonsense"], now=timezone.now())


def test_base_clients_and_defeats_scale_with_the_leads_and_a_reset_removes_them(leads):
    """The base clients (90,000 per million leads by default) and defeats seeded on the bench; a second run adds
    nothing; the tier history and care carry every column; a reset of the leads removes them all."""
    care_indexes = _indexes(["baseclients_caretask"])
    out = StringIO()
    call_command("seed_bench_baseclients", stdout=out)
    group = DealerGroup.objects.get(name=BENCH_GROUP)
    clients = BaseClient.objects.filter(group=group)
    assert clients.count() == round(LEADS * 0.09), out.getvalue()
    assert f"per million of its {LEADS:,} leads" in out.getvalue()
    history = TierChange.objects.filter(client__group=group)
    last_year = timezone.localdate().year - 1
    assert history.filter(at__year=last_year, cause=TierCause.SCORING).exists()  # a column the SQL does not name
    tasks = CareTask.objects.filter(client__group=group)
    statuses = Counter(tasks.values_list("status", flat=True))
    assert statuses["done"] > statuses["skipped"] > 0 and statuses["pending"] > 0
    assert "indexes of the care tasks built again" in out.getvalue()
    assert "foreign keys of the care tasks checked set-based" in out.getvalue()
    assert _indexes(["baseclients_caretask"]) == care_indexes and len(care_indexes) > 5
    before = (clients.count(), tasks.count(), history.count())
    call_command("seed_bench_baseclients", stdout=StringIO())
    assert (clients.count(), tasks.count(), history.count()) == before

    from defeats.models import Application

    call_command("seed_bench_defeats", stdout=StringIO())
    assert Application.objects.filter(store__group=group).exists()
    with connection.cursor() as cursor:  # each seed commits on its own; here they share the test's transaction
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    output = seed(leads=300, stores=1, months=1, reset=True)
    assert "Removed the previous" in output
    assert not BaseClient.objects.exists() and not CareTask.objects.exists() and not Application.objects.exists()
    assert leads.count() == 300


def test_the_won_leads_cards_are_what_the_backfill_service_makes(leads):
    """The bench writes the won leads' cards set-based; on the bench's shape that is exactly what
    ``baseclients.services.backfill`` makes, column for column (times of writing aside)."""
    from baseclients.models import ClientLead, Purchase, Vehicle
    from baseclients.services.backfill import backfill
    from benchmarks.baseclients import _cards_of_won_leads

    group = DealerGroup.objects.get(name=BENCH_GROUP)

    def snapshot():
        deal_of = dict(Purchase.objects.filter(client__group=group).values_list("client_id", "deal_id"))
        out = {}
        for model in (BaseClient, Purchase, Vehicle, ClientLead, TierChange):
            written = {"updated_at", "tier_since", "at"} | ({"created_at"} if model is not BaseClient else set())
            names = [f.attname for f in model._meta.concrete_fields if f.attname not in written]
            rows = []
            for row in model.objects.filter(**{"group" if model is BaseClient else "client__group": group}).values(
                    *names):
                if model is BaseClient:
                    row["id"] = deal_of[row["id"]]
                else:
                    del row["id"]
                    row["client_id"] = deal_of[row["client_id"]]
                rows.append(repr(sorted(row.items())))
            out[model.__name__] = sorted(rows)
        out["deals"] = sorted(Deal.objects.filter(lead__store__group=group).values_list("pk", "units_delivered"))
        return out

    point = transaction.savepoint_create()
    assert "set-based" in _cards_of_won_leads(group)
    ours = snapshot()
    transaction.savepoint_rollback(point)
    assert not BaseClient.objects.filter(group=group).exists()
    deals = backfill(plan_care=False)
    assert deals == len(ours["Purchase"]) > 50
    theirs = snapshot()
    assert theirs.keys() == ours.keys()
    for key in ours:
        assert theirs[key] == ours[key], key
    # A second run (cards exist) goes through the service, which finds nothing left to take in.
    assert _cards_of_won_leads(group) == "0 deals taken in (by the service)"


def test_a_copy_of_the_bench_database_is_refused_without_room_for_it(monkeypatch):
    """The job and import benches run on a copy of the bench database; a ten-million-lead bench rarely has room for
    a second copy of itself, so the copy is refused when the disk has no room for it (the imports then run rolled
    back) rather than filling the disk PostgreSQL writes its WAL to."""
    import benchmarks.jobs as jobs_bench

    size, free = jobs_bench.copy_room()
    assert size > 0
    assert free is None or free > 0  # the test database's server may be on another machine
    monkeypatch.setattr(jobs_bench, "copy_room", lambda: (size, size))  # room for less than the copy and its writes
    with pytest.raises(RuntimeError, match="No room for a copy"), jobs_bench._on_a_copy():
        pass
