"""The control points' state-now columns (the ladder: active leads per grade; overdue; stale) kept as counts per
store × consultant, so the dashboard reads a few rows per consultant instead of every active lead of the period's
stores (docs/scaling.md, "The state now").

- **Written by the database.** Statement-level triggers on ``leads_lead`` (PostgreSQL, installed after every
  ``migrate``) append, in the writing transaction, a delta row to ``LeadNow`` for each change of an active lead's
  store, consultant, status, grade, due time or dwell clock: -1 for the old state, +1 for the new one, netted per
  key. Every write path (services, imports, the jobs' bulk updates, raw SQL) is counted and none can forget to. No
  unique key: two writers never wait for each other.
- **Three parts per lead.** ``g``: (store, consultant, grade), the ladder and ``active``. ``o``: (store, consultant,
  due time): overdue is the sum of the rows due before today's local midnight. ``s``: (store, consultant, grade, dwell
  clock = the later of ``grade_since`` and ``dwell_kept_at``): stale is, per grade, the sum of the rows whose clock
  is older than now minus the group's max dwell. Both thresholds are "now"-dependent, so the rows keep the exact
  time, and the answer is exact at any moment.
- **Folded by one job** (``compact``, every minute; nightly ``full``): the ladder's deltas are summed into one row
  per key, and the rows past their threshold (overdue, stale by the rules in force) into one ``folded`` row per
  store × consultant (× grade), dated by their latest time; the nightly run also sums the other keys' deltas. A
  reader then reads the folded rows and the few rows that crossed the threshold since, an index range per store
  (and grade), whatever the number of leads. Time only moves the thresholds forward, so a folded row stays past
  them -- unless a group raises a grade's max dwell: the reader sees a folded row newer than the threshold, counts
  that slice's stale leads live, and the next ``compact`` rebuilds the store's rows.
- **Exact under concurrency.** A compaction deletes the rows its snapshot sees and inserts their sums in one
  statement: a reader sees either the old rows or the new ones, and a writer's rows not yet committed stay.

PostgreSQL only (transition tables); elsewhere the control points count the active leads live.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import connections, transaction
from django.utils import timezone

from dealercrm import bulk

from .models import LeadNow

GRADES = ("A", "B", "C", "D", "E")
LADDER, OVERDUE, STALE = "g", "o", "s"
# One compaction at a time (a PostgreSQL advisory lock, transaction-scoped).
COMPACT_LOCK = 727_101

# The lead columns the counts depend on: an update changing none of them writes nothing.
COLUMNS = ("store_id", "assigned_to_id", "status", "grade", "next_follow_up_at", "grade_since", "dwell_kept_at")

# The parts of one lead row ``r`` (its contribution with sign ``r.sign``): active leads only; the due part and the
# stale part only when they have a time (a lead without a due time is never overdue, one without a grade or
# grade_since never stale).
_PARTS = f"""
SELECT r.store_id, r.assigned_to_id, k.grade, k.part, k.at, sum(r.sign)::int
FROM ({{rows}}) r
CROSS JOIN LATERAL (VALUES
  ('{LADDER}', r.grade, NULL::timestamptz),
  ('{OVERDUE}', NULL::varchar, r.next_follow_up_at),
  ('{STALE}', r.grade, CASE WHEN r.grade IS NOT NULL AND r.grade_since IS NOT NULL
                          THEN GREATEST(r.grade_since, r.dwell_kept_at) END)
) k(part, grade, at)
WHERE r.status = 'active' AND (k.part = '{LADDER}' OR k.at IS NOT NULL)
GROUP BY 1, 2, 3, 4, 5 HAVING sum(r.sign) <> 0
"""
_INSERT = "INSERT INTO funnel_leadnow (store_id, consultant_id, grade, part, at, n, folded) SELECT p.*, false FROM ({parts}) p"


def _cols(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in COLUMNS)


def _rows(alias: str, table: str, sign: int, where: str = "") -> str:
    return f"SELECT {_cols(alias)}, {sign} AS sign FROM {table} {alias} {where}"


_CHANGED = f"JOIN new_rows n ON n.id = o.id WHERE ({_cols('o')}) IS DISTINCT FROM ({_cols('n')})"
_CHANGED_NEW = f"JOIN old_rows o ON o.id = n.id WHERE ({_cols('o')}) IS DISTINCT FROM ({_cols('n')})"

_PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION funnel_leadnow_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_INSERT.format(parts=_PARTS.format(rows=_rows("n", "new_rows", 1)))};
  ELSIF TG_OP = 'DELETE' THEN
    {_INSERT.format(parts=_PARTS.format(rows=_rows("o", "old_rows", -1)))};
  ELSE
    {_INSERT.format(parts=_PARTS.format(
        rows=_rows("o", "old_rows", -1, _CHANGED) + " UNION ALL " + _rows("n", "new_rows", 1, _CHANGED_NEW)))};
  END IF;
  RETURN NULL;
END $$;
"""

