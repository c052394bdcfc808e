"""The funnel's arithmetic, free of the ORM so it is unit-tested without a database (DOMAIN §3–§4).

Rates are numbers from 0 to 1 rounded to 4 decimals, ``None`` when the denominator is 0. Ladder arithmetic runs
in Decimal so that 135 / 0.6 is 225, not 225.00000000000003 (whose ceiling would be 226)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

LEVERS = ("N", "K", "F", "C")
RUNGS = ("E->D", "D->C", "C->B", "B->A")  # bottom to top


def rate(numerator: int | float | Decimal, denominator: int | float | Decimal) -> float | None:
    """numerator / denominator rounded to 4 decimals; None when the denominator is 0 or missing."""
    if not denominator:
        return None
    return round(float(numerator) / float(denominator), 4)


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _dec(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass(frozen=True)
class LeverPlan:
    projected_units: float
    required: dict[str, float | int | None]
    unreachable: list[str]


def plan_levers(*, target_units: int, N: float, K: float, F: float, C: float) -> LeverPlan:
    """Projected units N·K·F·C and, for each lever with the other three held, the value it would need to reach
    ``target_units``: N as a whole number of customers (ceil), K/F/C as rates. A rate above 1 cannot be reached
    (listed in ``unreachable``); a lever whose partners multiply to 0 has no required value (None)."""
    values = {"N": _dec(N), "K": _dec(K), "F": _dec(F), "C": _dec(C)}
    target = _dec(target_units)
    projected = values["N"] * values["K"] * values["F"] * values["C"]
    required: dict[str, float | int | None] = {}
    unreachable = []
    for lever in LEVERS:
        others = Decimal(1)
        for other in LEVERS:
            if other != lever:
                others *= values[other]
        if others == 0:
            required[lever] = None
            unreachable.append(lever)
            continue
        need = target / others
        if lever == "N":
            required[lever] = _ceil(need)
        else:
            required[lever] = round(float(need), 4)
            if need > 1:
                unreachable.append(lever)
    return LeverPlan(projected_units=round(float(projected), 2), required=required, unreachable=unreachable)


def a_needed(*, target_units: int | None = None, target_revenue=None, average_order_value=None) -> int:
    """Customers needed at A: the unit target, or ceil(revenue target / average order value) (DOMAIN §3)."""
    if target_units is not None:
        return int(target_units)
    return _ceil(_dec(target_revenue) / _dec(average_order_value))


def plan_ladder(*, a: int, promotion_rates: dict[str, float | None]) -> dict[str, int | None]:
    """Customers needed on each rung for ``a`` at the top: needed(lower) = ceil(needed(higher) / rate(lower→higher)),
    ceil at every step. A missing or zero rate leaves the rungs below it unknown (None)."""
    needed: dict[str, int | None] = {"A": a}
    higher: int | None = a
    for rung in reversed(RUNGS):  # B->A, C->B, D->C, E->D
        lower = rung[0]
        r = promotion_rates.get(rung)
        if higher is None or not r:
            needed[lower] = None
            higher = None
            continue
        needed[lower] = _ceil(Decimal(higher) / _dec(r))
        higher = needed[lower]
    return {g: needed[g] for g in ("A", "B", "C", "D", "E")}


def month_bounds(day: date) -> tuple[date, date]:
    """First and last day of ``day``'s month."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def run_rate(*, done: int | float, month: date, today: date) -> float:
    """Projected month-end total at the pace so far: done / days elapsed × days in month. A past month projects
    what it did; a future month nothing."""
    first, last = month_bounds(month)
    if today > last:
        return float(done)
    if today < first:
        return 0.0
    elapsed = (today - first).days + 1
    return round(float(done) / elapsed * last.day, 2)


def projection_state(*, month: date, today: date, min_days: int) -> str:
    """Whether a month's figure may be projected: "closed" (the month is over: its figure is final), "future"
    (nothing yet), "early" (fewer than ``min_days`` days elapsed: a run-rate from a day or two misleads), or
    "current" (project at the pace so far)."""
    first, last = month_bounds(month)
    if today > last:
        return "closed"
    if today < first:
        return "future"
    if (today - first).days + 1 < min_days:
        return "early"
    return "current"


def last_mature_month(*, end: date, today: date, mature_days: int) -> date:
    """The first day of the latest month, at or before ``end``'s, whose cohort has matured: the month ended at
    least ``mature_days`` days before ``today``, so its customers have had the time to buy (a younger cohort's C
    is still rising and would make any plan built on it look hopeless)."""
    first = end.replace(day=1)
    while (today - month_bounds(first)[1]).days < mature_days:
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def overlap_days(start: date, end: date, first: date, last: date) -> int:
    """Days of [first, last] inside [start, end], both inclusive."""
    return max(0, (min(end, last) - max(start, first)).days + 1)


def prorate(estimate: int, *, month: date, start: date, end: date) -> float:
    """The share of a monthly M that falls in [start, end] (whole months count in full)."""
    first, last = month_bounds(month)
    return estimate * overlap_days(start, end, first, last) / last.day


def whole_months(start: date, end: date, *, today: date) -> tuple[date, date] | None:
    """The first days of the first and last months the period [start, end] covers whole (from the month's first
    day to its last, or to ``today``: nothing the rollups count is dated after today), or None."""
    first = start if start.day == 1 else month_bounds(start)[1] + timedelta(days=1)
    end_month, end_last = month_bounds(end)
    last = end_month if (end == end_last or end >= today) else (end_month - timedelta(days=1)).replace(
        day=1)
    return (first, last) if first <= last else None
