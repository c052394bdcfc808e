"""The time-in-stage rows (``funnel.models.Stay``): every lead's stays, deal and open grade, kept exact per lead so that
funnel.stage_times reads a store's year or a group's twelve months as index-only ranges instead of recomputing every
lead's history with a window over its events. PostgreSQL only: the embedded SQLite default computes the figures live
(``stage_times.stage_times_live``). The design (docs/scaling.md, "Time in stage"):

- **Rows per lead, from the live definition.** ``rows_sql`` is the live statement's own window over a lead's events
  (grade changes and confirmed defeat filings, then the deal) turned into rows: one per stay (grade, start and end
  day, how it ended, its length, first reach of the grade or not), one for the deal (days from the first visit to
  the order), one for the open grade (the local day it was set). With them the lead's slicing columns as they are
  now (store, consultant, source, channel, series), its first visit, and its ``grade_since`` while active: the
  reader applies the same conditions to these columns as the live query applies to the lead. A stay is a function
  of its lead's rows alone (the windows partition by lead), so a lead's rows can be rebuilt on their own.
- **Marked by the database.** Statement-level triggers (``TRIGGERS``) on ``leads_lead`` (a change of any column the
  rows carry or depend on), ``leads_gradechange``, ``defeats_application`` (a confirmed filing appearing,
  disappearing, moving or changing its lead or time) and ``leads_deal`` append a ``StayMark`` (the lead) in the
  writing transaction: every write path marks what it touches. No unique key: writers never wait for each other.
- **Rebuilt by one drain** (``drain``, the beat task every few seconds, after ``rollups_drain``): it reads a batch of
  marks, deletes the marked leads' rows, inserts them afresh with ``rows_sql`` (set-based, one statement per batch),
  and deletes only the marks it read. One drain at a time (an advisory lock).
- **Read exactly.** The reader (``stage_times.stage_times``) takes the rows of the unmarked leads from the table and
  computes the marked leads' rows live with the same ``rows_sql``, in one statement (one snapshot): a drain that
  commits meanwhile is seen entirely or not at all, so no lead is counted twice or missed, and what a writer
  committed is in the next answer, drained or not. The reader never writes (it may run on the replica); draining on
  read would make a dashboard wait for writes and could not run on a replica.
- **Local days.** The rows hold local days (``TIME_ZONE``, Asia/Shanghai) as the live statement computes them with
  the current time zone; the app never activates another. After a change of ``TIME_ZONE``, ``rebuild()``.
"""

from __future__ import annotations

from django.db import connections, transaction
from django.utils import timezone

from .models import Stay, StayMark

DRAIN_LOCK = 727_002  # funnel.rollups holds 727_001

# The columns of a Stay row, in the order rows_sql returns them.
STAY_COLUMNS = ("lead_id", "store_id", "consultant_id", "source", "channel_id", "series_id", "first_visit_at",
                "hold_since", "kind", "grade", "start_day", "end_day", "how", "days", "first", "reach_days")
# The lead columns rows_sql needs from its lead query, in this order.
LEAD_FIELDS = ("id", "store_id", "assigned_to_id", "source", "channel_id", "series_id", "status", "first_visit_at",
               "first_visit_day", "grade", "grade_since")
_LEAD_ALIASES = ("id", "store_id", "consultant_id", "source", "channel_id", "series_id", "status", "first_visit_at",
                 "first_visit_day", "grade", "grade_since")

# Lead columns the rows depend on: a change of any of them marks the lead.
LEAD_COLUMNS = ("store_id", "assigned_to_id", "source", "channel_id", "series_id", "status", "grade", "grade_since",
                "first_visit_at", "first_visit_day")


def _day(connection, sql: str) -> tuple[str, list]:
    out, params = connection.ops.datetime_cast_date_sql(sql, [], timezone.get_current_timezone_name())
    return out, list(params)


