"""The benchmark data set (`manage.py seed_bench`): one dealer group with a million leads and their history,
written with PostgreSQL COPY in a few minutes. What it holds and how to run it: benchmarks/README.md.

The rows keep the invariants that leads.demo keeps (and the services keep): one `is_first` visit per lead whose
arrival is `first_visit_at`; a graded lead's grade is the `to_grade` of its latest GradeChange and `grade_since`
that change's time; grades move one rung per follow-up; `first_follow_up_at` is the earliest follow-up; the next
follow-up is due the grade's interval after the last follow-up (or the first visit); a won lead has one Deal and
nothing due; an anonymous lead (phone "") has nothing due. No simple_history rows are written (as in the demo).

How it is fast: leads are generated in first-visit order as plain tuples (no model instances), in chunks of
`chunk` leads, and times are kept as epoch seconds and turned into COPY text by table look-up (psycopg's datetime
dumper would be the largest single cost). A writer thread COPYs chunk i while the main thread builds chunk i+1,
so Python and PostgreSQL each keep one of the two cores busy. Foreign keys are checked set-based after the load
(one anti-join per constraint) instead of row by row (see `_Loader.load`). Into a database holding only bench data,
the loaded tables' secondary indexes are dropped for the load and built again after it (one sort each instead of
tens of millions of scattered inserts, and far less WAL); nothing is held in memory beyond two chunks.

Its size: the defaults follow the lead count (`bench_shape`): up to LARGE leads a 10-store group over 13 months (the
published million-lead figures), from LARGE on a 50-store group over 36 months, unless --stores / --months say."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import DateTimeField
from django.utils import timezone

from dealercrm.demo import DEMO_GROUP
from dealercrm.models import DealerGroup, JobRun, Role, Store, User, VehicleSeries
from funnel import lead_now, rollups, rollups_stays
from funnel.models import CohortDay, LeadNow, RevisitDay, Stay, StayHist
from leads.demo.params import (
    ANONYMOUS_GRADE,
    ARRIVAL_HOURS,
    CALL_HOURS,
    CHANNELS,
    CLOSING,
    DEAL_SHARE,
    DILIGENCE,
    DISTRICTS,
    DOWN_OUTCOMES,
    FIRST_GRADE,
    GIVEN,
    INDUSTRIES,
    MOBILE_PREFIXES,
    OUTCOMES,
    OWN_INTEREST,
    PRICES,
    PROMOTE,
    REASSIGN_REASONS,
    REJECTIONS,
    SEASON,
    SEGMENT_PRICES,
    SHANGHAI,
    SHARE,
    SOURCES,
    SURNAMES,
    TEXTS,
    UP_OUTCOMES,
    VISIT_NOTES,
    WEEKDAY,
)
from leads.models import GRADE_ORDER, AssignmentChange, Channel, Deal, FlagEvent, FollowUp, GradeChange, Lead, Visit
from leads.phones import phone_normalize
from leads.rules import UNGRADED_FOLLOW_UP_DAYS
from leads.services import grade_rules_for

BENCH_GROUP = "Bench Auto Group"
BENCH_PASSWORD = "bench1234"  # every bench login; hashed once, the hash shared by all bench users
# (store name, home district): Shanghai stores, so the districts the demo draws from stay plausible.
STORE_SITES = [
    ("浦东金桥店", "浦东新区"), ("闵行莘庄店", "闵行区"), ("徐汇漕河泾店", "徐汇区"), ("宝山大场店", "宝山区"),
    ("嘉定安亭店", "嘉定区"), ("松江新城店", "松江区"), ("青浦徐泾店", "青浦区"), ("奉贤南桥店", "奉贤区"),
    ("杨浦五角场店", "杨浦区"), ("普陀真如店", "普陀区"), ("长宁虹桥店", "长宁区"), ("静安大宁店", "静安区"),
    ("虹口北外滩店", "虹口区"), ("黄浦南外滩店", "黄浦区"), ("金山石化店", "金山区"), ("崇明城桥店", "崇明区"),
]
CONSULTANTS = (12, 16)  # per store
CHUNK = 25_000  # leads per COPY round; two rounds in flight hold ~0.3 GB of tuples
SHAPE = (10, 13)  # stores, months: the default shape, as the published million-lead figures were measured
LARGE, LARGE_SHAPE = 5_000_000, (50, 36)  # from this many leads on: a national group's three years
LOAD_SETTINGS = {"maintenance_work_mem": "1GB", "work_mem": "256MB"}  # index builds and the FK anti-joins
FOLLOW_UPS = 11.0  # mean follow-ups of a worked lead at least four months old (younger leads get fewer)

# Bench rates where the demo's (six months, 1-4 follow-ups a lead) do not fit 13 months of longer histories.
METHODS = {"phone": 54, "wechat": 34, "sms": 6, "home_visit": 3.5, "showroom": 2.2, "test_drive": 1.2}
VISIT_METHODS = ("showroom", "test_drive", "home_visit")  # need someone on site: not after hours
DILIGENCE_SCALE = 0.9  # share of a consultant's leads that get followed up, × DILIGENCE
PROMOTE_SCALE = 0.3  # chance per follow-up to climb a rung, × PROMOTE (the demo's are per 1-4 follow-ups)
DEMOTE = 0.015
REVISIT = 0.06  # a lead nobody followed up comes back on its own
HANDOVER = 0.03  # a lead reassigned by the manager
WARMTH = {"E": 1.0, "D": 1.1, "C": 2.2, "B": 4.0, "A": 6.0}  # who closes (as in the demo's choose_deals)
SOURCE_CLOSE = {"walk_in": 1.0, "referral": 1.5, "outbound": 0.8}

DAY, HOUR, TAB = 86_400, 3_600, 4_096
RANK = {g: i for i, g in enumerate(GRADE_ORDER)}
UP = dict(pairwise(GRADE_ORDER))
DOWN = {up: down for down, up in UP.items()}
EPOCH = date(1970, 1, 1).toordinal()
PHONE_STEP = 61_803_399  # odd and not a multiple of 5: k → k·STEP mod 10⁸ is a bijection on 8-digit suffixes

# The columns each table gets, in row order; model fields not listed get their default (see _Table).
LEAD_FIELDS = ["id", "store_id", "assigned_to_id", "name", "phone", "gender", "source", "channel_id", "series_id",
               "budget", "purchase_type", "district", "industry", "grade", "status", "first_visit_at", "first_visit_day",
               "last_contact_at", "next_follow_up_at", "first_follow_up_at", "grade_since", "merged_into_id", "notes",
               "created_by_id", "created_at", "updated_at", "version"]
VISIT_FIELDS = ["id", "lead_id", "store_id", "arrived_at", "left_at", "is_first", "needs_analysis", "test_drive", "quote",
                "trade_in", "companions", "note", "recorded_by_id", "created_at"]
FOLLOW_UP_FIELDS = ["id", "lead_id", "occurred_at", "method", "content", "outcome", "grade_before", "grade_after",
                    "next_follow_up_at", "created_by_id", "created_at", "review_status", "review_comment",
                    "reviewed_by_id", "reviewed_at", "store_id"]
GRADE_CHANGE_FIELDS = ["id", "lead_id", "from_grade", "to_grade", "changed_at", "changed_by_id", "reason",
                       "follow_up_id"]
ASSIGNMENT_FIELDS = ["id", "lead_id", "from_user_id", "to_user_id", "changed_at", "changed_by_id", "reason"]
DEAL_FIELDS = ["id", "lead_id", "series_id", "price", "ordered_at", "delivered_at", "created_by_id", "created_at"]
# Parents first; within a chunk every table gets one COPY.
TABLES = {"lead": (Lead, LEAD_FIELDS), "followup": (FollowUp, FOLLOW_UP_FIELDS),
          "gradechange": (GradeChange, GRADE_CHANGE_FIELDS), "visit": (Visit, VISIT_FIELDS),
          "assignmentchange": (AssignmentChange, ASSIGNMENT_FIELDS), "deal": (Deal, DEAL_FIELDS)}


class BenchSeedError(Exception):
    """The benchmark seed refuses to run (wrong database, data in the way) or the model no longer fits it."""


@dataclass
class BenchResult:
    rows: dict[str, int]  # per table
    copy_seconds: dict[str, float]  # per table: time in COPY (overlaps generation)
    phases: dict[str, float]  # prepare, load, indexes, check, commit, rollups, vacuum
    leads: int
    anonymous: int
    valid: int  # a phone and a grade (DOMAIN §4)
    followed: int  # valid, at least one follow-up
    deals: int
    revisited: int  # leads with a re-visit
    stores: int
    staff: int
    fast_path: bool  # the database held only bench data: TRUNCATE + COPY FREEZE
    fk_checks: str  # "set-based" or "per row"
    months: int = SHAPE[1]
    indexes_rebuilt: int = 0  # secondary indexes dropped for the load and built after it
    seconds: float = 0.0


def bench_shape(leads: int, stores: int | None = None, months: int | None = None) -> tuple[int, int]:
    """(stores, months) for a seed of ``leads`` leads: what is given, else the default by size. Below LARGE leads a
    10-store group over 13 months (the million-lead figures stay comparable); from LARGE on a 50-store group over 36
    months (about 200k leads a store, 5,500 a store-month), staff in proportion (a manager and 12-16 consultants a
    store)."""
    default = LARGE_SHAPE if leads >= LARGE else SHAPE
    return (default[0] if stores is None else stores, default[1] if months is None else months)


def bench_seed(*, leads: int, months: int | None = None, stores: int | None = None, seed: int = 1,
               follow_ups: float = FOLLOW_UPS, force: bool = False, reset: bool = False, chunk: int = CHUNK,
               row_fk_checks: bool = False, keep_indexes: bool = False, count_rollups: bool = True,
               now: datetime | None = None, log: Callable[[str], None] = print) -> BenchResult:
    """Write the bench group: ``stores`` stores with their staff and ``leads`` leads first seen over the last
    ``months`` months (to ``now``), with visits, follow-ups, grade and assignment changes and deals. Stores and
    months left out follow the size (``bench_shape``). ``keep_indexes`` loads into the indexes as they are instead
    of dropping the secondary ones for the load and building them after it. ``count_rollups`` False leaves the funnel's
    rollups uncounted (``bench_rollups`` counts them later).

    Refuses (BenchSeedError) on anything but PostgreSQL, on a database holding the demo group unless ``force``,
    and when the bench group exists unless ``reset`` (which deletes it and its rows first). One transaction; then
    VACUUM ANALYZE of the loaded tables (only ANALYZE when called inside a transaction, as in the tests)."""
    started = time.perf_counter()
    if connection.vendor != "postgresql":
        raise BenchSeedError(f"seed_bench loads with PostgreSQL COPY; this database is {connection.vendor}.")
    stores, months = bench_shape(leads, stores, months)
    if leads < 1 or months < 1 or not 1 <= stores <= 99 or chunk < 1:
        raise BenchSeedError("Need --leads ≥ 1, --months ≥ 1 and 1 ≤ --stores ≤ 99.")
    if DealerGroup.objects.filter(name=DEMO_GROUP).exists() and not force:
        raise BenchSeedError(f"This database holds the demo group {DEMO_GROUP!r}: seed the benchmark into its own "
                             "database (make bench-seed), or pass --force to add it here anyway.")
    exists = DealerGroup.objects.filter(name=BENCH_GROUP).exists()
    if exists and not reset:
        raise BenchSeedError(f"{BENCH_GROUP!r} already exists; pass --reset to delete it and seed it again.")
    now = timezone.localtime(now or timezone.now(), SHANGHAI).replace(microsecond=0)
    phases: dict[str, float] = {}
    with transaction.atomic():
        # Only bench data (or nothing) here: TRUNCATE, which also lets COPY FREEZE write frozen, all-visible pages.
        fast = not DealerGroup.objects.exclude(name=BENCH_GROUP).exists()
        tick = time.perf_counter()
        _remove_bench(fast=fast, log=log)
        with connection.cursor() as cursor:
            # The removal's deferred foreign-key checks run now, while the tables are empty: left to the commit
            # they scan millions of loaded rows (a --reset over a 50-store bench: 713 s of commit, busy machine).
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        org = _organisation(random.Random(seed), stores)
        log(f"Organisation: {BENCH_GROUP!r}, {stores} stores, {org.staff} staff, {months} months "
            f"({time.perf_counter() - tick:.1f} s)")
        generator = _Generator(org, leads=leads, months=months, seed=seed, follow_ups=follow_ups, now=now)
        phases["prepare"] = time.perf_counter() - tick
        loader = _Loader(fast=fast, row_fk_checks=row_fk_checks, rebuild_indexes=fast and not keep_indexes, log=log)
        loader.load(generator, leads=leads, chunk=chunk, phases=phases)
        tick = time.perf_counter()
    phases["commit"] = time.perf_counter() - tick
    # Statistics of the loaded tables before anything plans over them: after a --reset the old ones describe the
    # previous stores (other ids), and the rollups' recount planned nested loops over a million leads (10+ minutes
    # instead of 2.5).
    phases["vacuum"] = _vacuum_analyze(log, [m._meta.db_table for m, _ in TABLES.values()])
    if count_rollups:
        phases["rollups"], vacuum = bench_rollups(log=log)
        phases["vacuum"] += vacuum
    else:
        phases["rollups"] = 0.0
        log("Rollups: not counted (--defer-rollups): `manage.py seed_bench_rollups` counts them once the other "
            "parts are in")
    g = generator
    return BenchResult(rows=loader.rows, copy_seconds=loader.seconds, phases=phases, leads=g.n_leads,
                       anonymous=g.n_anonymous, valid=g.n_valid, followed=g.n_followed, deals=g.n_deals,
                       revisited=g.n_revisited, stores=stores, staff=org.staff, fast_path=fast,
                       fk_checks=loader.fk_mode, months=months, indexes_rebuilt=loader.indexes_rebuilt,
                       seconds=time.perf_counter() - started)


def bench_rollups(*, log: Callable[[str], None] = print) -> tuple[float, float]:
    """Recount in bulk everything the funnel keeps of the bench group (its rollups, every kind; the stays; the state
    now), from the base tables, then VACUUM ANALYZE the rewritten tables; returns (seconds counting, seconds
    vacuuming). The seed's COPYs run with the triggers off (or they marked every store-day): ``seed_bench`` calls it
    at its end, or, with ``--defer-rollups``, ``seed_bench_rollups`` does once the base clients and the defeats are
    in too (``make bench-seed-all``), so that every lead is counted once: the defeats' seed would otherwise rebuild
    the stays of the quarter of the leads its filings end and recount the days its status changes touch."""
    tick = time.perf_counter()
    store_ids = [store.pk for store in Store.objects.filter(group__name=BENCH_GROUP)]
    if not store_ids:
        raise BenchSeedError(f"No {BENCH_GROUP!r} here: run `make bench-seed` first (benchmarks/README.md).")
    days = rollups.rebuild(store_ids=store_ids, log=log)
    part = time.perf_counter()
    rollups_stays.rebuild(store_ids=store_ids, log=log)
    log(f"  time in stage: {time.perf_counter() - part:.1f} s")
    part = time.perf_counter()
    lead_now.rebuild(store_ids=store_ids)
    log(f"  state now: {time.perf_counter() - part:.1f} s")
    seconds = time.perf_counter() - tick
    log(f"Rollups: {days} store-days recounted ({seconds:.1f} s)")
    return seconds, _vacuum_analyze(log, [m._meta.db_table for m in (CohortDay, RevisitDay, Stay)])


# --- the organisation --------------------------------------------------------------------------------------------

@dataclass
class _Store:
    id: int
    district: str
    weight: float  # relative traffic
    manager: int
    consultants: list[tuple[int, int]]  # (user id, skill position 0-3 as in the demo's SHARE/DILIGENCE/...)
    pick: list = field(default_factory=list)  # consultant look-up table weighted by SHARE


@dataclass
class _Org:
    group: DealerGroup
    stores: list[_Store]
    staff: int


def _remove_bench(*, fast: bool, log) -> None:
    """Empty the lead tables (``fast``: the database holds only bench data) or delete the bench group's leads and
    everything that hangs off them; then the bench staff, stores and group."""
    tick = time.perf_counter()
    if fast:
        # With the audit rows the nightly jobs wrote (their keys carry no database constraint, so CASCADE does not
        # reach them) and the job runs: a fresh bench is one the nightly jobs have not run on yet (bench_state).
        tables = [m._meta.db_table for m, _ in TABLES.values()] + [Lead.history.model._meta.db_table,
                                                                  FlagEvent._meta.db_table, JobRun._meta.db_table]
        # And what the funnel keeps of them, all of it the bench's here: deleted row by row (with the stores) it left
        # millions of dead rows in the tables the reload's rollups then rewrite (their stays took 326 s instead of
        # about 130 at two million leads).
        tables += _kept_tables()
        with connection.cursor() as cursor:
            # A table with deferred foreign-key checks still queued (rows written earlier in this transaction, as in
            # the tests) cannot be truncated: they run first (the caller defers them again).
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {', '.join(map(connection.ops.quote_name, tables))} RESTART IDENTITY CASCADE")
    group = DealerGroup.objects.filter(name=BENCH_GROUP).first()
    if group is None:
        return
    store_ids = list(group.stores.values_list("pk", flat=True))
    if not fast:
        with connection.cursor() as cursor:
            history = Lead.history.model._meta.db_table
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(history)} WHERE store_id = ANY(%s)", [store_ids])
            _delete_where(cursor, Lead, "store_id = ANY(%s)", [store_ids])
    with connection.cursor() as cursor:
        # The staff with everything that still points at them (the notifications and digests of a bench the nightly
        # jobs have run on, field history), children first; then the stores and the group with what still hangs off
        # them (base clients, defeats, grade rules), set-based: the ORM's cascade would load them all first.
        _delete_where(cursor, User, "dealer_group_id = %s", [group.pk])
        _delete_where(cursor, DealerGroup, "id = %s", [group.pk])
        # The time-in-stage histograms and the state-now counts name their group or store by id only (no foreign key
        # to follow).
        cursor.execute(f"DELETE FROM {StayHist._meta.db_table} WHERE group_id = %s", [group.pk])
        cursor.execute(f"DELETE FROM {LeadNow._meta.db_table} WHERE store_id = ANY(%s)", [store_ids])
    log(f"Removed the previous {BENCH_GROUP!r} ({time.perf_counter() - tick:.1f} s)")


def _kept_tables() -> list[str]:
    """The funnel's tables kept from the leads (its rollups' day and month rows, marks, stays, state now)."""
    from funnel import rollups_months
    from funnel.models import RollupMark, StayMark

    models = {spec.model for spec in rollups.KINDS.values()}
    models |= {month for month, _sql in rollups_months.TABLES.values()}
    models |= {RollupMark, Stay, StayHist, StayMark, LeadNow}
    return sorted(m._meta.db_table for m in models)


def _delete_where(cursor, model, where: str, params: list) -> None:
    """DELETE ``model`` rows matching ``where`` after every row that references them, following foreign keys
    (including related_name="+" ones) through the whole model graph, children first."""
    table, pk = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(model._meta.pk.column)
    for rel in model._meta.get_fields(include_hidden=True):
        if rel.concrete or not rel.auto_created or not (rel.one_to_many or rel.one_to_one):
            continue
        if rel.related_model is model:
            continue  # a self-reference goes in the same statement
        column = connection.ops.quote_name(rel.field.column)
        _delete_where(cursor, rel.related_model, f"{column} IN (SELECT {pk} FROM {table} WHERE {where})", params)
    cursor.execute(f"DELETE FROM {table} WHERE {where}", params)


def _organisation(rng: random.Random, count: int) -> _Org:
    """The bench group, its grade rules, stores of different sizes, a manager and 12-16 consultants each, and a
    group admin. One password hash for all: hashing hundreds of PBKDF2 passwords would take minutes."""
    password = make_password(BENCH_PASSWORD)
    group = DealerGroup.objects.create(name=BENCH_GROUP)
    grade_rules_for(group.pk)
    sites = []
    for i in range(count):
        name, district = STORE_SITES[i % len(STORE_SITES)]
        sites.append((name if i < len(STORE_SITES) else f"{name[:-1]}{i // len(STORE_SITES) + 1}店", district))
    rows = Store.objects.bulk_create([Store(group=group, name=name) for name, _ in sites])
    staff = [User(username="bench_admin", password=password, role=Role.GROUP_ADMIN, dealer_group=group,
                  display_name="钱总")]
    # Store traffic: the busiest store sees two to four times the quietest one's, and has a few more consultants.
    weights = [rng.lognormvariate(0, 0.45) for _ in rows]
    low, high = min(weights), max(weights)
    plan = [CONSULTANTS[0] + round((CONSULTANTS[1] - CONSULTANTS[0]) * (w - low) / ((high - low) or 1))
            for w in weights]
    for number, (store, consultants) in enumerate(zip(rows, plan), 1):
        staff.append(User(username=f"bench{number:02d}_manager", password=password, role=Role.MANAGER,
                          dealer_group=group, store=store, display_name=_person(rng, rng.random() < 0.7)))
        staff += [User(username=f"bench{number:02d}_sales{n:02d}", password=password, role=Role.CONSULTANT,
                       dealer_group=group, store=store, display_name=_person(rng, rng.random() < 0.55))
                  for n in range(1, consultants + 1)]
    users = iter(User.objects.bulk_create(staff)[1:])
    stores = []
    for store, (_, district), consultants, weight in zip(rows, sites, plan, weights):
        manager = next(users).pk
        team = [(next(users).pk, n % len(SHARE)) for n in range(consultants)]
        stores.append(_Store(store.pk, district, weight, manager, team,
                             _table([((c, skill), SHARE[skill] * rng.uniform(0.8, 1.25)) for c, skill in team])))
    return _Org(group=group, stores=stores, staff=len(staff))


def _person(rng: random.Random, male: bool) -> str:
    return rng.choice(SURNAMES[:60]) + rng.choice(GIVEN["male" if male else "female"])


def _table(pairs) -> list:
    """A TAB-long look-up table for weighted picks by ``table[int(random() * TAB)]`` (~60 ns; rng.choices
    rebuilds its cumulative weights on every call)."""
    pairs = [(value, weight) for value, weight in pairs if weight > 0]
    total, acc, out, it = sum(w for _, w in pairs), 0.0, [], iter(pairs)
    value, weight = next(it)
    for i in range(TAB):
        while (i + 0.5) / TAB * total > acc + weight:
            acc += weight
            value, weight = next(it)
        out.append(value)
    return out


# --- the generator ---------------------------------------------------------------------------------------------

class _Series:
    __slots__ = ("id", "index", "price", "segment")

    def __init__(self, id, price, segment, index):
        self.id, self.price, self.segment, self.index = id, price, segment, index


class _Generator:
    """Leads in first-visit order with all their rows, as chunks of tuples ready for COPY (ids included)."""

    def __init__(self, org: _Org, *, leads: int, months: int, seed: int, follow_ups: float, now: datetime):
        self.rng = rng = random.Random(seed)
        self.r = rng.random
        self.org, self.total, self.follow_up_mean = org, leads, max(1.0, follow_ups)
        self.now = int(now.timestamp())
        self.offset = int(now.utcoffset().total_seconds())  # Asia/Shanghai: +08:00 all year (no DST since 1991)
        today = now.date()
        start_month = today.month - months
        self.first_day = date(today.year + (start_month - 1) // 12, (start_month - 1) % 12 + 1, min(today.day, 28))
        self.today = today.toordinal() - EPOCH  # local day numbers: days since 1970-01-01, local time
        self._clock(now)
        rules = grade_rules_for(org.group.pk)
        self.interval = {g: rule.follow_up_days * DAY for g, rule in rules.items()}
        self.interval[None] = UNGRADED_FOLLOW_UP_DAYS * DAY
        self._catalogue()
        self._tables()
        self.phone_prefixes = list(MOBILE_PREFIXES)
        self.phone_count, self.phone_offset = 0, rng.randrange(10**8)
        for k in range(0, 20 * len(self.phone_prefixes), 7):  # every prefix must give valid E.164 mobiles
            number = self._phone(k)
            if phone_normalize(number) != number:
                raise BenchSeedError(f"{number[:6]}… is not a valid mobile number for `phonenumbers`.")
        self.arrivals = self._allocate()
        self.deal_base = self._deal_base()
        self.n_leads = self.n_anonymous = self.n_valid = self.n_followed = self.n_deals = self.n_revisited = 0
        self.next_id = {key: 1 for key in TABLES}
        self._reset_chunk()

    # --- set-up ------------------------------------------------------------------------------------------------
    def _clock(self, now: datetime) -> None:
        """COPY text for epoch seconds by table look-up: 'YYYY-MM-DD ' per local day + 'HH:MM:SS+08' per second."""
        off = self.offset
        suffix = f"{'+' if off >= 0 else '-'}{abs(off) // HOUR:02d}" + (f":{abs(off) // 60 % 60:02d}"
                                                                        if off % HOUR else "")
        self.hms = [f"{s // HOUR:02d}:{s // 60 % 60:02d}:{s % 60:02d}{suffix}" for s in range(DAY)]
        self.day0 = self.first_day.toordinal() - EPOCH - 2
        self.dates = [date.fromordinal(self.day0 + EPOCH + i).isoformat() for i in range(self.today - self.day0 + 400)]
        self.days = [d + " " for d in self.dates]

    def ts(self, t: int) -> str:
        local = t + self.offset
        return self.days[local // DAY - self.day0] + self.hms[local % DAY]

    def day_start(self, day: int) -> int:
        return day * DAY - self.offset

    def _catalogue(self) -> None:
        series = list(VehicleSeries.objects.filter(is_active=True).select_related("brand").order_by("pk"))
        own = [s for s in series if s.brand.is_own]
        if not own:
            raise BenchSeedError("The vehicle catalogue has no series of our own brand (migration dealercrm 0002).")

        def price(s):
            return PRICES.get(s.name_en) or SEGMENT_PRICES.get(s.segment, 150_000)

        self.own = [_Series(s.pk, price(s), s.segment, i) for i, s in enumerate(own)]
        self.rivals = [_Series(s.pk, price(s), s.segment, None) for s in series if not s.brand.is_own]
        self.own_pick = _table([(o, OWN_INTEREST.get(s.name_en, 5)) for o, s in zip(self.own, own)])
        self.own_by_segment: dict[str, list[_Series]] = {}
        for o in self.own:
            self.own_by_segment.setdefault(o.segment, []).append(o)
        # Texts are rendered once per (template, pitched series) with a few rivals and prices: format() per row
        # would cost more than the rest of a follow-up.
        rng, names = self.rng, {o.index: s.name for o, s in zip(self.own, own)}
        rival_names = {s.pk: s.name for s in series if not s.brand.is_own}

        def render(template: str, o: _Series) -> str:
            same = [r for r in self.rivals if r.segment == o.segment] or self.rivals
            rival = rival_names[rng.choice(same).id] if same else "同级车"
            price_wan = o.price * rng.uniform(0.92, 1.05) / 10_000
            return template.format(series=names[o.index], rival=rival, price=f"{price_wan:.1f}",
                                   budget=int(o.price * rng.uniform(0.85, 1.2) / 10_000))

        self.texts = {key: [[render(rng.choice(pool), o) for _ in range(8)] for o in self.own]
                      for key, pool in TEXTS.items()}
        self.visit_notes = [[render(rng.choice(VISIT_NOTES), o) for _ in range(8)] for o in self.own]

    def _tables(self) -> None:
        channels = {c.code: c.pk for c in Channel.objects.filter(is_active=True)}
        self.source_pick = _table(SOURCES.items())
        self.channel_pick = {}
        for source, options in CHANNELS.items():
            known = [((channels[code], no_phone), w) for code, w, no_phone in options if code in channels]
            # A channel list edited past the demo's codes still gets leads, with the source's average anonymity.
            self.channel_pick[source] = _table(known or [((None, sum(o[2] * o[1] for o in options)), 1)])
        self.first_grade = {s: _table(zip(GRADE_ORDER, w)) for s, w in FIRST_GRADE.items()}
        self.anonymous_grade = _table(ANONYMOUS_GRADE.items())
        self.arrival_hour = _table(ARRIVAL_HOURS.items())
        self.call_second = _table((h * HOUR + m * 60, w) for h, w in CALL_HOURS.items() for m in range(0, 60, 5))
        self.surname = _table((s, 1 / (i + 4)) for i, s in enumerate(SURNAMES))
        self.given = {g: _table((n, 1) for n in names) for g, names in GIVEN.items()}
        self.purchase = _table({"first": 45, "replacement": 40, "additional": 15}.items())
        self.method = _table(METHODS.items())
        self.outcome = _table(OUTCOMES.items())
        self.up_outcome, self.down_outcome = _table(UP_OUTCOMES.items()), _table(DOWN_OUTCOMES.items())
        self.companions = _table({0: 40, 1: 35, 2: 18, 3: 7}.items())

    def _weekday_weight(self, day: int) -> float:
        d = date.fromordinal(day + EPOCH)
        return WEEKDAY[d.weekday()] * SEASON[d.month]

    def _allocate(self) -> list[tuple[int, int, int]]:
        """(day, store index, first visits) for every store and day: weekday × season × store size × noise, scaled
        to exactly ``total`` by cumulative rounding. Today counts only the showroom hours already past."""
        rng, first = self.rng, self.first_day.toordinal() - EPOCH
        local_now = (self.now + self.offset) % DAY - 300
        hours = sum(ARRIVAL_HOURS.values())
        elapsed = sum(w * min(1.0, max(0.0, (local_now - h * HOUR) / HOUR)) for h, w in ARRIVAL_HOURS.items())
        slots = []
        for day in range(first, self.today + 1):
            weight = self._weekday_weight(day) * (elapsed / hours if day == self.today else 1.0)
            for index, store in enumerate(self.org.stores):
                slots.append((day, index, weight * store.weight * max(0.3, rng.gauss(1, 0.12))))
        total_weight = sum(w for *_, w in slots) or 1.0
        out, acc, given = [], 0.0, 0
        for n, (day, index, weight) in enumerate(slots):
            acc += weight * self.total / total_weight
            upto = self.total if n == len(slots) - 1 else min(self.total, round(acc))
            if upto > given:
                out.append((day, index, upto - given))
                given = upto
        return out

    def _deal_base(self) -> float:
        """The deal chance's scale, so that deals come to the middle of the demo's DEAL_SHARE of valid leads: the
        mean of warmth × closing × age × source factor over valid leads, from the same tables the leads use."""
        valid = {s: SOURCES[s] * sum(w * (1 - np) for _, w, np in CHANNELS[s]) / sum(w for _, w, _ in CHANNELS[s])
                 for s in SOURCES}
        warm = sum(valid[s] * SOURCE_CLOSE[s] * sum(w * WARMTH[g] for g, w in zip(GRADE_ORDER, FIRST_GRADE[s]))
                   / sum(FIRST_GRADE[s]) for s in SOURCES) / sum(valid.values())
        closing = sum(sum(SHARE[k] * CLOSING[k] for _, k in st.consultants) / sum(SHARE[k] for _, k in st.consultants)
                      * st.weight for st in self.org.stores) / sum(st.weight for st in self.org.stores)
        weights = [(count, (self.today - day) + 0.5) for day, _, count in self.arrivals]
        ages = sum(c * (min(age, 60) / 60 if age >= 12 else 0) for c, age in weights) / max(1, self.total)
        return sum(DEAL_SHARE) / 2 / max(1e-6, warm * closing * ages)

    def _phone(self, k: int) -> str:
        """The k-th phone number: a prefix and an 8-digit suffix, unique over the whole group (so per store)."""
        prefixes = self.phone_prefixes
        suffix = (k // len(prefixes) * PHONE_STEP + self.phone_offset) % 10**8
        return f"+86{prefixes[k % len(prefixes)]}{suffix:08d}"

    # --- chunks ------------------------------------------------------------------------------------------------
    def _reset_chunk(self) -> None:
        self.leads: list[tuple] = []
        self.visits: list[tuple] = []
        self.visit_keys: list[int] = []
        self.follow_ups: list[tuple] = []
        self.follow_up_keys: list[int] = []
        self.grade_changes: list[tuple] = []  # the last item: the chunk index of its follow-up, or None
        self.grade_change_keys: list[int] = []
        self.assignments: list[tuple] = []
        self.assignment_keys: list[int] = []
        self.deals: list[tuple] = []
        self.deal_keys: list[int] = []

    def chunks(self, size: int):
        """Yield {table: rows} for every ``size`` leads (and the rest)."""
        r, stores, arrival_hour = self.r, self.org.stores, self.arrival_hour
        limit = self.now - 300
        by_day: dict[int, list[tuple[int, int]]] = {}
        for day, index, count in self.arrivals:
            by_day.setdefault(day, []).append((index, count))
        for day, slots in by_day.items():
            start, moments = self.day_start(day), []
            for index, count in slots:
                for _ in range(count):
                    hour = arrival_hour[int(r() * TAB)]
                    t = start + hour * HOUR + int(r() * (16 if hour == 19 else 60)) * 60 + int(r() * 60)
                    if t > limit:  # today, later than now: somewhen this morning instead
                        t = start + 9 * HOUR + int(r() * max(1, limit - start - 9 * HOUR))
                    moments.append((t, index))
            moments.sort()
            for t, index in moments:
                self._lead(t, stores[index])
                if len(self.leads) >= size:
                    yield self._flush()
        if self.leads:
            yield self._flush()

    def _flush(self) -> dict[str, list[tuple]]:
        """Number the chunk's child rows in time order (as an application would have inserted them), resolve
        grade changes' follow-up ids, and hand the rows over."""
        ids = self.next_id
        follow_ups, order = _numbered(self.follow_ups, self.follow_up_keys, ids["followup"])
        rank = [0] * len(order)
        for position, index in enumerate(order):
            rank[index] = position
        base = ids["followup"]
        changes = [row[:-1] + (None if row[-1] is None else base + rank[row[-1]],) for row in self.grade_changes]
        batch = {
            "lead": self.leads,
            "followup": follow_ups,
            "gradechange": _numbered(changes, self.grade_change_keys, ids["gradechange"])[0],
            "visit": _numbered(self.visits, self.visit_keys, ids["visit"])[0],
            "assignmentchange": _numbered(self.assignments, self.assignment_keys, ids["assignmentchange"])[0],
            "deal": _numbered(self.deals, self.deal_keys, ids["deal"])[0],
        }
        for key, rows in batch.items():
            if key != "lead":
                ids[key] += len(rows)
        self._reset_chunk()
        return batch

    # --- one lead ----------------------------------------------------------------------------------------------
    def _lead(self, t0: int, store: _Store) -> None:
        r, now, ts = self.r, self.now, self.ts
        lead_id = self.next_id["lead"]
        self.next_id["lead"] += 1
        self._changes = self._revisits = 0  # counted by _follow_ups
        self._store_id = store.id  # every visit of the lead is at its store
        age = (now - t0) / DAY
        source = self.source_pick[int(r() * TAB)]
        channel_id, no_phone = self.channel_pick[source][int(r() * TAB)]
        anonymous = r() < no_phone
        gender = "male" if r() < 0.63 else "female"
        consultant, skill = store.pick[int(r() * TAB)]
        series_id, price, pitch = None, 150_000, self.own_pick[int(r() * TAB)]
        if r() < (0.6 if anonymous else 0.9):
            if self.rivals and r() < 0.12:
                rival = self.rivals[int(r() * len(self.rivals))]
                series_id, price = rival.id, rival.price
                same = self.own_by_segment.get(rival.segment)
                if same:
                    pitch = same[int(r() * len(same))]
            else:
                series_id, price = pitch.id, pitch.price
        if anonymous:
            grade = self.anonymous_grade[int(r() * TAB)]
        elif age < 2 and r() < 0.25:
            grade = None  # qualified at tomorrow's call
        else:
            grade = self.first_grade[source][int(r() * TAB)]
        informed = 0.3 if anonymous else 0.9
        budget = f"{round(price * (0.85 + 0.35 * r()) / 5000) * 5000}.00" if r() < informed else None
        purchase = self.purchase[int(r() * TAB)] if r() < informed else ""
        district = ((store.district if r() < 0.45 else DISTRICTS[int(r() * len(DISTRICTS))])
                    if r() < informed else "")
        industry = INDUSTRIES[int(r() * len(INDUSTRIES))] if not anonymous and r() < 0.55 else ""
        surname = self.surname[int(r() * TAB)]
        if anonymous and r() < 0.85:
            name = surname + ("先生" if gender == "male" else "女士")
        else:
            name = surname + self.given[gender][int(r() * TAB)]
        phone = ""
        if not anonymous:
            phone = self._phone(self.phone_count)
            self.phone_count += 1

        # The first visit, the first grade, the first owner.
        self._visit(lead_id, t0, consultant, True, r() < (0.08 if anonymous else 0.25),
                    r() < (0.05 if anonymous else 0.18),
                    self.visit_notes[pitch.index][int(r() * 8)] if r() < 0.5 else "", purchase == "replacement")
        visits, last_contact, since, graded = 1, t0, t0 if grade else None, grade is not None
        if grade:
            self._grade_change(lead_id, None, grade, t0, consultant, "首次到店定级", None)
        self._assignment(lead_id, None, consultant, t0, consultant, "首次到店")
        owner, handover, owners = consultant, None, 1
        if phone and age >= 15 and r() < HANDOVER and len(store.consultants) > 1:
            handover = t0 + int((now - 5 * DAY - t0) * (0.2 + 0.6 * r()))
            others = [c for c, _ in store.consultants if c != consultant]
            owner, owners = others[int(r() * len(others))], 2
            self._assignment(lead_id, consultant, owner, handover, store.manager,
                             REASSIGN_REASONS[int(r() * len(REASSIGN_REASONS))])

        valid = bool(phone and grade)
        status, due, follow_ups, first_follow_up = "active", None, [], None
        deal_chance = (self.deal_base * WARMTH[grade] * CLOSING[skill] * min(age, 60) / 60 * SOURCE_CLOSE[source]
                       if valid and age >= 12 else 0.0)
        if deal_chance and r() < deal_chance:
            status = "won"
            ordered, times, path = self._won_plan(t0, grade, age)
            grade, since, last = self._follow_ups(lead_id, times, path, grade, since, pitch, store, consultant,
                                                  owner, handover, won=True)
            by = owner if handover is not None and ordered >= handover else consultant
            self._visit(lead_id, ordered, by, False, r() < 0.3, True, "签订购车合同，交定金", False)
            visits += 1 + self._revisits
            last_contact = max(ordered, last)
            first_follow_up = times[0]
            self._deal(lead_id, pitch, ordered, by)
            follow_ups, series_id = times, series_id or pitch.id  # learnt at the first calls
        elif valid and age >= 1 and r() < (DILIGENCE[skill] * DILIGENCE_SCALE
                                           * (0.4 if age < 3 else 0.8 if age < 10 else 1)):
            times, path = self._worked_plan(t0, grade, skill, age)
            grade, since, last = self._follow_ups(lead_id, times, path, grade, since, pitch, store, consultant,
                                                  owner, handover, won=False)
            visits += self._revisits
            last_contact, first_follow_up, follow_ups = last, times[0], times
            due, series_id = last + self.interval[grade], series_id or pitch.id
        else:
            if phone:
                due = t0 + self.interval[grade]
                if age > 3 and r() < REVISIT:
                    day = (t0 + self.offset) // DAY + 2 + int(r() * (int(age) - 2))
                    moment = self.day_start(day) + self.arrival_hour[int(r() * TAB)] * HOUR + int(r() * 900)
                    if t0 < moment < now - HOUR:
                        by = owner if handover is not None and moment >= handover else consultant
                        self._visit(lead_id, moment, by, False, r() < 0.5, r() < 0.4, "客户自行再次到店", False)
                        visits += 1
                        last_contact = moment
        self.n_leads += 1
        self.n_anonymous += anonymous
        self.n_valid += valid
        self.n_followed += bool(follow_ups)
        self.n_deals += status == "won"
        self.n_revisited += visits > 1
        version = 1 + len(follow_ups) + graded + self._changes + visits + owners  # one per write, as the demo
        self.leads.append((
            lead_id, store.id, owner, name, phone, gender, source, channel_id,
            series_id, budget, purchase, district, industry,
            grade, status, ts(t0), self.dates[(t0 + self.offset) // DAY - self.day0], ts(last_contact),
            ts(due) if due is not None else None,
            ts(first_follow_up) if first_follow_up is not None else None, ts(since) if since is not None else None,
            None, "", consultant, ts(t0), ts(last_contact), version,
        ))

    def _won_plan(self, t0: int, grade: str, age: float) -> tuple[int, list[int], list[str | None]]:
        """A lead that climbs to A (sometimes B) and orders: the order moment, the follow-up times before it and
        the grade each follow-up leaves (None: unchanged), one rung at a time."""
        r = self.r
        target = "A" if r() < 0.86 else "B"
        if RANK[grade] > RANK[target]:
            target = grade
        rungs = RANK[target] - RANK[grade]
        cycle = min(int(age) - 1, 6 + 8 * rungs + int(r() * (20 + 7 * rungs)))
        day = (t0 + self.offset) // DAY + cycle
        ordered = self.day_start(day) + self.arrival_hour[int(r() * TAB)] * HOUR + int(r() * 900)
        if ordered > self.now - 2 * HOUR:
            ordered -= DAY
        k = max(rungs + 1, 2 + int(cycle / (4 + 8 * r())))
        end = ordered - HOUR
        first = t0 + min(int((0.6 + 2.4 * r()) * DAY), (end - t0) // 2)
        raw = sorted([first] + [first + int((end - first) * r()) for _ in range(k - 2)] + [end - int(r() * DAY)])
        times = self._call_times(t0, raw, end)
        path: list[str | None] = [None] * k
        for position, rung in zip(sorted(self.rng.sample(range(k), rungs)), GRADE_ORDER[RANK[grade] + 1:]):
            path[position] = rung
        return ordered, times, path

    def _worked_plan(self, t0: int, grade: str, skill: int, age: float) -> tuple[list[int], list[str | None]]:
        """An active lead followed up k times at about its grade's cadence. A lead whose cadence would run past
        now is still being worked: its follow-ups are squeezed so the last one falls within about an interval of
        now (due soon, today, or slipped a little); the others went quiet and are long overdue."""
        r, interval = self.r, self.interval
        cap = max(1, int(age / 2))
        k = min(cap, 1 + int(self.rng.expovariate(1.0) * (self.follow_up_mean - 1) * min(1.0, age / 120)))
        promote = PROMOTE[skill]
        path: list[str | None] = []
        g = grade
        for _ in range(k):
            if g != "A" and r() < promote[g] * PROMOTE_SCALE:
                g = UP[g]
                path.append(g)
            elif g != "E" and r() < DEMOTE:
                g = DOWN[g]
                path.append(g)
            else:
                path.append(None)
        raw, t, g = [], t0 + int((0.6 + 2.4 * r()) * DAY), grade
        for step in path:
            raw.append(t)
            g = step or g
            t += int(interval[g] * (0.6 + 0.9 * r()))
        limit = self.now - HOUR
        if raw[-1] > limit:
            target = max(t0 + (limit - t0) * 0.3, self.now - interval[g] * 1.3 * r())
            scale = (min(limit, target) - t0) / (raw[-1] - t0)
            raw = [t0 + int((x - t0) * scale) for x in raw]
        return self._call_times(t0, raw, limit), path

    def _call_times(self, t0: int, raw: list[int], limit: int) -> list[int]:
        """Move each moment to a working hour of its day, keeping them increasing, after t0 and not after limit."""
        r, offset, call, out, prev = self.r, self.offset, self.call_second, [], t0
        for x in raw:
            t = x - (x + offset) % DAY + call[int(r() * TAB)] + int(r() * 300)
            if t <= prev:
                t = prev + 1200 + int(r() * 9600)
            if t > limit:
                t = prev + max(60, (limit - prev) // 2)
            out.append(t)
            prev = t
        return out

    def _follow_ups(self, lead_id, times, path, grade, since, pitch, store, consultant, owner, handover, *, won):
        """Write the follow-ups (and the grade changes and re-visits they bring); return the grade, its start and
        the last follow-up's time."""
        r, ts, now, texts, index = self.r, self.ts, self.now, self.texts, pitch.index
        last = len(times) - 1
        for i, (t, new) in enumerate(zip(times, path)):
            by = owner if handover is not None and t >= handover else consultant
            if won and i == last:
                method, outcome, key = ("phone" if r() < 0.5 else "wechat"), "appointment", "won"
            elif new and RANK[new] > RANK[grade]:
                method, outcome, key = self.method[int(r() * TAB)], self.up_outcome[int(r() * TAB)], new
            elif new:
                method, outcome, key = ("phone" if r() < 0.75 else "wechat"), self.down_outcome[int(r() * TAB)], "down"
            else:
                outcome = self.outcome[int(r() * TAB)]
                method = "phone" if outcome == "no_answer" else self.method[int(r() * TAB)]
                key = outcome if outcome in ("no_answer", "not_now") else method
            if method in VISIT_METHODS and not 9 <= (t + self.offset) % DAY // HOUR < 19:
                key = "wechat" if key == method else key  # nobody visits after hours: it was a message
                method = "wechat"
            at, before = ts(t), grade
            if new:
                self._grade_change(lead_id, grade, new, t, by, "跟进后调整", len(self.follow_ups))
                self._changes += 1
                grade, since = new, t
            reviewed = t + int((3 + 45 * r()) * HOUR)
            if reviewed > now - 12 * HOUR or r() < 0.05:
                review = ("pending", "", None, None)
            elif r() < 0.08:
                review = ("rejected", REJECTIONS[int(r() * len(REJECTIONS))], store.manager, ts(reviewed))
            else:
                review = ("approved", "", store.manager, ts(reviewed))
            self.follow_ups.append((lead_id, at, method, texts[key][index][int(r() * 8)], outcome, before, grade,
                                    ts(t + self.interval[grade]), by, at) + review + (store.id,))
            self.follow_up_keys.append(t)
            if method in ("showroom", "test_drive"):
                self._visit(lead_id, t, by, False, method == "test_drive", r() < 0.4, "再次到店", False)
                self._revisits += 1
        return grade, since, times[-1]

    def _visit(self, lead_id, arrived, by, first, test_drive, quote, note, replacement) -> None:
        r = self.r
        minutes = 25 + int(r() * 86) + (35 if test_drive else 0) + (20 if quote else 0)
        closing = arrived - (arrived + self.offset) % DAY + 20 * HOUR
        left = max(min(arrived + minutes * 60, closing), arrived + 900)
        self.visits.append((lead_id, self._store_id, self.ts(arrived), self.ts(left) if left <= self.now else None, first,
                            first and r() < 0.85, test_drive, quote, replacement and r() < 0.3,
                            self.companions[int(r() * TAB)], note, by, self.ts(arrived)))
        self.visit_keys.append(arrived)

    def _grade_change(self, lead_id, before, after, t, by, reason, follow_up_index) -> None:
        self.grade_changes.append((lead_id, before, after, self.ts(t), by, reason, follow_up_index))
        self.grade_change_keys.append(t)

    def _assignment(self, lead_id, before, after, t, by, reason) -> None:
        self.assignments.append((lead_id, before, after, self.ts(t), by, reason))
        self.assignment_keys.append(t)

    def _deal(self, lead_id, pitch: _Series, ordered: int, by: int) -> None:
        r = self.r
        price = f"{round(pitch.price * (0.92 + 0.13 * r()) / 100) * 100}.00"  # list price less discount, or options
        ordered_day = (ordered + self.offset) // DAY
        delivered = ordered_day + 3 + int(r() * 33)
        created = min(ordered + 1800 + int(r() * 3600), self.now)
        self.deals.append((lead_id, pitch.id, price, self.dates[ordered_day - self.day0],
                           self.dates[delivered - self.day0] if delivered <= self.today else None, by,
                           self.ts(created)))
        self.deal_keys.append(ordered)


def _numbered(rows: list[tuple], keys: list[int], first_id: int) -> tuple[list[tuple], list[int]]:
    """``rows`` sorted by ``keys`` (stable) with ids from ``first_id`` in front, and the sort order."""
    order = sorted(range(len(rows)), key=keys.__getitem__)
    return [(first_id + position,) + rows[index] for position, index in enumerate(order)], order


# --- the loader ------------------------------------------------------------------------------------------------

def column_defaults(model, names: list[str], *, now, skip_pk: bool = False) -> tuple[list[str], list]:
    """The columns of ``model`` a row written with only the fields ``names`` (attnames) must still fill, and their
    values: the field's default, or "" for a text field, or NULL, or ``now`` for an auto_now field; so a field added
    to the model after a bulk writer was written gets what Django would have given it. Generated columns are the
    database's to compute; ``skip_pk`` leaves an auto primary key to its sequence."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    unknown = [n for n in names if n not in fields]
    if unknown:
        raise BenchSeedError(f"{model.__name__} has no field {', '.join(unknown)}: update the bench seed.")
    columns, values = [], []
    for f in model._meta.concrete_fields:
        if f.attname in names or getattr(f, "generated", False) or (skip_pk and f.primary_key):
            continue  # a generated column (Deal.unit_price) is the database's to compute, never COPY's
        if f.has_default() or (not f.null and f.empty_strings_allowed):
            value = f.get_db_prep_save(f.get_default(), connection)
        elif f.null:
            value = None
        elif isinstance(f, DateTimeField) and (f.auto_now or f.auto_now_add):
            value = now
        else:
            raise BenchSeedError(f"{model.__name__}.{f.name} is required and has no default: "
                                 "teach the bench seed to fill it.")
        columns.append(f.column)
        values.append(value)
    return columns, values


def insert_select(model, exprs: dict[str, str], tail: str, *, now=None) -> tuple[str, dict]:
    """``INSERT INTO <model's table> (…) SELECT <exprs>, <defaults> <tail>``: the fields ``exprs`` names (attname:
    SQL expression) computed set-based, every other column its model default (``column_defaults``), so the
    statement survives a field added to the model. Returns the SQL and the defaults as named parameters
    (``%(_default0)s`` …) to merge into the statement's own: use pyformat (``%(name)s``) parameters in both."""
    qn = connection.ops.quote_name
    fields = {f.attname: f.column for f in model._meta.concrete_fields}
    more, values = column_defaults(model, list(exprs), now=now or timezone.now(), skip_pk=True)
    names = {f"_default{i}": value for i, value in enumerate(values)}
    columns = [fields[n] for n in exprs] + more
    select = list(exprs.values()) + [f"%({name})s" for name in names]
    sql = (f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(map(qn, columns))})\n"
           f"SELECT {', '.join(select)}\n{tail}")
    return sql, names


