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
  A change of the lead's consultant alone (a reassignment; the nightly reclaim moves hundreds of thousands) is not
  marked: the trigger sets the new consultant on the lead's rows, in the writing transaction, since the stays and
  the histograms do not depend on who holds the lead.
- **Rebuilt by one drain** (``drain``, the beat task every few seconds, after ``rollups_drain``): it reads a batch of
  marks, deletes the marked leads' rows, inserts them afresh with ``rows_sql`` (set-based, one statement per batch),
  and deletes only the marks it read. One drain at a time (an advisory lock). It holds the leads it rebuilds
  (``FOR SHARE``) and skips, marks kept, a lead a writer holds: a reassignment that waited for it then sets its
  consultant on the rows it wrote, never on rows it is about to replace.
- **Read exactly.** The reader (``stage_times.stage_times``) takes the rows of the unmarked leads from the table and
  computes the marked leads' rows live with the same ``rows_sql``, in one statement (one snapshot): a drain that
  commits meanwhile is seen entirely or not at all, so no lead is counted twice or missed, and what a writer
  committed is in the next answer, drained or not. The reader never writes (it may run on the replica); draining on
  read would make a dashboard wait for writes and could not run on a replica.
- **Local days.** The rows hold local days (``TIME_ZONE``, Asia/Shanghai) as the live statement computes them with
  the current time zone; the app never activates another. After a change of ``TIME_ZONE``, ``rebuild()``.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

from django.db import connections, transaction
from django.utils import timezone

from dealercrm import bulk

from .models import Stay, StayHist, StayMark

DRAIN_LOCK = 727_002  # funnel.rollups holds 727_001

# The columns of a Stay row, in the order rows_sql returns them.
STAY_COLUMNS = ("lead_id", "store_id", "consultant_id", "source", "channel_id", "series_id", "first_visit_at",
                "hold_since", "kind", "grade", "start_day", "end_day", "how", "days", "first", "reach_days")
# The lead columns rows_sql needs from its lead query, in this order.
LEAD_FIELDS = ("id", "store_id", "assigned_to_id", "source", "channel_id", "series_id", "status", "first_visit_at",
               "first_visit_day", "grade", "grade_since")
_LEAD_ALIASES = ("id", "store_id", "consultant_id", "source", "channel_id", "series_id", "status", "first_visit_at",
                 "first_visit_day", "grade", "grade_since")

# Lead columns the rows depend on: a change of any of them marks the lead, but for the consultant alone.
LEAD_COLUMNS = ("store_id", "assigned_to_id", "source", "channel_id", "series_id", "status", "grade", "grade_since",
                "first_visit_at", "first_visit_day")
# A change of the consultant alone (a reassignment, the nightly reclaim) changes no stay, only the consultant its rows
# carry: the trigger sets it on the lead's rows in the writing transaction instead of marking the lead for a rebuild.
_REBUILT_BY = tuple(c for c in LEAD_COLUMNS if c != "assigned_to_id")


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


# --- the parts: Stay rows as the reader counts them, and their histograms (StayHist) ----------------------------------

ENDED, REACH, DEAL, OPEN = "e", "r", "d", "o"
# Per part: which Stay rows, the day it is dated by, its length in days (from the stay or from the first visit).
PARTS = {
    ENDED: ("t.kind = 'S' AND t.how IS NOT NULL", "t.end_day", "t.days", "t.grade", "t.how"),
    REACH: ("t.kind = 'S' AND t.first", "t.start_day", "t.reach_days", "t.grade", "NULL"),
    DEAL: ("t.kind = 'D'", "t.end_day", "t.reach_days", "NULL", "NULL"),
    OPEN: ("t.kind = 'O'", "t.start_day", "NULL", "t.grade", "NULL"),
}
PART_COLUMNS = ("k", "store_id", "part", "grade", "how", "day", "days", "fv_day", "hold_day", "c")