def rows_sql(lead_sql: str, lead_params: list, *, using: str = "default") -> tuple[str, list]:
    """SQL returning the Stay rows (``STAY_COLUMNS``) of the leads ``lead_sql`` selects (its columns:
    ``LEAD_FIELDS``; merged leads must be left out by it). The live statement's window (funnel.stage_times) per lead:
    a stay starts with a grade change and ends with the lead's next event (the next grade change, a confirmed defeat
    filing: ``lost``) or, for a won lead's last stay, the deal's order day."""
    from defeats.models import Application, ApplicationStatus
    from leads.models import Deal, GradeChange, Status

    connection = connections[using]
    since_day, since_params = _day(connection, "sp.since")
    until_day, until_params = _day(connection, "sp.until")
    open_day, open_params = _day(connection, "l.grade_since")
    gc, app, deal = GradeChange._meta.db_table, Application._meta.db_table, Deal._meta.db_table
    won, active = Status.WON.value, Status.ACTIVE.value
    dims = ("l.id, l.store_id, l.consultant_id, l.source, l.channel_id, l.series_id, l.first_visit_at, "
            f"CASE WHEN l.status = '{active}' THEN l.grade_since END")
    sql = f"""
        SELECT * FROM (WITH l AS MATERIALIZED (SELECT * FROM ({lead_sql}) l0 ({", ".join(_LEAD_ALIASES)})),
        ev AS (
            SELECT gc.lead_id, gc.changed_at AS at, gc.id AS seq, gc.to_grade AS grade FROM {gc} gc
            WHERE gc.lead_id IN (SELECT id FROM l)
            UNION ALL
            SELECT a.lead_id, a.applied_at, a.id, NULL FROM {app} a
            WHERE a.status = '{ApplicationStatus.CONFIRMED.value}' AND a.lead_id IN (SELECT id FROM l)
        ),
        sp AS (
            SELECT ev.lead_id, ev.grade, ev.at AS since,
                   LEAD(ev.at) OVER w AS until, LEAD(ev.grade) OVER w AS next_grade,
                   ROW_NUMBER() OVER (PARTITION BY ev.lead_id, ev.grade ORDER BY ev.at, ev.seq) AS nth
            FROM ev
            WINDOW w AS (PARTITION BY ev.lead_id ORDER BY ev.at, CASE WHEN ev.grade IS NULL THEN 1 ELSE 0 END,
                         ev.seq)
        ),
        st AS (
            SELECT sp.lead_id, sp.grade, sp.nth, {since_day} AS start_day,
                   CASE WHEN sp.until IS NOT NULL THEN {until_day} ELSE d.ordered_at END AS end_day,
                   CASE WHEN sp.until IS NULL THEN (CASE WHEN d.ordered_at IS NOT NULL THEN 'deal' END)
                        WHEN sp.next_grade IS NULL THEN 'lost'
                        WHEN sp.next_grade < sp.grade THEN 'promoted' ELSE 'demoted' END AS how
            FROM sp JOIN l ON l.id = sp.lead_id
            LEFT JOIN {deal} d ON d.lead_id = sp.lead_id AND sp.until IS NULL AND l.status = '{won}'
            WHERE sp.grade IS NOT NULL
        )
        SELECT {dims}, '{Stay.Kind.STAY.value}', st.grade, st.start_day, st.end_day, st.how,
               st.end_day - st.start_day, st.nth = 1, st.start_day - l.first_visit_day
        FROM st JOIN l ON l.id = st.lead_id
        UNION ALL
        SELECT {dims}, '{Stay.Kind.DEAL.value}', NULL, NULL, d.ordered_at, NULL, NULL, false,
               d.ordered_at - l.first_visit_day
        FROM l JOIN {deal} d ON d.lead_id = l.id WHERE l.status = '{won}'
        UNION ALL
        SELECT {dims}, '{Stay.Kind.OPEN.value}', l.grade, {open_day}, NULL, NULL, NULL, false, NULL
        FROM l WHERE l.status = '{active}' AND l.grade IS NOT NULL AND l.grade_since IS NOT NULL
        ) r ({", ".join(STAY_COLUMNS)})
    """
    return sql, [*lead_params, *since_params, *until_params, *open_params]