class _Table:
    """COPY into one model's table: the generated columns plus, for any model field the generator does not know
    (added after this file was written), the field's default, or NULL, or now for auto_now fields."""

    def __init__(self, model, names: list[str], *, freeze: bool, now):
        fields = {f.attname: f for f in model._meta.concrete_fields}
        columns = [fields[n].column for n in names if n in fields]
        more, extra = column_defaults(model, names, now=now)
        columns += more
        self.model, self.extra = model, tuple(extra)
        self.name = model._meta.db_table
        self.sql = (f"COPY {connection.ops.quote_name(self.name)} ({', '.join(map(connection.ops.quote_name, columns))})"
                    f" FROM STDIN{' (FREEZE)' if freeze else ''}")


class _Loader:
    """COPY the chunks in one transaction, one COPY per table and chunk, from a writer thread."""

    def __init__(self, *, fast: bool, row_fk_checks: bool, log, rebuild_indexes: bool = False):
        self.fast, self.log = fast, log
        self.row_fk_checks = row_fk_checks
        self.rebuild_indexes = rebuild_indexes
        self.indexes_rebuilt = 0
        self.fk_mode = "per row"
        self.rows = {key: 0 for key in TABLES}
        self.seconds = {key: 0.0 for key in TABLES}

    def load(self, generator: _Generator, *, leads: int, chunk: int, phases: dict) -> None:
        started = time.perf_counter()
        now = timezone.now()
        tables = {key: _Table(model, names, freeze=self.fast, now=now) for key, (model, names) in TABLES.items()}
        names = [t.name for t in tables.values()]
        quoted = ", ".join(map(connection.ops.quote_name, names))
        with connection.cursor() as cursor:
            if not self.fast:  # sharing the database: no writes to these tables while we take ids
                cursor.execute(f"LOCK TABLE {quoted} IN SHARE ROW EXCLUSIVE MODE")
            sequences = {}
            for key, table in tables.items():
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table.name])
                sequences[key] = cursor.fetchone()[0]
                cursor.execute(f"SELECT coalesce(max(id), 0) FROM {connection.ops.quote_name(table.name)}")
                high = cursor.fetchone()[0]
                cursor.execute(f"SELECT last_value, is_called FROM {sequences[key]}")
                last, called = cursor.fetchone()
                generator.next_id[key] = max(high, last if called else last - 1) + 1
            first_ids = dict(generator.next_id)
            # Foreign keys are DEFERRABLE INITIALLY DEFERRED: every row queues an RI trigger event that runs
            # `SELECT 1 … FOR KEY SHARE` on the parent at commit, ~22M for a million leads (minutes, and a lock
            # written on every parent row). As pg_restore --disable-triggers does, a superuser skips the triggers
            # for the load (session_replication_role) and the constraints are then verified set-based, below.
            cursor.execute("SHOW session_replication_role")
            role = cursor.fetchone()[0]
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            superuser = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND cardinality(conkey) > 1 "
                           "AND conrelid = ANY(%s::regclass[])", [names])
            composite = cursor.fetchone()[0]
            if superuser and not self.row_fk_checks and not composite:
                cursor.execute("SET LOCAL session_replication_role = replica")
                self.fk_mode = "set-based"
            for name, value in LOAD_SETTINGS.items():
                cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
            dropped = drop_secondary_indexes(cursor, names) if self.rebuild_indexes else []
        self.log(f"Loading {leads:,} leads in chunks of {chunk:,} ({'TRUNCATE + COPY FREEZE' if self.fast else 'COPY'},"
                 f" foreign keys checked {self.fk_mode}"
                 f"{f', {len(dropped)} secondary indexes built after the load' if dropped else ''})")
        self._copy(generator, tables, leads=leads, chunk=chunk, started=started)
        if self.fk_mode == "set-based":  # (on an error the rollback restores it)
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('session_replication_role', %s, true)", [role])
        phases["load"] = time.perf_counter() - started
        tick = time.perf_counter()
        if dropped:
            with connection.cursor() as cursor:
                create_indexes(cursor, dropped, log=self.log)
            self.indexes_rebuilt = len(dropped)
            phases["indexes"] = time.perf_counter() - tick
            self.log(f"{len(dropped)} secondary indexes built in {phases['indexes']:.1f} s")
            tick = time.perf_counter()
        with connection.cursor() as cursor:
            if self.fk_mode == "set-based":
                _check_foreign_keys(cursor, names)
            else:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # run the queued per-row checks now, timed
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for key, sequence in sequences.items():
                if generator.next_id[key] > first_ids[key]:
                    cursor.execute("SELECT setval(%s, %s)", [sequence, generator.next_id[key] - 1])
        phases["check"] = time.perf_counter() - tick
        self.log(f"Foreign keys checked ({self.fk_mode}) in {phases['check']:.1f} s")

    def _copy(self, generator: _Generator, tables: dict[str, _Table], *, leads: int, chunk: int, started) -> None:
        raw = connection.connection  # the psycopg connection, shared with the writer thread (one user at a time)
        pending: deque = deque()

        def write(batch: dict[str, list[tuple]]) -> None:
            with raw.cursor() as cursor:
                for key, rows in batch.items():
                    if not rows:
                        continue
                    table, tick = tables[key], time.perf_counter()
                    extra = table.extra
                    with cursor.copy(table.sql) as copy:
                        put = copy.write_row
                        if extra:
                            for row in rows:
                                put(row + extra)
                        else:
                            for row in rows:
                                put(row)
                    self.seconds[key] += time.perf_counter() - tick
                    self.rows[key] += len(rows)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-copy") as writer:
            try:
                done = reported = 0
                for batch in generator.chunks(chunk):
                    while len(pending) >= 2:  # one chunk in COPY, one waiting: bounded memory
                        pending.popleft().result()
                    pending.append(writer.submit(write, batch))
                    done += len(batch["lead"])
                    if done * 10 // leads > reported:
                        reported = done * 10 // leads
                        self.log(f"  {done:>10,} leads generated ({done / leads:4.0%}), "
                                 f"{time.perf_counter() - started:6.1f} s")
                while pending:
                    pending.popleft().result()
            finally:
                for future in pending:  # an error: let the writer stop before the transaction rolls back
                    future.cancel()
                for future in pending:
                    if not future.cancelled():
                        future.exception()


