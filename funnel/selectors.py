"""The funnel's reads: M/N/P/K/F/C for any slice and period, the ladder and its promotion rates, target progress.

Definitions (DOMAIN §4, cohort basis): the cohort of a period is the leads whose *first* visit falls in it (merged
leads excluded); what became of them is counted so far.

- N: the cohort's size; N by source. Re-visits: re-visits (not first visits) whose arrival falls in the period, of
  the slice's leads; they are not in N.
- valid: a reachable phone and a grade (the grade as of the period's end; a won lead counts as valid).
- K = valid / N. P: each grade's share among the valid leads with a grade, as of the period's end (sums to 1).
- followed: valid leads with at least one follow-up after the first visit (or won). F = followed / valid.
- deals: the cohort's won leads, whenever the deal was signed (a deal after the period still counts for its
  cohort). C = deals / followed. So deals = N·K·F·C.
- M: the managers' monthly estimates of the slice's stores, prorated by the days the period covers of each month;
  penetration = N / M.

Each figure family is one conditional-aggregation query: one for the cohort, one for re-visits, one for M,
whatever the slice, period or grouping (never a Python loop over leads)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from django.db import connection, connections
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate
from django.utils import timezone

from dealercrm.models import Role, Store, User
from leads.models import GRADE_ORDER, Deal, GradeChange, Lead, Source, Status, Visit

from . import calc, lead_now, rollups, rollups_defeats, rollups_followups, rollups_ladder, rollups_months
from .models import CohortDay, CohortMonth, MarketEstimate, MonthDim, RevisitDay, RevisitMonth, RollupMark, Target

GRADES = ("A", "B", "C", "D", "E")
GROUP_BY = ("day", "week", "month", "consultant", "source", "channel", "series", "store")
TIME_KEYS = ("day", "week", "month")
# For the other keys: the lead field grouped by and the field naming the group.
FIELD_KEYS = {
    "consultant": ("assigned_to", "assigned_to__display_name"),
    "source": ("source", None),
    "channel": ("channel", "channel__name"),
    "series": ("series", "series__name"),
    "store": ("store", "store__name"),
}


@dataclass
class Slice:
    """Which leads: scoped to ``user`` first, then narrowed. Empty lists/None mean "everything the user sees"."""

    user: User
    start: date
    end: date  # inclusive
    stores: list[Store] = field(default_factory=list)
    consultant: User | None = None
    source: str | None = None
    channel_id: int | None = None
    series_id: int | None = None

    @property
    def start_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def end_at(self) -> datetime:
        """The exclusive upper bound: midnight after ``end``, local time."""
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    def _narrowed(self, more: dict, *, consultant: str) -> dict:
        """``more`` and the slice's narrowing as lookups, the consultant named ``consultant``."""
        lookups = dict(more)
        if self.stores:
            lookups["store__in"] = [st.pk for st in self.stores]
        if self.consultant is not None:
            lookups[consultant] = self.consultant
        if self.source:
            lookups["source"] = self.source
        if self.channel_id:
            lookups["channel_id"] = self.channel_id
        if self.series_id:
            lookups["series_id"] = self.series_id
        return lookups

    def row_lookups(self, **more) -> dict:
        """``more`` and the slice's narrowing, as the rows kept per store and lead key name it (the rollups, the
        stays: ``store``, ``consultant``, ``source``, ``channel_id``, ``series_id``); ``leads`` for the leads."""
        return self._narrowed(more, consultant="consultant")

    def leads(self, **more) -> QuerySet[Lead]:
        """The slice's leads (any first-visit date), narrowed further by ``more`` lookups. One filter() call: every
        clone of a queryset costs on every dashboard request."""
        lookups = self._narrowed(more, consultant="assigned_to")
        return Lead.objects.visible_to(self.user).exclude(status=Status.MERGED).filter(**lookups)

    def cohort(self) -> QuerySet[Lead]:
        # First visits from local midnight of the first day to local midnight after the last: a range of the
        # (store, first_visit_at) index, which carries the local day (Lead.first_visit_day) for grouping by day.
        return self.leads(first_visit_at__gte=self.start_at, first_visit_at__lt=self.end_at)

    def revisits(self) -> QuerySet[Visit]:
        """Re-visits arriving in the period, of the slice's leads. When the slice is whole stores and the user sees
        whole stores, the visits' own store column does (no join with the leads: merged leads have no visits)."""
        visits = Visit.objects.filter(is_first=False, arrived_at__gte=self.start_at, arrived_at__lt=self.end_at)
        lead_level = self.consultant or self.source or self.channel_id or self.series_id
        if lead_level or not (self.user.is_superuser or self.user.role in (Role.MANAGER, Role.GROUP_ADMIN)):
            return visits.filter(lead__in=self.leads().values("pk"))
        stores = Store.objects.visible_to(self.user)
        if self.stores:
            stores = stores.filter(pk__in=[st.pk for st in self.stores])
        return visits.filter(store__in=stores.values("pk"))


def _n(condition: Q | None = None) -> Count:
    # Count a NOT NULL column the covering index holds, not "id": it keeps index-only scans possible.
    return Count("status", filter=condition) if condition is not None else Count("status")


# The cohort's counting query is SQL over the ORM's cohort (scoped and filtered by ``Slice``): one definition of the
# figures, computed in one pass, without the per-call cost of composing fourteen filtered aggregates through the ORM
# (~8 ms of a 30 ms store-month call). A past period's grade as of its end (a per-lead look-up) is computed once per
# lead in a derived table (OFFSET 0 keeps PostgreSQL from inlining it into every FILTER that reads it).
_WON_SQL = f"t.status = '{Status.WON.value}'"
_VALID_SQL = f"t.phone <> '' AND (t.g IS NOT NULL OR {_WON_SQL})"
_COUNTS_SQL = ", ".join([
    "count(t.status)",
    *(f"count(t.status) FILTER (WHERE t.source = '{source}')" for source in Source.values),
    f"count(t.status) FILTER (WHERE {_VALID_SQL})",
    f"count(t.status) FILTER (WHERE {_VALID_SQL} AND (t.first_follow_up_at IS NOT NULL OR {_WON_SQL}))",
    f"count(t.status) FILTER (WHERE {_WON_SQL})",
    *(f"count(t.status) FILTER (WHERE t.phone <> '' AND t.g = '{g}')" for g in GRADES),
    # Units: the won leads' deals' quantities (a fleet order of five is one deal, five units).
    f"coalesce(sum(t.deal_units) FILTER (WHERE {_WON_SQL}), 0)",
])
_COUNT_NAMES = ["N", *(f"N_{source}" for source in Source.values), "valid", "followed", "deals",
                *(f"P_{g}" for g in GRADES), "units"]


def _grade_as_of_end(s: Slice) -> tuple[str, list]:
    """SQL for the grade as of the period's end, over the cohort's columns (``c.*``): the current grade when the
    period reaches today, or when the lead's grade has not changed since (``grade_since``); otherwise the latest grade
    change before the period's end (an index-only look-up, made only for the leads regraded after the period)."""
    if s.end_at > timezone.now():
        return "c.grade", []
    end = connection.ops.adapt_datetimefield_value(s.end_at)
    return (
        "CASE WHEN c.grade_since IS NULL OR c.grade_since < %s THEN c.grade ELSE ("
        f"SELECT gc.to_grade FROM {GradeChange._meta.db_table} gc WHERE gc.lead_id = c.id AND gc.changed_at < %s "
        "ORDER BY gc.changed_at DESC, gc.id DESC LIMIT 1) END",
        [end, end],
    )


def _by_marks() -> bool:
    """Whether the marked days' live counts are driven from the marks (``_marked_pairs``): PostgreSQL (LATERAL);
    elsewhere (SQLite) the base rows are filtered by an EXISTS on the marks."""
    return connections[rollups.read_database()].vendor == "postgresql"


