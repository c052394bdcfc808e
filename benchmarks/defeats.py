"""Defeats on the benchmark data set (`manage.py seed_bench_defeats`, `make bench-defeats-seed`) and the defeat
metrics benchmark (`manage.py bench_defeats`, `make bench-defeats`). See benchmarks/README.md.

The seed adds the defeats app's rows to an existing `seed_bench` database without reloading its leads, in about the
demo's proportions (defeats.demo): per store about two confirmed defeats per deal (defeat rate ≈ two thirds), 16 %
of the decided applications rejected as false defeats, a handful pending, the competitor pool with a quarter of it
nurtured and ~3 % won back. Candidates are the store's active leads with a phone and a consultant, first seen at
least three weeks ago, graded C/D/E or ungraded; each gets one application filed 14 days or more after its first
visit. Rows are written with COPY, one short transaction per store (the bench database is shared: no long
transaction), deterministic (a seeded ``random.Random``), and a store that already has applications is skipped, so
the step is idempotent; ``reset`` removes them.

By default the leads themselves are not touched (other people measure pages on this database): the confirmed
defeats' leads stay ``active``. ``update_leads`` also sets their status (``defeated``, ``defeat_pending`` for the
pending ones) as the services would, and ``reset`` sets it back to ``active``; only the status changes."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from dealercrm import bulk
from dealercrm.models import DealerGroup, Role, Store, User, VehicleSeries
from defeats import services, stages
from defeats.demo import (
    BRANDS,
    DEFEATS_PER_DEAL,
    FALSE_REASONS,
    FALSE_SHARE,
    FALSE_VERDICTS,
    REASONS,
    kind_of,
    needs_rival,
    note_for,
    verdict_for,
)
from defeats.models import Application, DefeatEvent, PoolEntry
from defeats.selectors import Period, defeat_metrics
from funnel import lead_now, rollups, rollups_defeats, rollups_stays
from funnel.models import StayMark

from .funnel import BENCH_GROUP, Timing, _ok, _sql, token_client
from .funnel import Case as FunnelCase
from .seed import _delete_where, foreign_keys_checked_after

SEED = 20261202
PENDING = 8  # per store
NURTURED = 0.25  # of the pool: one nurture contact
WON_BACK = 0.03  # of the pool: came back


class BenchDefeatsError(Exception):
    pass


@dataclass
class StoreSeed:
    store: str
    confirmed: int = 0
    rejected: int = 0
    pending: int = 0
    nurtured: int = 0
    won_back: int = 0
    seconds: float = 0.0


def _group() -> DealerGroup:
    group = DealerGroup.objects.filter(name=BENCH_GROUP).first()
    if group is None:
        raise BenchDefeatsError(f"No {BENCH_GROUP!r} here: run `make bench-seed` first (benchmarks/README.md).")
    return group


def _copy(cursor, table: str, columns: list[str], rows: list[tuple]) -> None:
    if rows:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def bench_defeats_reset(*, log=print) -> int:
    """Remove the bench group's defeat rows (and put leads marked by ``update_leads`` back to active)."""
    group = _group()
    stores = list(Store.objects.filter(group=group).values_list("pk", flat=True))
    # Set-based DELETEs, children first along every foreign key (the ORM's delete would load every application of a
    # ten-million-lead bench to collect its cascade).
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM defeats_application WHERE store_id = ANY(%s)", [stores])
        n = cursor.fetchone()[0]
        _delete_where(cursor, PoolEntry, "store_id = ANY(%s)", [stores])
        _delete_where(cursor, DefeatEvent, "lead_id IN (SELECT id FROM leads_lead WHERE store_id = ANY(%s))", [stores])
        _delete_where(cursor, Application, "store_id = ANY(%s)", [stores])
        cursor.execute("UPDATE leads_lead SET status = 'active' WHERE store_id = ANY(%s) "
                       "AND status IN ('defeated', 'defeat_pending')", [stores])
        restored = cursor.rowcount
    rollups_stays.drain()  # the removed confirmed filings ended stays: their leads were marked
    rollups.drain()  # and their days, for the defeats' rollup
    log(f"removed {n:,} applications and their rows; {restored:,} leads back to active")
    return n


