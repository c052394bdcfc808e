"""The promotion ladder's rollup: the promotion rates (funnel.selectors.promotion_rates) read as sums over a few rows
per store × day × consultant × grade (``LadderDay``), and per month (``LadderMonth``), instead of a window over every
grade change of the leads. Kept
by the same design as the funnel's rollups (funnel.rollups, docs/scaling.md): database triggers mark the store-days a
write may change (``RollupMark`` of kind ``l``), the one drain recounts them from the base tables, and a reader sums
the rows of the unmarked store-days and recounts the marked ones live, so the answer is exact at once.

**The definition** (funnel.selectors.promotion_rates, DOMAIN §3). A lead's grade changes, in (changed_at, id)
order, cut its history into *spells*: a grade from one change to the next. For a period of local days [S, E] and a
rung X (E, D, C, B): ``held`` counts the leads with a spell of X overlapping the period (it started by the end of E
and had not ended before S), ``promoted`` those with a spell of X that ended in the period by a change to the next
grade up; for E->A, ``held`` is the held of E and ``promoted`` counts the leads whose first E spell overlapping the
period was followed, after its start and by the end of E, by a change to A. Each lead counts once per rung: a
distinct count, so not a plain sum over days.

**Made additive** by counting, of a lead's spells, only the first one that counts in the period: a spell's
``prev_day`` is the end of the lead's previous spell of the same grade, and that one overlaps the period exactly when
``prev_day >= S`` (it started earlier, so by E). With every spell dated by its start ``a``, its end ``b`` (none: still
held) and for E the day ``f`` its lead next reached A after the spell's start (none: not yet):

- held = #{a <= E, prev_day < S} - #{b < S}   (a spell that ended before S started before it, and so did its
  predecessor);
- promoted = #{S <= b <= E, promoted, previous promotion from X before S} (``prev_day``: that previous promotion's
  day);
- reached (E->A) = #{f <= E, prev_day < S} - #{b < S, f <= E} (``f <= E`` implies ``a <= E``).

Each term is a sum over rows keyed by one day (``day``: a, b or f) and at most one more (``prev_day`` or
``reach_day``), all of them days of the lead's own grade changes. So the rows dated ``day`` at a store come from the
store's leads with a grade change that local day, and a write to a lead's grade history (or its store, consultant,
or merged status) marks the days of all its grade changes (UTC day -1, 0, +1, as funnel.rollups' triggers do).

**Recounted set-based**: ``ladder_select`` counts a batch of store-days (the drain's), every day of some stores (the
rebuild's) or the marked days a reader counts live in one statement, with windows over the touched leads' grade
changes; ``lead_rows`` (one lead's rows in Python) stays the definition it is tested against and the nightly
reconciliation's recount.

**Read by month** (``LadderMonth``, derived from the day rows in the drain's transaction by funnel.rollups_months).
Every row before the start's month counts whole but for its ``reach_closed`` when A came after E; a row of a month
inside the period counts (opened, promoted, reached) unless its ``prev_day`` falls on or after S. So the month rows
keep, per store-month × consultant × grade, the totals and two details: the rows with a ``prev_day`` by its month,
and the ``reach_closed`` by the month of ``reach_day``. A period reads the months before its start's month and its
whole months from them (totals less the details that fall in the period), and the rest from the day rows: a partial
month at either end, the few rows whose ``prev_day`` or ``reach_day`` falls in a partial month (their own indexes),
and every store-month that holds a mark (its marked days recounted live). ``_parts`` has the details.

PostgreSQL only (statement-level triggers with transition tables); elsewhere (the embedded SQLite) the promotion
rates are counted live, as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connections, transaction
from django.db.models import OuterRef
from django.utils import timezone

from leads.models import GradeChange, Status

from . import calc, rollups_months
from .models import LadderDay, LadderMonth, RollupMark

LADDER = RollupMark.Kind.LADDER.value
RUNGS = ("E", "D", "C", "B")
NEXT_GRADE = {"E": "D", "D": "C", "C": "B", "B": "A"}
COUNTS = ("opened", "closed", "promoted", "reached", "reach_closed")
ROW = ("store_id", "day", "prev_day", "reach_day", "consultant_id", "grade", *COUNTS)

# --- the triggers (PostgreSQL) -----------------------------------------------------------------------------------

# The lead columns the rows depend on: where they are counted (store), under whom (consultant), whether (merged).
_LEAD_CHANGED = ("(o.store_id, o.assigned_to_id, o.status = 'merged') IS DISTINCT FROM "
                 "(n.store_id, n.assigned_to_id, n.status = 'merged')")

_DAYS = "CROSS JOIN (VALUES (-1), (0), (1)) d(o)"
_PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION funnel_ladder_lead_marks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO funnel_rollupmark (store_id, day, kind)
  SELECT DISTINCT k.store_id, (gc.changed_at AT TIME ZONE 'UTC')::date + d.o, 'l'
  FROM old_rows o JOIN new_rows n ON n.id = o.id
  CROSS JOIN LATERAL (VALUES (o.store_id), (n.store_id)) k(store_id)
  JOIN leads_gradechange gc ON gc.lead_id = n.id {_DAYS}
  WHERE {_LEAD_CHANGED};
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION funnel_ladder_grade_marks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT l.store_id, (gc.changed_at AT TIME ZONE 'UTC')::date + d.o, 'l'
    FROM (SELECT DISTINCT lead_id FROM new_rows) c JOIN leads_lead l ON l.id = c.lead_id
    JOIN leads_gradechange gc ON gc.lead_id = c.lead_id {_DAYS};
  ELSIF TG_OP = 'DELETE' THEN
    -- The deleted rows' days, and the days of every change their leads still have.
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT l.store_id, (x.changed_at AT TIME ZONE 'UTC')::date + d.o, 'l'
    FROM (SELECT o.lead_id, o.changed_at FROM old_rows o
          UNION SELECT gc.lead_id, gc.changed_at FROM leads_gradechange gc
          WHERE gc.lead_id IN (SELECT lead_id FROM old_rows)) x
    JOIN leads_lead l ON l.id = x.lead_id {_DAYS};
  ELSE
    -- The rows' old days, and the days of every change of the leads named before or after (a merge moves them).
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT l.store_id, (x.changed_at AT TIME ZONE 'UTC')::date + d.o, 'l'
    FROM (SELECT o.lead_id, o.changed_at FROM old_rows o
          UNION SELECT gc.lead_id, gc.changed_at FROM leads_gradechange gc
          WHERE gc.lead_id IN (SELECT lead_id FROM old_rows UNION SELECT lead_id FROM new_rows)) x
    JOIN leads_lead l ON l.id = x.lead_id {_DAYS};
  END IF;
  RETURN NULL;
END $$;
"""

