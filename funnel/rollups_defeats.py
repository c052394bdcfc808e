"""The dashboard's defeat figures (control point 7: defeats.selectors.funnel_figures) and loss by stage
(defeats.stages.loss_by_stage) kept per day × store × consultant × grade at filing × highest grade (× reason)
(``DefeatDay``), so a period's figures are a SUM over those rows instead of a count over the period's applications,
deals and win-backs. Kept by the funnel's rollup design (funnel.rollups, docs/scaling.md): database triggers mark the
store-days a write may change (``RollupMark`` of kind ``d``), the one drain recounts them from the base tables with
the definition (``defeat_rows``; on PostgreSQL its set-based form, ``defeat_select``), and a reader sums the rows of
the unmarked store-days and counts the marked ones from the base tables in the same snapshot, so the answer is exact
at once.

The definitions (defeats/selectors.py, docs/defeats.md), by local day: an application counts on the day it was filed
(``applications``; ``pending`` while it awaits its verdict) and on the day of its verdict (``defeats``,
``quasi_defeats``: confirmed; ``rejected``), under its store and consultant; a confirmed one also under each of its
reasons (rows with ``reason_id``); a deal on its order day under its won lead's store and holder now, with its units
and amount (the month's target progress: ``deal_totals``); a win-back on its day under its application's store and
consultant. So an application's write marks its filing and verdict days,
a reason's write its application's verdict day, a deal's write its order day, a lead's change of store, holder or
status its deal's order day, a win-back's write its day (a timestamp's UTC day -1, 0, +1, as funnel.rollups' triggers
do).

PostgreSQL only (statement-level triggers with transition tables); elsewhere the figures are counted live.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta

from django.db import connections, transaction
from django.db.models import Count, F, QuerySet
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from dealercrm.models import Role, Store, User
from defeats.models import Application, ApplicationReason, ApplicationStatus, DefeatEvent, EventKind, Kind, Reason
from leads.models import Deal
from leads.models import Status as LeadStatus

from . import calc
from .models import DefeatDay, DefeatMonth, RollupMark

DEFEATS = RollupMark.Kind.DEFEATS.value
MONTHS = RollupMark.Kind.DEFEAT_MONTHS.value
# The defeat figures' counts; then the deals' units and amounts (target progress, ``deal_totals``).
FIGURES = ("applications", "pending", "defeats", "quasi_defeats", "rejected", "deals", "win_backs")
COUNTS = (*FIGURES, "units", "revenue")
ROW = ("store_id", "day", "consultant_id", "grade_at_filing", "highest_grade", "reason_id", *COUNTS)
KEY_WIDTH = 5  # day, consultant, grade at filing, highest grade, reason

_DAYS = "CROSS JOIN (VALUES (-1), (0), (1)) d(o)"
_APP_COLUMNS = ("store_id", "consultant_id", "applied_at", "decided_at", "status", "kind", "grade_at_filing",
                "highest_grade")


def _cols(alias: str, columns: Iterable[str]) -> str:
    return ", ".join(f"{alias}.{c}" for c in columns)


def _mark(select: str) -> str:
    """Mark the (store_id, day) pairs ``select`` gives: the day (kind d) and its month (kind m)."""
    return (f"WITH k(store_id, day) AS ({select}) INSERT INTO funnel_rollupmark (store_id, day, kind) "
            f"SELECT store_id, day, '{DEFEATS}' FROM k UNION "
            f"SELECT store_id, date_trunc('month', day)::date, '{MONTHS}' FROM k;")


def _app_days(rows: str) -> str:
    return _mark(f"SELECT DISTINCT k.store_id, (k.t AT TIME ZONE 'UTC')::date + d.o FROM {rows} "
                 f"CROSS JOIN LATERAL (VALUES (x.store_id, x.applied_at), (x.store_id, x.decided_at)) k(store_id, t) "
                 f"{_DAYS} WHERE k.t IS NOT NULL")


def _verdict_days(rows: str) -> str:
    return _mark(f"SELECT DISTINCT a.store_id, (a.decided_at AT TIME ZONE 'UTC')::date + d.o "
                 f"FROM {rows} JOIN defeats_application a ON a.id = x.application_id {_DAYS} "
                 f"WHERE a.decided_at IS NOT NULL")


def _order_days(rows: str) -> str:
    return _mark(f"SELECT DISTINCT l.store_id, x.ordered_at FROM {rows} JOIN leads_lead l ON l.id = x.lead_id")


def _win_back_days(rows: str) -> str:
    return _mark(f"SELECT DISTINCT a.store_id, (x.at AT TIME ZONE 'UTC')::date + d.o FROM {rows} "
                 f"JOIN defeats_application a ON a.id = x.application_id {_DAYS} WHERE x.kind = 'won_back'")


def _both(columns: Iterable[str] | None = None) -> str:
    """The old and the new rows of an UPDATE as ``x`` (only those that changed ``columns``, when given)."""
    where = ""
    if columns:
        where = f"WHERE ({_cols('o', columns)}) IS DISTINCT FROM ({_cols('n', columns)})"
    return (f"(SELECT o.* FROM old_rows o JOIN new_rows n ON n.id = o.id {where} UNION ALL "
            f"SELECT n.* FROM new_rows n JOIN old_rows o ON o.id = n.id {where}) x")


def _function(name: str, insert: str, delete: str, update: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {insert}
  ELSIF TG_OP = 'DELETE' THEN
    {delete}
  ELSE
    {update}
  END IF;
  RETURN NULL;
END $$;
"""


