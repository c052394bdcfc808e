"""The shape every report takes, whatever the output (page, JSON, Excel, print/PDF): a list of tables, each with typed
columns and rows of plain values. The outputs only *format* these values; none computes a figure, so the workbook,
the print and the page cannot disagree (a test compares them with the selectors).

Column kinds: ``text``; ``int`` (a count); ``num`` (a decimal number, e.g. follow-ups per day); ``pct`` (a rate 0..1,
shown as a percentage); ``cny`` (money in CNY, a Decimal). A missing figure (a rate whose denominator is 0) is None."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from dealercrm import formats

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

    @property
    def empty(self) -> bool:
        """Nothing to show: no rows and no total (a table whose only figures are its total, e.g. a store's targets
        with no consultant's line, is not empty)."""
        return not self.rows and not self.total

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
    """A value as the page and the print show it (``dealercrm.formats``: one rule per kind, in both languages)."""
    if value is None or value == "":
        return "—"
    if kind in formats.BY_KIND:
        return formats.BY_KIND[kind](value)
    if isinstance(value, datetime):
        return formats.moment(value)
    if isinstance(value, date):
        return formats.day(value)
    return str(value)


TOTAL = _("Total")