def drop_secondary_indexes(cursor, tables: list[str]) -> list[tuple[str, str, str]]:
    """Drop the indexes of ``tables`` that back no constraint (primary keys and unique constraints stay: the load
    needs them, and foreign keys reference them) and return (table, index, definition) to build them again with
    ``create_indexes``. Inside the caller's transaction: a failure before the rebuild rolls the drop back too."""
    cursor.execute("""
        SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                          AND c.contype IN ('p', 'u', 'x'))
        ORDER BY 1, 2""", [tables])
    dropped = cursor.fetchall()
    for _table, index, _definition in dropped:
        cursor.execute(f"DROP INDEX {index}")
    return dropped


def create_indexes(cursor, indexes: list[tuple[str, str, str]], *, log=None) -> None:
    """Build the indexes ``drop_secondary_indexes`` dropped, one sort of its table each (a unique one checks its
    rows as it is built), and log the time per table."""
    per_table: dict[str, float] = {}
    for table, _index, definition in indexes:
        tick = time.perf_counter()
        cursor.execute(definition)
        per_table[table] = per_table.get(table, 0.0) + time.perf_counter() - tick
    if log:
        for table, seconds in per_table.items():
            log(f"  indexes of {table}: {sum(1 for t, *_ in indexes if t == table)} in {seconds:.1f} s")