def parts_sql(source: str, params: list, conditions: dict[str, tuple[str, list]], *, sign: int = 1,
              key: str = "NULL", using: str = "default") -> tuple[str, list]:
    """The rows (``PART_COLUMNS``) that ``source`` (SQL of a relation with the Stay columns, aliased ``t``; its
    ``params``) gives each part in ``conditions`` (part -> a condition on ``{day}``, the part's day, and its params),
    each counting ``sign`` (``days`` as stored: the reader clamps it at 0). The reader keeps a stay, a first reach or
    a deal when its lead had its first visit by the period's end and is not active at a grade set before the figures'
    earliest day: ``fv_day`` and ``hold_day`` are null when the row's own day already implies both for any period
    that reads it (first visit by that day, no hold or a hold from that day on), and the local days to test
    otherwise."""
    connection = connections[using]
    fv, fv_params = _day(connection, "t.first_visit_at")
    hold, hold_params = _day(connection, "t.hold_since")
    selects, out = [], []
    for part, (condition, day_params) in conditions.items():
        rows, day, days, grade, how = PARTS[part]
        if part == OPEN:
            test_params, fv_col, hold_col = [], "NULL::date", "NULL::date"
        else:
            plain = f"({fv} <= {day} AND (t.hold_since IS NULL OR {hold} >= {day}))"
            fv_col = f"CASE WHEN {plain} THEN NULL ELSE {fv} END"
            hold_col = f"CASE WHEN {plain} THEN NULL ELSE {hold} END"
            test_params = [*fv_params, *hold_params, *fv_params, *fv_params, *hold_params, *hold_params]
        length = f"{days}::integer"
        selects.append(f"SELECT {key}, t.store_id, '{part}'::varchar, {grade}::varchar, {how}::varchar, {day}, "
                       f"{length}, {fv_col}, {hold_col}, {int(sign)}::bigint FROM {source} t "
                       f"WHERE {rows} AND {condition.format(day=day)}")
        out += [*test_params, *params, *day_params]
    return " UNION ALL ".join(selects), out


HIST_TABLE = StayHist._meta.db_table
_HIST_KEY = ("group_id", "store_id", "span", "part", "day", "grade", "how", "days", "fv_day", "hold_day")


def _hist_select(condition: str, params: list, *, sign: int, using: str) -> tuple[str, list]:
    """The histogram rows (``_HIST_KEY`` and ``c``) of the Stay rows ``condition`` selects, counting ``sign`` each:
    per store and month, per group and month, per group and day; the open grades per store and day and per group
    and day."""
    everything = {part: ("TRUE", []) for part in PARTS}
    parts, parts_params = parts_sql(f"(SELECT * FROM {Stay._meta.db_table} WHERE {condition})", params, everything,
                                    sign=sign, using=using)
    return f"""
        SELECT s.group_id, x.store_id, x.span, p.part, x.day, p.grade, p.how, p.days, p.fv_day, p.hold_day, sum(p.c)
        FROM ({parts}) p ({", ".join(PART_COLUMNS)})
        JOIN dealercrm_store s ON s.id = p.store_id
        CROSS JOIN LATERAL (VALUES
            (p.store_id, 'm', date_trunc('month', p.day)::date), (NULL::bigint, 'm', date_trunc('month', p.day)::date),
            (NULL::bigint, 'd', p.day), (p.store_id, 'd', p.day)) x(store_id, span, day)
        WHERE CASE WHEN p.part = '{OPEN}' THEN x.span = 'd' ELSE NOT (x.span = 'd' AND x.store_id IS NOT NULL) END
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10""", parts_params


def _hist_delta(cursor, condition: str, params: list, *, sign: int, using: str) -> None:
    """Add (``sign`` 1) or take away (-1) the Stay rows ``condition`` selects to or from the histograms."""
    columns = ", ".join(_HIST_KEY)
    select, select_params = _hist_select(condition, params, sign=sign, using=using)
    cursor.execute(f"INSERT INTO {HIST_TABLE} ({columns}, c) {select} "
                   f"ON CONFLICT ({columns}) DO UPDATE SET c = {HIST_TABLE}.c + EXCLUDED.c", select_params)


def hist_fill(*, using: str = "default") -> None:
    """Sum every Stay row into the histograms afresh (the first migrate of this code over kept stays; the nightly
    check's repair)."""
    with transaction.atomic(using), connections[using].cursor() as cursor:
        _locked(cursor, wait=True)
        cursor.execute(f"DELETE FROM {HIST_TABLE}")
        _hist_delta(cursor, "TRUE", [], sign=1, using=using)
    bulk.tidy([HIST_TABLE], using=using)


def hist_drift(*, repair: bool = True, using: str = "default") -> int:
    """The nightly check: how many histogram keys differ from the sums of the Stay rows (0 unless something wrote
    one without the other); with ``repair``, refill them when any does. Drops the rows whose count came to 0."""
    if not enabled(using):
        return 0
    columns = ", ".join(_HIST_KEY)
    with transaction.atomic(using), connections[using].cursor() as cursor:
        _locked(cursor, wait=True)
        cursor.execute(f"DELETE FROM {HIST_TABLE} WHERE c = 0")
        emptied = cursor.rowcount
        select, params = _hist_select("TRUE", [], sign=1, using=using)
        cursor.execute(f"""
            SELECT count(*) FROM (
                SELECT 1 FROM (SELECT *, 0::bigint AS kept FROM ({select}) w ({columns}, want)
                               UNION ALL SELECT {columns}, 0, c FROM {HIST_TABLE}) x
                GROUP BY {columns} HAVING sum(want) <> sum(kept)) d""", params)
        drifted = cursor.fetchone()[0]
    if drifted and repair:
        hist_fill(using=using)
    elif emptied >= bulk.TIDY_AFTER:
        # A night's bulk drain leaves many keys at 0 (200,000 leads moved: 225,000 of a million-lead bench's 458,000
        # month rows): read by every time-in-stage panel until they go, and dead once deleted.
        bulk.tidy([HIST_TABLE], using=using)
    return drifted


# --- the triggers --------------------------------------------------------------------------------------------------

_MARK = f"INSERT INTO {StayMark._meta.db_table} (lead_id)"


def _changed(columns) -> str:
    return (f"({', '.join(f'o.{c}' for c in columns)}) IS DISTINCT FROM "
            f"({', '.join(f'n.{c}' for c in columns)})")


def _function(name: str, *, insert: str, delete: str, update: str, also_on_update: str = "") -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_MARK} {insert};
  ELSIF TG_OP = 'DELETE' THEN
    {_MARK} {delete};
  ELSE
    {_MARK} {update};{also_on_update}
  END IF;
  RETURN NULL;
END $$"""


# The rows of the leads whose consultant alone changed get the new one (the lead is not marked: its stays are the
# same). Exact under concurrency because a drain or a rebuild holds its leads (``_hold``) while it rewrites their
# rows: this writer waits for it to commit and then updates the rows it wrote, or the drain skips the lead.
_RECONSULT = f"""
    UPDATE {Stay._meta.db_table} t SET consultant_id = n.assigned_to_id
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE t.lead_id = n.id AND o.assigned_to_id IS DISTINCT FROM n.assigned_to_id
      AND ({', '.join(f'o.{c}' for c in _REBUILT_BY)}) IS NOT DISTINCT FROM ({', '.join(f'n.{c}' for c in _REBUILT_BY)});"""


def _functions() -> dict[str, str]:
    """table -> the marking function's name and its CREATE statement."""
    confirmed = "'confirmed'"
    pair = "CROSS JOIN LATERAL (VALUES (o.lead_id), (n.lead_id)) k(lead_id)"
    return {
        "leads_lead": ("funnel_stay_lead_marks", _function(
            "funnel_stay_lead_marks",
            insert="SELECT id FROM new_rows", delete="SELECT id FROM old_rows",
            update=f"SELECT n.id FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {_changed(_REBUILT_BY)}",
            also_on_update=_RECONSULT)),
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
            Stay._meta.db_table, StayMark._meta.db_table, HIST_TABLE} <= tables:
        return
    if not StayHist.objects.using(using).exists() and Stay.objects.using(using).exists():
        hist_fill(using=using)  # this code's first migrate over kept stays: the histograms start as their sum
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


def _hold(cursor, lead_ids: list[int]) -> list[int]:
    """Of ``lead_ids`` (sorted), the leads this transaction may rebuild: the ones it now holds (``FOR SHARE``, so no
    writer changes them until it commits) and the ones no longer there (deleted: their rows go). A lead a writer
    holds right now is skipped, not waited for: its marks stay for the next drain. Holding them is what keeps a
    reassignment exact: its trigger sets the consultant on the lead's rows, and rows rewritten by a transaction the
    trigger cannot see yet (a drain's, committed after the reassignment began) would keep the old one."""
    cursor.execute("SELECT id FROM leads_lead WHERE id = ANY(%s)", [lead_ids])
    there = {row[0] for row in cursor.fetchall()}
    cursor.execute("SELECT id FROM leads_lead WHERE id = ANY(%s) ORDER BY id FOR SHARE SKIP LOCKED", [lead_ids])
    held = {row[0] for row in cursor.fetchall()}
    return [lead_id for lead_id in lead_ids if lead_id in held or lead_id not in there]


