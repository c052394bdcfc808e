"""The plan periods' calendar arithmetic, free of the ORM (unit-tested without a database): a period is a year, a
quarter, a month, a week (Monday to Sunday) or a day, named by its first day."""

from __future__ import annotations

from datetime import date, timedelta

from funnel.calc import month_bounds

PERIODS = ("year", "quarter", "month", "week", "day")


def period_start(period: str, day: date) -> date:
    """The first day of the ``period`` that holds ``day``."""
    if period == "year":
        return day.replace(month=1, day=1)
    if period == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if period == "month":
        return day.replace(day=1)
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "day":
        return day
    raise ValueError(f"unknown period {period!r}")


def period_end(period: str, start: date) -> date:
    """The last day (inclusive) of the ``period`` that starts on ``start``."""
    if period == "year":
        return start.replace(month=12, day=31)
    if period == "quarter":
        return month_bounds(start.replace(month=start.month + 2))[1]
    if period == "month":
        return month_bounds(start)[1]
    if period == "week":
        return start + timedelta(days=6)
    if period == "day":
        return start
    raise ValueError(f"unknown period {period!r}")


def is_period_start(period: str, day: date) -> bool:
    return period in PERIODS and period_start(period, day) == day


def months_of(start: date, end: date) -> list[date]:
    """The first days of the months that [start, end] touches."""
    months, first = [], start.replace(day=1)
    while first <= end:
        months.append(first)
        first = month_bounds(first)[1] + timedelta(days=1)
    return months


def weeks_of(start: date, end: date) -> list[date]:
    """The Mondays of the weeks that [start, end] touches."""
    monday, weeks = period_start("week", start), []
    while monday <= end:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks
