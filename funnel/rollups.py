"""The funnel's rollups: its cohort and re-visit counts kept per day × store × consultant × source × channel × series
(``CohortDay``, ``RevisitDay``), so a period's figures are a SUM over those rows instead of a count over the leads.
The design and why (docs/scaling.md, "Step 2"):

- **Marked by the database.** Triggers on ``leads_lead``, ``leads_visit`` and ``leads_gradechange`` (``TRIGGERS``,
  PostgreSQL and SQLite, installed after every ``migrate``) append a ``RollupMark`` (store, day, kind) for every
  store-day a write may change, in the writing transaction: every write path (services, imports, merges, the jobs'
  bulk updates, ``queryset.update()``, raw SQL) marks what it touches, and none can forget to. The marks table has no
  unique key, so two writers never wait for each other.
- **Recounted by one drain** (``rollups_drain``: the beat task every few seconds, the reconciliation), one at a time,
  from the base tables with the live definition. It deletes only the marks it read before recounting: a writer still
  in flight has a mark nobody can see yet, so it stays. The definition is Python (``cohort_rows``, ``revisit_rows``:
  SQLite recounts with it); on PostgreSQL the same rows are counted set-based, one ``INSERT … SELECT`` per kind and
  batch (``cohort_select``, ``revisit_select``), and ``rebuild`` recounts a whole scope in one statement per kind.
- **Read exactly.** A reader sums the rows of the store-days with no mark and counts the marked store-days live from
  the base tables, in one statement (funnel.selectors: one snapshot). What a writer committed is in the answer at
  once, drained or not.

The cohort's P, K and F take each lead's grade *as of the period's end* (funnel.selectors): a lead regraded after
its first-visit day gives a row at ``as_of`` = the day its grade (as the live definition reads it) changed, holding
the difference; a period [S, E] sums the rows with ``S <= day <= E`` and ``as_of <= E``.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter

from django.db import connections, models, router, transaction
from django.db.models import Max, Min, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate
from django.utils import timezone

from dealercrm import bulk
from leads.models import FollowUp, GradeChange, Lead, Status, Visit

from . import calc, rollups_followups, rollups_ladder, rollups_months
from .models import CohortDay, FollowUpDay, LadderDay, RevisitDay, RollupMark

logger = logging.getLogger(__name__)

GRADES = ("A", "B", "C", "D", "E")
COHORT, REVISITS = RollupMark.Kind.COHORT.value, RollupMark.Kind.REVISITS.value
COUNTS = ("n", "valid", "followed", "deals", "p_a", "p_b", "p_c", "p_d", "p_e", "units")
# One drain at a time (the beat task, the reconciliation, a rebuild): two would both delete a day's rows and insert
# their own. A PostgreSQL advisory lock (transaction-scoped); SQLite has one writer anyway.
DRAIN_LOCK = 727_001

# --- the triggers ------------------------------------------------------------------------------------------------

# Lead columns a cohort row depends on; a change of any of them marks the old and the new first-visit day.
LEAD_COLUMNS = ("store_id", "first_visit_day", "assigned_to_id", "source", "channel_id", "series_id", "status",
                "phone", "grade", "grade_since", "first_follow_up_at")
# Lead columns a re-visit row depends on: a change of any of them marks the days of the lead's re-visits.
REVISIT_COLUMNS = ("store_id", "assigned_to_id", "source", "channel_id", "series_id", "status")
VISIT_COLUMNS = ("lead_id", "store_id", "arrived_at", "is_first")
GRADE_CHANGE_COLUMNS = ("lead_id", "to_grade", "changed_at")

# A visit's local arrival day is within a day of its UTC day whatever the time zone: the triggers mark all three
# (marking a day too many costs a recount that changes nothing), so they need no time-zone arithmetic.
_PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION funnel_rollup_lead_marks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO funnel_rollupmark (store_id, day, kind) SELECT DISTINCT store_id, first_visit_day, 'c' FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO funnel_rollupmark (store_id, day, kind) SELECT DISTINCT store_id, first_visit_day, 'c' FROM old_rows;
  ELSE
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT k.store_id, k.day, 'c' FROM old_rows o JOIN new_rows n ON n.id = o.id
    CROSS JOIN LATERAL (VALUES (o.store_id, o.first_visit_day), (n.store_id, n.first_visit_day)) k(store_id, day)
    WHERE (%(old_lead)s) IS DISTINCT FROM (%(new_lead)s);
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT v.store_id, (v.arrived_at AT TIME ZONE 'UTC')::date + d.o, 'r'
    FROM old_rows o JOIN new_rows n ON n.id = o.id JOIN leads_visit v ON v.lead_id = n.id AND NOT v.is_first
    CROSS JOIN (VALUES (-1), (0), (1)) d(o)
    WHERE (%(old_revisit)s) IS DISTINCT FROM (%(new_revisit)s);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION funnel_rollup_visit_marks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT n.store_id, (n.arrived_at AT TIME ZONE 'UTC')::date + d.o, 'r'
    FROM new_rows n CROSS JOIN (VALUES (-1), (0), (1)) d(o) WHERE NOT n.is_first;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT o.store_id, (o.arrived_at AT TIME ZONE 'UTC')::date + d.o, 'r'
    FROM old_rows o CROSS JOIN (VALUES (-1), (0), (1)) d(o) WHERE NOT o.is_first;
  ELSE
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT k.store_id, (k.arrived_at AT TIME ZONE 'UTC')::date + d.o, 'r'
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    CROSS JOIN LATERAL (VALUES (o.store_id, o.arrived_at), (n.store_id, n.arrived_at)) k(store_id, arrived_at)
    CROSS JOIN (VALUES (-1), (0), (1)) d(o)
    WHERE (%(old_visit)s) IS DISTINCT FROM (%(new_visit)s);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION funnel_rollup_grade_marks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT l.store_id, l.first_visit_day, 'c' FROM new_rows n JOIN leads_lead l ON l.id = n.lead_id;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT l.store_id, l.first_visit_day, 'c' FROM old_rows o JOIN leads_lead l ON l.id = o.lead_id;
  ELSE
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT l.store_id, l.first_visit_day, 'c'
    FROM (SELECT lead_id FROM old_rows UNION SELECT lead_id FROM new_rows) c JOIN leads_lead l ON l.id = c.lead_id;
  END IF;
  RETURN NULL;
END $$;
"""

_PG_TABLES = {"leads_lead": "funnel_rollup_lead_marks", "leads_visit": "funnel_rollup_visit_marks",
              "leads_gradechange": "funnel_rollup_grade_marks"}