# The live parts driven from the marks: the marked pair being counted, and its local day's bounds (the current time
# zone's, as TruncDate and Lead.first_visit_day take the local day).
_PAIR_STORE = RawSQL("mark_pair.store_id", ())
_PAIR_DAY = RawSQL("mark_pair.day", ())


def _pair_day_start(*, next_day: bool = False) -> RawSQL:
    day = "(mark_pair.day + 1)" if next_day else "mark_pair.day"
    return RawSQL(f"({day}::timestamp AT TIME ZONE %s)", (timezone.get_current_timezone_name(),))


def _marked_pairs(s: Slice, kind: str) -> tuple[str, list]:
    """SQL (a FROM item named ``mark_pair``) for the distinct marked (store, day) pairs of ``kind`` of the slice's
    stores (those the user sees, narrowed to the slice's) and period, and its parameters. Fenced (OFFSET 0): read
    first, whatever the planner guesses of the marks (their statistics are often stale), so that each pair is then an
    index range of the base table (CROSS JOIN LATERAL), not a semi-join over every row of the period."""
    stores, params = rollups_months.stores_sql(s.user, s.stores)
    d = connection.ops.adapt_datefield_value
    return (f"(SELECT DISTINCT m.store_id, m.day FROM {RollupMark._meta.db_table} m WHERE m.kind = %s "
            f"AND m.day >= %s AND m.day <= %s AND m.store_id IN ({stores}) OFFSET 0) mark_pair",
            [kind, d(s.start), d(s.end), *params])


def _marked_cohort_sql(s: Slice, keys: dict[str, str]) -> tuple[str, list, list]:
    """``Slice.cohort``'s leads of the marked pairs (``mark_pair``: each a range of the (store, first_visit_at)
    index, its local day) with the columns ``_cohort_live_sql`` reads and the keys (``key0`` ...), as SQL text
    (PostgreSQL): the reader's scope and the slice's narrowing (``_slice_sql`` with ``LEAD_SCOPE``'s owner), merged
    leads left out, the period's first visits. Returns the SQL, its parameters and the keys' fields."""
    lead, deal = Lead._meta, Deal._meta
    columns, joins, fields = [], [], []
    for i, path in enumerate(keys.values()):
        name, _sep, related = path.partition("__")
        field = lead.get_field(name)
        if not related:
            columns.append(f"l.{field.column} AS key{i}")
            fields.append(field)
            continue
        target = field.related_model._meta
        joins.append(f" LEFT JOIN {target.db_table} j{i} ON j{i}.{target.pk.column} = l.{field.column}")
        columns.append(f"j{i}.{target.get_field(related).column} AS key{i}")
        fields.append(target.get_field(related))
    where, params = _slice_sql(s, alias="l", owner="assigned_to_id")
    conditions = [where, "l.status <> %s"]
    params.append(Status.MERGED.value)
    at = connection.ops.adapt_datetimefield_value
    zone = timezone.get_current_timezone_name()
    conditions.append("l.first_visit_at >= %s AND l.first_visit_at < %s AND l.store_id = mark_pair.store_id "
                      "AND l.first_visit_day = mark_pair.day "
                      "AND l.first_visit_at >= (mark_pair.day::timestamp AT TIME ZONE %s) "
                      "AND l.first_visit_at < ((mark_pair.day + 1)::timestamp AT TIME ZONE %s)")
    params += [at(s.start_at), at(s.end_at), zone, zone]
    select = "".join(f", {column}" for column in columns)
    sql = (f"SELECT l.id, l.status, l.source, l.phone, l.first_follow_up_at, l.grade, l.grade_since, "
           f"d.quantity AS deal_units{select} FROM {lead.db_table} l "
           f"LEFT JOIN {deal.db_table} d ON d.lead_id = l.id{''.join(joins)} WHERE {' AND '.join(conditions)}")
    return sql, params, fields


def _cohort_live_sql(s: Slice, *, keys: dict[str, str], marked_only: bool = False) -> tuple[str, list, list]:
    """SQL counting the slice's cohort from the leads per ``keys`` (see ``cohort_counts_live``): the key columns,
    then the counts in ``_COUNT_NAMES`` order. Returns the SQL, its parameters and the keys' fields.

    ``marked_only``: only the leads of the store-days with a cohort mark. On PostgreSQL the marked pairs are read
    first and each is a range of the (store, first_visit_at) index (its local day: first_visit_day is first_visit_at's
    local day); elsewhere the leads are filtered by an EXISTS on the marks. The same leads either way."""
    aliases = [f"key{i}" for i in range(len(keys))]
    pairs_sql, pairs_params = "", []
    if marked_only and _by_marks():
        pairs_sql, pairs_params = _marked_pairs(s, rollups.COHORT)
        cohort_sql, cohort_params, fields = _marked_cohort_sql(s, keys)
    else:
        cohort = s.cohort().order_by().annotate(deal_units=F("deal__quantity"))
        if marked_only:
            cohort = cohort.filter(Exists(RollupMark.objects.filter(
                kind=rollups.COHORT, store_id=OuterRef("store_id"), day=OuterRef("first_visit_day"))))
        if keys:
            cohort = cohort.annotate(**{alias: F(path) for alias, path in zip(aliases, keys.values())})
        columns = ["id", "status", "source", "phone", "first_follow_up_at", "grade", "grade_since", "deal_units"]
        cohort_sql, cohort_params = cohort.values(*columns, *aliases).query.sql_with_params()
        fields = [cohort.query.annotations[alias].output_field for alias in aliases]
    grade_sql, grade_params = _grade_as_of_end(s)
    inner_keys = "".join(f"c.{alias}, " for alias in aliases)
    fence = " OFFSET 0" if grade_params and connection.vendor == "postgresql" else ""
    outer_keys = "".join(f"t.{alias}, " for alias in aliases)
    group_by = f" GROUP BY {', '.join(f't.{alias}' for alias in aliases)}" if aliases else ""
    source = f"({cohort_sql}) c"
    if pairs_sql:
        source = f"{pairs_sql} CROSS JOIN LATERAL ({cohort_sql} OFFSET 0) c"
    sql = (
        f"SELECT {outer_keys}{_COUNTS_SQL} FROM ("
        f"SELECT {inner_keys}{grade_sql} AS g, c.status, c.source, c.phone, c.first_follow_up_at, c.deal_units "
        f"FROM {source}{fence}) t{group_by}"
    )
    return sql, [*grade_params, *pairs_params, *cohort_params], fields


def _shaped(rows, keys: dict[str, str], fields: list) -> list[tuple[dict, dict]]:
    return [
        ({name: field.to_python(value) for name, field, value in zip(keys, fields, row, strict=False)},
         {name: value or 0 for name, value in zip(_COUNT_NAMES, row[len(keys):], strict=True)})
        for row in rows
    ]


def cohort_counts_live(s: Slice, **keys: str) -> list[tuple[dict, dict]]:
    """The live definition (the rollups' oracle): the slice's cohort counted from the leads per ``keys`` (result
    name -> lead field path; none: the whole cohort), in one query: N, N by source, valid, followed, deals and the
    valid leads per grade as of the period's end (the P counts). Returns ``(key values, counts)`` pairs."""
    sql, params, fields = _cohort_live_sql(s, keys=keys)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _shaped(cursor.fetchall(), keys, fields)


# The rollup field for each lead field the funnel groups by (funnel.models.CohortDay, RevisitDay).
ROLLUP_PATHS = {
    "assigned_to": "consultant", "assigned_to__display_name": "consultant__display_name",
    "first_visit_day": "day", "source": "source", "channel": "channel", "channel__name": "channel__name",
    "series": "series", "series__name": "series__name", "store": "store", "store__name": "store__name",
}
_SOURCE_SUMS = ", ".join(f"sum(r.n) FILTER (WHERE r.source = '{source}')" for source in Source.values)
_GRADE_SUMS = ", ".join(f"sum(r.p_{g.lower()})" for g in GRADES)
# The rollup rows' sums in ``_COUNT_NAMES`` order: the day rows (N by source from their source), the month rows (N by
# source in columns of their own: they are not keyed by source but for one dim), the later regrades a past period
# subtracts from the month rows' totals (funnel.rollups_months).
_ROLLUP_SUMS = f"sum(r.n), {_SOURCE_SUMS}, sum(r.valid), sum(r.followed), sum(r.deals), {_GRADE_SUMS}, sum(r.units)"
_MONTH_COLUMNS = ("n", *(f"n_{source}" for source in Source.values), "valid", "followed", "deals",
                  *(f"p_{g.lower()}" for g in GRADES), "units")