_PG_FUNCTIONS = "".join([
    _function("funnel_defeats_app_marks", _app_days("new_rows x"), _app_days("old_rows x"),
              _app_days(_both(_APP_COLUMNS))
              # An application moved to another store or consultant moves its win-backs too.
              + _mark(f"SELECT DISTINCT k.store_id, (e.at AT TIME ZONE 'UTC')::date + d.o "
                      f"FROM old_rows o JOIN new_rows n ON n.id = o.id "
                      f"JOIN defeats_defeatevent e ON e.application_id = n.id AND e.kind = 'won_back' "
                      f"CROSS JOIN LATERAL (VALUES (o.store_id), (n.store_id)) k(store_id) {_DAYS} "
                      f"WHERE (o.store_id, o.consultant_id) IS DISTINCT FROM (n.store_id, n.consultant_id)")),
    _function("funnel_defeats_reason_marks", _verdict_days("new_rows x"), _verdict_days("old_rows x"),
              _verdict_days(_both())),
    _function("funnel_defeats_deal_marks", _order_days("new_rows x"), _order_days("old_rows x"),
              _order_days(_both(("lead_id", "ordered_at", "quantity", "price")))),
    _function("funnel_defeats_event_marks", _win_back_days("new_rows x"), _win_back_days("old_rows x"),
              _win_back_days(_both(("application_id", "kind", "at")))),
    f"""
CREATE OR REPLACE FUNCTION funnel_defeats_lead_marks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_mark("SELECT DISTINCT k.store_id, dl.ordered_at FROM old_rows o JOIN new_rows n ON n.id = o.id "
          "JOIN leads_deal dl ON dl.lead_id = n.id CROSS JOIN LATERAL (VALUES (o.store_id), (n.store_id)) k(store_id) "
          "WHERE (o.store_id, o.assigned_to_id, o.status) IS DISTINCT FROM (n.store_id, n.assigned_to_id, n.status)")}
  RETURN NULL;
END $$;
""",
])