def _row(alias: str, columns: Iterable[str]) -> str:
    return ", ".join(f"{alias}.{c}" for c in columns)


def _pg_statements() -> list[str]:
    functions = _PG_FUNCTIONS % {
        "old_lead": _row("o", LEAD_COLUMNS), "new_lead": _row("n", LEAD_COLUMNS),
        "old_revisit": _row("o", REVISIT_COLUMNS), "new_revisit": _row("n", REVISIT_COLUMNS),
        "old_visit": _row("o", VISIT_COLUMNS), "new_visit": _row("n", VISIT_COLUMNS),
    }
    statements = [functions]
    # Statement-level triggers with transition tables: a bulk UPDATE of 400k leads marks its few thousand store-days
    # in one INSERT … SELECT, not 400k single-row inserts. One trigger per event (a trigger with transition tables
    # may name one event only).
    for table, function in _PG_TABLES.items():
        for event, referencing in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
                                   ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows")):
            name = f"{function}_{event.lower()}"
            statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            statements.append(f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {referencing} "
                              f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    return statements


def _sqlite_changed(columns: Iterable[str]) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


_SQLITE_DAYS = "(SELECT '-1 day' AS o UNION ALL SELECT '+0 days' UNION ALL SELECT '+1 day')"


def _sqlite_statements() -> list[str]:
    mark = "INSERT INTO funnel_rollupmark (store_id, day, kind)"
    lead_changed, revisit_changed = _sqlite_changed(LEAD_COLUMNS), _sqlite_changed(REVISIT_COLUMNS)
    visit_changed = _sqlite_changed(VISIT_COLUMNS)
    triggers = {
        "funnel_rollup_lead_insert": f"AFTER INSERT ON leads_lead BEGIN "
        f"{mark} VALUES (NEW.store_id, NEW.first_visit_day, 'c'); END",
        "funnel_rollup_lead_delete": f"AFTER DELETE ON leads_lead BEGIN "
        f"{mark} VALUES (OLD.store_id, OLD.first_visit_day, 'c'); END",
        "funnel_rollup_lead_update": f"AFTER UPDATE ON leads_lead WHEN {lead_changed} BEGIN "
        f"{mark} VALUES (OLD.store_id, OLD.first_visit_day, 'c'); "
        f"{mark} VALUES (NEW.store_id, NEW.first_visit_day, 'c'); END",
        "funnel_rollup_lead_revisits": f"AFTER UPDATE ON leads_lead WHEN {revisit_changed} BEGIN "
        f"{mark} SELECT v.store_id, date(v.arrived_at, d.o), 'r' FROM leads_visit v, {_SQLITE_DAYS} d "
        f"WHERE v.lead_id = NEW.id AND NOT v.is_first; END",
        "funnel_rollup_visit_insert": f"AFTER INSERT ON leads_visit WHEN NOT NEW.is_first BEGIN "
        f"{mark} SELECT NEW.store_id, date(NEW.arrived_at, d.o), 'r' FROM {_SQLITE_DAYS} d; END",
        "funnel_rollup_visit_delete": f"AFTER DELETE ON leads_visit WHEN NOT OLD.is_first BEGIN "
        f"{mark} SELECT OLD.store_id, date(OLD.arrived_at, d.o), 'r' FROM {_SQLITE_DAYS} d; END",
        "funnel_rollup_visit_update": f"AFTER UPDATE ON leads_visit WHEN {visit_changed} BEGIN "
        f"{mark} SELECT OLD.store_id, date(OLD.arrived_at, d.o), 'r' FROM {_SQLITE_DAYS} d; "
        f"{mark} SELECT NEW.store_id, date(NEW.arrived_at, d.o), 'r' FROM {_SQLITE_DAYS} d; END",
        "funnel_rollup_grade_insert": f"AFTER INSERT ON leads_gradechange BEGIN "
        f"{mark} SELECT store_id, first_visit_day, 'c' FROM leads_lead WHERE id = NEW.lead_id; END",
        "funnel_rollup_grade_delete": f"AFTER DELETE ON leads_gradechange BEGIN "
        f"{mark} SELECT store_id, first_visit_day, 'c' FROM leads_lead WHERE id = OLD.lead_id; END",
        "funnel_rollup_grade_update": f"AFTER UPDATE ON leads_gradechange BEGIN "
        f"{mark} SELECT store_id, first_visit_day, 'c' FROM leads_lead WHERE id IN (OLD.lead_id, NEW.lead_id); END",
    }
    return [f"CREATE TRIGGER IF NOT EXISTS {name} {body}" for name, body in triggers.items()]


def triggers_installed(using: str = "default") -> bool:
    """Whether every marking trigger exists (SQLite drops a table's triggers when a migration rebuilds the table)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'funnel_rollup_%%' AND NOT tgisinternal")
            return cursor.fetchone()[0] == 3 * len(_PG_TABLES)
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'funnel_rollup_%'")
        return cursor.fetchone()[0] == len(_sqlite_statements())


def triggers_install(using: str = "default") -> None:
    """Create (or replace) the marking triggers."""
    connection = connections[using]
    statements = _pg_statements() if connection.vendor == "postgresql" else _sqlite_statements()
    with transaction.atomic(using), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def ensure_installed(using: str = "default", **_kwargs) -> None:
    """After ``migrate`` (funnel.apps): install the triggers, and when any was missing (a new database, this code's
    first migrate on existing data, or SQLite having rebuilt a table) recount every rollup row: nothing marked the
    writes made without them."""
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    tables = set(connection.introspection.table_names())
    if not {"leads_lead", "leads_visit", "leads_gradechange", RollupMark._meta.db_table} <= tables:
        return
    missing = not triggers_installed(using)
    triggers_install(using)
    if missing:
        rebuild(using=using)
    else:
        # The month rows' first migrate on data: summed from the day rows (exact whenever those are).
        for table in rollups_months.present(using):
            if rollups_months.missing(table, using=using):
                with transaction.atomic(using):
                    _locked(using, wait=True)
                    rollups_months.derive(table, using=using)


# --- recounting --------------------------------------------------------------------------------------------------


def _local_day(moment: datetime, tz=None) -> date:
    return moment.astimezone(tz or timezone.get_current_timezone()).date()


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def day_spans(field: str, days: Iterable[date]) -> models.Q:
    """``field`` (a datetime) on one of ``days`` (local days): one range per run of consecutive days (a drain's
    batch may hold a day of last year and one of today)."""
    spans = models.Q(pk__in=[])
    ordered = sorted(set(days))
    run_start = previous = ordered[0]
    for day in [*ordered[1:], None]:
        if day is not None and day == previous + timedelta(days=1):
            previous = day
            continue
        spans |= models.Q(**{f"{field}__gte": _midnight(run_start),
                             f"{field}__lt": _midnight(previous + timedelta(days=1))})
        if day is not None:
            run_start = previous = day
    return spans


def transition_triggers(functions: str, triggers: Iterable[tuple[str, str, str, str]]) -> list[str]:
    """The statements creating ``functions`` and, per (table, function, event, transition tables), a statement-level
    trigger ``<function>_<event>`` (a trigger with transition tables names one event only). PostgreSQL."""
    statements = [functions]
    for table, function, event, referencing in triggers:
        name = f"{function}_{event.lower()}"
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        statements.append(f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {referencing} "
                          f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    return statements


def pg_triggers_named(pattern: str, *, using: str) -> int:
    """How many of the database's own triggers have a name LIKE ``pattern`` (PostgreSQL)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE %s AND NOT tgisinternal", [pattern])
        return cursor.fetchone()[0]


def run_statements(statements: Iterable[str], *, using: str) -> None:
    """Run ``statements`` in one transaction (installing triggers)."""
    with transaction.atomic(using), connections[using].cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _contribution(grade: str | None, *, phone: str, won: bool, followed_up: bool) -> dict:
    """What one lead adds to its cohort's grade-dependent counts, given its grade as of the period's end (the live
    definition, funnel.selectors.cohort_counts_live): valid = a phone and (a grade or won); followed = valid and (a
    follow-up or won); p_x = a phone and grade x."""
    valid = bool(phone) and (grade is not None or won)
    counts = {"valid": int(valid), "followed": int(valid and (followed_up or won))}
    for g in GRADES:
        counts[f"p_{g.lower()}"] = int(bool(phone) and grade == g)
    return counts


def _grade_steps(lead: dict, changes: list[tuple[datetime, str]]) -> list[tuple[date, str | None]]:
    """The lead's grade as of a period's end E, for E from its first-visit day on, as (from day, grade) steps — as
    the live definition reads it: the current grade when ``grade_since`` is empty or on or before E, else the
    ``to_grade`` of the latest change before the end of E (none: no grade)."""
    first = lead["first_visit_day"]
    since = _local_day(lead["grade_since"]) if lead["grade_since"] else None
    if since is None or since <= first:
        return [(first, lead["grade"])]
    days = sorted({first, since, *(d for d in (_local_day(at) for at, _g in changes) if first < d < since)})

    def grade_on(day: date) -> str | None:
        if day >= since:
            return lead["grade"]
        grade = None
        for at, to_grade in changes:  # in (changed_at, id) order: the last one on or before the day wins
            if _local_day(at) <= day:
                grade = to_grade
        return grade

    return [(day, grade_on(day)) for day in days]


_LEAD_FIELDS = ("id", "store_id", "first_visit_day", "assigned_to_id", "source", "channel_id", "series_id", "status",
                "phone", "grade", "grade_since", "first_follow_up_at", "deal__quantity")


# The rollup rows as plain tuples in these columns' order (written with one executemany, no model instances).
COHORT_ROW = ("store_id", "day", "as_of", "consultant_id", "source", "channel_id", "series_id", *COUNTS)
REVISIT_ROW = ("store_id", "day", "consultant_id", "source", "channel_id", "series_id", "n")


def cohort_rows(store_id: int, days: Iterable[date], *, using: str = "default") -> list[tuple]:
    """The cohort rows (``COHORT_ROW`` tuples) of a store's first-visit days, counted from the base tables (two
    queries)."""
    days = sorted(set(days))
    if not days:
        return []
    leads = list(Lead.objects.using(using).filter(store_id=store_id, first_visit_day__in=days)
                 .exclude(status=Status.MERGED).order_by().values(*_LEAD_FIELDS))
    history_ids = [lead["id"] for lead in leads
                   if lead["grade_since"] and _local_day(lead["grade_since"]) > lead["first_visit_day"]]
    changes: dict[int, list] = defaultdict(list)
    for lead_id, at, to_grade in (GradeChange.objects.using(using).filter(lead_id__in=history_ids)
                                  .order_by("lead_id", "changed_at", "id")
                                  .values_list("lead_id", "changed_at", "to_grade")):
        changes[lead_id].append((at, to_grade))
    sums: dict[tuple, dict] = {}
    for lead in leads:
        won = lead["status"] == Status.WON
        dims = (lead["first_visit_day"], lead["assigned_to_id"], lead["source"], lead["channel_id"], lead["series_id"])
        previous = dict.fromkeys(("valid", "followed", *(f"p_{g.lower()}" for g in GRADES)), 0)
        for step, (as_of, grade) in enumerate(_grade_steps(lead, changes.get(lead["id"], []))):
            now = _contribution(grade, phone=lead["phone"], won=won,
                                followed_up=lead["first_follow_up_at"] is not None)
            delta = {name: now[name] - previous[name] for name in now}
            if step == 0:
                # Units: a won lead's order's quantity (a fleet order of five is one deal, five units).
                delta |= {"n": 1, "deals": int(won), "units": (lead["deal__quantity"] or 0) if won else 0}
            previous = now
            if not any(delta.values()):
                continue
            row = sums.setdefault((as_of, *dims), dict.fromkeys(COUNTS, 0))
            for name, value in delta.items():
                row[name] += value
    return [
        (store_id, day, as_of, consultant, source, channel, series, *(counts[name] for name in COUNTS))
        for (as_of, day, consultant, source, channel, series), counts in sums.items()
        if any(counts.values())
    ]


def revisit_rows(store_id: int, days: Iterable[date], *, using: str = "default") -> list[tuple]:
    """The re-visit rows (``REVISIT_ROW`` tuples) of a store's arrival days, counted from the base tables (one
    query)."""
    days = set(days)
    if not days:
        return []
    visits = (Visit.objects.using(using)
              .filter(store_id=store_id, is_first=False, arrived_at__gte=_midnight(min(days)),
                      arrived_at__lt=_midnight(max(days) + timedelta(days=1)))
              .exclude(lead__status=Status.MERGED)
              .values_list("arrived_at", "lead__assigned_to_id", "lead__source", "lead__channel_id",
                           "lead__series_id"))
    sums: dict[tuple, int] = defaultdict(int)
    for arrived_at, *dims in visits:
        day = _local_day(arrived_at)
        if day in days:
            sums[(day, *dims)] += 1
    return [(store_id, day, consultant, source, channel, series, n)
            for (day, consultant, source, channel, series), n in sums.items()]


# --- the same rows, set-based (PostgreSQL) ------------------------------------------------------------------------
#
# On PostgreSQL the drain and the rebuild do not load leads into Python: one INSERT … SELECT per kind counts the rows
# of a batch of store-days (a drain's) or of every day of some stores (a rebuild's) in the database, exactly the rows
# cohort_rows and revisit_rows give (funnel/tests/test_rollups_sql.py compares the two on random histories). Those
# Python functions stay the definition: SQLite recounts with them, and the nightly reconciliation checks the stored
# rows against them, so a disagreement between the two shows up as drift.

# A lead's grade as of a period's end, as the steps of ``_grade_steps``. ``regrades`` holds, for each lead whose
# grade_since falls on a local day after its first-visit day, the last grade change of each local day before
# grade_since's (the changes on or before the first-visit day all count on it: the grade the lead starts with).
# Every lead gives a row on its first-visit day (``opening``: its current grade; a regraded lead's last change by
# then, none: no grade). A regraded lead's later steps (``moves``: each of those change days, and grade_since's day
# with the current grade) give a row each holding the difference from the step before (lag): only those few leads
# are sorted for the window, not the whole cohort.
_COHORT_SQL = """
WITH cohort AS MATERIALIZED (
    SELECT l.id, l.store_id, l.first_visit_day AS day, l.assigned_to_id, l.source, l.channel_id, l.series_id,
           l.status = '{won}' AS won, l.phone <> '' AS phoned, l.first_follow_up_at IS NOT NULL AS followed_up,
           l.grade, (l.grade_since AT TIME ZONE %(tz)s)::date AS since,
           CASE WHEN l.status = '{won}' THEN coalesce(d.quantity, 0) ELSE 0 END AS units
    FROM leads_lead l LEFT JOIN leads_deal d ON d.lead_id = l.id
    WHERE l.status <> '{merged}' AND {scope}
), regrades AS MATERIALIZED (
    SELECT DISTINCT ON (c.lead_id, c.as_of) c.lead_id, c.first_day, c.as_of, c.to_grade
    FROM (SELECT g.lead_id, l.day AS first_day, greatest((g.changed_at AT TIME ZONE %(tz)s)::date, l.day) AS as_of,
                 g.changed_at, g.id, g.to_grade
          FROM cohort l JOIN leads_gradechange g ON g.lead_id = l.id
          WHERE l.since > l.day AND (g.changed_at AT TIME ZONE %(tz)s)::date < l.since) c
    ORDER BY c.lead_id, c.as_of, c.changed_at DESC, c.id DESC
), opening AS (
    SELECT l.*, CASE WHEN l.since > l.day THEN r.to_grade ELSE l.grade END AS g
    FROM cohort l LEFT JOIN regrades r ON r.lead_id = l.id AND r.as_of = l.day
), moves AS (
    SELECT t.id, t.as_of, t.g, lag(t.g) OVER (PARTITION BY t.id ORDER BY t.as_of) AS before
    FROM (SELECT o.id, o.day AS as_of, o.g FROM opening o WHERE o.since > o.day
          UNION ALL
          SELECT r.lead_id, r.as_of, r.to_grade FROM regrades r WHERE r.as_of > r.first_day
          UNION ALL
          SELECT l.id, l.since, l.grade FROM cohort l WHERE l.since > l.day) t
), counted AS (
    SELECT l.store_id, l.day, l.day AS as_of, l.assigned_to_id, l.source, l.channel_id, l.series_id, {opening}
    FROM opening l
    UNION ALL
    SELECT l.store_id, l.day, m.as_of, l.assigned_to_id, l.source, l.channel_id, l.series_id, {moved}
    FROM moves m JOIN cohort l ON l.id = m.id
    WHERE m.as_of > l.day
)
SELECT store_id, day, as_of, assigned_to_id, source, channel_id, series_id, {sums}
FROM counted
GROUP BY store_id, day, as_of, assigned_to_id, source, channel_id, series_id
HAVING {nonzero}
"""


def _counts_sql(grade: str) -> dict[str, str]:
    """SQL for what a lead (``l``: cohort columns) adds to the grade-dependent counts holding ``grade`` as of the
    period's end: ``_contribution``."""
    valid = f"l.phoned AND ({grade} IS NOT NULL OR l.won)"
    return {"valid": f"({valid})::int", "followed": f"({valid} AND (l.followed_up OR l.won))::int",
            **{f"p_{g.lower()}": f"(l.phoned AND {grade} IS NOT DISTINCT FROM '{g}')::int" for g in GRADES}}


def _cohort_parts() -> dict[str, str]:
    now, before = _counts_sql("m.g"), _counts_sql("m.before")
    opening = {"n": "1", **_counts_sql("l.g"), "deals": "l.won::int", "units": "l.units"}
    moved = {"n": "0", **{name: f"{now[name]} - {before[name]}" for name in now}, "deals": "0", "units": "0"}
    return {
        "won": Status.WON.value, "merged": Status.MERGED.value,
        "opening": ", ".join(f"{opening[c]} AS {c}" for c in COUNTS),
        "moved": ", ".join(moved[c] for c in COUNTS),
        "sums": ", ".join(f"sum({c})" for c in COUNTS),
        "nonzero": " OR ".join(f"sum({c}) <> 0" for c in COUNTS),
    }


_COHORT_PARTS = _cohort_parts()

_REVISIT_SQL = """
SELECT v.store_id, (v.arrived_at AT TIME ZONE %(tz)s)::date AS day, l.assigned_to_id, l.source, l.channel_id,
       l.series_id, count(*)
FROM leads_visit v JOIN leads_lead l ON l.id = v.lead_id
WHERE NOT v.is_first AND l.status <> '{merged}' AND {scope}
GROUP BY 1, 2, 3, 4, 5, 6
"""


def _scope_sql(store: str, day: str, *, keys: list[tuple[int, date]] | None = None,
               store_ids: list[int] | None = None) -> tuple[str, dict]:
    """An SQL condition on a store and a day expression, and its parameters: the (store, day) pairs of ``keys``, or
    else every day of ``store_ids`` (None: of every store)."""
    if keys is not None:
        condition = (f"{store} = ANY(%(stores)s::bigint[]) AND ({store}, {day}) IN "
                     "(SELECT * FROM unnest(%(key_stores)s::bigint[], %(key_days)s::date[]))")
        return (condition,
                {"stores": sorted({s for s, _d in keys}), "key_stores": [s for s, _d in keys],
                 "key_days": [d for _s, d in keys]})
    if store_ids is not None:
        return f"{store} = ANY(%(stores)s::bigint[])", {"stores": list(store_ids)}
    return "TRUE", {}


def cohort_select(*, keys: list[tuple[int, date]] | None = None,
                  store_ids: list[int] | None = None) -> tuple[str, dict]:
    """The cohort rows (``COHORT_ROW`` columns) of ``keys``' (store, first-visit day) pairs, or of every day of
    ``store_ids`` (None: every store), as one PostgreSQL SELECT and its parameters: what ``cohort_rows`` counts."""
    scope, params = _scope_sql("l.store_id", "l.first_visit_day", keys=keys, store_ids=store_ids)
    if keys is not None:
        # A range of the (store, first_visit_at) index around the batch's days, not every lead of its stores:
        # first_visit_day is first_visit_at's local day (Lead.save keeps it; the live count relies on it too), so
        # within a day of its UTC day whatever the time zone.
        days = params["key_days"]
        scope += " AND l.first_visit_at >= %(start)s AND l.first_visit_at < %(end)s"
        params |= {"start": datetime.combine(min(days) - timedelta(days=1), time.min, tzinfo=UTC),
                   "end": datetime.combine(max(days) + timedelta(days=2), time.min, tzinfo=UTC)}
    return _COHORT_SQL.format(scope=scope, **_COHORT_PARTS), {"tz": timezone.get_current_timezone_name(), **params}


def revisit_select(*, keys: list[tuple[int, date]] | None = None,
                   store_ids: list[int] | None = None) -> tuple[str, dict]:
    """The re-visit rows (``REVISIT_ROW`` columns) of ``keys``' (store, arrival day) pairs, or of every day of
    ``store_ids`` (None: every store), as one PostgreSQL SELECT and its parameters: what ``revisit_rows`` counts."""
    scope, params = _scope_sql("v.store_id", "(v.arrived_at AT TIME ZONE %(tz)s)::date", keys=keys,
                               store_ids=store_ids)
    if keys is not None:  # a range of the (store, arrived_at) index around the batch's days
        days = params["key_days"]
        scope += " AND v.arrived_at >= %(start)s AND v.arrived_at < %(end)s"
        params |= {"start": _midnight(min(days)), "end": _midnight(max(days) + timedelta(days=1))}
    sql = _REVISIT_SQL.format(scope=scope, merged=Status.MERGED.value)
    return sql, {"tz": timezone.get_current_timezone_name(), **params}


# --- the kinds ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollupKind:
    """One kind of rollup row (a ``RollupMark`` kind): its table and how the rows of a store-day are counted.

    - ``rows(store_id, days, *, using)``: the rows (``columns`` tuples) of a store's days, counted in Python: the
      definition (SQLite recounts with it; the reconciliation checks the stored rows against it).
    - ``days(store_ids, *, using)``: a ``values_list`` query of the (store_id, day) pairs the base tables hold
      something to count for (``store_ids`` None: every store); a rebuild marks them.
    - ``select(*, keys=None, store_ids=None)``: the same rows as ``rows`` as one PostgreSQL SELECT (SQL, parameters)
      for a batch of (store, day) keys or for every day of some stores (None: all); None to recount in Python on
      PostgreSQL too.

    A new kind: a ``RollupMark.Kind`` value, triggers that mark it, and an entry in ``KINDS`` (from its own module's
    ``AppConfig.ready`` if need be); the drain, the rebuild and the reconciliation then handle it."""

    model: type[models.Model]
    columns: tuple[str, ...]  # the row tuples' columns: store_id, day, the other key columns, then ``counts`` counts
    counts: int
    rows: Callable[..., list[tuple]]
    days: Callable[..., QuerySet]
    select: Callable[..., tuple[str, dict]] | None = None
    # Whether the database keeps this kind (its triggers exist there): the ladder and follow-up rollups are
    # PostgreSQL's only; elsewhere their readers count from the base tables and nothing marks them.
    supported: Callable[[str], bool] = lambda _using: True


def _cohort_days(store_ids: list[int] | None, *, using: str) -> QuerySet:
    leads = Lead.objects.using(using).order_by()
    if store_ids is not None:
        leads = leads.filter(store_id__in=store_ids)
    return leads.values_list("store_id", "first_visit_day")


def _revisit_days(store_ids: list[int] | None, *, using: str) -> QuerySet:
    visits = Visit.objects.using(using).filter(is_first=False).order_by()
    if store_ids is not None:
        visits = visits.filter(store_id__in=store_ids)
    return visits.annotate(arrival_day=TruncDate("arrived_at")).values_list("store_id", "arrival_day")


def _ladder_days(store_ids: list[int] | None, *, using: str) -> QuerySet:
    changes = GradeChange.objects.using(using).order_by()
    if store_ids is not None:
        changes = changes.filter(lead__store_id__in=store_ids)
    return changes.annotate(change_day=TruncDate("changed_at")).values_list("lead__store_id", "change_day")


def _follow_up_days(store_ids: list[int] | None, *, using: str) -> QuerySet:
    follow_ups = FollowUp.objects.using(using).order_by()
    if store_ids is not None:
        follow_ups = follow_ups.filter(store_id__in=store_ids)
    return follow_ups.annotate(occurred_day=TruncDate("occurred_at")).values_list("store_id", "occurred_day")


KINDS: dict[str, RollupKind] = {
    COHORT: RollupKind(CohortDay, COHORT_ROW, len(COUNTS), cohort_rows, _cohort_days, cohort_select),
    REVISITS: RollupKind(RevisitDay, REVISIT_ROW, 1, revisit_rows, _revisit_days, revisit_select),
    # funnel.rollups_ladder and funnel.rollups_followups: PostgreSQL's only, set-based there too.
    RollupMark.Kind.LADDER.value: RollupKind(LadderDay, rollups_ladder.ROW, len(rollups_ladder.COUNTS),
                                             rollups_ladder.ladder_rows, _ladder_days, rollups_ladder.ladder_select,
                                             supported=rollups_ladder.supported),
    RollupMark.Kind.FOLLOW_UPS.value: RollupKind(FollowUpDay, rollups_followups.ROW, 2,
                                                 rollups_followups.followup_rows, _follow_up_days,
                                                 rollups_followups.followup_select,
                                                 supported=rollups_followups.supported),
}
# False: recount in Python on PostgreSQL too (as on SQLite); the tests compare the two ways.
SET_BASED = True


def _set_based(spec: RollupKind, using: str) -> bool:
    return SET_BASED and spec.select is not None and connections[using].vendor == "postgresql"


def select_rows(kind: str, keys: Iterable[tuple[int, date]], *, using: str = "default") -> list[tuple]:
    """The rows the set-based recount writes for these (store, day) keys of ``kind``, read instead of written
    (PostgreSQL; the tests compare them with the Python definition)."""
    sql, params = KINDS[kind].select(keys=sorted(set(keys)))
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


# --- writing ------------------------------------------------------------------------------------------------------


def _write(model, columns: tuple[str, ...], rows: list[tuple], *, using: str) -> None:
    """Insert plain row tuples with one executemany (a bulk_create of model instances cost three times the recount)."""
    if not rows:
        return
    connection = connections[using]
    qn = connection.ops.quote_name
    sql = (f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(map(qn, columns))}) "
           f"VALUES ({', '.join(['%s'] * len(columns))})")
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _replace_set_based(spec: RollupKind, *, using: str, keys: list[tuple[int, date]] | None = None,
                       store_ids: list[int] | None = None) -> None:
    """Replace the rows of ``keys`` (or of every day of ``store_ids``; neither: every row) with a fresh count: one
    DELETE and one INSERT … SELECT (PostgreSQL)."""
    connection = connections[using]
    qn = connection.ops.quote_name
    table = qn(spec.model._meta.db_table)
    scope, params = _scope_sql("store_id", "day", keys=keys, store_ids=store_ids)
    select, select_params = spec.select(keys=keys, store_ids=store_ids)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {scope}", params)
        cursor.execute(f"INSERT INTO {table} ({', '.join(map(qn, spec.columns))}) {select}", select_params)