_MONTH_SUMS = ", ".join(f"sum(r.{column})" for column in _MONTH_COLUMNS)
_MONTH_SUMS_SUBTRACTED = ", ".join(f"-sum(r.{column})" for column in _MONTH_COLUMNS)
# The month rows' key of each lead field path (ROLLUP_PATHS for the day rows), and the dim it needs (None: any).
MONTH_PATHS = {**ROLLUP_PATHS, "first_visit_day": "month"}
_PATH_DIMS = {
    "assigned_to": MonthDim.CONSULTANT, "assigned_to__display_name": MonthDim.CONSULTANT,
    "source": MonthDim.SOURCE, "channel": MonthDim.CHANNEL, "channel__name": MonthDim.CHANNEL,
    "series": MonthDim.SERIES, "series__name": MonthDim.SERIES, "store": None, "store__name": None,
    "first_visit_day": None,
}


@dataclass(frozen=True)
class MonthPlan:
    """How a slice is read from the month rows (funnel.rollups_months): the whole months ``first`` … ``last``
    (first days) from the month rows counted by ``dim``, of the store-months with no mark; the rest of the period,
    and the marked store-months, from the day rows (and the marked days live). ``subtract_after``: None when the
    period reaches today (the totals are read), else its end's month (the later regrades dated after that month
    are subtracted from the totals: ``as_of <= end``)."""

    dim: str
    first: date
    last: date
    subtract_after: date | None


def month_plan(s: Slice, paths: Iterable[str] = (), *, month_buckets: bool = False) -> MonthPlan | None:
    """The month rows' share of reading ``s`` grouped by the lead field ``paths``, or None when they cannot serve
    it: not PostgreSQL; a slice narrowed or grouped by two of consultant, source, channel and series (the month rows
    are counted by one; a consultant reading their own funnel is narrowed by consultant); grouped by day or week
    (``month_buckets``: the caller sums days into months); or no whole month in the period.

    A month is whole when the period covers it from its first day to its last, or to today (nothing is dated after
    today: a visit cannot be in the future, and neither can a grade change). The regrades counted: all of them for
    a period reaching today; for a period ending on a past month's last day, those up to that month (exactly ``as_of
    <= end``); a past period ending mid-month reads its months from the day rows."""
    if not rollups_months.ENABLED or not rollups_months.supported(rollups.read_database()):
        return None
    dims = set()
    for path in paths:
        if path not in _PATH_DIMS or (path == "first_visit_day" and not month_buckets):
            return None
        if _PATH_DIMS[path] is not None:
            dims.add(_PATH_DIMS[path].value)
    if s.consultant is not None or (s.user.role == Role.CONSULTANT and not s.user.is_superuser):
        dims.add(MonthDim.CONSULTANT.value)
    for value, dim in ((s.source, MonthDim.SOURCE), (s.channel_id, MonthDim.CHANNEL), (s.series_id, MonthDim.SERIES)):
        if value:
            dims.add(dim.value)
    if len(dims) > 1:
        return None
    end_month, end_last = calc.month_bounds(s.end)
    today = timezone.localdate()
    if s.end != end_last and s.end < today:
        return None  # the period's regrades stop mid-month: the month rows fold a month's
    months = calc.whole_months(s.start, s.end, today=today)
    if months is None:
        return None
    return MonthPlan(dim=dims.pop() if dims else MonthDim.SOURCE.value, first=months[0], last=months[1],
                     subtract_after=None if s.end >= today else end_month)


# --- the rollup rows' reads, as SQL ------------------------------------------------------------------------------
# Built as text: composing them through the ORM (a scoped queryset per part, each filtered, annotated and compiled)
# cost 10-15 ms of Python per read, several reads per dashboard, for statements that take 1-4 ms to run.


def _key_sql(model, path: str, *, month: bool) -> tuple[str, str]:
    """The SQL of a lead field path (``ROLLUP_PATHS``, ``MONTH_PATHS`` for the month rows) on the rollup rows ``r``
    of ``model``, and the join a name needs (or "")."""
    name, _sep, related = (MONTH_PATHS if month else ROLLUP_PATHS)[path].partition("__")
    field = model._meta.get_field(name)
    if not related:
        return f"r.{field.column}", ""
    target, alias = field.related_model._meta, f"j_{field.column}"
    return (f"{alias}.{target.get_field(related).column}",
            f" LEFT JOIN {target.db_table} {alias} ON {alias}.{target.pk.column} = r.{field.column}")


def _slice_sql(s: Slice, *, alias: str = "r", owner: str = "consultant_id") -> tuple[str, list]:
    """The slice's rows ``alias`` as ``visible_to`` and ``Slice.row_lookups`` (the rollup rows, ``owner``
    ``consultant_id``) or ``Slice.leads`` (the leads, ``assigned_to_id``) take them: the reader's scope
    (``rollups_months.scope_sql``: the stores they see, narrowed to the slice's), the slice's consultant, source,
    channel and series."""
    sql, params = rollups_months.scope_sql(s.user, s.stores, alias=alias, owner=owner)
    conditions = [sql]
    for column, value in ((owner, s.consultant.pk if s.consultant is not None else None),
                          ("source", s.source), ("channel_id", s.channel_id), ("series_id", s.series_id)):
        if value:
            conditions.append(f"{alias}.{column} = %s")
            params.append(value)
    return " AND ".join(conditions), params


def _rollup_sql(s: Slice, kind: str, plan: MonthPlan | None, *, day_model, month_model,
                keys: dict[str, str], day_sums: str, month_parts: list[tuple[str, str, list]],
                day_where: tuple[str, list] = ("TRUE", [])) -> tuple[str, list]:
    """One UNION ALL of the slice's rollup rows summed per ``keys`` (name -> lead field path; none: one row): the day
    rows of the store-days with no mark of ``kind`` (``day_sums``; ``day_where`` narrows them), and with a month
    ``plan`` only those the month rows do not hold (the days before and after its months, and the days of its
    store-months holding a mark: driven by the marks, an array of stores from their earliest month), and the month
    rows of the plan's unmarked store-months (``month_parts``: (sums, condition, parameters) each): the conditions of
    funnel.rollups_months (``day_spans_sql``, the marks' ``unmarked_*_sql``)."""
    d = connection.ops.adapt_datefield_value
    where, params = _slice_sql(s)

    def part(model, sums: str, condition: str, condition_params: list, *, month: bool) -> tuple[str, list]:
        keyed = [_key_sql(model, path, month=month) for path in keys.values()] or [("1", "")]
        columns, joins = zip(*keyed, strict=True)
        group = ", ".join(str(i + 1) for i in range(len(columns)))
        return (f"SELECT {', '.join(columns)}, {sums} FROM {model._meta.db_table} r{''.join(dict.fromkeys(joins))} "
                f"WHERE {where} AND {condition} GROUP BY {group}", [*params, *condition_params])

    unmarked, unmarked_params = rollups_months.unmarked_day_sql(kind)
    day_condition = f"{day_where[0]} AND {unmarked}"
    day_params = [*day_where[1], *unmarked_params]
    spans = rollups_months.day_spans_sql(kind, start=s.start, end=s.end,
                                         months=(plan.first, plan.last) if plan is not None else None)
    parts = [part(day_model, day_sums, f"{day_condition} AND {span}", [*day_params, *span_params], month=False)
             for span, span_params in spans]
    if plan is not None:
        month_unmarked, month_unmarked_params = rollups_months.unmarked_month_sql(kind)
        for sums, condition, condition_params in month_parts:
            parts.append(part(month_model, sums, f"r.dim = %s AND r.month >= %s AND r.month <= %s AND {month_unmarked} "
                                                 f"AND {condition}",
                              [plan.dim, d(plan.first), d(plan.last), *month_unmarked_params, *condition_params],
                              month=True))
    return rollups_months.union_sql(parts)


