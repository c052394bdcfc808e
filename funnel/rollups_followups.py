"""The control points' workload columns (follow-ups written in the period, and how many the manager rejected) kept per
day × store × author × the lead's current consultant (``FollowUpDay``), so a period's counts are a SUM instead of a
count over the follow-ups of every lead of the slice. Kept by the same design as the funnel's rollups (funnel.rollups,
docs/scaling.md): database triggers mark the store-days a write may change (``RollupMark`` of kind ``f``), the one
drain recounts them from the base tables, and a reader sums the rows of the unmarked store-days and counts the marked
ones live in the same statement, so the answer is exact at once.

The live definition (funnel.selectors.follow_up_counts): the follow-ups whose ``occurred_at`` falls in the period,
on the slice's leads (merged leads left out; a consultant filter is the lead's consultant), by author. A follow-up
is dated by its local day; its row is keyed by its lead's store and current consultant, so a follow-up's write
(insert, delete, a change of its lead, time, author or review) marks its day, and a lead's change of consultant or
merged status marks the days of all its follow-ups (UTC day -1, 0, +1, as funnel.rollups' triggers do).

PostgreSQL only (statement-level triggers with transition tables); elsewhere the counts are counted live.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from django.db import connections, transaction
from django.db.models import BooleanField, Count, Exists, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate
from django.utils import timezone

from leads.models import FollowUp, ReviewStatus, Status

from . import calc, rollups_months
from .models import FollowUpDay, FollowUpMonth, RollupMark

FOLLOW_UPS = RollupMark.Kind.FOLLOW_UPS.value
ROW = ("store_id", "day", "author_id", "consultant_id", "n", "rejected")

_DAYS = "CROSS JOIN (VALUES (-1), (0), (1)) d(o)"
_FOLLOW_UP_COLUMNS = ("lead_id", "occurred_at", "created_by_id", "review_status")
_CHANGED = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in _FOLLOW_UP_COLUMNS)

_PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION funnel_followups_lead_marks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO funnel_rollupmark (store_id, day, kind)
  SELECT DISTINCT f.store_id, (f.occurred_at AT TIME ZONE 'UTC')::date + d.o, 'f'
  FROM old_rows o JOIN new_rows n ON n.id = o.id JOIN leads_followup f ON f.lead_id = n.id {_DAYS}
  WHERE (o.store_id, o.assigned_to_id, o.status = 'merged') IS DISTINCT FROM
        (n.store_id, n.assigned_to_id, n.status = 'merged');
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION funnel_followups_marks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT n.store_id, (n.occurred_at AT TIME ZONE 'UTC')::date + d.o, 'f' FROM new_rows n {_DAYS};
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT o.store_id, (o.occurred_at AT TIME ZONE 'UTC')::date + d.o, 'f' FROM old_rows o {_DAYS};
  ELSE
    INSERT INTO funnel_rollupmark (store_id, day, kind)
    SELECT DISTINCT k.store_id, (k.occurred_at AT TIME ZONE 'UTC')::date + d.o, 'f'
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    CROSS JOIN LATERAL (VALUES (o.store_id, o.occurred_at), (n.store_id, n.occurred_at)) k(store_id, occurred_at)
    {_DAYS}
    WHERE {_CHANGED};
  END IF;
  RETURN NULL;
END $$;
"""