def bench_defeats_seed(*, update_leads: bool = False, recount: bool = True, now: datetime | None = None,
                       log=print) -> list[StoreSeed]:
    """Seed the bench group's defeats, store by store (those with applications skipped). ``recount`` False: the
    funnel's rollups are left to ``benchmarks.seed.bench_rollups`` (``seed_bench --defer-rollups``, then
    ``seed_bench_rollups``): the leads' status changes skip their triggers too, and nothing is marked or drained."""
    group = _group()
    now = now or timezone.now()
    rng = random.Random(SEED)
    reasons = {r.code: r for r in services.reasons_for(group.pk)}
    competitor: dict[str, list[VehicleSeries]] = {}
    for s in VehicleSeries.objects.filter(brand__is_own=False).select_related("brand").order_by("pk"):
        competitor.setdefault(s.brand.name_en, []).append(s)
    brands = {b: w for b, w in BRANDS.items() if b in competitor}
    if not brands:
        raise BenchDefeatsError("The vehicle catalogue has no competitor series (migration dealercrm 0002).")
    settings = services.settings_for(group.pk)
    done, seeded = [], []
    for store in Store.objects.filter(group=group).order_by("pk"):
        if Application.objects.filter(store=store).exists():
            log(f"{store.name}: has applications already, skipped")
            continue
        done.append(_seed_store(rng, store, now, reasons, competitor, brands, settings, update_leads,
                                triggers=recount))
        seeded.append(store.pk)
        r = done[-1]
        log(f"{r.store}: {r.confirmed:,} confirmed, {r.rejected:,} rejected, {r.pending} pending, "
            f"{r.nurtured:,} nurtured, {r.won_back:,} won back ({r.seconds:.1f} s)")
    if done and not recount:
        bulk.tidy(DEFEATS_TABLES)  # VACUUM sets the visibility map; inside a transaction (tests) ANALYZE only
    elif done:
        # The filings, reasons, events and pool entries were copied with the triggers off (the foreign keys checked
        # set-based after): nothing marked the leads whose stays a confirmed filing ended, nor the days of the
        # filings, verdicts and win-backs. The filings' leads are marked as the triggers would have marked them
        # (with what --update-leads changed on the leads, marked by their triggers) and drained: a quarter of the
        # leads rebuilt once, where a rebuild of every store rebuilt them all (at ten million leads, 2.5 million
        # leads instead of 10 million).
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {StayMark._meta.db_table} (lead_id) SELECT DISTINCT lead_id FROM "
                           f"{Application._meta.db_table} WHERE store_id = ANY(%s)", [seeded])
        tick = time.perf_counter()
        leads = rollups_stays.drain()
        log(f"time in stage of the filings' leads: {leads:,} leads rebuilt ({time.perf_counter() - tick:.1f} s)")
        tick = time.perf_counter()
        rollups.rebuild(store_ids=seeded, kinds=[rollups_defeats.DEFEATS, rollups_defeats.MONTHS])
        log(f"the defeats' rollup rebuilt ({time.perf_counter() - tick:.1f} s)")
        tick = time.perf_counter()
        days = rollups.drain()
        log(f"the store-days the leads' updates marked: {days:,} recounted ({time.perf_counter() - tick:.1f} s)")
        # --update-leads' status changes wrote the state now's deltas (5.2 million rows at ten million leads), which
        # the beat folds every minute in production: folded here, or the pages timed on the bench sum them all (the
        # group's dashboard spent 3 of its 4 s there).
        tick = time.perf_counter()
        lead_now.compact(full=True)
        log(f"the state now folded ({time.perf_counter() - tick:.1f} s)")
        bulk.tidy(["funnel_stay", "funnel_staymark", *DEFEATS_TABLES])
    return done


DEFEATS_TABLES = ["defeats_application", "defeats_applicationreason", "defeats_defeatevent", "defeats_poolentry",
                  "defeats_nurturecontact"]



WRITTEN = ["defeats_application", "defeats_applicationreason", "defeats_defeatevent", "defeats_poolentry"]


def _high_ids(cursor, tables: list[str]) -> dict[str, int]:
    """Each table's highest id: the rows written after it are the ones to check."""
    out = {}
    for table in tables:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
        out[table] = cursor.fetchone()[0]
    return out


def _pick(rng, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _seed_store(rng, store, now, reasons, competitor, brands, settings, update_leads, *, triggers: bool = True
                ) -> StoreSeed:
    started = time.monotonic()
    out = StoreSeed(store=store.name)
    manager = User.objects.filter(store=store, role=Role.MANAGER, is_active=True).order_by("pk").first()
    if manager is None:
        return out
    owner = services.pool_owner_for(store) or manager
    staff = list(User.objects.filter(store=store, role=Role.CONSULTANT, is_active=True).values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_deal d JOIN leads_lead l ON l.id = d.lead_id WHERE l.store_id = %s",
                       [store.pk])
        deals = cursor.fetchone()[0]
        decided = round(deals * DEFEATS_PER_DEAL / (1 - FALSE_SHARE))
        # Deterministic sample of the candidates (md5 of the id: no ORDER BY random()).
        cursor.execute(
            "SELECT id, assigned_to_id, series_id, source, first_visit_at FROM leads_lead "
            "WHERE store_id = %s AND status = 'active' AND assigned_to_id IS NOT NULL AND phone <> '' "
            "AND first_visit_at < %s AND (grade IN ('C', 'D', 'E') OR grade IS NULL) "
            "ORDER BY md5(id::text || 'defeats') LIMIT %s",
            [store.pk, now - timedelta(days=21), round(decided * 1.5) + PENDING])
        candidates = cursor.fetchall()
    pending, chosen = candidates[:PENDING], candidates[PENDING:]
    apps, reason_of = [], {}
    for lead_id, consultant, series_id, source, first in chosen:
        if len(apps) >= decided:
            break
        # Filed two weeks or more after the first visit (median about five weeks): the filings of a month follow
        # the traffic of the months before it, as they would in a store. Not yet due by now: not this lead.
        applied = first + timedelta(days=14 + rng.expovariate(1 / 25))
        if applied >= now - timedelta(days=5):
            continue
        is_false = rng.random() < FALSE_SHARE
        code = _pick(rng, FALSE_REASONS if is_false else REASONS)
        rival = rng.choice(competitor[_pick(rng, brands)]) if not is_false and needs_rival(code) else None
        decided_at = min(applied + timedelta(hours=rng.randint(4, 70)), now - timedelta(hours=2))
        note = note_for(rng, code)
        gap = Decimal(rng.choice([3000, 5000, 8000, 12000])) if rival and rng.random() < .4 else None
        kind = "quasi" if is_false else kind_of(code)
        status = "rejected" if is_false else "confirmed"
        comment = rng.choice(FALSE_VERDICTS) if is_false else verdict_for(rng, code)
        cause = rng.choice(["really_high", "mark_up", "price_war", "excuse"]) if code == "price_high" else ""
        apps.append((lead_id, store.pk, consultant, series_id, source, kind, rival.pk if rival else None,
                     rival.brand_id if rival else None, gap, cause, note, status, consultant, applied, "active",
                     manager.pk, decided_at, comment, 2))
        reason_of[lead_id] = code
    for i, (lead_id, consultant, series_id, source, first) in enumerate(pending):
        code = _pick(rng, FALSE_REASONS)
        applied = now - timedelta(days=5 if i == 0 else rng.randint(0, 2), hours=rng.randint(1, 8))
        apps.append((lead_id, store.pk, consultant, series_id, source, "quasi", None, None, None, "",
                     note_for(rng, code), "pending", consultant, applied, "active", None, None, "", 1))
        reason_of[lead_id] = code
    columns = ["lead_id", "store_id", "consultant_id", "our_series_id", "source", "kind", "competitor_series_id",
               "competitor_brand_id", "price_gap", "price_cause", "note", "status", "applied_by_id", "applied_at",
               "from_status", "decided_by_id", "decided_at", "comment", "version"]
    with transaction.atomic():
        raw = connection.connection
        with raw.cursor() as cursor:
            newer = _high_ids(cursor, WRITTEN)
            # One queued trigger per row and foreign key would be checked at commit (most of the time a store took):
            # instead the rows written here are checked set-based, one anti-join per foreign key.
            with foreign_keys_checked_after(cursor, WRITTEN, newer_than=newer):
                _copy(cursor, "defeats_application", columns, apps)
                # Loss by stage: the grade when filed and the highest reached, from the grade history, as the
                # services record them.
                cursor.execute(stages.RECORD_GRADES_SQL.format(where="store_id = %s"), [store.pk])
                cursor.execute("SELECT id, lead_id, status, applied_at, decided_at, applied_by_id, note, comment, "
                               "competitor_brand_id, competitor_series_id, kind FROM defeats_application "
                               "WHERE store_id = %s",
                               [store.pk])
                written = cursor.fetchall()
                reason_rows, events, entries = [], [], []
                for app_id, lead_id, status, applied, decided_at, by, note, comment, brand, series, kind in written:
                    r = reasons[reason_of[lead_id]]
                    reason_rows.append((app_id, r.pk, r.parent_id or r.pk))
                    to = "defeat_pending"
                    events.append((lead_id, app_id, "applied", applied, by, note, "active", to, None))
                    if status == "pending":
                        out.pending += 1
                        continue
                    if status == "rejected":
                        out.rejected += 1
                        events.append((lead_id, app_id, "rejected", decided_at, manager.pk, comment, to, "active", by))
                        continue
                    out.confirmed += 1
                    events.append((lead_id, app_id, "confirmed", decided_at, manager.pk, comment, to, "defeated",
                                   owner.pk))
                    bought = timezone.localtime(applied).date()
                    roll = rng.random()
                    last = next_at = won_at = None
                    state = "in_pool"
                    next_at = decided_at + timedelta(days=settings.nurture_interval_days)
                    if roll < NURTURED and decided_at < now - timedelta(days=30):
                        last = decided_at + timedelta(days=rng.randint(20, max(21, (now - decided_at).days - 1)))
                        next_at = last + timedelta(days=settings.nurture_interval_days)
                        events.append((lead_id, None, "nurtured", last, owner.pk, "邀请参加新车上市活动", "defeated",
                                       "defeated", None))
                        out.nurtured += 1
                    elif roll > 1 - WON_BACK and staff and decided_at < now - timedelta(days=2):
                        won_at = decided_at + (now - decided_at) * rng.random()
                        last, next_at, state = won_at, None, "won_back"
                        events.append((lead_id, app_id, "won_back", won_at, owner.pk, "客户说竞品不满意，想来看看新款",
                                       "defeated", "active", rng.choice(staff)))
                        out.won_back += 1
                    defeat = kind == "defeat"
                    entries.append((lead_id, store.pk, app_id, owner.pk, "competitor" if defeat else "nurture", brand,
                                    series, bought if defeat else None, decided_at, last, next_at,
                                    date(bought.year + settings.replacement_after_years, bought.month,
                                         min(bought.day, 28)) if defeat else None, state, won_at, 1))
                _copy(cursor, "defeats_applicationreason", ["application_id", "reason_id", "parent_id"], reason_rows)
                _copy(cursor, "defeats_defeatevent", ["lead_id", "application_id", "kind", "at", "by_id", "comment",
                                                      "from_status", "to_status", "to_user_id"], events)
                _copy(cursor, "defeats_poolentry", ["lead_id", "store_id", "application_id", "owner_id", "list",
                                                    "competitor_brand_id", "competitor_series_id", "purchased_on",
                                                    "joined_at", "last_contact_at", "next_contact_at",
                                                    "replacement_due_on", "status", "won_back_at", "version"], entries)
                if update_leads and not triggers:  # still inside the block: the leads' triggers off too
                    _defeat_leads(cursor, store)
            if update_leads and triggers:
                _defeat_leads(cursor, store)
    out.seconds = time.monotonic() - started
    return out


def _defeat_leads(cursor, store) -> None:
    """The store's filed leads' status as the services leave it: ``defeat_pending`` while pending, ``defeated`` once
    confirmed and in the pool (not when won back)."""
    cursor.execute(
        "UPDATE leads_lead l SET status = CASE a.status WHEN 'pending' THEN 'defeat_pending' "
        "ELSE 'defeated' END FROM defeats_application a LEFT JOIN defeats_poolentry p "
        "ON p.application_id = a.id WHERE a.lead_id = l.id AND a.store_id = %s "
        "AND (a.status = 'pending' OR (a.status = 'confirmed' AND p.status = 'in_pool'))", [store.pk])


# --- the benchmark ------------------------------------------------------------------------------------------------

# The same figures as defeats.selectors.defeat_metrics for one store and period, by hand: the applications' four
# counts, the deals ordered, the win-backs, and the applications by reason (both in one scan of the store's
# applications of the period).
STORE_FLOOR = """
WITH a AS (
  SELECT id, status, kind, applied_at, decided_at FROM defeats_application
  WHERE store_id = %(store)s AND ((applied_at >= %(lo)s AND applied_at < %(hi)s)
                                  OR (decided_at >= %(lo)s AND decided_at < %(hi)s))
)
SELECT NULL::bigint AS reason,
  count(*) FILTER (WHERE applied_at >= %(lo)s AND applied_at < %(hi)s),
  count(*) FILTER (WHERE applied_at >= %(lo)s AND applied_at < %(hi)s AND status = 'pending'),
  count(*) FILTER (WHERE decided_at >= %(lo)s AND decided_at < %(hi)s AND status = 'confirmed' AND kind = 'defeat'),
  count(*) FILTER (WHERE decided_at >= %(lo)s AND decided_at < %(hi)s AND status = 'confirmed' AND kind = 'quasi'),
  count(*) FILTER (WHERE decided_at >= %(lo)s AND decided_at < %(hi)s AND status = 'rejected'),
  (SELECT count(*) FROM leads_deal d JOIN leads_lead l ON l.id = d.lead_id
   WHERE l.store_id = %(store)s AND l.status = 'won' AND d.ordered_at BETWEEN %(day0)s AND %(day1)s),
  (SELECT count(*) FROM defeats_defeatevent e JOIN defeats_application x ON x.id = e.application_id
   WHERE x.store_id = %(store)s AND e.kind = 'won_back' AND e.at >= %(lo)s AND e.at < %(hi)s)
FROM a
UNION ALL
SELECT r.reason_id,
  count(*) FILTER (WHERE applied_at >= %(lo)s AND applied_at < %(hi)s),
  count(*) FILTER (WHERE applied_at >= %(lo)s AND applied_at < %(hi)s AND status = 'pending'),
  count(*) FILTER (WHERE decided_at >= %(lo)s AND decided_at < %(hi)s AND status = 'confirmed' AND kind = 'defeat'),
  count(*) FILTER (WHERE decided_at >= %(lo)s AND decided_at < %(hi)s AND status = 'confirmed' AND kind = 'quasi'),
  count(*) FILTER (WHERE decided_at >= %(lo)s AND decided_at < %(hi)s AND status = 'rejected'), NULL, NULL
FROM a JOIN defeats_applicationreason r ON r.application_id = a.id GROUP BY r.reason_id
UNION ALL
SELECT r.reason_id, NULL, NULL, NULL, NULL, NULL, NULL, count(*)
FROM defeats_defeatevent e JOIN defeats_application x ON x.id = e.application_id
JOIN defeats_applicationreason r ON r.application_id = e.application_id
WHERE x.store_id = %(store)s AND e.kind = 'won_back' AND e.at >= %(lo)s AND e.at < %(hi)s GROUP BY r.reason_id
"""
# (The answer also names each reason: the floor leaves that out, a join to a table of a few dozen rows.)

# The whole group, by month: filings by their month, verdicts by theirs, deals by the order month, win-backs.
GROUP_FLOOR = """
WITH s AS (SELECT id FROM dealercrm_store WHERE group_id = %(group)s),
f AS (
  SELECT date_trunc('month', applied_at AT TIME ZONE %(tz)s)::date AS k, count(*) AS applications,
         count(*) FILTER (WHERE status = 'pending') AS pending
  FROM defeats_application WHERE store_id IN (SELECT id FROM s) AND applied_at >= %(lo)s AND applied_at < %(hi)s
  GROUP BY 1
), v AS (
  SELECT date_trunc('month', decided_at AT TIME ZONE %(tz)s)::date AS k,
         count(*) FILTER (WHERE status = 'confirmed') AS defeats, count(*) FILTER (WHERE status = 'rejected') AS rej
  FROM defeats_application WHERE store_id IN (SELECT id FROM s) AND decided_at >= %(lo)s AND decided_at < %(hi)s
  GROUP BY 1
), d AS (
  SELECT date_trunc('month', d.ordered_at)::date AS k, count(*) AS deals
  FROM leads_deal d JOIN leads_lead l ON l.id = d.lead_id
  WHERE l.store_id IN (SELECT id FROM s) AND l.status = 'won' AND d.ordered_at BETWEEN %(day0)s AND %(day1)s
  GROUP BY 1
), w AS (
  SELECT date_trunc('month', e.at AT TIME ZONE %(tz)s)::date AS k, count(*) AS win_backs
  FROM defeats_defeatevent e JOIN defeats_application x ON x.id = e.application_id
  WHERE x.store_id IN (SELECT id FROM s) AND e.kind = 'won_back' AND e.at >= %(lo)s AND e.at < %(hi)s GROUP BY 1
)
SELECT * FROM f FULL JOIN v USING (k) FULL JOIN d USING (k) FULL JOIN w USING (k)
"""


class Case(FunnelCase):
    """The funnel benchmark's case (API, ORM, floor), its ratio shown at p50 and p95."""

    @property
    def ratio(self) -> str:
        """API over floor, at p50 and at p95."""
        return (f"{self.api.p50 / self.floor.p50:.2f}x/{self.api.p95 / self.floor.p95:.2f}x"
                if self.floor.p50 and self.floor.p95 else "n/a")


def bench(*, iterations: int = 60, out: Callable[[str], object] = print) -> list[Case]:
    group = _group()
    if not Application.objects.filter(store__group=group).exists():
        raise BenchDefeatsError("No defeats on the bench data set: run `make bench-defeats-seed` first.")
    admin = User.objects.filter(dealer_group=group, role=Role.GROUP_ADMIN).first()
    store = max(Store.objects.filter(group=group), key=lambda st: Application.objects.filter(store=st).count())
    manager = User.objects.filter(store=store, role=Role.MANAGER).first()
    today = timezone.localdate()
    month_end = today.replace(day=1) - timedelta(days=1)
    month_start = month_end.replace(day=1)
    year_start = (today.replace(day=1) - timedelta(days=335)).replace(day=1)

    client = token_client

    cases = []
    month = Period(month_start, month_end)
    lo, hi = month.bounds
    figures = defeat_metrics(user=manager, period=month, stores=[store], with_reasons=False)
    m_client = client(manager)
    params = {"store": store.pk, "start": month_start.isoformat(), "end": month_end.isoformat()}
    cases.append(Case(
        title=f"metrics, one store-month ({store.name}, {month_start:%Y-%m}, {figures['applications']} filed, "
              f"{figures['decided']} decided)",
        goal="p95 < 50 ms, ≤ 1.5× floor",
        api=Timing.measure("api", lambda: _ok(m_client.get("/api/v1/defeats/metrics/", params)),
                           iterations=iterations),
        orm=Timing.measure("orm", lambda: defeat_metrics(user=manager, period=month, stores=[store]),
                           iterations=iterations),
        floor=Timing.measure("floor", _sql(STORE_FLOOR, {"store": store.pk, "lo": lo, "hi": hi, "day0": month_start,
                                                         "day1": month_end}), iterations=iterations),
    ))

    year = Period(year_start, today)
    lo, hi = year.bounds
    few = max(5, iterations // 4)
    a_client = client(admin)
    params = {"start": year_start.isoformat(), "end": today.isoformat(), "group_by": "month"}
    cases.append(Case(
        title=f"metrics, whole group, 12 months by month ({Application.objects.filter(store__group=group).count():,}"
              " applications in all)",
        goal="p95 < 1 s",
        api=Timing.measure("api", lambda: _ok(a_client.get("/api/v1/defeats/metrics/", params)), iterations=few),
        orm=Timing.measure("orm", lambda: defeat_metrics(user=admin, period=year, group_by="month"), iterations=few),
        floor=Timing.measure("floor", _sql(GROUP_FLOOR, {
            "group": group.pk, "lo": lo, "hi": hi, "day0": year_start, "day1": today,
            "tz": timezone.get_current_timezone_name()}), iterations=few),
    ))

    out(f"{'case':<78} {'goal':<26} {'api p50/p95 ms':>16} {'orm p50/p95':>14} {'floor p50/p95':>15} "
        f"{'api/floor p50/p95':>17}")
    for case in cases:
        out(f"{case.title:<78} {case.goal:<26} {case.api.p50:7.1f}/{case.api.p95:<8.1f} "
            f"{case.orm.p50:6.1f}/{case.orm.p95:<7.1f} {case.floor.p50:7.1f}/{case.floor.p95:<7.1f} "
            f"{case.ratio:>17}")
    return cases


def explain(*, out: Callable[[str], object] = print) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement the store-month answer runs (as the API runs them)."""
    from django.test.utils import CaptureQueriesContext

    group = _group()
    store = max(Store.objects.filter(group=group), key=lambda st: Application.objects.filter(store=st).count())
    manager = User.objects.filter(store=store, role=Role.MANAGER).first()
    today = timezone.localdate()
    month_end = today.replace(day=1) - timedelta(days=1)
    period = Period(month_end.replace(day=1), month_end)
    with CaptureQueriesContext(connection) as queries:
        defeat_metrics(user=manager, period=period, stores=[store])
    with connection.cursor() as cursor:
        for q in queries.captured_queries:
            out("=" * 100)
            out(q["sql"])
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + q["sql"])
            for (line,) in cursor.fetchall():
                out(line)
