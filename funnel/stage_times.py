"""Time in stage: how long customers stay at each grade, how fast they climb, and which grade is slowing down.

Definitions (docs/funnel.md, "Time in stage"), for a slice of leads (funnel.selectors.Slice: stores, consultant,
source, channel, series, scoped to the reader) and a period of local days [start, end]:

- A **stay** at a grade starts with a grade change to it (the first one is written at the first visit when the
  customer was graded there, else at the follow-up that graded them) and ends with the lead's next event: the next
  grade change (``promoted`` up the ladder, ``demoted`` down it), a defeat or quasi-defeat filed and confirmed
  (``lost``: the filing ends the stay), or the deal (``deal``: the order day ends the stay). Its length is counted
  in whole local days (Asia/Shanghai): the end's day minus the start's day (a regrade the same day is 0 days).
- **Ended stays** of the period: the stays whose end day falls in [start, end]. ``n``: how many; ``median_days``
  and ``p80_days``: their median and 80th percentile, by linear interpolation between the closest ranks
  (PostgreSQL's ``percentile_cont``: for the sorted lengths v1..vn the p-th percentile sits at rank 1 + p·(n − 1)).
- **Open stays**: leads still active at the grade now (whatever the period): ``open`` counts them, ``open_median_days``
  is the median of their current age (today minus the day their grade was set), ``open_over_max_dwell`` those past
  the grade's max dwell (the group's grade rules). They are not in the percentiles: a stage that holds customers too
  long shows here first. A lead awaiting a defeat verdict is frozen: neither open nor ended.
- **Days to a grade**: for the leads that first reached the grade (their first change to it) in the period, the days
  from the first visit to that day; **days to the deal**: for the deals ordered in the period, the days from the
  lead's first visit to the order day.
- **Trend**: the ended stays' median and count per grade for the 12 months up to the period's end month, by the
  month the stay ended.
- **Rising**: a grade whose median stay over the last 3 of those months is at least 20 % (and 2 days) above its median
  over the 9 months before (each side with at least 5 ended stays): its customers are slowing down before they turn
  stale. Both sides count only the stays no longer than the history before the 12 months (the days from the
  slice's earliest stay to the first of the 12 months): a stay that ended early in the window cannot be longer than
  the history behind it, so without this cap a young history would make every grade look slower (no flag at all
  before there is history before the 12 months).

One SQL statement computes everything (the ended stays, the days to each grade, the open stays, the trend): a window
over each lead's events (grade changes and confirmed defeat filings) turns them into stays, and the percentiles are
``percentile_cont`` on PostgreSQL and the same interpolation from ``ROW_NUMBER``/``COUNT`` windows elsewhere (the
embedded SQLite default)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.expressions import RawSQL
from django.utils import timezone

from dealercrm.models import Role, Store, User, VehicleSeries
from defeats.models import Application, ApplicationStatus
from leads.models import Channel, Deal, GradeChange, Source, Status
from leads.rules import DEFAULT_RULES
from leads.selectors import grade_rule_limits

from . import calc, rollups_stays
from .models import Stay, StayMark
from .selectors import FIELD_KEYS, GRADES, Slice

GROUP_BY = ("consultant", "source", "channel", "series")
TREND_MONTHS = 12
RECENT_MONTHS = 3
RISING_RATIO = 1.2
RISING_MIN_N = 5
RISING_MIN_DAYS = 2  # and at least this many days longer: 3 days becoming 4 is no clog
EXITS = ("promoted", "demoted", "lost", "deal")
DEAL = "deal"
OVER = "over"  # an open stay past the grade's max dwell

# The statement's parts: each row of ``r`` is one stay (or one first reach, one open lead) of one part.
ENDED, TREND, REACH, OPEN, WINDOWS = 0, 1, 2, 3, 4
TOTAL = 10  # added to a part: the same rows without the group key (the totals beside the groups)


def _day(sql: str) -> tuple[str, list]:
    """The local calendar day of a timestamp column, as SQL for this database (Django's own conversion)."""
    out, params = connection.ops.datetime_cast_date_sql(sql, [], timezone.get_current_timezone_name())
    return out, list(params)


def _days_between(later: str, earlier: str) -> str:
    """Whole days from one date to a later one (both SQL dates)."""
    if connection.vendor == "postgresql":
        return f"({later} - {earlier})"
    return f"CAST(ROUND(julianday({later}) - julianday({earlier})) AS INTEGER)"


def percentile_select(columns: str, source: str, *, vendor: str | None = None) -> str:
    """``SELECT columns, n, median, p80 FROM source GROUP BY columns``: the median and 80th percentile of
    ``source.days`` per group, linearly interpolated between the closest ranks (``percentile_cont``). PostgreSQL
    computes them with ``percentile_cont``; other databases (SQLite) from ``ROW_NUMBER`` and ``COUNT`` windows:
    rank 1 + p·(n − 1), its integer part and fraction taken in integer arithmetic (p = 1/2, 4/5)."""
    vendor = vendor or connection.vendor
    if vendor == "postgresql":
        return (f"SELECT {columns}, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY days), "
                f"percentile_cont(0.8) WITHIN GROUP (ORDER BY days){_exit_counts()} "
                f"FROM {source} GROUP BY {columns}")

    def at(num: int, den: int) -> str:
        # The remainder as x - (x / d) * d: a literal "%" would be read as a parameter placeholder.
        base = f"((cnt - 1) * {num}) / {den}"
        frac = f"((cnt - 1) * {num} - {base} * {den}) * 1.0 / {den}"
        return (f"sum(CASE WHEN rn - 1 = {base} THEN days * (1 - {frac}) "
                f"WHEN rn - 1 = {base} + 1 THEN days * {frac} ELSE 0 END)")

    return (f"SELECT {columns}, count(*), {at(1, 2)}, {at(4, 5)}{_exit_counts()} FROM ("
            f"SELECT x.*, ROW_NUMBER() OVER (PARTITION BY {columns} ORDER BY days) AS rn, "
            f"COUNT(*) OVER (PARTITION BY {columns}) AS cnt FROM {source} x) w GROUP BY {columns}")


def _exit_counts() -> str:
    return "".join(f", sum(CASE WHEN how = '{e}' THEN 1 ELSE 0 END)" for e in (*EXITS, OVER))


def _months(end: date) -> list[date]:
    """The first days of the TREND_MONTHS months up to ``end``'s month, oldest first."""
    first = end.replace(day=1)
    months = [first]
    for _ in range(TREND_MONTHS - 1):
        months.insert(0, (months[0] - timedelta(days=1)).replace(day=1))
    return months


def max_dwell_for(s: Slice) -> dict[str, int]:
    """The max dwell per grade of the slice's dealer group (its grade rules; the defaults across several groups)."""
    groups = {st.group_id for st in s.stores}
    if not groups:
        user = s.user
        group = user.dealer_group_id or (user.store.group_id if user.store_id else None)
        groups = {group} if group else set()
    if len(groups) != 1:
        return {g: rule.max_dwell_days for g, rule in DEFAULT_RULES.items()}
    return {g: limits[1] for g, limits in grade_rule_limits(group_id=groups.pop()).items()}


def stage_times(s: Slice, *, group_by: str | None = None, today: date | None = None, live: bool = False,
                trend_only: bool = False) -> dict:
    """The figures of the module docstring for the slice and period, in one query. Returns ``{"grades": [...],
    "days_to": [...], "trend": {...}}`` and with ``group_by`` also ``"results"``: the same per group (consultant:
    the lead's consultant now; source, channel, series: the lead's). On PostgreSQL read from the kept stays
    (funnel.rollups_stays: the unmarked leads' rows, the marked leads' rows computed live, in one statement);
    elsewhere, or with ``live``, computed from the leads' events (``stage_times_live``, the reference).
    ``trend_only``: only the trend and the rising flag are wanted (the trend API); the kept path then leaves the
    period's ended stays, the days to each grade and the open stays out (zeros), the live path computes them anyway."""
    if group_by is not None and group_by not in GROUP_BY:
        raise ValueError(f"unknown group_by {group_by!r}")
    if live or not rollups_stays.enabled():
        return stage_times_live(s, group_by=group_by, today=today)
    return _stage_times_kept(s, group_by=group_by, today=today or timezone.localdate(), trend_only=trend_only)


def stage_times_live(s: Slice, *, group_by: str | None = None, today: date | None = None) -> dict:
    """``stage_times`` computed from the leads' events in one statement (the definition; the kept stays' oracle)."""
    if group_by is not None and group_by not in GROUP_BY:
        raise ValueError(f"unknown group_by {group_by!r}")
    today = today or timezone.localdate()
    months = _months(s.end)
    lo = min(s.start, months[0])
    lo_at = timezone.make_aware(datetime.combine(lo, time.min))
    dwell = max_dwell_for(s)
    key_path = FIELD_KEYS[group_by][0] if group_by else None
    key = {"k": F(key_path)} if key_path else {}

    # The leads whose stays can end (or whose grades can first be reached) from ``lo`` on: closed ones, and active
    # ones regraded since (an active lead whose grade was set before ``lo`` has had no event since).
    history = (s.leads(first_visit_at__lt=s.end_at).exclude(status=Status.ACTIVE, grade_since__lt=lo_at)
               .order_by().values("id", "status", "first_visit_day", **key))
    lead_sql, lead_params = history.query.sql_with_params()
    open_leads = (s.leads(status=Status.ACTIVE, grade__isnull=False, grade_since__isnull=False).order_by()
                  .values("grade", "grade_since", **key))
    open_sql, open_params = open_leads.query.sql_with_params()
    kcol = "l.k" if key_path else "NULL"
    okcol = "o.k" if key_path else "NULL"

    since_day, since_params = _day("sp.since")
    until_day, until_params = _day("sp.until")
    open_day, open_day_params = _day("o.grade_since")
    end_day = f"CASE WHEN sp.until IS NOT NULL THEN {until_day} ELSE d.ordered_at END"
    days = _days_between("st.end_day", "st.start_day")
    month_case = " ".join(f"WHEN st.end_day >= %s THEN {i}" for i in reversed(range(TREND_MONTHS)))
    over = " ".join(f"WHEN '{g}' THEN {int(dwell[g])}" for g in GRADES)
    gc, app, deal = GradeChange._meta.db_table, Application._meta.db_table, Deal._meta.db_table
    with_key = bool(key_path)
    totals = (f"UNION ALL SELECT part + {TOTAL}, NULL, grade, bucket, how, days FROM r0 "
              f"WHERE part IN ({ENDED}, {REACH}, {OPEN}) ") if with_key else ""
    sql = f"""
        WITH l AS ({lead_sql}),
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
            SELECT {kcol} AS k, sp.grade, sp.nth, l.first_visit_day, {since_day} AS start_day,
                   {end_day} AS end_day,
                   CASE WHEN sp.until IS NULL THEN (CASE WHEN d.ordered_at IS NOT NULL THEN '{DEAL}' END)
                        WHEN sp.next_grade IS NULL THEN 'lost'
                        WHEN sp.next_grade < sp.grade THEN 'promoted' ELSE 'demoted' END AS how
            FROM sp JOIN l ON l.id = sp.lead_id
            LEFT JOIN {deal} d ON d.lead_id = sp.lead_id AND sp.until IS NULL AND l.status = '{Status.WON.value}'
            WHERE sp.grade IS NOT NULL
        ),
        r0 AS (
            SELECT {ENDED} AS part, st.k, st.grade, 0 AS bucket, st.how,
                   CASE WHEN {days} < 0 THEN 0 ELSE {days} END AS days
            FROM st WHERE st.how IS NOT NULL AND st.end_day >= %s AND st.end_day <= %s
            UNION ALL
            SELECT {TREND}, NULL, st.grade, CASE {month_case} END, st.how,
                   CASE WHEN {days} < 0 THEN 0 ELSE {days} END
            FROM st WHERE st.how IS NOT NULL AND st.end_day >= %s AND st.end_day <= %s
            UNION ALL
            SELECT {WINDOWS}, NULL, st.grade, CASE WHEN st.end_day >= %s THEN 1 ELSE 0 END, st.how,
                   CASE WHEN {days} < 0 THEN 0 ELSE {days} END
            FROM st WHERE st.how IS NOT NULL AND st.end_day >= %s AND st.end_day <= %s
              AND {days} <= {_days_between("%s", "(SELECT MIN(y.start_day) FROM st y)")}
            UNION ALL
            SELECT {REACH}, st.k, st.grade, 0, NULL,
                   CASE WHEN {_days_between("st.start_day", "st.first_visit_day")} < 0 THEN 0
                        ELSE {_days_between("st.start_day", "st.first_visit_day")} END
            FROM st WHERE st.nth = 1 AND st.start_day >= %s AND st.start_day <= %s
            UNION ALL
            SELECT {REACH}, {kcol}, '{DEAL}', 0, NULL,
                   CASE WHEN {_days_between("d.ordered_at", "l.first_visit_day")} < 0 THEN 0
                        ELSE {_days_between("d.ordered_at", "l.first_visit_day")} END
            FROM l JOIN {deal} d ON d.lead_id = l.id
            WHERE l.status = '{Status.WON.value}' AND d.ordered_at >= %s AND d.ordered_at <= %s
            UNION ALL
            SELECT {OPEN}, {okcol}, o.grade, 0,
                   CASE WHEN {_days_between("%s", "o.day")} > CASE o.grade {over} END THEN '{OVER}' END,
                   {_days_between("%s", "o.day")}
            FROM (SELECT o.*, {open_day} AS day FROM ({open_sql}) o) o
        ),
        r AS (SELECT * FROM r0 {totals})
        {percentile_select("part, k, grade, bucket", "r")}
    """
    recent = months[-RECENT_MONTHS]
    d = connection.ops.adapt_datefield_value
    params = [
        *lead_params, *since_params, *until_params,
        d(s.start), d(s.end),  # ended
        *(d(m) for m in reversed(months)), d(months[0]), d(s.end),  # trend
        d(recent), d(months[0]), d(s.end), d(months[0]),  # the two windows of the rising flag
        d(s.start), d(s.end),  # first reach
        d(s.start), d(s.end),  # deals
        d(today), d(today), *open_day_params, *open_params,  # open
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return _shape(rows, s=s, group_by=group_by, months=months, dwell=dwell)


# --- the kept stays (funnel.rollups_stays), PostgreSQL -------------------------------------------------------------

_KEY_COLUMNS = {"consultant": "consultant_id", "source": "source", "channel": "channel_id", "series": "series_id"}
_STAY_COLUMNS = ("kind", "grade", "start_day", "end_day", "how", "days", "first", "reach_days", "first_visit_at",
                 "hold_since")
# The histograms' counts are summed as int4 (``c::int``; no count comes near 2^31): sum(int4) keeps a by-value bigint
# per group, sum(bigint) a numeric state allocated per group -- 8 MB for a store's twelve months, spilled to disk at
# the default work_mem, and a third of the statement's time (90 -> 60 ms for a store's month on the 1M bench).
# Inside the statement the grades and the exits are small integers (a grade its letter's code, a deal 0; an exit its
# place in EXITS, from 1): the rows are sorted and grouped four times on them, and integers compare in a fraction of
# the time text does under the database's collation. ``_GRADE_OF`` turns the grades back as the rows are fetched.
_GRADE_CODE = {**{g: ord(g) for g in GRADES}, DEAL: 0}
_GRADE_OF = {code: grade for grade, code in _GRADE_CODE.items()}
_HOW_CODE = "CASE how " + " ".join(f"WHEN '{e}' THEN {i}" for i, e in enumerate(EXITS, 1)) + " END"
_HOW_SUMS = ", ".join(f"sum(CASE WHEN how = {i} THEN c::int ELSE 0 END) AS {e}" for i, e in enumerate(EXITS, 1))
E, R, D, O = rollups_stays.ENDED, rollups_stays.REACH, rollups_stays.DEAL, rollups_stays.OPEN


def _lerp(p: str) -> str:
    """percentile_cont's value at fraction ``p`` of a histogram (``days``, ``c``) with running counts ``cum`` and
    total ``n``: rank pos = p·(n − 1) (0-based), the values at floor(pos) and ceil(pos) (the smallest days whose
    running count passes the rank), linearly interpolated as PostgreSQL's float8 lerp does."""
    pos = f"({p}::float8 * (n - 1)::float8)"
    lo = f"min(days) FILTER (WHERE cum > floor({pos}))"
    hi = f"min(days) FILTER (WHERE cum > ceil({pos}))"
    return f"({lo})::float8 + (({pos} - floor({pos})) * (({hi}) - ({lo}))::float8)"


def _whole_months(first: date, last: date, *, cut: date | None = None) -> list[date]:
    """The first days of the months that lie whole inside [first, last] and that ``cut`` (a day the figures split
    at) does not split."""
    # The day after ``last`` as calc's "today": a month is whole only up to its last day (a deal may be dated after
    # today, so the rollups' "nothing after today" does not hold for the stays).
    bounds = calc.whole_months(first, last, today=last + timedelta(days=1))
    if bounds is None:
        return []
    out = []
    month, final = bounds
    while month <= final:
        month_end = calc.month_bounds(month)[1]
        if cut is None or not month < cut <= month_end:
            out.append(month)
        month = month_end + timedelta(days=1)
    return out


def _gaps(first: date, last: date, months: list[date]) -> list[tuple[date, date]]:
    """The ranges of days of [first, last] outside the given months (first days)."""
    out, day = [], first
    for month in sorted(months):
        if day < month:
            out.append((day, month - timedelta(days=1)))
        day = max(day, calc.month_bounds(month)[1] + timedelta(days=1))
    if day <= last:
        out.append((day, last))
    return out


def _plan_hist(s: Slice, key: str | None) -> tuple[list[int], list[int]] | None:
    """Where the histograms (funnel.models.StayHist) serve the slice: (the dealer groups read whole from their group
    rows, the stores read from their store rows), or None when they cannot (a lead key narrows or groups the slice,
    or the reader sees only their own leads). Without a query, but for a superuser's every group: a group admin's
    dashboard over every store reads the group rows, a chosen store (or a manager's) its store rows."""
    user = s.user
    if key or s.consultant is not None or s.source or s.channel_id or s.series_id:
        return None
    if s.stores:
        stores = [st.pk for st in s.stores
                  if user.is_superuser or (user.role == Role.GROUP_ADMIN and st.group_id == user.dealer_group_id)
                  or (user.role == Role.MANAGER and st.pk == user.store_id)]
        return ([], sorted(stores)) if stores else None
    if user.is_superuser:
        return sorted(Store.objects.order_by().values_list("group_id", flat=True).distinct()), []
    if user.role == Role.GROUP_ADMIN and user.dealer_group_id:
        return [user.dealer_group_id], []
    if user.role == Role.MANAGER and user.store_id:
        return [], [user.store_id]
    return None


def _stage_times_kept(s: Slice, *, group_by: str | None, today: date, trend_only: bool = False) -> dict:
    """``stage_times`` from the kept stays: the same figures as ``stage_times_live``. Every source is turned into
    the same part rows (``rollups_stays.parts_sql``: ended stays, first reaches, deals, open grades, each with a
    count ``c``) and one tail turns them into histograms (a count per whole-day length, running sums, the same
    linear interpolation as ``percentile_cont``) instead of sorting every stay. The sources:

    - without a lead key, for a store manager or a group admin, the histograms (``StayHist``): the months that lie
      whole in a part's days from the month rows, per group for a view of every store, per store for chosen stores
      (``_plan_hist``); the other days of a group from its day rows, of a store from its Stay rows;
    - otherwise the Stay rows of the slice (index-only ranges: ended stays by end day, first reaches by start day);
    - the leads the drain has not rebuilt yet (marked): their Stay rows taken away where the histograms counted
      them, their rows computed live (``rollups_stays.rows_sql``) added, in the same statement."""
    months = _months(s.end)
    lo = min(s.start, months[0])
    lo_at = timezone.make_aware(datetime.combine(lo, time.min))
    dwell = max_dwell_for(s)
    d = connection.ops.adapt_datefield_value
    key = _KEY_COLUMNS[group_by] if group_by else None
    ranges = {E: (months[0] if trend_only else lo, s.end)}
    if not trend_only:
        ranges.update({R: (s.start, s.end), D: (s.start, s.end)})
    parts = [*ranges, *(() if trend_only else (O,))]
    plan = _plan_hist(s, key)
    whole_groups, store_level = plan or ([], [])
    whole: dict[str, list[date]] = {part: [] for part in parts}
    if plan:
        whole[E] = _whole_months(*ranges[E], cut=s.start)
        whole.update({part: _whole_months(*ranges[part]) for part in ranges if part != E})

    def days_of(part: str, *, outside_whole: bool) -> tuple[str, list]:
        """The part's days (``{day}``): all of them, or those outside its whole months (a few ranges of days)."""
        if part == O:
            return "TRUE", []
        first, last = ranges[part]
        spans = _gaps(first, last, whole[part]) if outside_whole else [(first, last)]
        if not spans:
            return "FALSE", []
        return ("(" + " OR ".join("({day} >= %s AND {day} <= %s)" for _span in spans) + ")",
                [d(x) for span in spans for x in span])

    # The marked leads, read once per statement into ``mk`` (the WITH below), and every use of them reads that:
    # the marks table is near empty and analysed so, but between two vacuums its index holds every mark the drains
    # removed, and a semi-join planned on "empty" probed all of them for every stay (10 s for a store's dashboard
    # with 15,000 removed marks, 0.2 s once vacuumed).
    marks = RawSQL("SELECT lead_id FROM mk", [])
    kept = (Stay.objects.visible_to(s.user).filter(**s.row_lookups())
            # NOT IN a (normally tiny) set of marked leads: a hashed subplan tested per row, where NOT EXISTS
            # became an index probe per stay (two thirds of the group's year at ten million leads).
            .exclude(lead_id__in=marks).order_by())
    kept_columns = ("store_id", *_KEY_COLUMNS.values(), *_STAY_COLUMNS)
    tk = f"t.{key}" if key else "NULL"
    sources: dict[str, list[tuple[str, list]]] = {part: [] for part in parts}

    def stay_rows(part: str, rows, condition: tuple[str, list], **kwargs) -> None:
        """The part's rows of ``rows``: a queryset of Stay rows, or (SQL, params) selecting ``kept_columns``."""
        if condition[0] != "FALSE":
            rows_sql, rows_params = (rows if isinstance(rows, tuple)
                                     else rows.values(*kept_columns).query.sql_with_params())
            sources[part].append(rollups_stays.parts_sql(f"({rows_sql})", list(rows_params), {part: condition},
                                                         **kwargs))

    hist = rollups_stays.HIST_TABLE
    columns = "NULL, store_id, part, grade, how, day, days, fv_day, hold_day, c"
    # The marked leads' Stay rows at the stores the histograms serve, found from the marks (an index probe a lead).
    taken = (f"SELECT {', '.join(f't.{c}' for c in kept_columns)} FROM mk CROSS JOIN LATERAL "
             f"(SELECT * FROM {Stay._meta.db_table} x WHERE x.lead_id = mk.lead_id) t "
             f"WHERE t.store_id IN (SELECT id FROM {Store._meta.db_table} WHERE group_id = ANY(%s)) "
             "OR t.store_id = ANY(%s)", [whole_groups, store_level])
    for part in parts if plan else ():
        if whole_groups:  # a whole group: its month rows, and its day rows for the other days
            if whole[part]:
                sources[part].append((f"SELECT {columns} FROM {hist} WHERE group_id = ANY(%s) AND store_id IS NULL "
                                      f"AND span = 'm' AND part = '{part}' AND day = ANY(%s::date[])",
                                      [whole_groups, [d(m) for m in whole[part]]]))
            condition, params = days_of(part, outside_whole=True)
            if condition != "FALSE":
                sources[part].append((f"SELECT {columns} FROM {hist} WHERE group_id = ANY(%s) AND store_id IS NULL "
                                      f"AND span = 'd' AND part = '{part}' AND {condition.format(day='day')}",
                                      [whole_groups, *params]))
        if store_level and (whole[part] or part == O):  # a store: its month rows (its open grades by day)
            span, condition, params = ("d", "TRUE", []) if part == O else (
                "m", "day = ANY(%s::date[])", [[d(m) for m in whole[part]]])
            sources[part].append((f"SELECT {columns} FROM {hist} WHERE store_id = ANY(%s) AND span = '{span}' "
                                  f"AND part = '{part}' AND {condition}", [store_level, *params]))
        if store_level and part != O:  # a store's other days: its Stay rows
            stay_rows(part, kept.filter(store_id__in=store_level), days_of(part, outside_whole=True))
        # The marked leads' Stay rows taken away where the histograms counted them: a group's every day, a store's
        # whole months.
        condition, params = days_of(part, outside_whole=False)
        if part != O:
            condition = (f"((t.store_id <> ALL(%s) AND {condition}) "
                         "OR date_trunc('month', {day})::date = ANY(%s::date[]))")
            params = [store_level, *params, [d(m) for m in whole[part]]]
        stay_rows(part, taken, (condition, params), sign=-1)
    for part in () if plan else parts:
        stay_rows(part, kept, days_of(part, outside_whole=False), key=tk)
    # The marked leads' rows, computed live.
    marked = s.leads(id__in=marks).order_by().values(*rollups_stays.LEAD_FIELDS)
    marked_sql, marked_params = marked.query.sql_with_params()
    live_sql, live_params = rollups_stays.rows_sql(marked_sql, list(marked_params))
    for part in parts:
        sources[part].append(rollups_stays.parts_sql("m", [], {part: days_of(part, outside_whole=False)}, key=tk))

    # The slice's earliest stay (the rising flag's history), kept: per store, the first row of its start-day index.
    history = (kept.filter(kind=Stay.Kind.STAY, first_visit_at__lt=s.end_at)
               .filter(Q(hold_since__isnull=True) | Q(hold_since__gte=lo_at))
               .filter(store_id=OuterRef("pk")).order_by("start_day").values("start_day")[:1])
    stores = Store.objects.visible_to(s.user)
    if s.stores:
        stores = stores.filter(pk__in=[st.pk for st in s.stores])
    first_sql, first_params = stores.order_by().annotate(first=Subquery(history)).values("first").query.sql_with_params()

    no_key = {None: "NULL", "source": "NULL::varchar"}.get(key, "NULL::bigint")  # typed as the key column
    lead_in = "(fv_day IS NULL OR fv_day <= %s) AND (hold_day IS NULL OR hold_day >= %s)"  # the live query's leads
    lead_params = [d(s.end), d(lo)]
    month_case = " ".join(f"WHEN day >= %s THEN {i}" for i in reversed(range(TREND_MONTHS)))
    over = " ".join(f"WHEN '{g}' THEN {int(dwell[g])}" for g in GRADES)
    recent = months[-RECENT_MONTHS]
    clamp = "CASE WHEN days < 0 THEN 0 ELSE days END"
    having = "HAVING sum(c::int) <> 0"
    period_parts = "" if trend_only else f"""UNION ALL
            SELECT {ENDED}, k, grade, 0, d, sum(c::int), {_HOW_SUMS}, 0 FROM e WHERE p GROUP BY k, grade, d {having}
            UNION ALL
            SELECT {REACH}, k, ascii(grade), 0, {clamp}, sum(c::int), 0, 0, 0, 0, 0
            FROM src_{R} WHERE part = '{R}' AND day >= %s AND day <= %s AND {lead_in}
            GROUP BY 2, 3, 5 {having}
            UNION ALL
            SELECT {REACH}, k, {_GRADE_CODE[DEAL]}, 0, {clamp}, sum(c::int), 0, 0, 0, 0, 0
            FROM src_{D} WHERE part = '{D}' AND day >= %s AND day <= %s AND {lead_in}
            GROUP BY 2, 5 {having}
            UNION ALL
            SELECT {OPEN}, k, ascii(grade), 0, %s - day, sum(c::int), 0, 0, 0, 0,
                   CASE WHEN %s - day > CASE grade {over} END THEN sum(c::int) ELSE 0 END
            FROM src_{O} WHERE part = '{O}' GROUP BY k, grade, day {having}"""
    totals = "" if not key else f"""UNION ALL
            SELECT part + {TOTAL}, NULL, grade, bucket, days, sum(c::int), sum(promoted::int), sum(demoted::int),
                   sum(lost::int), sum(deal::int), sum(over_n::int)
            FROM hist WHERE part IN ({ENDED}, {REACH}, {OPEN}) GROUP BY part, grade, bucket, days"""
    sql = f"""
        WITH mk AS MATERIALIZED (SELECT DISTINCT lead_id FROM {StayMark._meta.db_table}),
        m AS MATERIALIZED ({live_sql}),
        {"".join(f"""src_{part} ({", ".join(rollups_stays.PART_COLUMNS)}) AS NOT MATERIALIZED (
            {" UNION ALL ".join(source_sql for source_sql, _params in sources[part])}),
        """ for part in parts)}
        ms AS (SELECT LEAST((SELECT min(z.first) FROM ({first_sql}) z),
                            (SELECT min(start_day) FROM m WHERE kind = '{Stay.Kind.STAY.value}'
                             AND first_visit_at < %s AND (hold_since IS NULL OR hold_since >= %s))) AS day),
        e AS (
            SELECT k, ascii(grade) AS grade, {_HOW_CODE} AS how, {clamp} AS d, day >= %s AS p, CASE {month_case} END AS b,
                   CASE WHEN day >= %s AND days <= %s - (SELECT day FROM ms)
                        THEN (CASE WHEN day >= %s THEN 1 ELSE 0 END) END AS w,
                   sum(c::int) AS c
            FROM src_{E} WHERE part = '{E}' AND day >= %s AND day <= %s AND {lead_in}
            GROUP BY 1, 2, 3, 4, 5, 6, 7
        ),
        hist AS (
            SELECT {TREND} AS part, {no_key} AS k, grade, b AS bucket, d AS days, sum(c::int) AS c, {_HOW_SUMS},
                   0 AS over_n
            FROM e WHERE b IS NOT NULL GROUP BY grade, b, d {having}
            UNION ALL
            SELECT {WINDOWS}, {no_key}, grade, w, d, sum(c::int), {_HOW_SUMS}, 0 FROM e WHERE w IS NOT NULL
            GROUP BY grade, w, d {having}
            {period_parts}
        ),
        h AS (SELECT * FROM hist {totals}),
        cum AS (
            SELECT h.*, sum(c::int) OVER (PARTITION BY part, k, grade, bucket ORDER BY days) AS cum,
                   sum(c::int) OVER (PARTITION BY part, k, grade, bucket) AS n
            FROM h
        )
        SELECT part, k, grade, bucket, n::bigint, {_lerp("0.5")}, {_lerp("0.8")},
               sum(promoted::int), sum(demoted::int), sum(lost::int), sum(deal::int), sum(over_n::int)
        FROM cum GROUP BY part, k, grade, bucket, n
    """
    at = connection.ops.adapt_datetimefield_value
    params = [
        *live_params, *(p for part in parts for _sql, source_params in sources[part] for p in source_params),
        *first_params, at(s.end_at), at(lo_at),  # ms
        d(s.start), *(d(m) for m in reversed(months)), d(months[0]), d(months[0]), d(recent),  # e's columns
        d(ranges[E][0]), d(s.end), *lead_params,  # e's rows
    ]
    if not trend_only:
        params += [
            d(s.start), d(s.end), *lead_params,  # first reach
            d(s.start), d(s.end), *lead_params,  # deals
            d(today), d(today),  # open
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [(part, k, _GRADE_OF[grade], *rest) for part, k, grade, *rest in cursor.fetchall()]
    return _shape(rows, s=s, group_by=group_by, months=months, dwell=dwell)


def _num(value) -> float | None:
    return None if value is None else round(float(value), 1)


def _empty_grade(grade: str, dwell: dict) -> dict:
    return {"grade": grade, "n": 0, "median_days": None, "p80_days": None, **dict.fromkeys(EXITS, 0),
            "open": 0, "open_median_days": None, "open_p80_days": None, "open_over_max_dwell": 0,
            "max_dwell_days": dwell.get(grade)}


def _shape(rows, *, s: Slice, group_by: str | None, months: list[date], dwell: dict) -> dict:
    ended: dict = {}  # (is_total, key) -> grade -> figures
    reach: dict = {}
    trend: dict = {g: [{"month": m.isoformat()[:7], "n": 0, "median_days": None} for m in months] for g in GRADES}
    windows: dict = {}
    for part, key, grade, bucket, n, median, p80, *exits in rows:
        total = part >= TOTAL or group_by is None
        part = part % TOTAL
        if part == TREND:
            trend[grade][int(bucket)].update(n=n, median_days=_num(median))
        elif part == WINDOWS:
            windows[(grade, int(bucket))] = (n, median)
        elif part == REACH:
            reach.setdefault((total, key), {})[grade] = {"stage": grade, "n": n, "median_days": _num(median),
                                                         "p80_days": _num(p80)}
        else:
            figures = ended.setdefault((total, key), {}).setdefault(grade, _empty_grade(grade, dwell))
            if part == ENDED:
                figures.update(n=n, median_days=_num(median), p80_days=_num(p80), **dict(zip(EXITS, exits)))
            else:
                figures.update(open=n, open_median_days=_num(median), open_p80_days=_num(p80),
                               open_over_max_dwell=exits[-1])

    def grades_of(bucket_key) -> list[dict]:
        by_grade = ended.get(bucket_key, {})
        return [by_grade.get(g) or _empty_grade(g, dwell) for g in GRADES]

    def days_to(bucket_key) -> list[dict]:
        found = reach.get(bucket_key, {})
        return [found.get(stage) or {"stage": stage, "n": 0, "median_days": None, "p80_days": None}
                for stage in (*reversed(GRADES), DEAL)]

    total_grades = grades_of((True, None))
    for row in total_grades:
        recent_n, recent_median = windows.get((row["grade"], 1), (0, None))
        prior_n, prior_median = windows.get((row["grade"], 0), (0, None))
        row["recent_median_days"], row["prior_median_days"] = _num(recent_median), _num(prior_median)
        row["rising"] = bool(recent_n >= RISING_MIN_N and prior_n >= RISING_MIN_N and prior_median is not None
                             and recent_median is not None
                             and float(recent_median) >= RISING_RATIO * float(prior_median)
                             and float(recent_median) - float(prior_median) >= RISING_MIN_DAYS)
    out = {"start": s.start, "end": s.end, "grades": total_grades, "days_to": days_to((True, None)),
           "trend": {"months": [m.isoformat()[:7] for m in months], "grades": trend}}
    if group_by is not None:
        keys = {key for (total, key) in [*ended, *reach] if not total}
        labels = _labels(group_by, keys)
        out["results"] = [{"key": key, "label": labels.get(key, ""), "grades": grades_of((False, key)),
                           "days_to": days_to((False, key))}
                          for key in sorted(keys, key=lambda k: (k is None, str(labels.get(k, ""))))]
    return out


def _labels(group_by: str, keys: set) -> dict:
    """The groups' names in the reader's language: one query for consultants, channels or series."""
    ids = [k for k in keys if k is not None]
    if group_by == "source":
        return {k: str(Source(k).label) for k in ids if k in Source.values}
    if group_by == "consultant":
        return {u.pk: str(u) for u in User.objects.filter(pk__in=ids)}
    if group_by == "channel":
        return {c.pk: str(c) for c in Channel.objects.filter(pk__in=ids)}
    return {v.pk: f"{v.brand.label} {v.label}" for v in VehicleSeries.objects.filter(pk__in=ids).select_related("brand")}