def _union(summed: tuple[str, list], live_sql: str, live_params: list, *, constant: bool) -> list[tuple]:
    """The rollup rows' sums (``_rollup_sql``: day rows, and month rows when read) and the marked days' live count,
    as ONE statement (UNION ALL): one snapshot, so a drain committing meanwhile cannot count a day twice or not at
    all. ``constant``: no key (every part leads with a constant column, dropped here)."""
    sql, params = summed
    live = "SELECT 1, l.* FROM ({}) l" if constant else "SELECT * FROM ({}) l"
    with connections[rollups.read_database()].cursor() as cursor:
        cursor.execute(f"{sql} UNION ALL {live.format(live_sql)}", [*params, *live_params])
        rows = cursor.fetchall()
    return [row[1:] for row in rows] if constant else rows


def _merge(rows: list[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
    merged: dict[tuple, tuple[dict, dict]] = {}
    for key_values, counts in rows:
        _key_values, into = merged.setdefault(tuple(key_values.items()), (key_values, dict.fromkeys(counts, 0)))
        for name, value in counts.items():
            into[name] += value
    return list(merged.values())


def cohort_counts(s: Slice, *, live: bool = False, month_buckets: bool = False,
                  **keys: str) -> list[tuple[dict, dict]]:
    """The slice's cohort counted per ``keys`` (result name -> lead field path, one of ``ROLLUP_PATHS``; none: the
    whole cohort): N, N by source, valid, followed, deals and the valid leads per grade as of the period's end.
    Returns ``(key values, counts)`` pairs, exactly what ``cohort_counts_live`` returns: the sum of the rollup rows
    (funnel.rollups) of the store-days with no mark, plus the marked store-days counted live, in one statement.
    Whole months are read from the month rows when they can serve the slice (``month_plan``; ``month_buckets``: a
    ``first_visit_day`` key's days are only summed into months by the caller, so a month's rows may stand for its
    days: the key is then the month's first day). ``live``: count the leads instead (the oracle)."""
    if live:
        return cohort_counts_live(s, **keys)
    plan = month_plan(s, keys.values(), month_buckets=month_buckets)
    month_parts = [(_MONTH_SUMS, "r.as_of_month IS NULL", [])]
    if plan is not None and plan.subtract_after is not None:
        month_parts.append((_MONTH_SUMS_SUBTRACTED, "r.as_of_month > %s",
                            [connection.ops.adapt_datefield_value(plan.subtract_after)]))
    summed = _rollup_sql(s, rollups.COHORT, plan, day_model=CohortDay, month_model=CohortMonth, keys=keys,
                         day_sums=_ROLLUP_SUMS, month_parts=month_parts,
                         day_where=("r.as_of <= %s", [connection.ops.adapt_datefield_value(s.end)]))
    live_sql, live_params, fields = _cohort_live_sql(s, keys=keys, marked_only=True)
    rows = _union(summed, live_sql, live_params, constant=not keys)
    return _merge(_shaped(rows, keys, fields))


def revisit_counts(s: Slice, key: str | None = None, *, live: bool = False, month_buckets: bool = False) -> dict:
    """Re-visits arriving in the period of the slice's leads (funnel_metrics' ``revisits``), per ``key`` (a lead
    field path of ``ROLLUP_PATHS``, ``first_visit_day`` meaning the arrival day; None: one total under None), from
    the rollups (whole months from the month rows, as ``cohort_counts``) and the marked days counted live, in one
    statement. ``live``: count the visits (the oracle)."""
    visits = s.revisits()
    if key == "first_visit_day":
        visits = visits.annotate(k=TruncDate("arrived_at"))
    elif key is not None:
        visits = visits.annotate(k=F(f"lead__{key}"))
    else:
        visits = visits.annotate(k=Value(1))
    if live:
        return {(row["k"] if key else None): row["n"]
                for row in visits.values("k").annotate(n=Count("pk")).order_by()}
    # The re-visits of the marked store-days: on PostgreSQL from the marked pairs, each a range of the (store,
    # arrived_at) index (the pair's local day); elsewhere filtered by an EXISTS on the marks. The same visits.
    visits = visits.annotate(arrival_day=TruncDate("arrived_at"))
    if _by_marks():
        pairs_sql, pairs_params = _marked_pairs(s, rollups.REVISITS)
        in_pair = visits.filter(store_id=_PAIR_STORE, arrival_day=_PAIR_DAY, arrived_at__gte=_pair_day_start(),
                                arrived_at__lt=_pair_day_start(next_day=True))
        in_pair_sql, in_pair_params = in_pair.values("k").order_by().query.sql_with_params()
        live_sql = (f"SELECT v.k, count(*) AS n FROM {pairs_sql} CROSS JOIN LATERAL ({in_pair_sql} OFFSET 0) v "
                    "GROUP BY v.k")
        live_params = [*pairs_params, *in_pair_params]
    else:
        marked = visits.filter(Exists(RollupMark.objects.filter(
            kind=rollups.REVISITS, store_id=OuterRef("store_id"), day=OuterRef("arrival_day"))))
        live_sql, live_params = marked.values("k").annotate(n=Count("pk")).order_by().query.sql_with_params()
    keys = {"k": key} if key else {}
    plan = month_plan(s, keys.values(), month_buckets=month_buckets)
    summed = _rollup_sql(s, rollups.REVISITS, plan, day_model=RevisitDay, month_model=RevisitMonth, keys=keys,
                         day_sums="sum(r.n)", month_parts=[("sum(r.n)", "TRUE", [])])
    counts: dict = defaultdict(int)
    for k, n in _union(summed, live_sql, live_params, constant=False):
        if key is None:
            k = None
        elif key == "first_visit_day" and isinstance(k, str):
            k = date.fromisoformat(k[:10])  # SQLite returns dates as text
        counts[k] += n or 0
    return dict(counts)


def _empty_counts() -> dict:
    return {"N": 0, **{f"N_{s}": 0 for s in Source.values}, "valid": 0, "followed": 0, "deals": 0,
            **{f"P_{g}": 0 for g in GRADES}, "units": 0, "revisits": 0, "M": 0.0}


def _figures(counts: dict, *, with_m: bool = True) -> dict:
    """The API's shape from summed counts: rates computed, P from the grade counts."""
    graded = sum(counts[f"P_{g}"] for g in GRADES)
    m = round(counts["M"]) if with_m and counts["M"] else None
    return {
        "N": counts["N"],
        "N_by_source": {s: counts[f"N_{s}"] for s in Source.values},
        "revisits": counts["revisits"],
        "valid": counts["valid"],
        "K": calc.rate(counts["valid"], counts["N"]),
        "P": {g: calc.rate(counts[f"P_{g}"], graded) for g in GRADES},
        "followed": counts["followed"],
        "F": calc.rate(counts["followed"], counts["valid"]),
        "deals": counts["deals"],
        "units": int(counts["units"] or 0),
        "C": calc.rate(counts["deals"], counts["followed"]),
        "M": m,
        "penetration": calc.rate(counts["N"], m) if m else None,
    }


def _key(value, group_by: str):
    if group_by in TIME_KEYS:
        day = timezone.localtime(value).date() if isinstance(value, datetime) else value
        return _time_bucket(day, group_by)
    return value


def _estimates(s: Slice) -> QuerySet[MarketEstimate]:
    """The market estimates (M) of the slice's stores for the months the period touches."""
    lookups = {"month__gte": s.start.replace(day=1), "month__lte": s.end}
    if s.stores:
        lookups["store__in"] = [st.pk for st in s.stores]
    elif s.consultant is not None and s.consultant.store_id:
        lookups["store"] = s.consultant.store_id
    return MarketEstimate.objects.visible_to(s.user).filter(**lookups)


def _m_by_key(s: Slice, group_by: str | None) -> dict:
    """M per group key (store, or day/week/month) prorated over the period; None-keyed total otherwise."""
    totals: dict = defaultdict(float)
    for store_id, month, estimate in _estimates(s).values_list("store_id", "month", "estimate"):
        if group_by == "store":
            totals[store_id] += calc.prorate(estimate, month=month, start=s.start, end=s.end)
        elif group_by in TIME_KEYS:
            first, last = calc.month_bounds(month)
            day = max(first, s.start)
            while day <= min(last, s.end):
                key = _time_bucket(day, group_by)
                totals[key] += estimate / last.day
                day += timedelta(days=1)
        else:
            totals[None] += calc.prorate(estimate, month=month, start=s.start, end=s.end)
    return totals


def _time_bucket(day: date, group_by: str) -> str:
    if group_by == "month":
        return day.replace(day=1).isoformat()
    if group_by == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    return day.isoformat()


def funnel_metrics(s: Slice, *, group_by: str | None = None, live: bool = False) -> dict:
    """The funnel's figures for the slice and period (see the module docstring for definitions). Without
    ``group_by``: one figure set. With it: ``{"results": [{"key", "label", ...figures}], "total": {...}}``.
    Read from the rollups (funnel.rollups: a sum over a few rows per store-day, marked days counted live), a fixed
    number of queries whatever the data size; ``live`` counts the leads and visits instead (the oracle)."""
    if group_by is not None and group_by not in GROUP_BY:
        raise ValueError(f"unknown group_by {group_by!r}")
    if group_by is None:
        counts = _empty_counts()
        for _no_keys, row_counts in cohort_counts(s, live=live):
            for name, value in row_counts.items():
                counts[name] += value
        counts["revisits"] = sum(revisit_counts(s, live=live).values())
        counts["M"] = float(_m_by_key(s, None).get(None, 0.0))
        return _figures(counts)

    m_totals = _m_by_key(s, group_by)

    if group_by in TIME_KEYS:
        # Grouped by day (a few hundred groups at most), then summed into weeks or months here.
        # Grouped by day (a few hundred groups at most), then summed into weeks or months here: by month, whole
        # months come from the month rows already summed.
        by_month = group_by == "month"
        lead_rows = cohort_counts(s, live=live, month_buckets=by_month, k="first_visit_day")
        visit_rows = revisit_counts(s, "first_visit_day", live=live, month_buckets=by_month)
        label_field = None
    else:
        key_field, label_field = FIELD_KEYS[group_by]
        lead_rows = cohort_counts(s, live=live, k=key_field, **({"label": label_field} if label_field else {}))
        visit_rows = revisit_counts(s, key_field, live=live)

    groups: dict = {}
    labels: dict = {}
    for key_values, row_counts in lead_rows:
        key = _key(key_values["k"], group_by)
        if label_field:
            labels[key] = key_values["label"]
        counts = groups.setdefault(key, _empty_counts())
        for name, value in row_counts.items():
            counts[name] += value
    for visit_key, n in visit_rows.items():
        key = _key(visit_key, group_by)
        groups.setdefault(key, _empty_counts())["revisits"] += n
    with_m = group_by == "store" or group_by in TIME_KEYS
    if with_m:
        for key, m in m_totals.items():
            groups.setdefault(key, _empty_counts())["M"] += m

    total = _empty_counts()
    for counts in groups.values():
        for name, value in counts.items():
            total[name] += value
    if not with_m:
        total["M"] = m_totals.get(None, 0.0)
    results = []
    for key in sorted(groups, key=lambda k: (k is None, str(k))):
        if group_by == "source":
            label = str(Source(key).label)
        elif label_field:
            label = labels.get(key)
        else:
            label = key
        results.append({"key": key, "label": label, **_figures(groups[key], with_m=with_m)})
    return {"results": results, "total": _figures(total)}


# --- the ladder -------------------------------------------------------------------------------------------------

NEXT_GRADE = {"E": "D", "D": "C", "C": "B", "B": "A"}
RUNG_NAMES = {"E": "E->D", "D": "D->C", "C": "C->B", "B": "B->A"}


def ladder_counts(s: Slice, *, live: bool = False) -> dict:
    """Active leads per grade now, in total and per consultant. From the counts the leads' triggers keep
    (``state_now``, funnel.lead_now) where they can answer, else (``live``) grouped over the active leads by the
    consultant's id alone (grouping by their names too would join every lead with the staff table); then the few
    names."""
    kept = None if live else _kept_state_now(s, now=timezone.now())
    if kept is not None:
        rows = [{"assigned_to": k, **{g: v[g] for g in (*GRADES, "ungraded")}} for k, v in kept.items() if v["active"]]
    else:
        rows = list(
            s.leads().filter(status=Status.ACTIVE)
            .values("assigned_to")
            .annotate(**{g: _n(Q(grade=g)) for g in GRADES}, ungraded=_n(Q(grade__isnull=True)))
            .order_by()
        )
    names = {
        pk: display_name or username
        for pk, display_name, username in User.objects.filter(
            pk__in=[row["assigned_to"] for row in rows if row["assigned_to"] is not None]
        ).values_list("pk", "display_name", "username")
    }
    total = dict.fromkeys(GRADES, 0) | {"ungraded": 0}
    by_consultant = []
    for row in rows:
        counts = {g: row[g] for g in GRADES} | {"ungraded": row["ungraded"]}
        for name, value in counts.items():
            total[name] += value
        by_consultant.append({
            "consultant": row["assigned_to"],
            "name": names.get(row["assigned_to"]),
            "counts": counts,
        })
    by_consultant.sort(key=lambda r: (r["consultant"] is None, r["name"] or ""))
    return {"counts": total, "by_consultant": by_consultant}


def promotion_rates(s: Slice, *, by_consultant: bool = False, live: bool = False) -> dict:
    """Promotion rates over the period from the grade-change history (DOMAIN §3).

    For X in E, D, C, B: among the slice's leads that held grade X at some moment of the period, the share that
    moved up from X to the next grade by the period's end. E->A: among leads that held E during the period, the
    share that reached A (after holding E) by the period's end. Returns ``{"rates": {...}, "held": {...},
    "promoted": {...}}``, and with ``by_consultant`` the same per current consultant.

    Read from the ladder's rollup (funnel.rollups_ladder: sums over rows per store-day, marked days recounted live)
    on PostgreSQL for a slice of stores and a consultant; ``live``, a slice by source, channel or series, or another
    database: counted from the grade changes (``_promotion_buckets_live``, the definition)."""
    if live or s.source or s.channel_id or s.series_id or not rollups_ladder.supported(rollups.read_database()):
        buckets = _promotion_buckets_live(s, by_consultant=by_consultant)
    else:
        buckets = _promotion_buckets_rollup(s, by_consultant=by_consultant)

    def shape(bucket) -> dict:
        names = [*RUNG_NAMES.values(), "E->A"]
        held = {n: bucket["held"].get(n, 0) for n in names}
        promoted = {n: bucket["promoted"].get(n, 0) for n in names}
        return {"rates": {n: calc.rate(promoted[n], held[n]) for n in names}, "held": held, "promoted": promoted}

    if not by_consultant:
        return shape(buckets.get(None, {"held": {}, "promoted": {}}))
    return {who: shape(bucket) for who, bucket in buckets.items()}


def _promotion_buckets_rollup(s: Slice, *, by_consultant: bool) -> dict:
    """``_promotion_buckets_live`` from the ladder's rollup: a consultant is a key when some rung's held is not 0
    (as the live query's groups)."""
    counts = rollups_ladder.read(user=s.user, start=s.start, end=s.end,
                                 store_ids=[st.pk for st in s.stores] if s.stores else None,
                                 consultant_id=s.consultant.pk if s.consultant is not None else None,
                                 by_consultant=by_consultant)
    buckets = {}
    for who, grades in counts.items():
        empty = {"held": 0, "promoted": 0, "reached": 0}
        held = {RUNG_NAMES[g]: grades.get(g, empty)["held"] for g in RUNG_NAMES}
        promoted = {RUNG_NAMES[g]: grades.get(g, empty)["promoted"] for g in RUNG_NAMES}
        held["E->A"], promoted["E->A"] = held["E->D"], grades.get("E", empty)["reached"]
        if by_consultant and not any(held.values()):
            continue
        buckets[who] = {"held": held, "promoted": promoted}
    return buckets


def _promotion_buckets_live(s: Slice, *, by_consultant: bool) -> dict:
    """The promotion counts per current consultant (None: all, without ``by_consultant``), counted from the grade
    changes: ``{who: {"held": {rung: n}, "promoted": {rung: n}}}``. One SQL query: a window over each lead's grade
    changes turns them into spells (grade, since, until, next grade)."""
    # No ORDER BY in the IN (...) subquery: the model's default ordering would sort the slice's leads for nothing.
    lead_sql, lead_params = s.leads().order_by().values("pk").query.sql_with_params()
    gc, lead = GradeChange._meta.db_table, Lead._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    start, end = adapt(s.start_at), adapt(s.end_at)
    who = "l.assigned_to_id" if by_consultant else "NULL"
    # The lead's consultant only when asked for: otherwise the join with every lead is wasted work.
    join = f"JOIN {lead} l ON l.id = gc.lead_id" if by_consultant else ""
    next_case = "CASE sp.grade " + " ".join(f"WHEN '{x}' THEN '{y}'" for x, y in NEXT_GRADE.items()) + " END"
    sql = f"""
        WITH spells AS (
            SELECT gc.lead_id, {who} AS who, gc.to_grade AS grade, gc.changed_at AS since,
                   LEAD(gc.changed_at) OVER (PARTITION BY gc.lead_id ORDER BY gc.changed_at, gc.id) AS until,
                   LEAD(gc.to_grade) OVER (PARTITION BY gc.lead_id ORDER BY gc.changed_at, gc.id) AS next_grade
            FROM {gc} gc {join}
            WHERE gc.lead_id IN ({lead_sql}) AND gc.changed_at < %s
        ),
        held AS (
            SELECT * FROM spells sp WHERE sp.until IS NULL OR sp.until >= %s
        ),
        e_held AS (
            SELECT lead_id, who, MIN(since) AS e_since FROM held WHERE grade = 'E' GROUP BY lead_id, who
        ),
        a_last AS (
            SELECT lead_id, MAX(since) AS a_since FROM spells WHERE grade = 'A' GROUP BY lead_id
        )
        SELECT sp.who, sp.grade, COUNT(DISTINCT sp.lead_id),
               COUNT(DISTINCT CASE WHEN sp.until IS NOT NULL AND sp.next_grade = {next_case} THEN sp.lead_id END)
        FROM held sp WHERE sp.grade IN ('E', 'D', 'C', 'B')
        GROUP BY sp.who, sp.grade
        UNION ALL
        SELECT e.who, 'E->A', COUNT(*), COUNT(CASE WHEN a.a_since > e.e_since THEN 1 END)
        FROM e_held e LEFT JOIN a_last a ON a.lead_id = e.lead_id GROUP BY e.who
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*lead_params, end, start])
        rows = cursor.fetchall()
    buckets: dict = defaultdict(lambda: {"held": {}, "promoted": {}})
    for who, grade, held, promoted in rows:
        name = RUNG_NAMES.get(grade, grade)
        buckets[who]["held"][name] = held
        buckets[who]["promoted"][name] = promoted
    return dict(buckets)


# --- targets ----------------------------------------------------------------------------------------------------


def deals_by(user: User, stores: list[Store], first: date, last: date, *, key: str,
             live: bool = False) -> dict[int | None, dict]:
    """The deals ordered in [first, last] at ``stores`` that ``user`` sees, per ``key`` (``consultant_id``: the
    lead's holder now; ``store_id``): {key: {"orders", "units", "revenue"}}. From the defeats' rollup rows where they
    are kept (funnel.rollups_defeats.deal_totals: a sum over a few rows per store-month), else (or ``live``) counted
    from the deals (the definition)."""
    totals = None if live else rollups_defeats.deal_totals(user=user, stores=stores, first=first, last=last, key=key)
    if totals is None:
        group = {"consultant_id": "lead__assigned_to", "store_id": "lead__store"}[key]
        rows = (Deal.objects.visible_to(user)
                .filter(lead__store__in=[st.pk for st in stores], ordered_at__gte=first, ordered_at__lte=last)
                .values(group).annotate(orders=Count("pk"), units=Sum("quantity"), revenue=Sum("price")).order_by()
                .values_list(group, "orders", "units", "revenue"))
        totals = {k: rest for k, *rest in rows}
    return {k: {"orders": orders, "units": units, "revenue": revenue} for k, (orders, units, revenue) in totals.items()}


def target_progress(*, user: User, store: Store, month: date, today: date | None = None) -> dict:
    """The month's targets for the store and its consultants against deals ordered in the month (units: the deals'
    quantities, a fleet order of five counting five; orders: the deals; revenue: their amounts), with a run-rate
    projection of the units to month end. The deals from the defeats' rollup rows (``deals_by``)."""
    today = today or timezone.localdate()
    first, last = calc.month_bounds(month)
    targets = list(
        Target.objects.visible_to(user).filter(store=store, month=first).select_related("consultant")
    )
    done = deals_by(user, [store], first, last, key="consultant_id")
    store_units = sum(row["units"] for row in done.values())
    store_orders = sum(row["orders"] for row in done.values())
    store_revenue = sum((row["revenue"] for row in done.values()), start=0)

    def line(target: Target | None, units: int, revenue, orders: int = 0) -> dict:
        return {
            "target_units": target.units if target else None,
            "target_revenue": target.revenue if target else None,
            "average_order_value": target.average_order_value if target else None,
            "units": units,
            "orders": orders,
            "revenue": revenue,
            "projected_units": calc.run_rate(done=units, month=first, today=today),
            "progress": calc.rate(units, target.units) if target else None,
        }

    store_target = next((t for t in targets if t.consultant_id is None), None)
    consultants = []
    for target in targets:
        if target.consultant_id is None:
            continue
        row = done.get(target.consultant_id, {})
        consultants.append({"consultant": target.consultant_id, "name": str(target.consultant),
                            **line(target, row.get("units", 0), row.get("revenue") or 0, row.get("orders", 0))})
    return {"month": first.isoformat(), "store": line(store_target, store_units, store_revenue, store_orders),
            "consultants": consultants}


def measured_promotion_rates(*, user: User, store: Store | None, today: date | None = None) -> dict:
    """The promotion rates of the last 12 months for a store (or everything the user sees): the ladder plan's
    default when no rates are given."""
    today = today or timezone.localdate()
    s = Slice(user=user, start=today - timedelta(days=365), end=today, stores=[store] if store else [])
    return promotion_rates(s)["rates"]


__all__ = ["GROUP_BY", "GRADE_ORDER", "Slice", "funnel_metrics", "ladder_counts", "promotion_rates",
           "target_progress", "measured_promotion_rates"]


# --- the dashboard's reads: nine control points per consultant, the monthly trend, progress per store -----------


@dataclass
class ControlPointRow:
    """One consultant's line of the control-point table (DOMAIN §4, the nine control points). ``consultant_id``
    None is the leads nobody holds. Rates are 0..1 (4 decimals) or None; counts are whole numbers."""

    consultant_id: int | None
    name: str | None
    store_name: str | None = None
    is_active: bool = True
    store_id: int | None = None  # the consultant's store now (a store team's row: that store)
    N: int = 0
    valid: int = 0
    K: float | None = None
    followed: int = 0
    F: float | None = None
    deals: int = 0
    C: float | None = None
    promotion: dict = field(default_factory=dict)  # "E->D" … "B->A", "E->A" → rate
    held: dict = field(default_factory=dict)
    promoted: dict = field(default_factory=dict)
    follow_ups: int = 0
    follow_ups_per_day: float | None = None
    rejected: int = 0
    overdue: int = 0
    stale: int = 0
    ladder: dict = field(default_factory=dict)  # "A" … "E", "ungraded" → active leads now
    active: int = 0


@dataclass
class ControlPoints:
    rows: list[ControlPointRow]
    total: ControlPointRow
    days: int  # the days the follow-ups are spread over


def _period_days(s: Slice, today: date) -> int:
    """The period's working days up to today. Showrooms open seven days a week (weekends are the busiest), so
    every calendar day counts."""
    return calc.overlap_days(s.start, s.end, s.start, today)


def _group_ids(s: Slice) -> list[int]:
    if s.stores:
        return sorted({st.group_id for st in s.stores})
    if s.user.dealer_group_id:
        return [s.user.dealer_group_id]
    from dealercrm.models import DealerGroup

    return list(DealerGroup.objects.values_list("pk", flat=True))


def stale_condition(*, group_ids: list[int], now: datetime) -> Q:
    """Active leads held in their grade longer than the grade's max dwell (DOMAIN §3, 滞留), as one Q over the
    lead's ``grade`` and ``grade_since`` with each group's own thresholds. One query per dealer group."""
    from leads.selectors import grade_rule_limits

    condition = Q(pk__in=[])
    for group_id in group_ids:
        limits = grade_rule_limits(group_id=group_id)
        by_grade = Q(pk__in=[])
        for grade, (_follow_up_days, max_dwell_days) in limits.items():
            # The dwell clock is the later of grade_since and the manager's last keep (as the stale job reads it).
            threshold = now - timedelta(days=max_dwell_days)
            by_grade |= Q(grade=grade, grade_since__lt=threshold) & (
                Q(dwell_kept_at__isnull=True) | Q(dwell_kept_at__lt=threshold))
        condition |= (by_grade & Q(store__group_id=group_id)) if len(group_ids) > 1 else by_grade
    return Q(status=Status.ACTIVE) & condition


def _kept_state_now(s: Slice, *, now: datetime) -> dict | None:
    """``state_now`` from the kept counts (funnel.lead_now), or None when they cannot answer: a slice by source,
    channel or series, another database than PostgreSQL, a raised max dwell not yet folded."""
    if s.source or s.channel_id or s.series_id or not lead_now.supported(rollups.read_database()):
        return None
    stores = Store.objects.visible_to(s.user)
    if s.stores:
        stores = stores.filter(pk__in=[st.pk for st in s.stores])
    consultant_id = s.consultant.pk if s.consultant is not None else None
    if s.user.role == Role.CONSULTANT and not s.user.is_superuser:  # a consultant sees their own leads only
        if consultant_id not in (None, s.user.pk):
            return {}
        consultant_id = s.user.pk
    return lead_now.read(store_ids=list(stores.values_list("pk", flat=True)), consultant_id=consultant_id, now=now,
                         using=rollups.read_database())


def state_now(s: Slice, *, now: datetime, live: bool = False) -> dict:
    """The slice's active leads now, per consultant: ``{consultant: {"A".."E", "ungraded", "active", "overdue",
    "stale"}}`` (overdue: next follow-up due before today; stale: held in the grade longer than the group's max dwell).
    From the counts the leads' triggers keep per store × consultant (funnel.lead_now: an index range per store, exact
    and live) for a slice of stores and a consultant on PostgreSQL; ``live``, a slice by source, channel or series,
    another database, or a raised max dwell not yet folded: counted over the active leads (the definition)."""
    kept = None if live else _kept_state_now(s, now=now)
    if kept is not None:
        return kept
    from leads.models import local_day_start

    stale = stale_condition(group_ids=_group_ids(s), now=now)
    return {
        row.pop("assigned_to"): row
        for row in s.leads().filter(status=Status.ACTIVE).values("assigned_to").annotate(
            **{g: _n(Q(grade=g)) for g in GRADES},
            ungraded=_n(Q(grade__isnull=True)),
            active=_n(),
            overdue=_n(Q(next_follow_up_at__lt=local_day_start(now))),
            stale=_n(stale),
        ).order_by()
    }


def control_points(s: Slice, *, now: datetime | None = None) -> ControlPoints:
    """Per consultant of the slice (a consultant's own slice: their row only), the nine control points:

    - cohort figures of the period: N, valid, K, followed, F, deals, C (definitions as in ``funnel_metrics``);
    - promotion rates over the period (as ``promotion_rates``), with the counts behind them;
    - follow-ups written in the period by the consultant on the slice's leads, per working day (every day of the
      period up to today), and how many of those records the manager rejected;
    - now: active leads per grade, overdue (next follow-up due before today) and stale (held in the grade longer
      than the group's max dwell) leads.

    ``total`` sums every row (leads nobody holds included). A fixed number of queries plus one per dealer group
    (the grade rules) and, for the promotion rates, one per store with days the ladder's drain has not recounted yet,
    whatever the number of consultants or leads: each figure family is one aggregate grouped by consultant (the
    cohort, the promotions and the follow-ups over their rollups, the state now over its kept counts).

    A consultant reads their own row only, whatever the slice names: a colleague who wrote follow-ups on one of
    their leads (the lead changed hands) is not a row of their table, and their total is their row."""
    now = now or timezone.now()
    own_only = s.user.role == Role.CONSULTANT and not s.user.is_superuser
    if own_only and s.consultant != s.user:
        s = replace(s, consultant=s.user)
    today = timezone.localtime(now).date()

    # 1. The cohort, grouped by consultant.
    cohort_rows = {key_values["consultant"]: counts
                   for key_values, counts in cohort_counts(s, consultant="assigned_to")}
    # 2. Promotion rates per consultant.
    promotions = promotion_rates(s, by_consultant=True)
    # 3. Follow-ups written in the period on the slice's leads, by author.
    follow_up_rows = follow_up_counts(s)
    # 4. The state now: the ladder, overdue and stale leads, from the kept counts (funnel.lead_now).
    now_rows = state_now(s, now=now)
    # 5. Who the rows are: the slice's active consultants, and whoever else holds figures (a consultant who left,
    # moved store or changed role), so that the rows add up to the store's figures.
    keyed = (*cohort_rows, *promotions, *now_rows)
    with_figures = {k for k in keyed if k is not None}
    # A follow-up author who is not a consultant (a manager logging a call) is no row of this table.
    authors = [k for k in follow_up_rows if k is not None]
    if s.user.role == User.Role.CONSULTANT:
        # A consultant's table is their own row: a colleague who wrote on a lead before handing it over is no row
        # of it (nor a name they may read).
        authors = [k for k in authors if k == s.user.pk]
    consultants = User.objects.visible_to(s.user).filter(role=User.Role.CONSULTANT, is_active=True)
    if s.consultant is not None:
        consultants = consultants.filter(pk=s.consultant.pk)
    elif s.stores:
        consultants = consultants.filter(store__in=[st.pk for st in s.stores])
    people = list(
        User.objects.filter(
            Q(pk__in=consultants.values("pk")) | Q(pk__in=with_figures)
            | Q(pk__in=authors, role=User.Role.CONSULTANT)
        )
        .select_related("store").order_by("store__name", "display_name", "username")
    )
    keys: list = [p.pk for p in people]
    if None in keyed:
        keys.append(None)
    if own_only:
        keys = [key for key in keys if key == s.user.pk]
    names = {p.pk: p for p in people}

    days = _period_days(s, today)
    empty_rates = {"rates": {}, "held": {}, "promoted": {}}

    def build(key) -> ControlPointRow:
        person = names.get(key)
        c, fu, nw = cohort_rows.get(key, {}), follow_up_rows.get(key, {}), now_rows.get(key, {})
        pr = promotions.get(key, empty_rates)
        return _control_row(
            consultant_id=key, name=str(person) if person else None,
            store_name=person.store.name if person and person.store_id else None,
            store_id=person.store_id if person else None,
            is_active=person.is_active if person else True,
            counts={name: c.get(name, 0) for name in ("N", "valid", "followed", "deals")},
            held=pr["held"], promoted=pr["promoted"],
            follow_ups=fu.get("n", 0), rejected=fu.get("rejected", 0), days=days,
            now_counts={name: nw.get(name, 0) for name in (*GRADES, "ungraded", "active", "overdue", "stale")},
        )

    rows = [build(key) for key in keys]
    return ControlPoints(rows=rows, total=_summed_row(rows, days=days, consultant_id=None, name=None), days=days)


def _summed_row(rows: list[ControlPointRow], *, days: int, **identity) -> ControlPointRow:
    """The rows' counts summed into one row, its rates computed from the sums. Each lead counts under one consultant
    only, so the per-consultant counts add up to the store's (and the group's)."""

    def summed(attr: str) -> dict:
        return {n: sum(getattr(r, attr).get(n, 0) for r in rows) for n in [*RUNG_NAMES.values(), "E->A"]}

    return _control_row(
        **identity,
        counts={name: sum(getattr(r, name) for r in rows) for name in ("N", "valid", "followed", "deals")},
        held=summed("held"), promoted=summed("promoted"),
        follow_ups=sum(r.follow_ups for r in rows), rejected=sum(r.rejected for r in rows), days=days,
        now_counts={
            **{g: sum(r.ladder[g] for r in rows) for g in (*GRADES, "ungraded")},
            **{name: sum(getattr(r, name) for r in rows) for name in ("active", "overdue", "stale")},
        },
    )


def control_points_by_team(points: ControlPoints) -> list[tuple[ControlPointRow, list]]:
    """The control points per store team, for a group's page: one row per store summing the rows of the consultants
    now at that store (where the per-consultant table lists them), stores by name, then one row for the leads nobody
    holds and anyone without a store. Returns ``(team row, its consultants' ids)`` pairs; the team rows add up to
    ``points.total``. The row's ``store_id`` and ``name`` are the store's (None: the last row)."""
    teams: dict = {}
    for row in points.rows:
        key = row.store_id if row.consultant_id is not None else None
        teams.setdefault(key, (row.store_name if key is not None else None, []))[1].append(row)
    ordered = sorted((key for key in teams if key is not None), key=lambda key: (teams[key][0] or "", key))
    if None in teams:
        ordered.append(None)
    return [(_summed_row(teams[key][1], days=points.days, consultant_id=None, name=teams[key][0], store_id=key,
                         store_name=teams[key][0]), [r.consultant_id for r in teams[key][1]]) for key in ordered]


def follow_up_counts(s: Slice, *, live: bool = False) -> dict:
    """The follow-ups that occurred in the period on the slice's leads, by author (a consultant filter: that
    consultant's own, on their leads): ``{author: {"n", "rejected"}}``, authors with none left out. From the
    follow-ups' rollup (funnel.rollups_followups) on PostgreSQL for a slice of stores and a consultant; ``live``, a
    slice by source, channel or series, or another database: counted from the follow-ups (the definition)."""
    from leads.models import FollowUp, ReviewStatus

    follow_ups = FollowUp.objects.filter(
        lead__in=s.leads().values("pk"), occurred_at__gte=s.start_at, occurred_at__lt=s.end_at
    )
    if s.consultant is not None:
        follow_ups = follow_ups.filter(created_by=s.consultant)
    if not (live or s.source or s.channel_id or s.series_id or not rollups_followups.supported(
            rollups.read_database())):
        return rollups_followups.read(s, live_follow_ups=follow_ups)
    return {
        row["created_by"]: {"n": row["n"], "rejected": row["rejected"]}
        for row in follow_ups.values("created_by").annotate(
            n=Count("pk"), rejected=Count("pk", filter=Q(review_status=ReviewStatus.REJECTED))
        ).order_by()
    }


def _control_row(*, consultant_id, name, counts, held, promoted, follow_ups, rejected, days, now_counts,
                 store_name=None, store_id=None, is_active=True) -> ControlPointRow:
    names = [*RUNG_NAMES.values(), "E->A"]
    held = {n: held.get(n, 0) for n in names}
    promoted = {n: promoted.get(n, 0) for n in names}
    return ControlPointRow(
        consultant_id=consultant_id, name=name, store_name=store_name, store_id=store_id, is_active=is_active,
        N=counts["N"], valid=counts["valid"], K=calc.rate(counts["valid"], counts["N"]),
        followed=counts["followed"], F=calc.rate(counts["followed"], counts["valid"]),
        deals=counts["deals"], C=calc.rate(counts["deals"], counts["followed"]),
        promotion={n: calc.rate(promoted[n], held[n]) for n in names}, held=held, promoted=promoted,
        follow_ups=follow_ups, follow_ups_per_day=round(follow_ups / days, 2) if days else None,
        rejected=rejected,
        overdue=now_counts["overdue"], stale=now_counts["stale"], active=now_counts["active"],
        ladder={g: now_counts[g] for g in (*GRADES, "ungraded")},
    )


def monthly_trend(s: Slice, *, months: int = 12) -> list[dict]:
    """The funnel month by month: the ``months`` calendar months up to the one holding ``s.end`` (the last month
    cut at ``s.end``), oldest first, every month present (an empty month has N 0 and null rates). Each item is
    ``{"month": "YYYY-MM-01", **figures}``. Three queries (``funnel_metrics`` grouped by month)."""
    first = s.end.replace(day=1)
    for _i in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    trend_slice = Slice(user=s.user, start=first, end=s.end, stores=s.stores, consultant=s.consultant,
                        source=s.source, channel_id=s.channel_id, series_id=s.series_id)
    grouped = {row["key"]: row for row in funnel_metrics(trend_slice, group_by="month")["results"]}
    empty = _figures(_empty_counts())
    series = []
    month = first
    while month <= s.end:
        key = month.isoformat()
        row = grouped.get(key)
        figures = {k: v for k, v in row.items() if k not in ("key", "label")} if row else dict(empty)
        series.append({"month": key, **figures})
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return series


def target_progress_by_store(*, user: User, stores: list[Store], month: date, today: date | None = None) -> list[dict]:
    """Each store's month target (units, revenue in CNY) against the deals ordered in the month, with the run-rate
    projection: the group admin's comparison. A fixed number of queries whatever the number of stores."""
    today = today or timezone.localdate()
    first, last = calc.month_bounds(month)
    store_ids = [st.pk for st in stores]
    targets = {
        t.store_id: t
        for t in Target.objects.visible_to(user).filter(store__in=store_ids, month=first, consultant__isnull=True)
    }
    done = deals_by(user, stores, first, last, key="store_id")
    lines = []
    for store in stores:
        target, row = targets.get(store.pk), done.get(store.pk, {})
        units, revenue = row.get("units", 0), row.get("revenue") or 0
        lines.append({
            "store": store.pk, "name": store.name,
            "target_units": target.units if target else None,
            "target_revenue": target.revenue if target else None,
            "units": units, "orders": row.get("orders", 0), "revenue": revenue,
            "projected_units": calc.run_rate(done=units, month=first, today=today),
            "progress": calc.rate(units, target.units) if target else None,
        })
    return lines


__all__ = [
    "GRADE_ORDER",
    "GROUP_BY",
    "ControlPointRow",
    "ControlPoints",
    "Slice",
    "control_points",
    "deals_by",
    "funnel_metrics",
    "ladder_counts",
    "measured_promotion_rates",
    "monthly_trend",
    "promotion_rates",
    "stale_condition",
    "target_progress",
    "target_progress_by_store",
]