def _recount(keys: Iterable[tuple[int, date, str]], *, using: str) -> None:
    """Replace the rollup rows of these (store, day, kind) keys with a fresh count. Call inside the drain lock. Per
    kind: on PostgreSQL one DELETE and one INSERT … SELECT for the whole batch; elsewhere ``rows`` per store."""
    by_kind: dict[str, set[tuple[int, date]]] = defaultdict(set)
    for store_id, day, kind in keys:
        by_kind[kind].add((store_id, day))
    for kind, pairs in by_kind.items():
        spec = KINDS[kind]
        if _set_based(spec, using):
            _replace_set_based(spec, keys=sorted(pairs), using=using)
            continue
        by_store: dict[int, set[date]] = defaultdict(set)
        for store_id, day in pairs:
            by_store[store_id].add(day)
        for store_id, days in by_store.items():
            rows = spec.rows(store_id, days, using=using)
            spec.model.objects.using(using).filter(store_id=store_id, day__in=days).delete()
            _write(spec.model, spec.columns, rows, using=using)
    _derive_months(by_kind, using=using)


def _derive_months(by_kind: dict[str, set[tuple[int, date]]], *, using: str) -> None:
    """The month rows (funnel.rollups_months) of the store-months whose day rows were just rewritten, in the same
    transaction; except those still holding a mark of the kind (the drain deletes a batch's marks before its
    recount): no reader sums a marked store-month's month rows, and the batch that removes its last mark derives
    them. A bulk write's marks spread over every month: a drain of 500 marks a batch derived each store-month once
    per batch that touched it (10,380 store-days after 5,000 reassigned leads: 77 s of 200 s)."""
    if not rollups_months.supported(using):
        return
    for kind, pairs in by_kind.items():
        table = KINDS[kind].model._meta.db_table
        if table in rollups_months.TABLES:
            months = _unmarked_months(kind, rollups_months.month_keys(pairs), using=using)
            rollups_months.derive(table, months=months, using=using)