_TRIGGERS = (
    ("leads_lead", "funnel_followups_lead_marks", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("leads_followup", "funnel_followups_marks", "INSERT", "NEW TABLE AS new_rows"),
    ("leads_followup", "funnel_followups_marks", "DELETE", "OLD TABLE AS old_rows"),
    ("leads_followup", "funnel_followups_marks", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
)


def _pg_statements() -> list[str]:
    from . import rollups

    return rollups.transition_triggers(_PG_FUNCTIONS, _TRIGGERS)


def supported(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def triggers_installed(using: str = "default") -> bool:
    from . import rollups

    return rollups.pg_triggers_named(r"funnel\_followups\_%", using=using) == len(_TRIGGERS)


def triggers_install(using: str = "default") -> None:
    from . import rollups

    rollups.run_statements(_pg_statements(), using=using)


def ensure_installed(using: str = "default", **_kwargs) -> None:
    """After ``migrate`` (funnel.apps): install the triggers; when they were missing, recount every row."""
    if not supported(using):
        return
    tables = set(connections[using].introspection.table_names())
    if not {"leads_lead", "leads_followup", FollowUpDay._meta.db_table, RollupMark._meta.db_table} <= tables:
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
    """Drop the day and month rows (of ``store_ids``) and mark every store-day that has follow-ups (the rebuild; call
    inside the drain lock): the drain recounts the days and sums their months again."""
    if not supported(using):
        return
    rows = FollowUpDay.objects.using(using).all()
    months = FollowUpMonth.objects.using(using).all()
    store_filter, params = "", []
    if store_ids is not None:
        rows, months = rows.filter(store_id__in=store_ids), months.filter(store_id__in=store_ids)
        store_filter, params = "WHERE f.store_id = ANY(%s)", [list(store_ids)]
    rows.delete()
    months.delete()  # a month with no follow-up left gets no mark: its old sums would stay
    with connections[using].cursor() as cursor:
        cursor.execute(
            "INSERT INTO funnel_rollupmark (store_id, day, kind) "
            "SELECT DISTINCT f.store_id, (f.occurred_at AT TIME ZONE 'UTC')::date + d.o, 'f' "
            f"FROM leads_followup f {_DAYS} {store_filter}", params)


# --- recounting --------------------------------------------------------------------------------------------------


def followup_rows(store_id: int, days: Iterable[date], *, using: str = "default") -> list[tuple]:
    """The rows (``ROW`` tuples) of a store's days, counted from the follow-ups (one query)."""
    from . import rollups

    days = set(days)
    if not days:
        return []
    follow_ups = (FollowUp.objects.using(using).filter(rollups.day_spans("occurred_at", days), store_id=store_id)
                  .exclude(lead__status=Status.MERGED).order_by()
                  .values_list("occurred_at", "created_by_id", "lead__assigned_to_id", "review_status"))
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for occurred_at, author, consultant, review in follow_ups:
        day = rollups._local_day(occurred_at)
        if day in days:
            counts = sums[(day, author, consultant)]
            counts[0] += 1
            counts[1] += int(review == ReviewStatus.REJECTED)
    return [(store_id, *key, n, rejected) for key, (n, rejected) in sums.items()]


_SELECT = """
SELECT f.store_id, (f.occurred_at AT TIME ZONE %(tz)s)::date AS day, f.created_by_id, l.assigned_to_id, count(*),
       count(*) FILTER (WHERE f.review_status = '{rejected}')
FROM leads_followup f JOIN leads_lead l ON l.id = f.lead_id
WHERE l.status <> '{merged}' AND {scope}
GROUP BY 1, 2, 3, 4
"""


def followup_select(*, keys: list[tuple[int, date]] | None = None,
                    store_ids: list[int] | None = None) -> tuple[str, dict]:
    """The rows (``ROW`` columns) of ``keys``' (store, local day) pairs, or of every day of ``store_ids`` (None:
    every store), as one PostgreSQL SELECT and its parameters: what ``followup_rows`` counts (the drain and the
    rebuild recount set-based with it; funnel.rollups.RollupKind)."""
    from . import rollups

    scope, params = rollups._scope_sql("f.store_id", "(f.occurred_at AT TIME ZONE %(tz)s)::date", keys=keys,
                                       store_ids=store_ids)
    if keys is not None:  # a range of the (store, occurred_at) index around the batch's days
        days = params["key_days"]
        scope += " AND f.occurred_at >= %(start)s AND f.occurred_at < %(end)s"
        params |= {"start": rollups._midnight(min(days)), "end": rollups._midnight(max(days) + timedelta(days=1))}
    sql = _SELECT.format(scope=scope, merged=Status.MERGED.value, rejected=ReviewStatus.REJECTED.value)
    return sql, {"tz": timezone.get_current_timezone_name(), **params}


def recount(store_id: int, days: set[date], *, using: str = "default") -> None:
    """Replace the rows of a store's days with a fresh count (the drain, inside its lock)."""
    from . import rollups

    rows = followup_rows(store_id, days, using=using)
    FollowUpDay.objects.using(using).filter(store_id=store_id, day__in=days).delete()
    rollups._write(FollowUpDay, ROW, rows, using=using)


# --- reading -----------------------------------------------------------------------------------------------------


def read(s, *, live_follow_ups) -> dict:
    """``{author: {"n", "rejected"}}`` for the slice (funnel.selectors.Slice: stores and a consultant) and period:
    the rows of the unmarked store-days summed, and ``live_follow_ups`` (the slice's follow-ups in the period, the
    live definition's queryset) of the marked store-days counted, in one statement."""
    from . import rollups

    # The rollup rows as SQL (built as querysets they cost more Python than their statement's run): the reader's
    # scope, the slice's stores and consultant; the whole months from their month rows (funnel.rollups_months) when
    # their store-month has no mark, the other days from the day rows of the unmarked store-days.
    where, params = rollups_months.scope_sql(s.user, s.stores)
    if s.consultant is not None:
        where += " AND r.consultant_id = %s AND r.author_id = %s"
        params += [s.consultant.pk, s.consultant.pk]
    months = calc.whole_months(s.start, s.end, today=timezone.localdate()) if rollups_months.ENABLED else None
    unmarked, unmarked_params = rollups_months.unmarked_day_sql(FOLLOW_UPS)
    sums = "SELECT r.author_id, sum(r.n), sum(r.rejected) FROM {table} r WHERE {where} AND {condition} GROUP BY 1"
    parts = [(sums.format(table=FollowUpDay._meta.db_table, where=where, condition=f"{unmarked} AND {span}"),
              [*params, *unmarked_params, *span_params])
             for span, span_params in rollups_months.day_spans_sql(FOLLOW_UPS, start=s.start, end=s.end, months=months)]
    if months is not None:
        d = connections["default"].ops.adapt_datefield_value
        month_unmarked, month_params = rollups_months.unmarked_month_sql(FOLLOW_UPS)
        parts.append((sums.format(table=FollowUpMonth._meta.db_table, where=where,
                                  condition=f"r.month >= %s AND r.month <= %s AND {month_unmarked}"),
                      [*params, d(months[0]), d(months[1]), *month_params]))
    marks = RollupMark.objects.filter(kind=FOLLOW_UPS)
    # The marked store-days' follow-ups, found from the marks: their stores and days as arrays (computed once) that
    # the (store, local day) index ranges over, then the exact pairs; not a scan of the period's follow-ups.
    in_period = f"FROM {RollupMark._meta.db_table} WHERE kind = %s AND day >= %s AND day <= %s"
    period = [FOLLOW_UPS, s.start, s.end]
    table = FollowUp._meta.db_table
    marked = (live_follow_ups.annotate(local_day=TruncDate("occurred_at"))
              .filter(RawSQL(f"{table}.store_id = ANY(ARRAY(SELECT DISTINCT store_id {in_period}))", period,
                             output_field=BooleanField()),
                      RawSQL(f"({table}.occurred_at AT TIME ZONE %s)::date = ANY(ARRAY(SELECT DISTINCT day "
                             f"{in_period}))", [timezone.get_current_timezone_name(), *period],
                             output_field=BooleanField()),
                      Exists(marks.filter(store_id=OuterRef("store_id"), day=OuterRef("local_day"))))
              .values("created_by").annotate(n=Count("pk"), rejected=Count(
                  "pk", filter=Q(review_status=ReviewStatus.REJECTED))).order_by())
    marked_sql, marked_params = marked.query.sql_with_params()
    parts.append((marked_sql, list(marked_params)))
    sql, params = rollups_months.union_sql(parts)
    with connections[rollups.read_database()].cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    out: dict = {}
    for author, n, rejected in fetched:
        into = out.setdefault(author, {"n": 0, "rejected": 0})
        into["n"] += n or 0
        into["rejected"] += rejected or 0
    return {author: counts for author, counts in out.items() if counts["n"]}


__all__ = ["FOLLOW_UPS", "followup_rows", "read", "recount"]
