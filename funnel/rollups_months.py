"""The month rollups: ``CohortDay`` and ``RevisitDay`` summed per month × store × one key (``CohortMonth``,
``RevisitMonth``), so a year of the whole group is read from a few thousand rows instead of about one row per lead;
``FollowUpDay`` summed per month with its own keys (``FollowUpMonth``); and ``LadderDay`` per month with its totals and
two details (``LadderMonth``: read by funnel.rollups_ladder).

Why one key per row: the day rows are keyed by consultant × source × channel × series at once, so any slice of the
API can be answered, and at a few thousand leads per store-month nearly every lead has a key of its own; summing them
per month changes little. The dashboard, the reports and most API calls narrow or group by at most one of those keys
(its consultants, its sources, its channels, the store comparison, the trend), so the month rows are counted by ONE
key each (``dim``: one grouping set per key), a few dozen rows per store-month. A slice that combines two keys (a
consultant's leads by channel) is read from the day rows as before (funnel.selectors decides).

How they stay exact: they are derived from the day rows, never from the leads, by one INSERT … SELECT … GROUP BY
GROUPING SETS per batch of store-months, in the same transaction that rewrote those day rows (the drain, the rebuild:
funnel.rollups). So a store-month with no mark (of its kind) has month rows that sum its day rows exactly; a reader
reads a store-month with a mark from the day rows and the live count instead. ``drifted`` compares the stored month
rows with a fresh sum of the day rows (the nightly reconciliation). PostgreSQL only: elsewhere readers use the day rows.

Regrades: the day rows with a later ``as_of`` (a lead regraded after its first-visit day) are summed twice: into each
key's total (``as_of_month`` NULL), and, when they fall in a later month than the first visit, into a row of that
month (``as_of_month``). A period reaching today reads the totals (no grade changes after today); a period ending on a
past month's last day E reads the totals minus the later rows with ``as_of_month`` after E's month: exactly
``as_of <= E``. Regrades reach back years, so a store-month has later rows in a dozen or more months; keeping them
apart from the totals lets the usual periods read one row per key and store-month."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db import connections

from leads.models import Source

from . import calc
from .models import CohortMonth, FollowUpMonth, LadderMonth, MonthDim, RevisitMonth, RollupMark

COHORT_COUNTS = ("valid", "followed", "deals", "p_a", "p_b", "p_c", "p_d", "p_e", "units")
SOURCE_COLUMNS = tuple(f"n_{source}" for source in Source.values)
# False: the readers take every period from the day rows (the tests compare the two ways).
ENABLED = True
# The key column of each dim, and the dim of each key column (funnel.selectors maps slices onto them).
DIM_COLUMNS = {MonthDim.SOURCE.value: "source", MonthDim.CONSULTANT.value: "consultant_id",
               MonthDim.CHANNEL.value: "channel_id", MonthDim.SERIES.value: "series_id"}


def supported(using: str = "default") -> bool:
    """Whether the database keeps month rows (GROUPING SETS, the set-based drain): PostgreSQL."""
    return connections[using].vendor == "postgresql"


def present(using: str = "default") -> list[str]:
    """The day tables whose month table the database has (none but on PostgreSQL; a database migrated part way,
    as ``migrate <app>`` does, may lack them)."""
    if not supported(using):
        return []
    existing = set(connections[using].introspection.table_names())
    return [day for day, (model, _sql) in TABLES.items() if model._meta.db_table in existing]


def _dim_case() -> str:
    # GROUPING(x) is 0 when x is a key of the row's grouping set.
    whens = " ".join(f"WHEN GROUPING(d.{column}) = 0 THEN '{dim}'" for dim, column in DIM_COLUMNS.items())
    return f"CASE {whens} END"


def _grouping_sets(keys: str) -> str:
    return ", ".join(f"({keys}, d.{column})" for column in DIM_COLUMNS.values())


def _cohort_sql(source: str) -> tuple[str, str]:
    """Two kinds of rows: each key's **total** over every ``as_of`` (``as_of_month`` NULL: what a period reaching
    today reads), and each key's **later** regrades (``as_of_month`` after the first-visit month, one row per month
    they fall in), which a period ending on a past month's last day subtracts when they fall after it. The deltas
    dated in the first-visit month itself are only in the total: every period that reads a month covers them."""
    columns = ("store_id", "month", "as_of_month", "dim", "consultant_id", "source", "channel_id", "series_id", "n",
               *SOURCE_COLUMNS, *COHORT_COUNTS)
    by_source = ", ".join(f"coalesce(sum(d.n) FILTER (WHERE d.source = '{value}'), 0)" for value in Source.values)
    sums = ", ".join(f"sum(d.{c})" for c in COHORT_COUNTS)
    nonzero = " OR ".join(f"sum(d.{c}) <> 0" for c in ("n", *COHORT_COUNTS))
    rows = (f"(SELECT r.*, date_trunc('month', r.day)::date AS month, "
            f"date_trunc('month', r.as_of)::date AS as_of_month FROM {source}) d")
    keys = "d.consultant_id, coalesce(d.source, ''), d.channel_id, d.series_id"
    select = (
        f"SELECT d.store_id, d.month, NULL::date, {_dim_case()}, {keys}, sum(d.n), {by_source}, {sums} "
        f"FROM {rows} GROUP BY GROUPING SETS ({_grouping_sets('d.store_id, d.month')}) HAVING {nonzero} "
        f"UNION ALL "
        f"SELECT d.store_id, d.month, d.as_of_month, {_dim_case()}, {keys}, sum(d.n), {by_source}, {sums} "
        f"FROM {rows} WHERE d.as_of_month > d.month "
        f"GROUP BY GROUPING SETS ({_grouping_sets('d.store_id, d.month, d.as_of_month')}) HAVING {nonzero}"
    )
    return ", ".join(columns), select


def _revisit_sql(source: str) -> tuple[str, str]:
    columns = ("store_id", "month", "dim", "consultant_id", "source", "channel_id", "series_id", "n")
    select = (
        f"SELECT d.store_id, d.month, {_dim_case()}, d.consultant_id, coalesce(d.source, ''), d.channel_id, "
        f"d.series_id, sum(d.n) "
        f"FROM (SELECT r.*, date_trunc('month', r.day)::date AS month FROM {source}) d "
        f"GROUP BY GROUPING SETS ({_grouping_sets('d.store_id, d.month')}) HAVING sum(d.n) <> 0"
    )
    return ", ".join(columns), select


def _follow_up_sql(source: str) -> tuple[str, str]:
    # Keyed as the day rows (author × consultant): a few dozen pairs per store-month already.
    columns = ("store_id", "month", "author_id", "consultant_id", "n", "rejected")
    select = (
        f"SELECT d.store_id, d.month, d.author_id, d.consultant_id, sum(d.n), sum(d.rejected) "
        f"FROM (SELECT r.*, date_trunc('month', r.day)::date AS month FROM {source}) d "
        f"GROUP BY d.store_id, d.month, d.author_id, d.consultant_id HAVING sum(d.n) <> 0 OR sum(d.rejected) <> 0"
    )
    return ", ".join(columns), select


LADDER_COUNTS = ("opened", "closed", "promoted", "reached", "reach_closed")


def _ladder_sql(source: str) -> tuple[str, str]:
    """Three kinds of rows per store-month × consultant × grade (``LadderMonth``): the totals, the day rows with a
    ``prev_day`` by its month, and those with a ``reach_day`` by its month."""
    columns = ("store_id", "month", "prev_month", "reach_month", "consultant_id", "grade", *LADDER_COUNTS)
    rows = f"(SELECT r.*, date_trunc('month', r.day)::date AS month FROM {source}) d"
    sums = ", ".join(f"sum(d.{c})" for c in LADDER_COUNTS)
    nonzero = " OR ".join(f"sum(d.{c}) <> 0" for c in LADDER_COUNTS)
    keys = "d.store_id, d.month, {prev}, {reach}, d.consultant_id, d.grade"
    prev, reach = "date_trunc('month', d.prev_day)::date", "date_trunc('month', d.reach_day)::date"
    parts = [(keys.format(prev="NULL::date", reach="NULL::date"), "TRUE"),
             (keys.format(prev=prev, reach="NULL::date"), "d.prev_day IS NOT NULL"),
             (keys.format(prev="NULL::date", reach=reach), "d.reach_day IS NOT NULL")]
    select = " UNION ALL ".join(
        f"SELECT {key}, {sums} FROM {rows} WHERE {where} GROUP BY 1, 2, 3, 4, 5, 6 HAVING {nonzero}"
        for key, where in parts)
    return ", ".join(columns), select


# Per day-rollup table: the month table and its SQL builder.
TABLES = {
    "funnel_cohortday": (CohortMonth, _cohort_sql),
    "funnel_revisitday": (RevisitMonth, _revisit_sql),
    "funnel_followupday": (FollowUpMonth, _follow_up_sql),
    "funnel_ladderday": (LadderMonth, _ladder_sql),
}


def _day_rows(day_table: str, *, months: list[tuple[int, date]] | None,
              store_ids: list[int] | None) -> tuple[str, dict]:
    """FROM-clause SQL yielding the day rows (alias ``r``) of ``months``' (store, first day of month) pairs, or of
    ``store_ids`` (None: all): a range of the (store, day) index per store-month."""
    if months is not None:
        return (f"unnest(%(m_stores)s::bigint[], %(m_months)s::date[]) k(store_id, month) "
                f"JOIN {day_table} r ON r.store_id = k.store_id AND r.day >= k.month "
                f"AND r.day < (k.month + interval '1 month')",
                {"m_stores": [s for s, _m in months], "m_months": [m for _s, m in months]})
    if store_ids is not None:
        return f"{day_table} r WHERE r.store_id = ANY(%(m_store_ids)s::bigint[])", {"m_store_ids": list(store_ids)}
    return f"{day_table} r", {}


def month_keys(pairs: Iterable[tuple[int, date]]) -> list[tuple[int, date]]:
    """The (store, first day of month) pairs of some (store, day) pairs."""
    return sorted({(store_id, day.replace(day=1)) for store_id, day in pairs})


def select(day_table: str, *, months: list[tuple[int, date]] | None = None,
           store_ids: list[int] | None = None) -> tuple[str, str, dict]:
    """The month rows of ``day_table``'s rows for ``months`` (or ``store_ids``; neither: all): (columns, SELECT,
    parameters)."""
    model, builder = TABLES[day_table]
    source, params = _day_rows(day_table, months=months, store_ids=store_ids)
    columns, sql = builder(source)
    return columns, sql, params


def derive(day_table: str, *, using: str, months: list[tuple[int, date]] | None = None,
           store_ids: list[int] | None = None) -> None:
    """Replace the month rows of ``months`` (or every month of ``store_ids``; neither: all) with the sums of their
    day rows: one DELETE and one INSERT … SELECT. Call in the transaction that rewrote those day rows."""
    if months is not None and not months:
        return
    model, _builder = TABLES[day_table]
    table = model._meta.db_table
    columns, sql, params = select(day_table, months=months, store_ids=store_ids)
    with connections[using].cursor() as cursor:
        if months is not None:
            cursor.execute(f"DELETE FROM {table} t USING unnest(%(m_stores)s::bigint[], %(m_months)s::date[]) "
                           f"k(store_id, month) WHERE t.store_id = k.store_id AND t.month = k.month", params)
        elif store_ids is not None:
            cursor.execute(f"DELETE FROM {table} WHERE store_id = ANY(%(m_store_ids)s::bigint[])", params)
        else:
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute(f"INSERT INTO {table} ({columns}) {sql}", params)


def missing(day_table: str, *, using: str) -> bool:
    """Whether the day table has rows and its month table none (the first ``migrate`` with this code on data)."""
    model, _builder = TABLES[day_table]
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {day_table}) AND NOT EXISTS (SELECT 1 FROM "
                       f"{model._meta.db_table})")
        return cursor.fetchone()[0]


def drifted(day_table: str, store_id: int, month: date, *, using: str = "default") -> bool:
    """Whether the stored month rows of one store-month differ from a fresh sum of its day rows."""
    model, _builder = TABLES[day_table]
    columns, sql, params = select(day_table, months=[(store_id, month)])
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {model._meta.db_table} WHERE store_id = %(s)s AND month = %(m)s "
                       f"EXCEPT ALL ({sql})", {**params, "s": store_id, "m": month})
        extra = cursor.fetchall()
        cursor.execute(f"({sql}) EXCEPT ALL SELECT {columns} FROM {model._meta.db_table} "
                       f"WHERE store_id = %(s)s AND month = %(m)s", {**params, "s": store_id, "m": month})
        return bool(extra or cursor.fetchall())


# --- reading ---------------------------------------------------------------------------------------------------


# --- the readers' SQL over rollup rows ``r`` (funnel.selectors, funnel.rollups_followups) -------------------------


def stores_sql(user, stores) -> tuple[str, list]:
    """A SELECT of the ids of the stores ``user`` sees (``Store.objects.visible_to``), of ``stores`` (none: all).
    Composed once per user object and scope: a dashboard asks for it about twenty times (0.3 ms each, as a
    queryset compiled), always for the same user, who does not change within a request."""
    from dealercrm.models import Store

    key = (user.pk, getattr(user, "role", None), user.is_superuser, user.is_active, user.is_authenticated,
           getattr(user, "dealer_group_id", None), getattr(user, "store_id", None),
           tuple(st.pk for st in stores or ()))
    memo = user.__dict__.setdefault("_stores_sql", {})
    if key not in memo:
        visible = Store.objects.visible_to(user)
        if stores:
            visible = visible.filter(pk__in=[st.pk for st in stores])
        sql, params = visible.order_by().values("pk").query.sql_with_params()
        memo[key] = (sql, tuple(params))
    sql, params = memo[key]
    return sql, list(params)


def scope_sql(user, stores, *, alias: str = "r", owner: str = "consultant_id") -> tuple[str, list]:
    """The rows ``alias`` (``ROLLUP_SCOPE``, or the leads' ``LEAD_SCOPE`` with ``owner`` ``assigned_to_id``) ``user``
    sees, of ``stores`` (none: all they see): the stores as ``Store.objects.visible_to`` gives them, a consultant's
    own rows only."""
    from dealercrm.models import Role

    sql, params = stores_sql(user, stores)
    if user.role == Role.CONSULTANT and not user.is_superuser:
        return f"{alias}.store_id IN ({sql}) AND {alias}.{owner} = %s", [*params, user.pk]
    return f"{alias}.store_id IN ({sql})", params


def month_marked_sql(kind: str, month: str, *, alias: str = "r") -> tuple[str, list]:
    """The store-month of the row ``alias`` (its store, the month starting at ``month``, SQL for a first day) holds a
    mark of ``kind``: a range of the marks' (store_id, day, kind) index."""
    return (f"EXISTS (SELECT 1 FROM {RollupMark._meta.db_table} m WHERE m.kind = %s AND m.store_id = {alias}.store_id "
            f"AND m.day >= {month} AND m.day < ({month} + interval '1 month')::date)", [kind])


def day_month_sql(alias: str = "r") -> str:
    """The first day of the month of the day row ``alias``."""
    return f"date_trunc('month', {alias}.day)::date"


def unmarked_day_sql(kind: str) -> tuple[str, list]:
    """The day row ``r``'s store-day holds no mark of ``kind``."""
    return (f"NOT EXISTS (SELECT 1 FROM {RollupMark._meta.db_table} m WHERE m.kind = %s AND m.store_id = r.store_id "
            "AND m.day = r.day)", [kind])


def unmarked_month_sql(kind: str) -> tuple[str, list]:
    """The month row ``r``'s store-month holds no mark of ``kind``."""
    sql, params = month_marked_sql(kind, "r.month")
    return f"NOT {sql}", params


def marked_months_sql(kind: str, *, first: date | None, last_day: date, alias: str = "r") -> tuple[str, list]:
    """The day rows (``alias``) of the store-months from ``first`` (None: from the start) to ``last_day`` that hold a
    mark of ``kind``: driven by the marks (their stores as one array, from their earliest month), so that with no mark
    it reads nothing rather than testing every day row of the months. The stores are an array computed once (``=
    ANY``: an index condition), not a semi-join the planner may test per day row against the marks: with the marks'
    statistics stale it did, through the deleted marks' dead index entries (1.8 s of the group's year)."""
    d = connections["default"].ops.adapt_datefield_value
    marks = f"FROM {RollupMark._meta.db_table} m WHERE m.kind = %s AND m.day <= %s"
    marks_params = [kind, d(last_day)]
    if first is not None:
        marks += " AND m.day >= %s"
        marks_params.append(d(first))
    marked, marked_params = month_marked_sql(kind, day_month_sql(alias), alias=alias)
    return (f"{alias}.store_id = ANY(ARRAY(SELECT DISTINCT m.store_id {marks})) "
            f"AND {alias}.day >= (SELECT min(date_trunc('month', m.day))::date {marks}) AND {alias}.day <= %s "
            f"AND {marked}", [*marks_params, *marks_params, d(last_day), *marked_params])


def day_spans_sql(kind: str, *, start: date, end: date, months: tuple[date, date] | None) -> list[tuple[str, list]]:
    """The day rows ``r`` a period [start, end] reads, as conditions (one part each): all its days; or, when its
    whole ``months`` (first days of the first and last) come from the month rows, the days before and after them
    (an index range each) and the days of its store-months holding a mark of ``kind`` (``marked_months_sql``)."""
    d = connections["default"].ops.adapt_datefield_value
    if months is None:
        return [("r.day >= %s AND r.day <= %s", [d(start), d(end)])]
    first, last = months
    last_day = calc.month_bounds(last)[1]
    spans = []
    if start < first:
        spans.append(("r.day >= %s AND r.day < %s", [d(start), d(first)]))
    if last_day < end:
        spans.append(("r.day > %s AND r.day <= %s", [d(last_day), d(end)]))
    spans.append(marked_months_sql(kind, first=first, last_day=last_day))
    return spans


def union_sql(parts: list[tuple[str, list]]) -> tuple[str, list]:
    """One UNION ALL statement of ``parts`` ((SQL, parameters) with the same columns) and its parameters: the rollup
    reads' parts in one snapshot."""
    return (" UNION ALL ".join(f"SELECT * FROM ({sql}) p{i}" for i, (sql, _params) in enumerate(parts)),
            [p for _sql, part_params in parts for p in part_params])