_EVENTS = (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
           ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"))
_TRIGGERS = (
    *(("defeats_application", "funnel_defeats_app_marks", e, r) for e, r in _EVENTS),
    *(("defeats_applicationreason", "funnel_defeats_reason_marks", e, r) for e, r in _EVENTS),
    *(("leads_deal", "funnel_defeats_deal_marks", e, r) for e, r in _EVENTS),
    *(("defeats_defeatevent", "funnel_defeats_event_marks", e, r) for e, r in _EVENTS),
    ("leads_lead", "funnel_defeats_lead_marks", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
)
_TABLES = {"leads_lead", "leads_deal", "defeats_application", "defeats_applicationreason", "defeats_defeatevent"}


def supported(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def triggers_installed(using: str = "default") -> bool:
    from . import rollups

    return rollups.pg_triggers_named(r"funnel\_defeats\_%", using=using) == len(_TRIGGERS)


def triggers_install(using: str = "default") -> None:
    from . import rollups

    rollups.run_statements(rollups.transition_triggers(_PG_FUNCTIONS, _TRIGGERS), using=using)


def ensure_installed(using: str = "default", **_kwargs) -> None:
    """After ``migrate`` (funnel.apps): install the triggers; when they were missing, mark every store-day that has
    something to count and drain."""
    if not supported(using):
        return
    tables = set(connections[using].introspection.table_names())
    if not {*_TABLES, DefeatDay._meta.db_table, DefeatMonth._meta.db_table, RollupMark._meta.db_table} <= tables:
        return
    missing = not triggers_installed(using)
    triggers_install(using)
    if missing:
        from . import rollups

        with transaction.atomic(using):
            rollups._locked(using, wait=True)
            for kind in (DEFEATS, MONTHS):
                rollups._mark_scope(kind, rollups.KINDS[kind], store_ids=None, using=using)
        rollups.drain(using=using, kinds=[DEFEATS, MONTHS])


def register() -> None:
    """This kind in funnel.rollups.KINDS (funnel.apps): the drain, the rebuild and the reconciliation handle it."""
    from . import rollups

    rollups.KINDS[DEFEATS] = rollups.RollupKind(DefeatDay, ROW, len(COUNTS), defeat_rows, defeat_days,
                                                defeat_select, supported=supported)
    rollups.KINDS[MONTHS] = rollups.RollupKind(DefeatMonth, ROW, len(COUNTS), month_rows, month_days,
                                               month_select, supported=supported)


# --- counting ------------------------------------------------------------------------------------------------------


def _local_day(moment: datetime) -> date:
    return timezone.localtime(moment).date()


def defeat_days(store_ids: list[int] | None, *, using: str, month: bool = False):
    """The (store, day) pairs the base tables hold something to count for (a rebuild marks them); ``month``: the
    first days of their months."""

    def trunc(expression):
        return TruncMonth(expression) if month else expression

    apps = Application.objects.using(using).order_by()
    deals = Deal.objects.using(using).order_by()
    events = DefeatEvent.objects.using(using).filter(kind=EventKind.WON_BACK, application__isnull=False).order_by()
    if store_ids is not None:
        apps, deals = apps.filter(store_id__in=store_ids), deals.filter(lead__store_id__in=store_ids)
        events = events.filter(application__store_id__in=store_ids)
    return (apps.annotate(d=trunc(TruncDate("applied_at"))).values_list("store_id", "d").order_by()
            .union(apps.filter(decided_at__isnull=False).annotate(d=trunc(TruncDate("decided_at")))
                   .values_list("store_id", "d").order_by(),
                   deals.annotate(d=trunc(F("ordered_at"))).values_list("lead__store_id", "d").order_by(),
                   events.annotate(d=trunc(TruncDate("at"))).values_list("application__store_id", "d").order_by())
            .order_by())


def month_days(store_ids: list[int] | None, *, using: str):
    return defeat_days(store_ids, using=using, month=True)


def defeat_rows(store_id: int, days: Iterable[date], *, using: str = "default") -> list[tuple]:
    """The rows (``ROW`` tuples) of a store's days, counted from the applications, their reasons, the deals and the
    win-backs (the definition; four queries)."""
    from . import rollups

    days = set(days)
    if not days:
        return []
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(COUNTS))
    apps = Application.objects.using(using).filter(store_id=store_id).order_by()
    for applied_at, consultant, gaf, hg, status in apps.filter(rollups.day_spans("applied_at", days)).values_list(
            "applied_at", "consultant_id", "grade_at_filing", "highest_grade", "status"):
        day = _local_day(applied_at)
        if day in days:
            counts = sums[(day, consultant, gaf, hg, None)]
            counts[0] += 1
            counts[1] += int(status == ApplicationStatus.PENDING)
    decided = list(apps.filter(rollups.day_spans("decided_at", days)).values_list(
        "pk", "decided_at", "consultant_id", "grade_at_filing", "highest_grade", "status", "kind"))
    decided = [row for row in decided if _local_day(row[1]) in days]
    reasons: dict[int, list[int]] = defaultdict(list)
    confirmed = [row[0] for row in decided if row[5] == ApplicationStatus.CONFIRMED]
    if confirmed:
        for application_id, reason_id in ApplicationReason.objects.using(using).filter(
                application_id__in=confirmed).values_list("application_id", "reason_id"):
            reasons[application_id].append(reason_id)
    for pk, decided_at, consultant, gaf, hg, status, kind in decided:
        day = _local_day(decided_at)
        if status == ApplicationStatus.REJECTED:
            sums[(day, consultant, gaf, hg, None)][4] += 1
        elif status == ApplicationStatus.CONFIRMED:
            column = 2 if kind == Kind.DEFEAT else 3
            sums[(day, consultant, gaf, hg, None)][column] += 1
            for reason_id in reasons[pk]:
                sums[(day, consultant, gaf, hg, reason_id)][column] += 1
    for ordered_at, holder, quantity, price in (
            Deal.objects.using(using).filter(lead__store_id=store_id, lead__status=LeadStatus.WON, ordered_at__in=days)
            .values_list("ordered_at", "lead__assigned_to_id", "quantity", "price")):
        counts = sums[(ordered_at, holder, None, None, None)]
        counts[5] += 1
        counts[7] += quantity
        counts[8] += price
    for at, consultant in (DefeatEvent.objects.using(using)
                           .filter(rollups.day_spans("at", days), kind=EventKind.WON_BACK,
                                   application__store_id=store_id)
                           .values_list("at", "application__consultant_id")):
        day = _local_day(at)
        if day in days:
            sums[(day, consultant, None, None, None)][6] += 1
    return [(store_id, *key, *counts) for key, counts in sums.items() if any(counts)]


def month_rows(store_id: int, months: Iterable[date], *, using: str = "default") -> list[tuple]:
    """The month rows of a store's months (their first days; any other day has none): ``defeat_rows`` of every day
    of the month, summed by the other keys."""
    months = {m for m in months if m.day == 1}
    days = set()
    for first in months:
        day = first
        while day.month == first.month:
            days.add(day)
            day += timedelta(days=1)
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(COUNTS))
    for row in defeat_rows(store_id, days, using=using):
        into = sums[(row[1].replace(day=1), *row[2:2 + KEY_WIDTH - 1])]
        for i, n in enumerate(row[1 + KEY_WIDTH:]):
            into[i] += n
    return [(store_id, *key, *counts) for key, counts in sums.items() if any(counts)]


# The same rows as one PostgreSQL SELECT (the drain's, the rebuild's and the reconciliation's recount, as the funnel's
# other kinds): the applications on their filing day, their verdicts on their verdict day (a confirmed one also under
# each reason), the won leads' deals on their order day and the win-backs on their day, summed per key. ``{day}``
# turns a row's day into the key's (the day itself, or its month's first day); each part reads only ``{scope}``'s
# stores and, for a batch of keys, the moments of their days (``%(lo)s`` to ``%(hi)s``).
_DEFEAT_SQL = f"""
SELECT x.store_id, {{day}} AS k, x.consultant_id, x.gaf, x.hg, x.reason_id, sum(x.applications), sum(x.pending),
       sum(x.defeats), sum(x.quasi), sum(x.rejected), sum(x.deals), sum(x.win_backs), sum(x.units), sum(x.revenue)
FROM (
  SELECT a.store_id, (a.applied_at AT TIME ZONE %(tz)s)::date AS day, a.consultant_id,
         a.grade_at_filing AS gaf, a.highest_grade AS hg, NULL::bigint AS reason_id, 1 AS applications,
         CASE WHEN a.status = '{ApplicationStatus.PENDING.value}' THEN 1 ELSE 0 END AS pending, 0 AS defeats,
         0 AS quasi, 0 AS rejected, 0 AS deals, 0 AS win_backs, 0 AS units, 0::numeric AS revenue
  FROM {Application._meta.db_table} a WHERE {{apps}} AND {{applied}}
  UNION ALL
  SELECT a.store_id, (a.decided_at AT TIME ZONE %(tz)s)::date, a.consultant_id, a.grade_at_filing,
         a.highest_grade, r.reason_id, 0, 0,
         CASE WHEN a.status = '{ApplicationStatus.CONFIRMED.value}' AND a.kind = '{Kind.DEFEAT.value}' THEN 1 ELSE 0 END,
         CASE WHEN a.status = '{ApplicationStatus.CONFIRMED.value}' AND a.kind <> '{Kind.DEFEAT.value}' THEN 1 ELSE 0 END,
         CASE WHEN a.status = '{ApplicationStatus.REJECTED.value}' THEN 1 ELSE 0 END, 0, 0, 0, 0
  FROM {Application._meta.db_table} a
  CROSS JOIN LATERAL (SELECT NULL::bigint AS reason_id UNION ALL
                      SELECT ar.reason_id FROM {ApplicationReason._meta.db_table} ar
                      WHERE ar.application_id = a.id AND a.status = '{ApplicationStatus.CONFIRMED.value}') r
  WHERE {{apps}} AND {{decided}}
    AND a.status IN ('{ApplicationStatus.CONFIRMED.value}', '{ApplicationStatus.REJECTED.value}')
  UNION ALL
  SELECT l.store_id, d.ordered_at, l.assigned_to_id, NULL, NULL, NULL, 0, 0, 0, 0, 0, 1, 0, d.quantity, d.price
  FROM {Deal._meta.db_table} d JOIN leads_lead l ON l.id = d.lead_id
  WHERE {{leads}} AND l.status = '{LeadStatus.WON.value}' AND {{ordered}}
  UNION ALL
  SELECT a.store_id, (e.at AT TIME ZONE %(tz)s)::date, a.consultant_id, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 1, 0, 0
  FROM {DefeatEvent._meta.db_table} e JOIN {Application._meta.db_table} a ON a.id = e.application_id
  WHERE {{apps}} AND e.kind = '{EventKind.WON_BACK.value}' AND {{won_back}}
) x
WHERE {{scope}}
GROUP BY 1, 2, 3, 4, 5, 6"""


def _select(*, keys: list[tuple[int, date]] | None, store_ids: list[int] | None, month: bool) -> tuple[str, dict]:
    from . import rollups

    day = "date_trunc('month', x.day)::date" if month else "x.day"
    scope, params = rollups._scope_sql("x.store_id", day, keys=keys, store_ids=store_ids)
    params["tz"] = timezone.get_current_timezone_name()
    parts = dict.fromkeys(("apps", "leads", "applied", "decided", "ordered", "won_back"), "TRUE")
    if keys is not None or store_ids is not None:
        parts["apps"], parts["leads"] = "a.store_id = ANY(%(stores)s::bigint[])", "l.store_id = ANY(%(stores)s::bigint[])"
    if keys is not None:
        days = params["key_days"]
        first, last = min(days), max(days)
        if month:  # the keys are the months' first days: through the last one's last day
            last = calc.month_bounds(last)[1]
        params |= {"lo": rollups._midnight(first), "hi": rollups._midnight(last + timedelta(days=1)),
                   "first": first, "last": last}
        for part, column in (("applied", "a.applied_at"), ("decided", "a.decided_at"), ("won_back", "e.at")):
            parts[part] = f"{column} >= %(lo)s AND {column} < %(hi)s"
        parts["ordered"] = "d.ordered_at >= %(first)s AND d.ordered_at <= %(last)s"
    else:
        parts["decided"] = "a.decided_at IS NOT NULL"
    return _DEFEAT_SQL.format(day=day, scope=scope, **parts), params


def defeat_select(*, keys: list[tuple[int, date]] | None = None,
                  store_ids: list[int] | None = None) -> tuple[str, dict]:
    """``defeat_rows``' rows of ``keys``' (store, day) pairs, or of every day of ``store_ids`` (None: every store),
    as one PostgreSQL SELECT and its parameters."""
    return _select(keys=keys, store_ids=store_ids, month=False)


def month_select(*, keys: list[tuple[int, date]] | None = None,
                 store_ids: list[int] | None = None) -> tuple[str, dict]:
    """``month_rows``' rows of ``keys``' (store, first day of a month) pairs, or of every month of ``store_ids``,
    as one PostgreSQL SELECT and its parameters."""
    return _select(keys=keys, store_ids=store_ids, month=True)


# --- reading -------------------------------------------------------------------------------------------------------


@contextmanager
def _snapshot(using: str):
    """One snapshot for the reads of an answer (the rows, the marks, the marked days' live count): a REPEATABLE READ
    transaction, unless the caller's transaction is already open (then it is the caller's)."""
    connection = connections[using]
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic(using):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _scope(user: User, stores, consultant):
    """The stores the reader sees (of ``stores``) as a queryset of ids, the consultant the rows are narrowed to, and
    False when the reader may see nothing of it."""
    visible = Store.objects.visible_to(user)
    if stores:
        visible = visible.filter(pk__in=[st.pk for st in stores])
    consultant_id = consultant.pk if consultant is not None else None
    if user.role == Role.CONSULTANT and not user.is_superuser:
        if consultant_id not in (None, user.pk):
            return visible.none().values("pk"), None, False
        consultant_id = user.pk
    return visible.values("pk"), consultant_id, True


def _spans(start: date, end: date) -> list[tuple[str, date, date]]:
    """[start, end] as the whole calendar months in it (kind m, first days) and the days outside them (kind d)."""
    first_full = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    after = end + timedelta(days=1)
    last_full = after.replace(day=1)  # the first day after the last whole month
    if first_full >= last_full:
        return [(DEFEATS, start, end)]
    spans = [(MONTHS, first_full, (last_full - timedelta(days=1)).replace(day=1))]
    if start < first_full:
        spans.append((DEFEATS, start, first_full - timedelta(days=1)))
    if last_full <= end:
        spans.append((DEFEATS, last_full, end))
    return spans


def _rows(*, store_ids: QuerySet, consultant_id: int | None, start: date, end: date, using: str,
          keys: tuple[str, ...], counts: tuple[str, ...], reasons: bool | None = False) -> list[tuple]:
    """The summed rows of [start, end] for ``keys``, as (key values..., counts...): its whole months from the month
    rows, the days outside them from the day rows; the unmarked store-days (store-months) summed by the database, the
    marked ones counted from the base tables (``defeat_rows``, ``month_rows``) and added. ``store_ids`` and
    ``consultant_id``: the reader's scope as ``_scope`` gives it (a consultant's own rows are their ``consultant_id``).
    ``reasons``: the rows by reason (False: the application rows, ``reason_id`` null; None: both, to be told apart by
    a ``reason_id`` key). Two queries per span (its marks, its rows), whatever the stores."""
    out: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(counts))
    index = {name: i for i, name in enumerate(ROW)}
    # As SQL text (built as querysets, the reads cost more Python than their statements' run).
    stores_sql, stores_params = store_ids.query.sql_with_params()
    stores, stores_params = f"IN ({stores_sql})", list(stores_params)
    where, params = [], []
    if reasons is not None:
        where.append(f"r.reason_id IS {'NOT ' if reasons else ''}NULL")
    if consultant_id is not None:
        where.append("r.consultant_id = %s")
        params.append(consultant_id)
    columns = ", ".join(f"r.{key}" for key in keys)
    sums = ", ".join(f"sum(r.{c})" for c in counts)
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    connection = connections[using]
    for kind, lo, hi in _spans(start, end):
        model, count = (DefeatMonth, month_rows) if kind == MONTHS else (DefeatDay, defeat_rows)
        marks = defaultdict(set)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT DISTINCT m.store_id, m.day FROM {RollupMark._meta.db_table} m WHERE m.kind = %s "
                           f"AND m.day >= %s AND m.day <= %s AND m.store_id {stores}", [kind, lo, hi, *stores_params])
            for store_id, day in cursor.fetchall():
                marks[store_id].add(day)
        unmarked = [("NOT (r.store_id = %s AND r.day = ANY(%s))", [store_id, sorted(days)])
                    for store_id, days in marks.items()]
        conditions = " ".join(f"AND {condition}" for condition in
                              [*where, *(condition for condition, _p in unmarked)])
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns}, {sums} FROM {model._meta.db_table} r WHERE r.store_id {stores} "
                           f"AND r.day >= %s AND r.day <= %s {conditions} GROUP BY {group}",
                           [*stores_params, lo, hi, *params, *(p for _c, ps in unmarked for p in ps)])
            for row in cursor.fetchall():
                into = out[tuple(row[:len(keys)])]
                for i, value in enumerate(row[len(keys):]):
                    into[i] += value or 0
        for store_id, days in marks.items():
            for row in count(store_id, days, using=using):
                if consultant_id is not None and row[index["consultant_id"]] != consultant_id:
                    continue
                if reasons is not None and (row[index["reason_id"]] is not None) != reasons:
                    continue
                into = out[tuple(row[index[k]] for k in keys)]
                for i, c in enumerate(counts):
                    into[i] += row[index[c]]
    return [(*key, *values) for key, values in out.items() if any(values)]