def _leads_sql(condition: str) -> str:
    from leads.models import Status

    return (f"SELECT {', '.join(LEAD_FIELDS)} FROM leads_lead WHERE {condition} "
            f"AND status <> '{Status.MERGED.value}'")


def _insert(cursor, condition: str, params: list, *, using: str) -> int:
    select, select_params = rows_sql(_leads_sql(condition), params, using=using)
    cursor.execute(f"INSERT INTO {Stay._meta.db_table} ({', '.join(STAY_COLUMNS)}) {select}", select_params)
    return cursor.rowcount


# --- the triggers --------------------------------------------------------------------------------------------------

_MARK = f"INSERT INTO {StayMark._meta.db_table} (lead_id)"


def _changed(columns) -> str:
    return (f"({', '.join(f'o.{c}' for c in columns)}) IS DISTINCT FROM "
            f"({', '.join(f'n.{c}' for c in columns)})")


def _function(name: str, *, insert: str, delete: str, update: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_MARK} {insert};
  ELSIF TG_OP = 'DELETE' THEN
    {_MARK} {delete};
  ELSE
    {_MARK} {update};
  END IF;
  RETURN NULL;
END $$"""


def _functions() -> dict[str, str]:
    """table -> the marking function's name and its CREATE statement."""
    confirmed = "'confirmed'"
    pair = "CROSS JOIN LATERAL (VALUES (o.lead_id), (n.lead_id)) k(lead_id)"
    return {
        "leads_lead": ("funnel_stay_lead_marks", _function(
            "funnel_stay_lead_marks",
            insert="SELECT id FROM new_rows", delete="SELECT id FROM old_rows",
            update=f"SELECT n.id FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {_changed(LEAD_COLUMNS)}")),
        "leads_gradechange": ("funnel_stay_grade_marks", _function(
            "funnel_stay_grade_marks",
            insert="SELECT DISTINCT lead_id FROM new_rows", delete="SELECT DISTINCT lead_id FROM old_rows",
            update=f"SELECT DISTINCT k.lead_id FROM old_rows o JOIN new_rows n ON n.id = o.id {pair} "
                   f"WHERE {_changed(('lead_id', 'to_grade', 'changed_at'))}")),
        "defeats_application": ("funnel_stay_defeat_marks", _function(
            "funnel_stay_defeat_marks",
            insert=f"SELECT DISTINCT lead_id FROM new_rows WHERE status = {confirmed}",
            delete=f"SELECT DISTINCT lead_id FROM old_rows WHERE status = {confirmed}",
            update=f"SELECT DISTINCT k.lead_id FROM old_rows o JOIN new_rows n ON n.id = o.id {pair} "
                   f"WHERE {_changed(('lead_id', 'status', 'applied_at'))} "
                   f"AND (o.status = {confirmed} OR n.status = {confirmed})")),
        "leads_deal": ("funnel_stay_deal_marks", _function(
            "funnel_stay_deal_marks",
            insert="SELECT DISTINCT lead_id FROM new_rows", delete="SELECT DISTINCT lead_id FROM old_rows",
            update=f"SELECT DISTINCT k.lead_id FROM old_rows o JOIN new_rows n ON n.id = o.id {pair} "
                   f"WHERE {_changed(('lead_id', 'ordered_at'))}")),
    }