def _unmarked_months(kind: str, months: list[tuple[int, date]], *, using: str) -> list[tuple[int, date]]:
    """The (store, month) pairs of ``months`` with no mark of ``kind`` on any of their days (one statement)."""
    if not months:
        return []
    unmarked, params = rollups_months.unmarked_month_sql(kind)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT r.store_id, r.month FROM unnest(%s::bigint[], %s::date[]) r(store_id, month) "
                       f"WHERE {unmarked}",
                       [[store_id for store_id, _m in months], [month for _s, month in months], *params])
        return sorted((store_id, month) for store_id, month in cursor.fetchall())


def _locked(using: str, *, wait: bool = False) -> bool:
    """Take the drain lock for the current transaction (PostgreSQL); False when another drain holds it (``wait``:
    wait for it instead)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DRAIN_LOCK])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [DRAIN_LOCK])
        return cursor.fetchone()[0]


def _read_marks(pending: QuerySet, batch: int, *, using: str) -> list[tuple]:
    """The first ``batch`` pending marks and every other mark of the same store-days, in one statement (one
    snapshot: each was committed before the recount that follows starts, so the recount counts what it marked). A
    bulk write marks the same store-days over and over (the reclaim's reassignment of 400,000 leads: 204,000 marks
    for 16,000 store-days); recounting a store-day once per batch that holds one of its marks did the work again
    and again."""
    first_sql, first_params = pending.order_by("id")[:batch].values("store_id", "day", "kind").query.sql_with_params()
    table = RollupMark._meta.db_table
    if connections[using].vendor == "postgresql":
        # The first marks' store-days read first, then each one's marks by the key index, fenced: planned as a
        # semi-join on the statistics of the marks table analysed empty (before a bulk write marked thousands of
        # store-days), the statement can loop over every mark for every first mark.
        with connections[using].cursor() as cursor:
            cursor.execute(f"SELECT m.id, m.store_id, m.day, m.kind FROM (SELECT DISTINCT * FROM ({first_sql}) f "
                           f"OFFSET 0) f CROSS JOIN LATERAL (SELECT id, store_id, day, kind FROM {table} "
                           f"WHERE store_id = f.store_id AND day = f.day AND kind = f.kind OFFSET 0) m", first_params)
            return [tuple(row) for row in cursor.fetchall()]
    same_days = RawSQL(f"({table}.store_id, {table}.day, {table}.kind) IN ({first_sql})", first_params,
                       output_field=models.BooleanField())
    return list(RollupMark.objects.using(using).filter(same_days).values_list("id", "store_id", "day", "kind"))


# Marks per drain transaction. Under live use a drain finds fewer; a bulk write's (the nightly reclaim) are drained in
# batches whose recounts each read the histories of every lead with a grade change on their days: 5,000 reassigned
# leads' 10,380 store-days took 149 s in batches of 500, 87 s in batches of 2,000 (1M bench).
DRAIN_BATCH = 2000


# A store with marks of a kind on this many days or more is recounted whole for that kind (every day, one statement)
# rather than day by day in batches. The nightly reclaim reassigns leads of every age, so its marks fall on nearly
# every day of every store: on the 2M bench (50 stores, three years) 1.18 million marks, about 220,000 store-days,
# took the drain some 800 s in batches, where recounting every store-day of every kind set-based takes under 100 s.
WHOLE_STORE_DAYS = 200


def _drain_whole_stores(pending: QuerySet, *, using: str) -> tuple[int, int]:
    """Recount whole, kind by kind, the stores whose pending marks of a kind fall on ``WHOLE_STORE_DAYS`` days or
    more: per kind one transaction that deletes those stores' marks of the kind, then their rows, and inserts the
    fresh count of all their days (and their month rows), one statement each for all of them (store by store, each
    store's leads read through the store's index, a store at a time cost about three times as much). A mark a writer
    commits after the delete stays, as in a batch. Returns (store-days recounted, marks removed); it stops when
    another drain holds the lock."""
    heavy = pending.order_by().values_list("kind", "store_id").annotate(days=models.Count("day", distinct=True)).filter(
        days__gte=WHOLE_STORE_DAYS)
    by_kind: dict[str, list[int]] = defaultdict(list)
    for kind, store_id, _days in heavy:
        by_kind[kind].append(store_id)
    recounted = removed = 0
    for kind, store_ids in sorted(by_kind.items()):
        spec = KINDS.get(kind)
        if spec is None or not _set_based(spec, using):
            continue
        store_ids = sorted(store_ids)
        with transaction.atomic(using), connections[using].cursor() as cursor:
            if not _locked(using):
                break
            cursor.execute(f"DELETE FROM {RollupMark._meta.db_table} WHERE kind = %s AND store_id = ANY(%s) "
                           f"RETURNING store_id, day", [kind, store_ids])
            marked = cursor.fetchall()
            _replace_set_based(spec, store_ids=store_ids, using=using)
            table = spec.model._meta.db_table
            if rollups_months.supported(using) and table in rollups_months.TABLES:
                rollups_months.derive(table, store_ids=store_ids, using=using)
        recounted += len(set(marked))
        removed += len(marked)
    return recounted, removed


def drain(*, batch: int = DRAIN_BATCH, using: str = "default", max_batches: int | None = None,
          kinds: list[str] | None = None, store_ids: list[int] | None = None) -> int:
    """Recount the marked store-days and remove their marks, ``batch`` marks per transaction, until none is left
    (of ``kinds`` and ``store_ids`` when given: a rebuild's scope). Returns how many store-days were recounted (0 when
    another drain is running). Each batch reads its marks and every other mark of their store-days, and deletes only
    the marks it read before recounting: a mark a writer adds meanwhile (committed after the recount's snapshot)
    stays. First, the stores with marks of a kind on many days are recounted whole (``_drain_whole_stores``)."""
    recounted = 0
    done = removed = 0
    pending = RollupMark.objects.using(using)
    if kinds is not None:
        pending = pending.filter(kind__in=kinds)
    if store_ids is not None:
        pending = pending.filter(store_id__in=store_ids)
    if connections[using].vendor == "postgresql" and max_batches is None:
        recounted, removed = _drain_whole_stores(pending, using=using)
    while max_batches is None or done < max_batches:
        with transaction.atomic(using):
            if not _locked(using):
                return recounted
            marks = _read_marks(pending, batch, using=using)
            if not marks:
                break
            keys = {(store_id, day, kind) for _id, store_id, day, kind in marks}
            # The marks read go first: the month rows are derived for the store-months left with none.
            RollupMark.objects.using(using).filter(pk__in=[mark[0] for mark in marks]).delete()
            _recount(keys, using=using)
        recounted += len(keys)
        done += 1
        removed += len(marks)
        bulk.tidy_marks_meanwhile(RollupMark._meta.db_table, removed=removed, just_removed=len(marks), using=using)
    if removed >= bulk.TIDY_AFTER:
        # A drain of a bulk write's marks (the nightly jobs, a rebuild) empties a table the planner believed large:
        # the readers' plans over it (the marked days counted live) went from milliseconds to seconds at ten million
        # leads until autovacuum caught up; and it rewrote the rows the readers sum.
        bulk.tidy([RollupMark._meta.db_table, *sorted({spec.model._meta.db_table for spec in KINDS.values()}),
                   *(month._meta.db_table for month, _sql in rollups_months.TABLES.values())], using=using)
    elif removed:
        # Under live use the marks come and go every few seconds. The table is vacuumed and analysed after every drain
        # that removed any (a few milliseconds: it holds a few pages): its statistics, fresh, keep the readers' plans
        # for the marked days on the marks' side, and its index keeps no removed marks for the readers' probes to
        # walk (20,000 of them, analysed but not vacuumed, doubled a store's dashboard and tripled the group's;
        # autovacuum comes round minutes later, later still while its workers are busy with the large tables).
        bulk.tidy([RollupMark._meta.db_table], using=using)
    return recounted


def _mark_scope(kind: str, spec: RollupKind, *, store_ids: list[int] | None, using: str) -> int:
    """Mark every store-day of the scope that has something to count or has rows, in one INSERT … SELECT. Returns
    how many."""
    connection = connections[using]
    rows = spec.model.objects.using(using).order_by()
    if store_ids is not None:
        rows = rows.filter(store_id__in=store_ids)
    days = spec.days(store_ids, using=using).union(rows.values_list("store_id", "day")).order_by()
    sql, params = days.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {connection.ops.quote_name(RollupMark._meta.db_table)} (store_id, day, kind) "
                       f"SELECT u.*, %s FROM ({sql}) u", [kind, *params])
        return cursor.rowcount


def rebuild(*, using: str = "default", store_ids: list[int] | None = None, kinds: list[str] | None = None,
            log: Callable[[str], None] | None = None) -> int:
    """Recount every rollup row of ``store_ids`` (None: of every store; ``kinds``: only those) from the base tables
    (``manage.py
    rebuild_rollups``, after a bulk load such as ``seed_bench``, after the triggers were missing). Returns the
    store-days recounted; ``log`` (a callable) is told each kind's seconds. Two transactions, each under the drain
    lock:

    1. Mark every store-day of the scope that has leads, re-visits or rows (one INSERT … SELECT per kind) and commit:
       from then on readers count those days live, so their answers are exact whatever the old rows held — empty
       (the first ``migrate`` on existing data), stale (triggers that were missing, a load with triggers off) or
       right.
    2. On PostgreSQL, set-based: delete the scope's marks (those committed by now: the rebuild's own, and any writer's
       that is in the count that follows), delete the scope's rows and insert the fresh count, one INSERT … SELECT
       per kind, and commit. The marks, old rows and new rows change in one commit, so a reader sees either the days
       marked (counted live) or the new rows (exact). A writer that commits after the marks were deleted keeps its
       mark for the next drain. Elsewhere (SQLite) the drain recounts the marked days.

    Why not one transaction (delete, insert, commit): readers would read the old rows until the commit, which is
    exact only if the old rows were, and a rebuild is run precisely when they may not be. The price of the marks is
    that dashboards count the scope live (slower) while step 2 runs. A drain between the two steps recounts some
    marked days first: harmless, step 2 replaces them again."""
    if store_ids is not None and not store_ids:
        return 0
    chosen = {kind: spec for kind, spec in KINDS.items() if kinds is None or kind in kinds}
    with transaction.atomic(using):
        _locked(using, wait=True)
        marked = sum(_mark_scope(kind, spec, store_ids=store_ids, using=using) for kind, spec in chosen.items()
                     if spec.supported(using))
    set_based = [kind for kind, spec in chosen.items() if _set_based(spec, using)]
    months = rollups_months.present(using)
    if set_based:
        connection = connections[using]
        with transaction.atomic(using), connection.cursor() as cursor:
            _locked(using, wait=True)
            scope, params = _scope_sql("store_id", "day", store_ids=store_ids)
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(RollupMark._meta.db_table)} "
                           f"WHERE kind = ANY(%(kinds)s) AND {scope}", {"kinds": set_based, **params})
            for kind in set_based:
                tick = perf_counter()
                _replace_set_based(KINDS[kind], store_ids=store_ids, using=using)
                if KINDS[kind].model._meta.db_table in months:
                    rollups_months.derive(KINDS[kind].model._meta.db_table, store_ids=store_ids, using=using)
                if log is not None:
                    log(f"  rollup {KINDS[kind].model._meta.db_table}: {perf_counter() - tick:.1f} s")
    in_python = [kind for kind, spec in chosen.items() if spec.supported(using) and kind not in set_based]
    if in_python:  # the scope's marks of the kinds recounted in Python (all of them on SQLite): drained
        drain(using=using, batch=2000, kinds=in_python, store_ids=store_ids)
    # Fresh statistics for the readers' plans on the rewritten tables (autovacuum comes later).
    tables = [spec.model._meta.db_table for spec in KINDS.values() if spec.supported(using)]
    bulk.tidy([*tables, *(rollups_months.TABLES[day][0]._meta.db_table for day in months)], vacuum=False,
              using=using)
    return marked


# --- reconciliation -----------------------------------------------------------------------------------------------


def _summed(rows: Iterable[tuple], width: int) -> dict:
    """Row tuples summed by their key (the first ``width`` columns after the store), zero rows left out."""
    sums: dict = {}
    for row in rows:
        key, counts = row[1:1 + width], row[1 + width:]
        if key in sums:
            counts = tuple(a + b for a, b in zip(sums[key], counts, strict=True))
        sums[key] = counts
    return {k: v for k, v in sums.items() if any(v)}


def drifted(store_id: int, day: date, kind: str, *, using: str = "default") -> bool:
    """Whether the stored rows of one unmarked store-day differ from a fresh count of the base tables, by the Python
    definition (``RollupKind.rows``) on every database: on PostgreSQL it checks the set-based recount too."""
    spec = KINDS[kind]
    width = len(spec.columns) - spec.counts - 1
    stored = spec.model.objects.using(using).filter(store_id=store_id, day=day).values_list(*spec.columns)
    return _summed(spec.rows(store_id, [day], using=using), width) != _summed(stored, width)


def sample_store_days(*, size: int, today: date, rng: random.Random, using: str = "default") -> list[tuple]:
    """A sample of (store, day, kind) to check: every store's last 7 days (where writes land) and ``size`` more
    store-days drawn at random from the days that have leads."""
    from dealercrm.models import Store

    keys = set()
    kinds = tuple(kind for kind, spec in KINDS.items() if spec.supported(using))
    store_ids = list(Store.objects.using(using).values_list("pk", flat=True))
    for store_id in store_ids:
        for back in range(7):
            day = today - timedelta(days=back)
            keys |= {(store_id, day, kind) for kind in kinds}
    span = Lead.objects.using(using).aggregate(first=Min("first_visit_day"), last=Max("first_visit_day"))
    if span["first"] and store_ids:
        width = (span["last"] - span["first"]).days + 1
        for _i in range(size):
            day = span["first"] + timedelta(days=rng.randrange(width))
            keys.add((rng.choice(store_ids), day, rng.choice(kinds)))
    return sorted(keys)


def reconcile(*, size: int = 200, today: date | None = None, seed: int | None = None, extra: Iterable[tuple] = (),
              using: str = "default") -> list[tuple]:
    """Recount a sample of store-days (``sample_store_days``, and ``extra`` keys) that carry no mark and compare
    with the stored rows, and the month rows of their store-months with the sums of their day rows; repair the
    drifted ones (marked, then drained like any write). Returns the drifted (store, day, kind) keys (a month's: its
    first day)."""
    today = today or timezone.localdate()
    rng = random.Random(seed)
    drift = []
    keys = sorted({*sample_store_days(size=size, today=today, rng=rng, using=using), *extra})
    for store_id, day, kind in keys:
        with transaction.atomic(using):
            _locked(using, wait=True)
            if RollupMark.objects.using(using).filter(store_id=store_id, day=day, kind=kind).exists():
                continue  # a write marked it: the drain recounts it anyway
            if drifted(store_id, day, kind, using=using):
                drift.append((store_id, day, kind))
                RollupMark.objects.using(using).create(store_id=store_id, day=day, kind=kind)
    drift += _month_drift(keys, using=using)
    if drift:
        drain(using=using)
    return drift


def _month_drift(keys: Iterable[tuple[int, date, str]], *, using: str) -> list[tuple]:
    """The store-months of ``keys`` (of the kinds with month rows) with no mark whose month rows differ from their
    day rows' sums; each is marked on its first day (the drain recounts that day and sums the month again). Returns
    them as (store, first day of the month, kind)."""
    if not rollups_months.supported(using):
        return []
    drift = []
    months = sorted({(store_id, day.replace(day=1), kind) for store_id, day, kind in keys
                     if KINDS[kind].model._meta.db_table in rollups_months.TABLES})
    for store_id, month, kind in months:
        with transaction.atomic(using):
            _locked(using, wait=True)
            if RollupMark.objects.using(using).filter(store_id=store_id, kind=kind, day__gte=month,
                                                      day__lte=calc.month_bounds(month)[1]).exists():
                continue
            if rollups_months.drifted(KINDS[kind].model._meta.db_table, store_id, month, using=using):
                drift.append((store_id, month, kind))
                RollupMark.objects.using(using).create(store_id=store_id, day=month, kind=kind)
    return drift


# --- reading -----------------------------------------------------------------------------------------------------


def read_database() -> str:
    """The database the rollups are read from for this request (the replica for the dashboards, when configured)."""
    return router.db_for_read(CohortDay)