def _days(start_at: datetime, end_at: datetime) -> tuple[date, date] | None:
    """The local days [start, end] that [start_at, end_at) covers when both are local midnights, else None."""
    start, after = timezone.localtime(start_at), timezone.localtime(end_at)
    if start.time() != time.min or after.time() != time.min:
        return None
    return start.date(), after.date() - timedelta(days=1)


# The counts of a consultant's defeat figures (``defeat_figures``' rows); the rates are computed from them.
FIGURE_COUNTS = ("applications", "pending", "defeats", "quasi_defeats", "rejected", "pending_now", "deals")


def summed_figures(rows: dict, keys: Iterable) -> dict:
    """The defeat figures of several consultants (``keys`` of ``defeat_figures``' ``rows``; None: the leads nobody
    holds) summed, their rates computed from the sums (a store team's line of the group's control points)."""
    from defeats import selectors as defeat_selectors

    return defeat_selectors._rates({k: sum((rows.get(key) or {}).get(k) or 0 for key in keys) for k in FIGURE_COUNTS})


def defeat_figures(*, user: User, period, stores: list[Store] | None = None, consultant: User | None = None) -> dict:
    """defeats.selectors.funnel_figures (its definition and shape: ``total``, ``rows`` per consultant, ``target``
    for one store) from the rollup rows; the applications awaiting a verdict now (``pending_now``, whenever filed)
    from the pending applications' index; the store's target line from the rollup rows of the year so far and the
    same days a year earlier. Elsewhere than PostgreSQL: the live count."""
    from defeats import selectors as defeat_selectors

    from . import rollups

    using = rollups.read_database()
    if not supported(using):
        return defeat_selectors.funnel_figures(user=user, period=period, stores=stores, consultant=consultant)
    store_ids, consultant_id, sees = _scope(user, stores, consultant)
    empty = dict.fromkeys(FIGURE_COUNTS, 0)
    rows: dict = defaultdict(lambda: dict(empty))
    win_backs = 0
    if sees:
        with _snapshot(using):
            summed = _rows(store_ids=store_ids, consultant_id=consultant_id, start=period.start, end=period.end,
                           using=using, keys=("consultant_id",), counts=FIGURES)
            pending = Application.objects.using(using).visible_to(user).filter(
                status=ApplicationStatus.PENDING, store_id__in=store_ids)
            if consultant_id is not None:
                pending = pending.filter(consultant_id=consultant_id)
            waiting = {r["consultant"]: r["n"] for r in pending.values("consultant").annotate(n=Count("pk")).order_by()}
        for consultant_key, *values in summed:
            counts = dict(zip(FIGURES, values, strict=True))
            win_backs += counts.pop("win_backs")
            if any(counts.values()):
                rows[consultant_key].update(counts)
        for consultant_key, n in waiting.items():
            rows[consultant_key]["pending_now"] = n
    total = {k: sum(row[k] for row in rows.values()) for k in empty}
    total["win_backs"] = win_backs
    out = {"total": defeat_selectors._rates(total),
           "rows": {k: defeat_selectors._rates(row) for k, row in rows.items()}}
    if stores and len(stores) == 1 and consultant is None:
        today = min(timezone.localdate(), period.end)
        with _snapshot(using):
            out["target"] = _target_line(user, store=stores[0], year=period.end.year, today=today,
                                         store_ids=store_ids, consultant_id=consultant_id, using=using)
    return out


def _target_line(user: User, *, store: Store, year: int, today: date, store_ids, consultant_id: int | None,
                 using: str) -> dict:
    """The store's line of defeats.selectors.target_progress (its definition and shape): the defeat rate of the
    year so far against the same days a year earlier and against the store's target, from the rollup rows (the
    year's whole months from the month rows) and the target."""
    from defeats.models import DefeatTarget
    from defeats.selectors import Period

    this = Period(date(year, 1, 1), min(today, date(year, 12, 31)))
    last = this.year_before()

    def counted(period) -> tuple[int, int, int]:
        if period.start > period.end:
            return 0, 0, 0
        rows = _rows(store_ids=store_ids, consultant_id=consultant_id, start=period.start, end=period.end,
                     using=using, keys=("store_id",), counts=("defeats", "quasi_defeats", "deals"))
        return next((tuple(row[1:]) for row in rows if row[0] == store.pk), (0, 0, 0))

    defeats, quasi, deals = counted(this)
    last_defeats, _quasi, last_deals = counted(last)
    target = dict(DefeatTarget.objects.using(using).visible_to(user).filter(store__in=[store], year=year)
                  .values_list("store_id", "rate")).get(store.pk)

    def rate(lost, won):
        return round(lost / (won + lost), 4) if won + lost else None

    def pp(a, b):
        return None if a is None or b is None else round((float(a) - float(b)) * 100, 1)

    now_rate, last_rate = rate(defeats, deals), rate(last_defeats, last_deals)
    return {"store": store.pk, "label": store.name, "target": float(target) if target is not None else None,
            "defeat_rate": now_rate, "last_year": last_rate, "change_pp": pp(now_rate, last_rate),
            "gap_pp": pp(now_rate, target), "defeats": defeats, "quasi_defeats": quasi, "deals": deals}