def _statements() -> list[str]:
    statements = []
    for table, (function, create) in _functions().items():
        statements.append(create)
        for event, referencing in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
                                   ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows")):
            name = f"{function}_{event.lower()}"
            statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            statements.append(f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {referencing} "
                              f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    return statements


TRIGGER_COUNT = 3 * 4


def triggers_installed(using: str = "default") -> bool:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'funnel_stay_%%' AND NOT tgisinternal")
        return cursor.fetchone()[0] == TRIGGER_COUNT


def triggers_install(using: str = "default") -> None:
    with transaction.atomic(using), connections[using].cursor() as cursor:
        for statement in _statements():
            cursor.execute(statement)


def enabled(using: str = "default") -> bool:
    """Whether the stays are kept here (PostgreSQL); elsewhere the figures are computed live."""
    return connections[using].vendor == "postgresql"


def ensure_installed(using: str = "default", **_kwargs) -> None:
    """After ``migrate`` (funnel.apps): install the triggers, and when any was missing (a new database, or this
    code's first migrate on existing data) rebuild every lead's rows."""
    connection = connections[using]
    if not enabled(using):
        return
    tables = set(connection.introspection.table_names())
    if not {"leads_lead", "leads_gradechange", "leads_deal", "defeats_application",
            Stay._meta.db_table, StayMark._meta.db_table} <= tables:
        return
    missing = not triggers_installed(using)
    triggers_install(using)
    if missing:
        rebuild(using=using)


# --- the drain and the rebuild ---------------------------------------------------------------------------------------


def _locked(cursor, *, wait: bool) -> bool:
    if wait:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DRAIN_LOCK])
        return True
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [DRAIN_LOCK])
    return cursor.fetchone()[0]


def drain(*, batch: int = 2000, using: str = "default", max_batches: int | None = None) -> int:
    """Rebuild the marked leads' rows and remove their marks, ``batch`` marks per transaction, until none is left.
    Returns how many leads were rebuilt (0 when another drain is running or off PostgreSQL). Each batch deletes
    only the marks it read before rebuilding: a mark a writer adds meanwhile stays for the next drain."""
    if not enabled(using):
        return 0
    rebuilt = done = 0
    table, marks = Stay._meta.db_table, StayMark._meta.db_table
    while max_batches is None or done < max_batches:
        with transaction.atomic(using), connections[using].cursor() as cursor:
            if not _locked(cursor, wait=False):
                return rebuilt
            cursor.execute(f"SELECT id, lead_id FROM {marks} ORDER BY id LIMIT %s", [batch])
            read = cursor.fetchall()
            if not read:
                return rebuilt
            lead_ids = sorted({lead_id for _id, lead_id in read})
            cursor.execute(f"DELETE FROM {table} WHERE lead_id = ANY(%s)", [lead_ids])
            _insert(cursor, "id = ANY(%s)", [lead_ids], using=using)
            cursor.execute(f"DELETE FROM {marks} WHERE id = ANY(%s)", [[mark_id for mark_id, _lead in read]])
        rebuilt += len(lead_ids)
        done += 1
    return rebuilt


def rebuild(*, using: str = "default", store_ids: list[int] | None = None) -> int:
    """Rebuild every lead's rows from the base tables (after a bulk load that ran with the triggers off, such as
    ``seed_bench``; after the triggers were missing), store by store, each in one transaction, then drain what
    writers marked meanwhile. Readers see a store's old rows or its new ones, never a mix. Returns the rows
    written."""
    from dealercrm.models import Store

    if not enabled(using):
        return 0
    if store_ids is None:
        store_ids = list(Store.objects.using(using).order_by("pk").values_list("pk", flat=True))
    written = 0
    for store_id in store_ids:
        with transaction.atomic(using), connections[using].cursor() as cursor:
            _locked(cursor, wait=True)
            cursor.execute(f"DELETE FROM {Stay._meta.db_table} WHERE store_id = %s", [store_id])
            written += _insert(cursor, "store_id = %s", [store_id], using=using)
    drain(using=using)
    # Fresh statistics for the readers' plans: the table was rewritten (the first migrate over a million leads left
    # 1.9M rows that autovacuum had not analysed yet).
    with connections[using].cursor() as cursor:
        cursor.execute(f"ANALYZE {Stay._meta.db_table}")
    return written