_TRIGGERS = (
    ("leads_lead", "funnel_leadnow_counts", "INSERT", "NEW TABLE AS new_rows"),
    ("leads_lead", "funnel_leadnow_counts", "DELETE", "OLD TABLE AS old_rows"),
    ("leads_lead", "funnel_leadnow_counts", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
)


def supported(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def triggers_installed(using: str = "default") -> bool:
    from . import rollups

    return rollups.pg_triggers_named(r"funnel\_leadnow\_%", using=using) == len(_TRIGGERS)


def triggers_install(using: str = "default") -> None:
    from . import rollups

    rollups.run_statements(rollups.transition_triggers(_PG_FUNCTIONS, _TRIGGERS), using=using)


def ensure_installed(using: str = "default", **_kwargs) -> None:
    """After ``migrate`` (funnel.apps): install the triggers; when they were missing (a new database, this code's
    first migrate on existing leads), count every store's rows from the leads in the same transaction (creating a
    trigger locks the leads' table against writes until the commit, so no write falls between the two)."""
    if not supported(using):
        return
    tables = set(connections[using].introspection.table_names())
    if not {"leads_lead", LeadNow._meta.db_table} <= tables:
        return
    if triggers_installed(using):
        triggers_install(using)  # the function's new text, if any
        return
    with transaction.atomic(using):
        triggers_install(using)
        rebuild(using=using)


def rebuild(*, using: str = "default", store_ids: list[int] | None = None, fold: bool = True) -> None:
    """Replace the rows (of ``store_ids``; None: every store) with the counts of the leads now, in one transaction
    (after a bulk load with the triggers off, such as ``seed_bench``), then fold them (``compact``, unless ``fold``
    is False: the compaction's own rebuild): a row per active lead's due time and dwell clock until then."""
    scope, params = ("WHERE store_id = ANY(%s)", [list(store_ids)]) if store_ids is not None else ("", [])
    rows = _rows("l", "leads_lead", 1, scope.replace("store_id", "l.store_id"))
    with transaction.atomic(using), connections[using].cursor() as cursor:
        cursor.execute(f"DELETE FROM funnel_leadnow {scope}", params)
        cursor.execute(_INSERT.format(parts=_PARTS.format(rows=rows)), params)
    if fold:
        compact(using=using, store_ids=store_ids, full=True)
    with connections[using].cursor() as cursor:
        cursor.execute("ANALYZE funnel_leadnow")


# --- folding ----------------------------------------------------------------------------------------------------


def _thresholds(store_ids: list[int] | None, now: datetime, *, using: str) -> list[tuple[int, str, datetime]]:
    """(store, grade, the stale threshold now) for the stores (None: every store): now minus the store's group's max
    dwell of the grade."""
    from dealercrm.models import Store
    from leads.selectors import grade_rule_limits

    stores = Store.objects.using(using).order_by()
    if store_ids is not None:
        stores = stores.filter(pk__in=store_ids)
    by_group: dict = defaultdict(list)
    for pk, group_id in stores.values_list("pk", "group_id"):
        by_group[group_id].append(pk)
    out = []
    for group_id, pks in by_group.items():
        limits = grade_rule_limits(group_id=group_id)
        for grade in GRADES:
            threshold = now - timedelta(days=limits[grade][1])
            out.extend((pk, grade, threshold) for pk in pks)
    return out


def _values(thresholds: list[tuple[int, str, datetime]]) -> tuple[str, list]:
    if not thresholds:
        return "SELECT NULL::bigint, NULL::varchar, NULL::timestamptz WHERE false", []
    return ("VALUES " + ", ".join(["(%s::bigint, %s::varchar, %s::timestamptz)"] * len(thresholds)),
            [v for row in thresholds for v in row])


def _overdue_before(now: datetime) -> datetime:
    from leads.models import local_day_start

    return local_day_start(now)


def _ambiguous_stores(thresholds: list[tuple], *, using: str) -> list[int]:
    """The stores with a folded stale row newer than its threshold now (a group raised a max dwell since)."""
    values, params = _values(thresholds)
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT t.s FROM ({values}) t(s, g, at) WHERE EXISTS (SELECT 1 FROM funnel_leadnow l "
            f"WHERE l.folded AND l.store_id = t.s AND l.part = '{STALE}' AND l.grade = t.g AND l.at >= t.at)",
            params)
        return [row[0] for row in cursor.fetchall()]


def compact(*, using: str = "default", now: datetime | None = None, store_ids: list[int] | None = None,
            full: bool = False) -> int:
    """Fold the rows the readers read (of ``store_ids``; None: every store): the ladder's deltas summed per key, the
    rows past their threshold now summed into one folded row per store × consultant (× grade). The rows not yet past
    a threshold are left as they are (no reader sums them), unless ``full`` (the nightly run: every key's deltas
    summed, so the table holds about one row per key). Stores whose folded rows a rule change made ambiguous are
    rebuilt from the leads. Returns the rows written (0 when another compaction is running)."""
    if not supported(using):
        return 0
    now = now or timezone.now()
    with transaction.atomic(using), connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [COMPACT_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        thresholds = _thresholds(store_ids, now, using=using)
        ambiguous = _ambiguous_stores(thresholds, using=using)
        if ambiguous:
            rebuild(using=using, store_ids=ambiguous, fold=False)
        values, params = _values(thresholds)
        scope, scope_params = ("l.store_id = ANY(%s)", [list(store_ids)]) if store_ids is not None else ("true", [])
        read = "true" if full else (
            f"(l.part = '{LADDER}' OR l.folded OR (l.part = '{OVERDUE}' AND l.at < %s) OR (l.part = '{STALE}' AND "
            f"l.at < (SELECT t.at FROM t WHERE t.store_id = l.store_id AND t.grade = l.grade)))")
        read_params = [] if full else [_overdue_before(now)]
        cursor.execute(f"""
            WITH t(store_id, grade, at) AS ({values}),
            gone AS (DELETE FROM funnel_leadnow l WHERE {scope} AND {read}
                     RETURNING store_id, consultant_id, grade, part, at, folded, n),
            x AS (
                SELECT g.*, COALESCE(g.folded OR (g.part = '{OVERDUE}' AND g.at < %s)
                                      OR (g.part = '{STALE}' AND g.at < t.at), false) AS fold
                FROM gone g LEFT JOIN t ON g.part = '{STALE}' AND t.store_id = g.store_id AND t.grade = g.grade
            )
            , written AS (
                INSERT INTO funnel_leadnow (store_id, consultant_id, grade, part, at, folded, n)
                SELECT store_id, consultant_id, grade, part, max(at), fold, sum(n) FROM x
                GROUP BY store_id, consultant_id, grade, part, fold, CASE WHEN fold THEN NULL ELSE at END
                HAVING sum(n) <> 0 RETURNING 1)
            SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM written)
        """, [*params, *scope_params, *read_params, _overdue_before(now)])
        removed, written = cursor.fetchone()
    if removed >= bulk.TIDY_AFTER:
        bulk.tidy([LeadNow._meta.db_table], using=using)  # the readers' index ranges skip no dead rows
    return written


# --- reading ----------------------------------------------------------------------------------------------------


def read(*, store_ids: list[int], consultant_id: int | None = None, now: datetime,
         using: str = "default") -> dict | None:
    """``{consultant: {"A".."E", "ungraded", "active", "overdue", "stale"}}`` over the active leads of ``store_ids``
    now (of one consultant's when given), consultants with none left out; None when a folded stale row is newer than
    its threshold (a raised max dwell not compacted yet): the caller counts live. One statement: the ladder's rows,
    the overdue range per store and the stale range per store and grade (LATERAL, fenced with OFFSET 0: an index
    range each, whatever the planner guesses of the rows past a threshold; joined, it scanned every row of the
    table: 70 ms for the million-lead group, 2 ms so)."""
    if not store_ids:
        return {}
    thresholds = _thresholds(store_ids, now, using=using)
    values, params = _values(thresholds)
    mine = "AND l.consultant_id = %s" if consultant_id is not None else ""
    who = [consultant_id] if consultant_id is not None else []
    sql = f"""
        WITH t(store_id, grade, at) AS ({values})
        SELECT l.part, l.consultant_id, l.grade, sum(l.n), false FROM funnel_leadnow l
        WHERE l.store_id = ANY(%s) AND l.part = '{LADDER}' {mine} GROUP BY 1, 2, 3
        UNION ALL
        SELECT '{OVERDUE}', l.consultant_id, NULL, sum(l.n), false FROM unnest(%s::bigint[]) s(id)
        CROSS JOIN LATERAL (SELECT l.consultant_id, l.n FROM funnel_leadnow l WHERE l.store_id = s.id
          AND l.part = '{OVERDUE}' AND l.grade IS NULL AND l.at < %s {mine} OFFSET 0) l GROUP BY 2
        UNION ALL
        SELECT '{STALE}', l.consultant_id, NULL, sum(l.n), false FROM t
        CROSS JOIN LATERAL (SELECT l.consultant_id, l.n FROM funnel_leadnow l WHERE l.store_id = t.store_id
          AND l.part = '{STALE}' AND l.grade = t.grade AND l.at < t.at {mine} OFFSET 0) l GROUP BY 2
        UNION ALL
        SELECT NULL, NULL, NULL, NULL, true FROM t WHERE EXISTS (
          SELECT 1 FROM funnel_leadnow l WHERE l.folded AND l.store_id = t.store_id AND l.part = '{STALE}'
            AND l.grade = t.grade AND l.at >= t.at)
    """
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [*params, list(store_ids), *who, list(store_ids), _overdue_before(now), *who, *who])
        fetched = cursor.fetchall()
    out: dict = defaultdict(lambda: dict.fromkeys((*GRADES, "ungraded", "active", "overdue", "stale"), 0))
    for part, consultant, grade, n, ambiguous in fetched:
        if ambiguous:
            return None
        row = out[consultant]
        if part == LADDER:
            row[grade or "ungraded"] += n
            row["active"] += n
        elif part == OVERDUE:
            row["overdue"] += n
        else:
            row["stale"] += n
    return {k: v for k, v in out.items() if any(v.values())}


def open_counts(*, store_ids: list[int], consultant_id: int | None, today: datetime, tomorrow: datetime,
                by_consultant: bool = False, using: str = "default") -> dict | None:
    """The counts of the active leads of ``store_ids`` now (of one consultant's when given) that the workspace and
    the allocation page show: per grade ``"A"``..``"E"`` and ``"ungraded"``, ``"overdue"`` (due before ``today``,
    the local midnight) and ``"due_today"`` (due from ``today`` to ``tomorrow``), as ``leads.selectors.open_counts``
    counts them live; ``by_consultant``: ``{consultant id (None: nobody holds them): counts}``, consultants with no
    active lead left out. One statement: the ladder's rows and, per store, the due rows before ``tomorrow`` (the
    folded rows and those due since the last fold: an index range, fenced as in ``read``). None where the state now
    is not kept (not PostgreSQL): the caller counts live. Registered with
    ``leads.extensions.register_open_counts``."""
    if not supported(using):
        return None
    keys = (*GRADES, "ungraded", "overdue", "due_today")
    out: dict = defaultdict(lambda: dict.fromkeys(keys, 0))
    if store_ids:
        mine = "AND l.consultant_id = %s" if consultant_id is not None else ""
        who = [consultant_id] if consultant_id is not None else []
        holder = "l.consultant_id" if by_consultant else "NULL::bigint"
        sql = f"""
            SELECT {holder}, '{LADDER}', l.grade, sum(l.n) FROM funnel_leadnow l
            WHERE l.store_id = ANY(%s) AND l.part = '{LADDER}' {mine} GROUP BY 1, 3
            UNION ALL
            SELECT {holder}, CASE WHEN l.at < %s THEN 'overdue' ELSE 'due_today' END, NULL, sum(l.n)
            FROM unnest(%s::bigint[]) s(id)
            CROSS JOIN LATERAL (SELECT l.consultant_id, l.n, l.at FROM funnel_leadnow l WHERE l.store_id = s.id
              AND l.part = '{OVERDUE}' AND l.grade IS NULL AND l.at < %s {mine} OFFSET 0) l GROUP BY 1, 2
        """
        with connections[using].cursor() as cursor:
            cursor.execute(sql, [list(store_ids), *who, today, list(store_ids), tomorrow, *who])
            for holder_id, part, grade, n in cursor.fetchall():
                out[holder_id][(grade or "ungraded") if part == LADDER else part] += n
    if not by_consultant:
        return out[None]
    return {holder_id: counts for holder_id, counts in out.items() if any(counts.values())}


__all__ = ["compact", "open_counts", "read", "rebuild", "supported"]