def loss_by_stage(*, user: User, start_at, end_at, stores: list[Store] | None = None,
                  consultant: User | None = None, key: str = "grade_at_filing") -> dict:
    """defeats.stages.loss_by_stage (its definition and shape) from the rollup rows: the confirmed defeats and
    quasi-defeats decided in the period per grade (``key``), with their reasons. Elsewhere than PostgreSQL, or a
    period that is not whole local days: the live count."""
    from defeats import stages

    from . import rollups

    using = rollups.read_database()
    days = _days(start_at, end_at)
    if key not in stages.STAGE_KEYS or not supported(using) or days is None:
        return stages.loss_by_stage(user=user, start_at=start_at, end_at=end_at, stores=stores,
                                    consultant=consultant, key=key)
    store_ids, consultant_id, sees = _scope(user, stores, consultant)
    counted, by_reason = [], []
    if sees:
        with _snapshot(using):
            # The application rows and the rows by reason in one read (a ``reason_id`` key tells them apart).
            both = _rows(store_ids=store_ids, consultant_id=consultant_id, start=days[0], end=days[1],
                         using=using, keys=(key, "reason_id"), counts=("defeats", "quasi_defeats"), reasons=None)
        counted = [(grade, defeats, quasi) for grade, reason, defeats, quasi in both if reason is None]
        by_reason = [row for row in both if row[1] is not None]
    rows: dict = {}
    for grade, defeats, quasi in counted:
        rows[grade] = {"grade": grade, "defeats": defeats, "quasi_defeats": quasi, "lost": defeats + quasi,
                       "reasons": []}
    names = {r.pk: r for r in Reason.objects.filter(pk__in={reason for _g, reason, *_n in by_reason})}
    cells = sorted(((grade, names[reason], defeats + quasi) for grade, reason, defeats, quasi in by_reason),
                   key=lambda c: (-c[2], c[1].sort_order, c[1].code))
    totals: dict = {}
    for grade, reason, n in cells:
        entry = {"key": reason.pk, "code": reason.code, "label": Reason(name=reason.name, name_en=reason.name_en).label,
                 "name": reason.name, "name_en": reason.name_en}
        if grade in rows:
            rows[grade]["reasons"].append({**entry, "lost": n})
        totals.setdefault(reason.pk, {**entry, "lost": 0})["lost"] += n
    order = {g: i for i, g in enumerate(stages.LADDER)}
    ordered = sorted(rows.values(), key=lambda row: order.get(row["grade"], len(stages.LADDER)))
    reasons = sorted(totals.values(), key=lambda r: -r["lost"])
    return {"rows": ordered, "reasons": reasons, "total": sum(row["lost"] for row in ordered)}


def deal_totals(*, user: User, stores: list[Store], first: date, last: date, key: str) -> dict | None:
    """The deals ordered in [first, last] at ``stores`` (the won leads' store now), per ``key`` (``consultant_id``:
    the lead's holder now; ``store_id``): {key value: (orders, units, revenue)}, from the rollup rows (whole months
    from the month rows), exact and live as the other readers here. The reader's scope applies (a consultant: their
    own deals). None where the rollup is not kept (SQLite): the caller counts the deals."""
    from . import rollups

    using = rollups.read_database()
    if not supported(using):
        return None
    store_ids, consultant_id, sees = _scope(user, stores, None)
    if not sees:
        return {}
    with _snapshot(using):
        rows = _rows(store_ids=store_ids, consultant_id=consultant_id, start=first, end=last, using=using,
                     keys=(key,), counts=("deals", "units", "revenue"))
    return {row[0]: tuple(row[1:]) for row in rows}


__all__ = ["DEFEATS", "deal_totals", "defeat_figures", "defeat_rows", "loss_by_stage", "register"]
