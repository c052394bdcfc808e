"""The promotion ladder's rollup: the promotion rates (funnel.selectors.promotion_rates) read as sums over a few rows
per store × day × consultant × grade (``LadderDay``) instead of a window over every grade change of the leads. Kept
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

PostgreSQL only (statement-level triggers with transition tables); elsewhere (the embedded SQLite) the promotion
rates are counted live, as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from django.db import connections, transaction
from django.db.models import Exists, OuterRef, Q, Sum

from leads.models import GradeChange, Status

from .models import LadderDay, RollupMark

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
        rollups.drain(using=using, batch=2000)


def mark_all(*, using: str = "default", store_ids: list[int] | None = None) -> None:
    """Drop the ladder rows (of ``store_ids``) and mark every store-day that has grade changes (the rebuild; call
    inside the drain lock): the drain recounts them, readers count them live meanwhile."""
    if not supported(using):
        return
    rows = LadderDay.objects.using(using).all()
    store_filter, params = "", []
    if store_ids is not None:
        rows = rows.filter(store_id__in=store_ids)
        store_filter, params = "WHERE l.store_id = ANY(%s)", [list(store_ids)]
    rows.delete()
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


def recount(store_id: int, days: set[date], *, using: str = "default") -> None:
    """Replace the ladder rows of a store's days with a fresh count (the drain, inside its lock)."""
    from . import rollups

    rows = ladder_rows(store_id, days, using=using)
    LadderDay.objects.using(using).filter(store_id=store_id, day__in=days).delete()
    rollups._write(LadderDay, ROW, rows, using=using)


# --- reading -----------------------------------------------------------------------------------------------------


def _conditions(start: date, end: date) -> dict[str, Q]:
    """Per count, which rows count for the period [start, end] (every row read has ``day <= end``), and the sign."""
    first = Q(prev_day__isnull=True) | Q(prev_day__lt=start)
    return {
        "opened": first,
        "closed": Q(day__lt=start),
        "promoted": Q(day__gte=start) & first,
        "reached": first,
        "reach_closed": Q(day__lt=start, reach_day__lte=end),
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


def promotion_counts(*, user, start: date, end: date, store_ids: list[int] | None, consultant_id: int | None,
                     by_consultant: bool, using: str) -> dict:
    """``{who: {grade: {"held", "promoted", "reached"}}}`` for the period from the rows of the unmarked store-days
    and the marked ones recounted now (who: the consultant, or None for everyone). ``store_ids`` None: every store
    ``user`` sees."""
    from dealercrm.models import Role, Store

    rows = LadderDay.objects.using(using).visible_to(user).filter(day__lte=end)
    stores = Store.objects.using(using).visible_to(user)
    if store_ids is not None:
        rows, stores = rows.filter(store_id__in=store_ids), stores.filter(pk__in=store_ids)
    own = user.role == Role.CONSULTANT and not user.is_superuser
    if consultant_id is not None:
        rows = rows.filter(consultant_id=consultant_id)
    marks = RollupMark.objects.using(using).filter(kind=LADDER, day__lte=end)
    summed = (rows.filter(~Exists(marks.filter(store_id=OuterRef("store_id"), day=OuterRef("day"))))
              .values(*(("consultant", "grade") if by_consultant else ("grade",)))
              .annotate(**{f"sum_{name}": Sum(name, filter=condition)
                           for name, condition in _conditions(start, end).items()})
              .order_by())
    totals: dict = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(COUNTS, 0)))
    for row in summed:
        into = totals[row["consultant"] if by_consultant else None][row["grade"]]
        for name in COUNTS:
            into[name] += row[f"sum_{name}"] or 0
    marked: dict[int, set[date]] = defaultdict(set)
    for store_id, day in marks.filter(store_id__in=stores.values("pk")).values_list("store_id", "day").distinct():
        marked[store_id].add(day)
    for store_id, days in marked.items():
        for values in ladder_rows(store_id, days, using=using):
            row = dict(zip(ROW, values, strict=True))
            if consultant_id is not None and row["consultant_id"] != consultant_id:
                continue
            if own and (row["consultant_id"] != user.pk or store_id != user.store_id):
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


__all__ = ["LADDER", "ladder_rows", "lead_rows", "read", "recount"]

