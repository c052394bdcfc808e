"""The shape every report takes, whatever the output (page, JSON, Excel, print/PDF): a list of tables, each with typed
columns and rows of plain values. The outputs only *format* these values; none computes a figure, so the workbook,
the print and the page cannot disagree (a test compares them with the selectors).

Column kinds: ``text``; ``int`` (a count); ``num`` (a decimal number, e.g. follow-ups per day); ``pct`` (a rate 0..1,
shown as a percentage); ``cny`` (money in CNY, a Decimal). A missing figure (a rate whose denominator is 0) is None."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

KINDS = ("text", "int", "num", "pct", "cny")


@dataclass
class Column:
    key: str
    label: str  # a lazy translation: rendered in the reader's language
    kind: str = "int"
    width: int | None = None  # Excel column width in characters (None: from the label and the values)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")


@dataclass
class Table:
    """One table of a report: one sheet of the workbook, one table of the page and the print."""

    key: str
    title: str
    columns: list[Column]
    rows: list[dict]
    total: dict | None = None
    note: str = ""

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "title": str(self.title),
            "note": str(self.note),
            "columns": [{"key": c.key, "label": str(c.label), "kind": c.kind} for c in self.columns],
            "rows": [{c.key: json_value(row.get(c.key)) for c in self.columns} for row in self.rows],
            "total": {c.key: json_value(self.total.get(c.key)) for c in self.columns} if self.total else None,
        }


@dataclass
class Section:
    """A heading over some tables (the monthly pack's parts); the sections list is what other apps plug into."""

    key: str
    title: str
    tables: list[Table] = field(default_factory=list)
    note: str = ""


def json_value(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if value is not None and not isinstance(value, (int, float, str, bool)):
        return str(value)
    return value


def cell_text(value, kind: str) -> str:
    """A value as the page and the print show it, in the active language's number format."""
    if value is None or value == "":
        return "—"
    if kind == "pct":
        return number_format(round(float(value) * 100, 1), decimal_pos=1, use_l10n=True) + "%"
    if kind == "cny":
        return "¥" + number_format(Decimal(value).quantize(Decimal("0.01")), decimal_pos=2, use_l10n=True, force_grouping=True)
    if kind == "num":
        return number_format(round(float(value), 2), decimal_pos=2, use_l10n=True)
    if kind == "int":
        return number_format(value, decimal_pos=0, use_l10n=True, force_grouping=True)
    return str(value)


TOTAL = _("Total")