def drain(*, batch: int = 2000, using: str = "default", max_batches: int | None = None) -> int:
    """Rebuild the marked leads' rows and remove their marks, ``batch`` marks per transaction, until none is left.
    Returns how many leads were rebuilt (0 when another drain is running or off PostgreSQL). Each batch deletes
    only the marks it read before rebuilding: a mark a writer adds meanwhile stays for the next drain. A lead a
    writer holds (``_hold``) is left, with its marks, for the next drain."""
    if not enabled(using):
        return 0
    rebuilt = done = removed = 0
    skipped: set[int] = set()
    table, marks = Stay._meta.db_table, StayMark._meta.db_table
    while max_batches is None or done < max_batches:
        with transaction.atomic(using), connections[using].cursor() as cursor:
            if not _locked(cursor, wait=False):
                return rebuilt
            # The first marks and every other mark of the same leads (a lead written twice is rebuilt once): the
            # first marks' leads read first, then each lead's marks by its index (fenced: a semi-join planned on
            # the statistics of an empty marks table, analysed before the nightly reclaim marked 200,000 leads,
            # looped over every mark for every first mark: 205 s a batch). The leads skipped in this drain are
            # not read again.
            cursor.execute(f"SELECT m.id, m.lead_id FROM (SELECT DISTINCT f.lead_id FROM (SELECT lead_id FROM {marks} "
                           f"WHERE lead_id <> ALL(%s) ORDER BY id LIMIT %s) f OFFSET 0) f CROSS JOIN LATERAL "
                           f"(SELECT id, lead_id FROM {marks} WHERE lead_id = f.lead_id OFFSET 0) m",
                           [sorted(skipped), batch])
            read = cursor.fetchall()
            if not read:
                break
            lead_ids = _hold(cursor, sorted({lead_id for _id, lead_id in read}))
            skipped |= {lead_id for _id, lead_id in read} - set(lead_ids)
            read = [(mark_id, lead_id) for mark_id, lead_id in read if lead_id not in skipped]
            if lead_ids:
                _hist_delta(cursor, "lead_id = ANY(%s)", [lead_ids], sign=-1, using=using)
                cursor.execute(f"DELETE FROM {table} WHERE lead_id = ANY(%s)", [lead_ids])
                _insert(cursor, "id = ANY(%s)", [lead_ids], using=using)
                _hist_delta(cursor, "lead_id = ANY(%s)", [lead_ids], sign=1, using=using)
            if read:
                cursor.execute(f"DELETE FROM {marks} WHERE id = ANY(%s)", [[mark_id for mark_id, _lead in read]])
        rebuilt += len(lead_ids)
        removed += len(read)
        done += 1
        bulk.tidy_marks_meanwhile(marks, removed=removed, just_removed=len(read), using=using)
    if rebuilt >= bulk.TIDY_AFTER:  # a bulk write's marks (the nightly jobs): the rewritten tables tidied
        bulk.tidy([table, HIST_TABLE, marks], using=using)
    elif removed:
        # Live use, or fewer leads marked many times: the marks vacuumed and analysed after every drain that removed
        # any, as funnel.rollups.drain does (fresh statistics for the readers' plans, no removed marks left in the
        # index: 15,000 of them, analysed but not vacuumed, made a store's time in stage 9 s).
        bulk.tidy([marks], using=using)
    return rebuilt


# The leads a rebuild's transaction takes: a range of ids. A store's leads are spread over the whole lead table (and
# their grade changes over the whole grade-change table), so rebuilding store by store read every page of both once
# per store; a range of ids reads its part of each once (a store of 58,000 leads 3.6 s, a range of 60,000 leads
# 0.6 s on the 2M bench).
REBUILD_CHUNK = 100_000


