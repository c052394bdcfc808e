"""The staffing planner: from a store's unit target to the consultants each level needs (docs/domain.md,
"Consultant levels" and "The staffing planner").

1. Units: the store's unit targets (``Target``, the store's own, not the consultants') of the month, or of the year's
   months that have one.
2. Leads per grade: the target decomposed onto the ladder with the store's measured promotion rates of the last 12
   months (``calc.plan_ladder``: needed(lower) = ceil(needed(higher) / rate), ceil at every rung).
3. Per level: the leads needed at its grades, as a month's load (a year: the sum over the months with a target,
   divided by their number, rounded up); consultants needed = ceil(load × 110% / capacity), the method's 110%
   staffing so a leaver is replaced without losing the level's work.
4. Beside it the team the store has (active consultants of the level), the missing consultants, and what the gap
   costs: the leads the present team cannot hold (load − consultants × capacity, when positive) times the units one
   lead of the level brings at the measured rates (units ÷ the level's needed leads). A customer lost on a lower
   rung never reaches the higher ones, so the store's cost is that of its tightest level (the largest), not the sum.

The arithmetic (``level_plan``) is ORM-free and unit-tested without a database; ``staffing_plan`` reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from dealercrm.models import Role, Store, User
from leads.models import LevelMember
from leads.services.levels import store_levels

from . import calc, selectors
from .models import Target

SATURATION = Decimal("1.10")  # the method's 110 % staffing of every sales unit


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True)
class LevelPlan:
    leads_needed: int | None  # over the period, at the level's grades
    monthly_load: int | None  # leads at the level's grades in an average month with a target
    consultants_needed: int | None
    consultants: int
    missing: int | None
    uncovered: int | None  # leads of the month the present team cannot hold
    units_lost: Decimal | None  # units per month the uncovered leads would have brought, 1 decimal


def level_plan(*, units: int, months: int, needed: dict[str, int | None], grades: str, capacity: int,
               consultants: int) -> LevelPlan:
    """One level's plan: ``units`` the target over ``months`` months, ``needed`` the ladder's leads per grade for
    those units, ``grades`` the level's grade letters, ``capacity`` active leads per consultant, ``consultants`` the
    level's active consultants now. A grade with an unknown need (a zero or missing promotion rate) leaves the level
    unknown (None figures)."""
    values = [needed.get(g) for g in grades]
    if not units or not months or any(v is None for v in values):
        return LevelPlan(None, None, None, consultants, None, None, None)
    total = sum(values)
    load = _ceil(Decimal(total) / months)
    people = _ceil(Decimal(load) * SATURATION / capacity)
    uncovered = max(0, load - consultants * capacity)
    monthly_units = Decimal(units) / months
    lost = (monthly_units * uncovered / load).quantize(Decimal("0.1"), ROUND_HALF_UP) if load else Decimal("0.0")
    return LevelPlan(total, load, people, consultants, max(0, people - consultants), uncovered, lost)


def _store_units(*, user: User, store: Store, year: int, month: int | None) -> tuple[int | None, int]:
    """The store's unit target over the period and the number of months that have one (one query)."""
    targets = Target.objects.visible_to(user).filter(store=store, consultant__isnull=True, month__year=year)
    if month:
        targets = targets.filter(month__month=month)
    row = targets.aggregate(units=Sum("units"), months=Count("pk"))
    return row["units"], row["months"] or 0


def staffing_plan(*, user: User, store: Store, year: int, month: int | None = None,
                  today: date | None = None) -> dict:
    """The staffing plan of ``store`` for ``year`` (or its ``month``): the target, the rates and ladder it decomposes
    to, and per level its grades, capacity, leads needed, monthly load, consultants needed at 110 %, consultants now,
    missing and the units the gap costs per month; the store's cost is its tightest level's. Four queries and the
    measured rates' one."""
    today = today or timezone.localdate()
    units, months = _store_units(user=user, store=store, year=year, month=month)
    rates = selectors.measured_promotion_rates(user=user, store=store, today=today)
    needed = calc.plan_ladder(a=units, promotion_rates=rates) if units else {g: None for g in "ABCDE"}
    people = dict(
        LevelMember.objects.filter(level__store=store, user__store=store, user__role=Role.CONSULTANT,
                                   user__is_active=True)
        .values_list("level").annotate(n=Count("pk")).order_by()
    )
    levels = store_levels(store)
    rows = []
    for level in levels:
        plan = level_plan(units=units or 0, months=months, needed=needed, grades=level.grades,
                          capacity=level.capacity, consultants=people.get(level.pk, 0))
        rows.append({"level": level, "plan": plan})
    losses = [r["plan"].units_lost for r in rows if r["plan"].units_lost is not None]
    tightest = max(rows, key=lambda r: r["plan"].units_lost or 0, default=None) if losses else None
    unassigned = (User.objects.filter(store=store, role=Role.CONSULTANT, is_active=True)
                  .filter(~Q(level_membership__level__store=store)).count())
    return {
        "store": store, "year": year, "month": month, "units": units, "months": months, "rates": rates,
        "needed": needed, "levels": rows, "units_lost": max(losses) if losses else None,
        "tightest": tightest["level"] if tightest and tightest["plan"].units_lost else None,
        "consultants_without_level": unassigned,
        "consultants_needed": sum(r["plan"].consultants_needed for r in rows)
        if rows and all(r["plan"].consultants_needed is not None for r in rows) else None,
        "consultants": sum(r["plan"].consultants for r in rows),
        "missing": sum(r["plan"].missing for r in rows)
        if rows and all(r["plan"].missing is not None for r in rows) else None,
    }
