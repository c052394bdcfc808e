"""One formatting of numbers and dates for every output (pages, print/PDF, Excel), in both languages.

The rules (docs/reports.md, "Numbers and dates"):

- money: ``¥3,700,300.00`` — the yuan sign, thousands grouped by commas, always two decimals (as the workbook's
  ``"¥"#,##0.00``); Chinese and English alike, as prices are quoted in China.
- units (cars, leads, visits, any count or projection of a count): a whole number, grouped (``1,234``); a projection
  is rounded to the nearest whole car (79.71 → ``80``). Excel: ``#,##0``.
- rates: a percentage with one decimal (0.125 → ``12.5%``). Excel: ``0.0%``.
- decimal figures that are not counts (follow-ups per day, percentage points): two decimals (``1.50``).
- dates: ISO ``2026-12-06`` in both languages (``2026-12`` for a month; ``2026-12-06 14:05`` with the time). Excel:
  ``yyyy-mm-dd``.

A missing figure (None, "") shows as "—". Pure functions: no database, no locale database (Django's zh-Hans format
has no thousands separator, which is how ``¥3700300.00`` once stood beside ``¥189,900``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import timezone

MISSING = "—"

# The workbook's number formats, the same rules as the text below.
EXCEL = {"int": "#,##0", "num": "#,##0.00", "pct": "0.0%", "cny": '"¥"#,##0.00', "date": "yyyy-mm-dd",
         "datetime": "yyyy-mm-dd hh:mm"}


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def money(value) -> str:
    """A CNY amount: ``¥3,700,300.00`` (negative: ``-¥1,200.00``)."""
    d = _decimal(value)
    if d is None:
        return MISSING
    d = d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{'-' if d < 0 else ''}¥{abs(d):,.2f}"


def units(value) -> str:
    """A count, or a projection of one, as a whole number: 79.71 → ``80``; 1234 → ``1,234``."""
    d = _decimal(value)
    if d is None:
        return MISSING
    return f"{int(d.quantize(Decimal('1'), rounding=ROUND_HALF_UP)):,}"


def rate(value) -> str:
    """A rate 0..1 as a percentage with one decimal: 0.125 → ``12.5%``."""
    d = _decimal(value)
    if d is None:
        return MISSING
    return f"{(d * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):,.1f}%"


def number(value, decimals: int = 2) -> str:
    """A decimal figure that is not a count (follow-ups per day, percentage points): ``1.50``."""
    d = _decimal(value)
    if d is None:
        return MISSING
    return f"{d.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP):,.{decimals}f}"


def day(value) -> str:
    """A date (or a datetime, in local time) as ``2026-12-06``."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    return str(value)


def moment(value) -> str:
    """A datetime, in local time, as ``2026-12-06 14:05``."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.strftime("%Y-%m-%d %H:%M")
    return day(value)


BY_KIND = {"cny": money, "int": units, "pct": rate, "num": number}