def rebuild(*, using: str = "default", store_ids: list[int] | None = None,
            log: Callable[[str], None] | None = None, chunk: int = REBUILD_CHUNK) -> int:
    """Rebuild the rows of every lead of ``store_ids`` (None: every store) from the base tables (after a bulk load that
    ran with the triggers off, such as ``seed_bench``; after the triggers were missing), ``chunk`` lead ids per
    transaction, then drain what writers marked meanwhile. A transaction also takes the marks of its leads it read
    before rebuilding (their rows are rebuilt in it, wherever they were). Readers see a lead's old rows or its new
    ones, never a mix; writers of leads wait for each transaction (about a second at two million leads). Returns the
    rows written; ``log`` (a callable) is told the progress every tenth of the ids."""
    from dealercrm.models import Store

    if not enabled(using):
        return 0
    if store_ids is None:
        store_ids = list(Store.objects.using(using).order_by("pk").values_list("pk", flat=True))
    written = 0
    table, marks = Stay._meta.db_table, StayMark._meta.db_table
    started = perf_counter()
    with connections[using].cursor() as cursor:
        # Every id a lead of those stores or a row of theirs can have (a deleted lead's rows go too).
        cursor.execute(f"SELECT least((SELECT min(id) FROM leads_lead), (SELECT min(lead_id) FROM {table})), "
                       f"greatest((SELECT max(id) FROM leads_lead), (SELECT max(lead_id) FROM {table}))")
        low, high = cursor.fetchone()
    if low is None:
        drain(using=using)
        return 0
    starts = range(low, high + 1, chunk)
    every = max(1, len(starts) // 10)
    for done, first in enumerate(starts, 1):
        ids = "lead_id >= %s AND lead_id < %s AND store_id = ANY(%s)", [first, first + chunk, store_ids]
        with transaction.atomic(using), connections[using].cursor() as cursor:
            _locked(cursor, wait=True)
            # No lead changes while the rows are rewritten (writers wait, readers do not): a reassignment's trigger
            # sets the consultant on the rows it sees, and would miss the ones written here (see _hold).
            cursor.execute("LOCK TABLE leads_lead IN SHARE MODE")
            # The marks of these leads, read before the rows are rebuilt (so each one's write is in them, as in the
            # drain): those leads are rebuilt here whole, their rows at other stores too (a lead that moved), and
            # the marks read go. The drain after the rebuild would only rebuild them again (the defeats' seed marked
            # 2 million leads at ten million, then rebuilt every store).
            cursor.execute(f"SELECT m.id, m.lead_id FROM {marks} m JOIN leads_lead l ON l.id = m.lead_id "
                           "WHERE m.lead_id >= %s AND m.lead_id < %s AND l.store_id = ANY(%s)", ids[1])
            read = cursor.fetchall()
            elsewhere = ("NOT (store_id = ANY(%s)) AND lead_id = ANY(%s)",
                         [store_ids, sorted({lead for _id, lead in read})])
            _hist_delta(cursor, *ids, sign=-1, using=using)
            if read:
                _hist_delta(cursor, *elsewhere, sign=-1, using=using)
            cursor.execute(f"DELETE FROM {table} WHERE {ids[0]}", ids[1])
            if read:
                cursor.execute(f"DELETE FROM {table} WHERE {elsewhere[0]}", elsewhere[1])
            written += _insert(cursor, "id >= %s AND id < %s AND store_id = ANY(%s)", ids[1], using=using)
            _hist_delta(cursor, *ids, sign=1, using=using)
            if read:
                cursor.execute(f"DELETE FROM {marks} WHERE id = ANY(%s)", [[mark_id for mark_id, _lead in read]])
        if log is not None and done % every == 0 and done < len(starts):
            log(f"  stays: {done} of {len(starts)} ranges of {chunk:,} lead ids, {written:,} rows, "
                f"{perf_counter() - started:.1f} s")
    if log is not None:
        log(f"  stays: {len(store_ids)} stores, {written:,} rows, {perf_counter() - started:.1f} s")
    drain(using=using)
    # Fresh statistics for the readers' plans and no dead rows in their ranges: the tables were rewritten (the first
    # migrate over a million leads left 1.9M rows that autovacuum had not analysed yet).
    bulk.tidy([Stay._meta.db_table, HIST_TABLE], using=using)
    return written
