"""Loss by stage: where on the grade ladder the store loses its customers, and why (docs/defeats.md, "Loss by stage").

Each defeat application records, when filed, the lead's grade then (``grade_at_filing``) and the highest grade the
lead had reached by then (``highest_grade``: the top of its grade changes up to the filing; A is the top of the
ladder, so it is the smallest letter). ``RECORD_GRADES_SQL`` sets both from the grade history for applications filed
before the columns existed (the migration) or written in bulk (the demo, the bench seed): per application, one
look-up on the grade history's (lead, changed_at) index.

``loss_by_stage`` counts the defeats and quasi-defeats confirmed in a period (by the verdict's time, as the defeat
figures do) per grade -- at filing, or the highest reached -- with their reasons: one aggregate."""

from __future__ import annotations

from django.db.models import Count, Q

from dealercrm.models import Store, User
from leads.models import GRADE_ORDER

from .models import Application, ApplicationStatus, Kind, Reason

STAGE_KEYS = ("grade_at_filing", "highest_grade")
# The grades top to bottom, then the applications of leads never graded (key None).
LADDER = tuple(reversed(GRADE_ORDER))

# Portable SQL (PostgreSQL and SQLite): correlated look-ups on leads_gradechange (lead_id, changed_at) INCLUDE
# (to_grade), for the applications matching ``{where}``.
RECORD_GRADES_SQL = """
UPDATE defeats_application SET
  grade_at_filing = (
    SELECT gc.to_grade FROM leads_gradechange gc
    WHERE gc.lead_id = defeats_application.lead_id AND gc.changed_at <= defeats_application.applied_at
    ORDER BY gc.changed_at DESC, gc.id DESC LIMIT 1),
  highest_grade = (
    SELECT MIN(gc.to_grade) FROM leads_gradechange gc
    WHERE gc.lead_id = defeats_application.lead_id AND gc.changed_at <= defeats_application.applied_at)
WHERE {where}
"""


def record_grades(cursor, *, ids: list[int] | None = None) -> None:
    """Set ``grade_at_filing`` and ``highest_grade`` from the grade history: for ``ids``, or for every application
    that has neither yet."""
    if ids is not None:
        if not ids:
            return
        placeholders = ", ".join(["%s"] * len(ids))
        cursor.execute(RECORD_GRADES_SQL.format(where=f"id IN ({placeholders})"), list(ids))
    else:
        cursor.execute(RECORD_GRADES_SQL.format(where="grade_at_filing IS NULL AND highest_grade IS NULL"))


def highest_of(grades) -> str | None:
    """The highest of some grades on the ladder (A is the top), None without any."""
    present = [g for g in grades if g]
    return min(present) if present else None


def loss_by_stage(*, user: User, start_at, end_at, stores: list[Store] | None = None,
                  consultant: User | None = None, key: str = "grade_at_filing") -> dict:
    """The confirmed defeats and quasi-defeats decided in [start_at, end_at) per grade (``key``: grade_at_filing or
    highest_grade), with their reasons, for what ``user`` may see. Returns ``{"rows": [{"grade", "defeats",
    "quasi_defeats", "lost", "reasons": [{"key", "code", "label", "lost"}]}], "reasons": [...the reasons that
    occur, most frequent first...], "total": n}``; the rows run A to E, then the leads never graded (grade None),
    without empty rows. An application with two reasons counts once in its row and under each reason. Two queries
    (the counts, the counts by reason), whatever the number of applications."""
    if key not in STAGE_KEYS:
        raise ValueError(f"unknown key {key!r}")
    apps = Application.objects.visible_to(user).filter(status=ApplicationStatus.CONFIRMED, decided_at__gte=start_at,
                                                       decided_at__lt=end_at)
    if stores:
        apps = apps.filter(store__in=stores)
    if consultant is not None:
        apps = apps.filter(consultant=consultant)
    counts = (apps.values(key).annotate(
        defeats=Count("pk", filter=Q(kind=Kind.DEFEAT)), quasi_defeats=Count("pk", filter=Q(kind=Kind.QUASI)))
        .order_by())
    rows: dict = {}
    for r in counts:
        rows[r[key]] = {"grade": r[key], "defeats": r["defeats"], "quasi_defeats": r["quasi_defeats"],
                        "lost": r["defeats"] + r["quasi_defeats"], "reasons": []}
    per_reason = _reasons_by_key(apps, key, rows, field="lost")
    order = {g: i for i, g in enumerate(LADDER)}
    ordered = sorted(rows.values(), key=lambda row: order.get(row["grade"], len(LADDER)))
    reasons = sorted(per_reason.values(), key=lambda r: -r["lost"])
    return {"rows": ordered, "reasons": reasons, "total": sum(row["lost"] for row in ordered)}


def _reasons_by_key(apps, key: str, rows: dict, *, field: str) -> dict:
    """Append to each ``rows[key value]["reasons"]`` its confirmed losses by reason (``{"key", "code", "label",
    "name", "name_en", field: n}``, most frequent first, ties in the taxonomy's order) from ``apps``; returns the same
    per reason over every row. One query (the reasons' names ride along: they depend on the reason's id)."""
    reason = "reason_rows__reason"
    cells = list(apps.filter(status=ApplicationStatus.CONFIRMED, reason_rows__reason__isnull=False)
                 .values(key, reason, f"{reason}__code", f"{reason}__name", f"{reason}__name_en",
                         f"{reason}__sort_order")
                 .annotate(n=Count("pk")).order_by())
    cells.sort(key=lambda c: (-c["n"], c[f"{reason}__sort_order"], c[f"{reason}__code"]))
    totals: dict = {}
    for c in cells:
        names = {"name": c[f"{reason}__name"], "name_en": c[f"{reason}__name_en"]}
        entry = {"key": c[reason], "code": c[f"{reason}__code"], "label": Reason(**names).label, **names}
        if c[key] in rows:
            rows[c[key]]["reasons"].append({**entry, field: c["n"]})
        totals.setdefault(c[reason], {**entry, field: 0})[field] += c["n"]
    return totals


def attach_reasons(results: list[dict], apps, *, key: str, start_at, end_at) -> None:
    """``defeat_metrics`` grouped by a stage key: each row gets ``reasons``, the confirmed defeats and quasi-defeats
    decided in the period by reason (``defeats`` counts both kinds here)."""
    rows = {row["key"]: row for row in results}
    for row in results:
        row["reasons"] = []
    _reasons_by_key(apps.filter(decided_at__gte=start_at, decided_at__lt=end_at), key, rows, field="defeats")