@contextmanager
def foreign_keys_checked_after(cursor, tables: list[str], *, newer_than: dict[str, int] | None = None):
    """Inside a transaction: a superuser's writes in the block skip the per-row foreign-key triggers
    (``session_replication_role = replica``, as ``pg_restore --disable-triggers`` does; it also skips any other
    trigger, so keep the block to the bulk inserts) and every foreign key of ``tables`` is then verified
    set-based (``_check_foreign_keys``; ``newer_than``: only the rows written since). Without superuser rights
    PostgreSQL checks them row by row, as usual. Yields whether the checks are set-based."""
    cursor.execute("SHOW session_replication_role")
    role = cursor.fetchone()[0]
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    set_based = bool(cursor.fetchone()[0])
    if set_based:
        cursor.execute("SET LOCAL session_replication_role = replica")
    yield set_based
    if set_based:
        cursor.execute("SELECT set_config('session_replication_role', %s, true)", [role])
        _check_foreign_keys(cursor, tables, newer_than=newer_than)


def _check_foreign_keys(cursor, tables: list[str], *, newer_than: dict[str, int] | None = None) -> None:
    """Verify every foreign key of the loaded tables over all their rows (or, for a table in ``newer_than``, over
    its rows with a higher id: those written since), one anti-join per constraint."""
    cursor.execute("""
        SELECT c.conname, c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, af.attname
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[])
        ORDER BY 2, 1""", [tables])
    qn = connection.ops.quote_name
    newer_than = newer_than or {}
    for name, child, column, parent, parent_column in cursor.fetchall():
        since = f" AND x.id > {int(newer_than[child])}" if child in newer_than else ""
        cursor.execute(f"SELECT count(*) FROM {child} x WHERE x.{qn(column)} IS NOT NULL{since} AND NOT EXISTS "
                       f"(SELECT 1 FROM {parent} p WHERE p.{qn(parent_column)} = x.{qn(column)})")
        missing = cursor.fetchone()[0]
        if missing:
            raise BenchSeedError(f"{missing} rows of {child} break foreign key {name}: nothing was written.")


def _vacuum_analyze(log, big: list[str]) -> float:
    """VACUUM ANALYZE the ``big`` tables (the visibility map lets the benchmark's index-only scans skip the heap),
    ANALYZE the organisation's. Inside a transaction (tests) VACUUM cannot run: ANALYZE only."""
    started = time.perf_counter()
    qn = connection.ops.quote_name
    small = [m._meta.db_table for m in (DealerGroup, Store, User)]
    vacuum = not connection.in_atomic_block
    with connection.cursor() as cursor:
        for name in big:
            tick = time.perf_counter()
            cursor.execute(f"{'VACUUM (ANALYZE)' if vacuum else 'ANALYZE'} {qn(name)}")
            log(f"  {'VACUUM ANALYZE' if vacuum else 'ANALYZE'} {name}: {time.perf_counter() - tick:.1f} s")
        cursor.execute(f"ANALYZE {', '.join(map(qn, small))}")
    return time.perf_counter() - started