# (table, function, event, transition tables): one trigger per event (a trigger with transition tables names one).
_TRIGGERS = (
    ("leads_lead", "funnel_ladder_lead_marks", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("leads_gradechange", "funnel_ladder_grade_marks", "INSERT", "NEW TABLE AS new_rows"),
    ("leads_gradechange", "funnel_ladder_grade_marks", "DELETE", "OLD TABLE AS old_rows"),
    ("leads_gradechange", "funnel_ladder_grade_marks", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
)


def _pg_statements() -> list[str]:
    from . import rollups

    return rollups.transition_triggers(_PG_FUNCTIONS, _TRIGGERS)


def supported(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def triggers_installed(using: str = "default") -> bool:
    from . import rollups

    return rollups.pg_triggers_named(r"funnel\_ladder\_%", using=using) == len(_TRIGGERS)


def triggers_install(using: str = "default") -> None:
    from . import rollups

    rollups.run_statements(_pg_statements(), using=using)


def ensure_installed(using: str = "default", **_kwargs) -> None:
    """After ``migrate`` (funnel.apps): install the triggers; when they were missing, recount every ladder row."""
    connection = connections[using]
    if not supported(using):
        return
    tables = set(connection.introspection.table_names())
    if not {"leads_lead", "leads_gradechange", LadderDay._meta.db_table, RollupMark._meta.db_table} <= tables:
        return
    missing = not triggers_installed(using)
    triggers_install(using)
    if missing:
        from . import rollups

        with transaction.atomic(using):
            rollups._locked(using, wait=True)
            mark_all(using=using)
        rollups.drain(using=using)


def mark_all(*, using: str = "default", store_ids: list[int] | None = None) -> None:
    """Drop the ladder rows and month rows (of ``store_ids``) and mark every store-day that has grade changes (the
    rebuild; call inside the drain lock): the drain recounts them, readers count them live meanwhile."""
    if not supported(using):
        return
    rows, months = LadderDay.objects.using(using).all(), LadderMonth.objects.using(using).all()
    store_filter, params = "", []
    if store_ids is not None:
        rows, months = rows.filter(store_id__in=store_ids), months.filter(store_id__in=store_ids)
        store_filter, params = "WHERE l.store_id = ANY(%s)", [list(store_ids)]
    rows.delete()
    # The month rows too: a month left with no grade change gets no mark, so nothing would sum it again.
    months.delete()
    with connections[using].cursor() as cursor:
        cursor.execute(
            "INSERT INTO funnel_rollupmark (store_id, day, kind) "
            "SELECT DISTINCT l.store_id, (gc.changed_at AT TIME ZONE 'UTC')::date + d.o, 'l' "
            "FROM leads_gradechange gc JOIN leads_lead l ON l.id = gc.lead_id "
            f"CROSS JOIN (VALUES (-1), (0), (1)) d(o) {store_filter}", params)


# --- recounting --------------------------------------------------------------------------------------------------


def lead_rows(changes: list[tuple], *, local_day) -> list[tuple]:
    """One lead's contributions, from its grade changes ``(changed_at, to_grade)`` in (changed_at, id) order: ``(day,
    prev_day, reach_day, grade, count name)`` tuples, one per unit (see the module docstring)."""
    out = []
    last_end: dict[str, date] = {}  # grade -> the end day of the lead's latest spell of it
    last_promotion: dict[str, date] = {}  # grade -> the day of its latest promotion from it
    for i, (since, grade) in enumerate(changes):
        following = changes[i + 1] if i + 1 < len(changes) else None
        if grade not in RUNGS:
            continue
        start, previous = local_day(since), last_end.get(grade)
        out.append((start, previous, None, grade, "opened"))
        end = None
        if following is not None:
            end = local_day(following[0])
            out.append((end, None, None, grade, "closed"))
            if following[1] == NEXT_GRADE[grade]:
                out.append((end, last_promotion.get(grade), None, grade, "promoted"))
                last_promotion[grade] = end
            last_end[grade] = end
        if grade == "E":
            # The first change to A after the spell's start (strictly later: the live definition compares times).
            reach = next((local_day(at) for at, to_grade in changes[i + 1:] if to_grade == "A" and at > since), None)
            if reach is not None:
                out.append((reach, previous, None, "E", "reached"))
                if end is not None:
                    out.append((end, None, reach, "E", "reach_closed"))
    return out


def ladder_rows(store_id: int, days: Iterable[date], *, using: str = "default") -> list[tuple]:
    """The ladder rows (``ROW`` tuples) dated on these days at the store, counted from the base tables: the whole
    grade history of every lead of the store (merged ones left out) with a grade change on one of the days (one
    query)."""
    from . import rollups

    days = set(days)
    if not days:
        return []
    touched = (GradeChange.objects.using(using).filter(rollups.day_spans("changed_at", days), lead__store_id=store_id)
               .order_by().values("lead_id"))
    history = (GradeChange.objects.using(using)
               .filter(lead_id__in=touched, lead__store_id=store_id).exclude(lead__status=Status.MERGED)
               .order_by("lead_id", "changed_at", "id")
               .values_list("lead_id", "lead__assigned_to_id", "changed_at", "to_grade"))
    by_lead: dict[int, tuple] = {}
    for lead_id, consultant, at, to_grade in history:
        by_lead.setdefault(lead_id, (consultant, []))[1].append((at, to_grade))
    sums: dict[tuple, dict] = {}
    for consultant, changes in by_lead.values():
        for day, prev_day, reach_day, grade, name in lead_rows(changes, local_day=rollups._local_day):
            if day in days:
                row = sums.setdefault((day, prev_day, reach_day, consultant, grade), dict.fromkeys(COUNTS, 0))
                row[name] += 1
    return [(store_id, *key, *(counts[name] for name in COUNTS)) for key, counts in sums.items()]


# The same rows set-based (PostgreSQL): the drain's batches, the rebuild's scopes and the readers' marked days in one
# statement, no lead in Python. ``touched``: the leads (not merged) with a grade change on a key's day at the key's
# store; ``changes``: their whole histories, each change with the next one (its spell's end and the grade it went
# to) and, for E, the first change to A strictly later (a window over the lead's later changes, the changes at the
# same instant excluded); ``spells``: of the rungs, each with the end of the lead's previous spell of the grade and
# the day of its previous promotion from it (windows per lead and grade); ``units``: the rows ``lead_rows`` gives,
# one per spell and count (a NULL day: none), kept when dated on a key's day.
_SELECT = """
WITH touched AS MATERIALIZED (
    SELECT DISTINCT gc.lead_id
    FROM leads_gradechange gc JOIN leads_lead l ON l.id = gc.lead_id
    WHERE l.status <> '{merged}' AND {touched}
), changes AS (
    SELECT gc.lead_id, l.store_id, l.assigned_to_id, gc.to_grade AS grade, gc.changed_at, gc.id,
           (gc.changed_at AT TIME ZONE %(tz)s)::date AS start_day,
           (lead(gc.changed_at) OVER w AT TIME ZONE %(tz)s)::date AS end_day,
           lead(gc.to_grade) OVER w AS next_grade,
           (min(gc.changed_at) FILTER (WHERE gc.to_grade = 'A') OVER (
                PARTITION BY gc.lead_id ORDER BY gc.changed_at
                RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING EXCLUDE GROUP) AT TIME ZONE %(tz)s)::date AS reach_day
    FROM touched t JOIN leads_gradechange gc ON gc.lead_id = t.lead_id JOIN leads_lead l ON l.id = gc.lead_id
    WINDOW w AS (PARTITION BY gc.lead_id ORDER BY gc.changed_at, gc.id)
), spells AS (
    SELECT c.store_id, c.assigned_to_id, c.grade, c.start_day, c.end_day, c.reach_day,
           c.next_grade = {next_grade} AS promoted,
           lag(c.end_day) OVER g AS prev_day,
           max(CASE WHEN c.next_grade = {next_grade} THEN c.end_day END) OVER (
                g ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_promotion
    FROM changes c WHERE c.grade IN ({rungs})
    WINDOW g AS (PARTITION BY c.lead_id, c.grade ORDER BY c.changed_at, c.id)
), units AS MATERIALIZED (
    SELECT s.store_id, u.day, u.prev_day, u.reach_day, s.assigned_to_id, s.grade, u.unit
    FROM spells s CROSS JOIN LATERAL (VALUES
        (s.start_day, s.prev_day, NULL::date, 'opened'),
        (s.end_day, NULL, NULL, 'closed'),
        (CASE WHEN s.promoted THEN s.end_day END, s.prev_promotion, NULL, 'promoted'),
        (CASE WHEN s.grade = 'E' THEN s.reach_day END, s.prev_day, NULL, 'reached'),
        (CASE WHEN s.grade = 'E' AND s.reach_day IS NOT NULL THEN s.end_day END, NULL, s.reach_day, 'reach_closed')
    ) u(day, prev_day, reach_day, unit)
    WHERE u.day IS NOT NULL
)
SELECT store_id, day, prev_day, reach_day, assigned_to_id, grade, {sums}
FROM units WHERE {scope}
GROUP BY store_id, day, prev_day, reach_day, assigned_to_id, grade
"""


def _key_code(store: str, day: str) -> str:
    """SQL naming a (store, day) pair as the text ``<store>:<YYYY-MM-DD>``."""
    return f"({store}::text || ':' || to_char(({day})::timestamp, 'YYYY-MM-DD'))"


def ladder_select(*, keys: list[tuple[int, date]] | None = None,
                  store_ids: list[int] | None = None) -> tuple[str, dict]:
    """The ladder rows (``ROW`` columns) of ``keys``' (store, local day) pairs, or of every day of ``store_ids``
    (None: every store), as one PostgreSQL SELECT and its parameters: what ``ladder_rows`` counts (the drain, the
    rebuild and the readers' marked days recount with it; funnel.rollups.RollupKind)."""
    from . import rollups

    day = "(gc.changed_at AT TIME ZONE %(tz)s)::date"
    touched, params = rollups._scope_sql("l.store_id", day, store_ids=store_ids)
    scope, _params = rollups._scope_sql("store_id", "day", store_ids=store_ids)
    if keys is not None:
        # The grade changes of the batch's stores between its first and last day, kept when on a key: the keys as
        # one constant array, which PostgreSQL tests with a hash table (joined with the keys instead, the planner
        # joined every lead of their stores with every key first: 46 million rows for a batch of 2,000).
        days = [d for _s, d in keys]
        touched = (f"l.store_id = ANY(%(stores)s::bigint[]) AND gc.changed_at >= %(start)s "
                   f"AND gc.changed_at < %(end)s AND {_key_code('l.store_id', day)} = ANY(%(codes)s::text[])")
        scope = f"{_key_code('store_id', 'day')} = ANY(%(codes)s::text[])"
        params = {"stores": sorted({s for s, _d in keys}), "codes": sorted({f"{s}:{d.isoformat()}" for s, d in keys}),
                  "start": rollups._midnight(min(days)), "end": rollups._midnight(max(days) + timedelta(days=1))}
    next_grade = "CASE c.grade " + " ".join(f"WHEN '{x}' THEN '{y}'" for x, y in NEXT_GRADE.items()) + " END"
    sql = _SELECT.format(
        merged=Status.MERGED.value, touched=touched, scope=scope, next_grade=next_grade,
        rungs=", ".join(f"'{g}'" for g in RUNGS),
        sums=", ".join(f"count(*) FILTER (WHERE unit = '{name}')" for name in COUNTS))
    return sql, {"tz": timezone.get_current_timezone_name(), **params}


def recount(store_id: int, days: set[date], *, using: str = "default") -> None:
    """Replace the ladder rows of a store's days with a fresh count (the drain, inside its lock)."""
    from . import rollups

    rows = ladder_rows(store_id, days, using=using)
    LadderDay.objects.using(using).filter(store_id=store_id, day__in=days).delete()
    rollups._write(LadderDay, ROW, rows, using=using)


# --- reading -----------------------------------------------------------------------------------------------------


# The read's SQL (built as text: as querysets its parts cost more Python than their statement's run). A condition is
# (SQL over the rows ``r``, parameters); ``_all`` and ``_any`` join them.
_NONE = ("FALSE", [])


def _c(sql: str, *params) -> tuple[str, list]:
    return sql, list(params)


def _all(*conditions: tuple[str, list]) -> tuple[str, list]:
    return "(" + " AND ".join(sql for sql, _p in conditions) + ")", [p for _sql, ps in conditions for p in ps]


def _any(*conditions: tuple[str, list]) -> tuple[str, list]:
    return "(" + " OR ".join(sql for sql, _p in conditions) + ")", [p for _sql, ps in conditions for p in ps]


def _conditions(start: date, end: date) -> dict[str, tuple[str, list]]:
    """Per count, which day rows count for the period [start, end] (every row read has ``day <= end``)."""
    first = _c("(r.prev_day IS NULL OR r.prev_day < %s)", start)
    return {
        "opened": first,
        "closed": _c("r.day < %s", start),
        "promoted": _all(_c("r.day >= %s", start), first),
        "reached": first,
        "reach_closed": _c("r.day < %s AND r.reach_day <= %s", start, end),
    }


def _counts_in_python(row: dict, start: date, end: date) -> dict[str, int]:
    """``_conditions`` over one row tuple's values (the marked days counted live)."""
    first = row["prev_day"] is None or row["prev_day"] < start
    day = row["day"]
    return {
        "opened": row["opened"] if day <= end and first else 0,
        "closed": row["closed"] if day < start else 0,
        "promoted": row["promoted"] if start <= day <= end and first else 0,
        "reached": row["reached"] if day <= end and first else 0,
        "reach_closed": (row["reach_closed"] if day < start and row["reach_day"] is not None
                         and row["reach_day"] <= end else 0),
    }


def _summed(table: str, where: tuple[str, list], group: tuple[str, ...], counts: dict) -> tuple[str, list]:
    """The rows ``r`` of ``table`` where ``where`` holds, summed per ``group``: per count, its rows' values where its
    condition holds (True: all; "subtracted": all, negated; missing: none; a list of (condition, sign): those of the
    first that holds, times its sign); the columns every part of the read's UNION ALL has."""
    sums, params = [], []
    for name in COUNTS:
        condition = counts.get(name, False)
        if condition is False:
            sums.append("0")
        elif condition is True:
            sums.append(f"sum(r.{name})")
        elif condition == "subtracted":
            sums.append(f"-sum(r.{name})")
        elif isinstance(condition, tuple):
            sums.append(f"sum(r.{name}) FILTER (WHERE {condition[0]})")
            params += condition[1]
        else:
            whens = " ".join(f"WHEN {when} THEN {'' if sign > 0 else '-'}r.{name}" for (when, _p), sign in condition)
            sums.append(f"sum(CASE {whens} ELSE 0 END)")
            params += [p for (_when, when_params), _sign in condition for p in when_params]
    columns = ", ".join(f"r.{column}" for column in group)
    return (f"SELECT {columns}, {', '.join(sums)} FROM {table} r WHERE {where[0]} "
            f"GROUP BY {', '.join(str(i + 1) for i in range(len(group)))}", [*params, *where[1]])


def _parts(day_rows: tuple[str, list], month_rows: tuple[str, list], group: tuple[str, ...], *, start: date,
           end: date, using: str, marked: bool = True) -> list[tuple[str, list]]:
    """The read's parts for the period [start, end]: the day rows (``day_rows``: the narrowing, the marked days left
    out) and the month rows (``month_rows``: the narrowing) summed per ``group``, so that their total is
    ``_conditions`` over every day row up to ``end`` of the unmarked days.

    The month rows serve the months before the start's month (the *prefix*: every row of them is dated before the
    start) and the period's whole months: a prefix month's totals count but for the ``reach_closed`` of rows that
    reached A after ``end`` (its ``reach_month`` details after ``end``'s month, and when ``end`` is not a month's
    last day the day rows that reached A later that month); a whole month's totals count (opened, promoted, reached)
    but for the rows whose ``prev_day`` is on or after ``start`` (its ``prev_month`` details from the first whole
    month on, and when ``start`` is not a month's first day the day rows with ``prev_day`` from ``start`` to that
    month's end). The other days (a partial month at either end) and the store-months holding a mark come from the
    day rows: an index range each. ``marked`` False: no store read holds a mark (the caller knows), so nothing is
    tested for one."""
    days, months = LadderDay._meta.db_table, LadderMonth._meta.db_table
    conditions = _conditions(start, end)
    if not rollups_months.ENABLED or not rollups_months.supported(using):
        return [_summed(days, _all(day_rows, _c("r.day <= %s", end)), group, conditions)]
    one_day = timedelta(days=1)
    m0 = start.replace(day=1)
    end_month, end_last = calc.month_bounds(end)
    first = m0 if start == m0 else calc.month_bounds(start)[1] + one_day
    last = end_month if end == end_last else (end_month - one_day).replace(day=1)
    whole = first <= last
    last_day = calc.month_bounds(last)[1] if whole else m0 - one_day
    # The month rows in one scan: totals (T) and details of the prefix (P) and of the whole months (W).
    totals, prefix = _c("r.prev_month IS NULL AND r.reach_month IS NULL"), _c("r.month < %s", m0)
    reached_later = _all(prefix, _c("r.reach_month > %s", end_month))
    in_period = whole_months = later = _NONE
    if whole:
        whole_months = _c("r.month >= %s AND r.month <= %s", first, last)
        in_period = _all(totals, whole_months)
        later = _all(whole_months, _c("r.prev_month >= %s", first))
    month_counts = {
        "opened": [(_all(totals, _any(prefix, whole_months)), 1), (later, -1)],
        "closed": _all(totals, prefix),
        "promoted": [(in_period, 1), (later, -1)],
        "reached": [(_all(totals, _any(prefix, whole_months)), 1), (later, -1)],
        "reach_closed": [(_all(totals, prefix), 1), (reached_later, -1)],
    }
    months_read = _all(month_rows, _any(prefix, whole_months), _any(totals, reached_later, later))
    unmarked_day_rows = day_rows
    if marked:
        months_read = _all(months_read, rollups_months.unmarked_month_sql(LADDER))
    parts = [_summed(months, months_read, group, month_counts)]
    if marked:
        # The store-months holding a mark among those: their day rows.
        parts.append(_summed(days, _all(day_rows, rollups_months.marked_months_sql(LADDER, first=None,
                                                                                      last_day=last_day),
                                        _c("NOT (r.day >= %s AND r.day < %s)", m0, first)), group, conditions))
        month_marked, month_params = rollups_months.month_marked_sql(LADDER, rollups_months.day_month_sql())
        unmarked_day_rows = _all(day_rows, (f"NOT {month_marked}", month_params))
    if end != end_last:
        parts.append(_summed(days, _all(unmarked_day_rows, _c("r.reach_day > %s AND r.reach_day <= %s AND r.day < %s",
                                                              end, end_last, m0)),
                             group, {"reach_closed": "subtracted"}))
    if whole and start != m0:
        parts.append(_summed(days, _all(unmarked_day_rows, _c("r.prev_day >= %s AND r.prev_day < %s AND r.day >= %s "
                                                              "AND r.day <= %s", start, first, first, last_day)),
                             group, dict.fromkeys(("opened", "promoted", "reached"), "subtracted")))
    day_ranges = [(m0, first - one_day), (last_day + one_day, end)] if whole else [(m0, end)]
    parts += [_summed(days, _all(day_rows, _c("r.day >= %s AND r.day <= %s", low, high)), group, conditions)
              for low, high in day_ranges if low <= high]
    return parts


def promotion_counts(*, user, start: date, end: date, store_ids: list[int] | None, consultant_id: int | None,
                     by_consultant: bool, using: str) -> dict:
    """``{who: {grade: {"held", "promoted", "reached"}}}`` for the period from the rows of the unmarked store-days
    (the day rows, and the month rows where they serve: ``_parts``) and the marked ones recounted now (who: the
    consultant, or None for everyone). ``store_ids`` None: every store ``user`` sees."""
    from dealercrm.models import Role, Store

    marks = RollupMark.objects.using(using).filter(kind=LADDER, day__lte=end)
    stores = Store.objects.using(using).visible_to(user)
    if store_ids is not None:
        stores = stores.filter(pk__in=store_ids)
    # The stores read and their marked days, in one query: the reads below name the stores as constants, so each
    # range of days is a range of the (store, day) index per store (joined with the stores' scope instead, the
    # planner scanned every day row for a partial month: 2.3M rows on the scaled bench, docs/scaling.md).
    marked = list(stores.order_by("pk").values_list(
        "pk", ArraySubquery(marks.filter(store_id=OuterRef("pk")).order_by("day").values("day").distinct())))
    ids = [store_id for store_id, _days in marked]
    # The rows' scope (``visible_to``) is those stores and, for a consultant, their own rows: named directly, no
    # join with the stores' table per row.
    scope = [_c("r.store_id = ANY(%s)", ids)]
    own = user.role == Role.CONSULTANT and not user.is_superuser
    if own:
        scope.append(_c("r.consultant_id = %s", user.pk))
    if consultant_id is not None:
        scope.append(_c("r.consultant_id = %s", consultant_id))
    rows = month_rows = _all(*scope)
    keys = [(store_id, day) for store_id, days in marked for day in days]
    if keys:
        rows = _all(rows, rollups_months.unmarked_day_sql(LADDER))
    group = ("consultant_id", "grade") if by_consultant else ("grade",)
    sql, params = rollups_months.union_sql(_parts(rows, month_rows, group, start=start, end=end, using=using,
                                                  marked=bool(keys)))
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        summed = cursor.fetchall()
    totals: dict = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(COUNTS, 0)))
    for row in summed:
        who, grade, values = (row[0], row[1], row[2:]) if by_consultant else (None, row[0], row[1:])
        into = totals[who][grade]
        for name, value in zip(COUNTS, values, strict=True):
            into[name] += value or 0
    if keys:
        sql, params = ladder_select(keys=keys)
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            recounted = cursor.fetchall()
        for values in recounted:
            row = dict(zip(ROW, values, strict=True))
            if consultant_id is not None and row["consultant_id"] != consultant_id:
                continue
            if own and (row["consultant_id"] != user.pk or row["store_id"] != user.store_id):
                continue
            into = totals[row["consultant_id"] if by_consultant else None][row["grade"]]
            for name, value in _counts_in_python(row, start, end).items():
                into[name] += value
    return {
        who: {grade: {"held": c["opened"] - c["closed"], "promoted": c["promoted"],
                      "reached": c["reached"] - c["reach_closed"]} for grade, c in grades.items()}
        for who, grades in totals.items()
    }


def read(*, user, start: date, end: date, store_ids: list[int] | None, consultant_id: int | None,
         by_consultant: bool) -> dict:
    """``promotion_counts`` in one snapshot: a REPEATABLE READ transaction when none is open (a drain committing
    meanwhile can then neither count a day twice nor drop it); inside an open transaction, as it reads."""
    from . import rollups

    using = rollups.read_database()
    connection = connections[using]
    if connection.in_atomic_block:
        return promotion_counts(user=user, start=start, end=end, store_ids=store_ids, consultant_id=consultant_id,
                                by_consultant=by_consultant, using=using)
    with transaction.atomic(using):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return promotion_counts(user=user, start=start, end=end, store_ids=store_ids, consultant_id=consultant_id,
                                by_consultant=by_consultant, using=using)


__all__ = ["LADDER", "ladder_rows", "ladder_select", "lead_rows", "read", "recount"]

