"""Workbooks with XlsxWriter: a cover sheet (the report, its filters, when it was made), then one sheet per table.

Every workbook is opened through :func:`workbook`: ``strings_to_formulas`` / ``strings_to_urls`` /
``strings_to_numbers`` off, and every string cell goes through ``dealercrm.exports.spreadsheet_safe`` (the one
escaping rule of every export): a cell can never become a formula. Numbers stay numbers, with a percent or CNY
format; the header row is frozen; widths come from the labels and the values. Big sheets are written with
``constant_memory`` (rows go to disk as they are written, memory stays flat)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

import xlsxwriter
from django.utils import timezone
from django.utils.translation import gettext as _

from dealercrm import formats
from dealercrm.exports import spreadsheet_safe

from .selectors import ReportData
from .tables import Column, Table

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FONT = "Microsoft YaHei"  # what Chinese Excel and WPS users expect; falls back to the system font elsewhere
SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def workbook(target, *, constant_memory: bool = False) -> xlsxwriter.Workbook:
    """A workbook that never turns a string into a formula, a link or a number."""
    return xlsxwriter.Workbook(target, {
        "constant_memory": constant_memory,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
        "default_date_format": "yyyy-mm-dd",
        "remove_timezone": True,
        "in_memory": not constant_memory,
    })


class Formats:
    """The workbook's cell formats, made once per workbook."""

    def __init__(self, book: xlsxwriter.Workbook):
        base = {"font_name": FONT, "font_size": 10, "valign": "vcenter"}
        self.header = book.add_format({**base, "bold": True, "bg_color": "#1F3A5F", "font_color": "#FFFFFF",
                                       "text_wrap": True, "border": 1, "align": "center"})
        self.title = book.add_format({**base, "bold": True, "font_size": 14})
        self.label = book.add_format({**base, "bold": True, "font_color": "#555555"})
        self.note = book.add_format({**base, "italic": True, "font_color": "#666666"})
        # The same rules as the page and the print (dealercrm.formats), as number formats: numbers stay numbers.
        kinds = {"text": {}, **{k: {"num_format": f} for k, f in formats.EXCEL.items()}}
        self.cell = {k: book.add_format({**base, **v}) for k, v in kinds.items()}
        self.total = {k: book.add_format({**base, **v, "bold": True, "top": 1, "bg_color": "#EEF2F7"})
                      for k, v in kinds.items()}


def sheet_name(title: str, used: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique in the workbook (case-insensitive)."""
    base = SHEET_CHARS.sub(" ", str(title)).strip()[:31] or "Sheet"
    name, n = base, 2
    while name.lower() in used:
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(name.lower())
    return name


def write_value(sheet, row: int, col: int, value, kind: str, fmt) -> None:
    """One cell: numbers as numbers, dates as dates, strings escaped, None empty."""
    if value is None or value == "":
        sheet.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value, fmt)
    elif isinstance(value, (int, float, Decimal)) and kind != "text":
        sheet.write_number(row, col, float(value), fmt)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value)
                             else value, fmt)
    elif isinstance(value, date):
        sheet.write_datetime(row, col, datetime(value.year, value.month, value.day), fmt)
    else:
        sheet.write_string(row, col, str(spreadsheet_safe(str(value))), fmt)


def _width(column: Column, values: Iterable) -> int:
    """Characters wide: the label or the widest value (CJK characters count double), between 6 and 40."""
    def chars(text: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)

    if column.width:
        return column.width
    widest = chars(str(column.label))
    for value in values:
        if value is None:
            continue
        if column.kind == "pct":
            widest = max(widest, 7)
        elif column.kind == "cny":
            widest = max(widest, len(f"{Decimal(value):,.2f}") + 2)
        else:
            widest = max(widest, chars(str(value)))
    return max(6, min(widest + 2, 40))


def write_table(book, formats: Formats, table: Table, used: set[str]) -> None:
    sheet = book.add_worksheet(sheet_name(table.title, used))
    rows = table.rows + ([table.total] if table.total else [])
    for c, column in enumerate(table.columns):
        sheet.set_column(c, c, _width(column, (r.get(column.key) for r in rows[:500])))
    sheet.set_row(0, 30)
    for c, column in enumerate(table.columns):
        write_value(sheet, 0, c, str(column.label), "text", formats.header)
    sheet.freeze_panes(1, 0)
    for r, row in enumerate(table.rows, start=1):
        for c, column in enumerate(table.columns):
            write_value(sheet, r, c, row.get(column.key), column.kind, formats.cell[column.kind])
    last = len(table.rows)
    if table.total:
        last += 1
        for c, column in enumerate(table.columns):
            write_value(sheet, last, c, table.total.get(column.key), column.kind, formats.total[column.kind])
    if table.note:
        write_value(sheet, last + 2, 0, str(table.note), "text", formats.note)
    if table.rows:
        sheet.autofilter(0, 0, len(table.rows), len(table.columns) - 1)


def write_cover(book, formats: Formats, *, title: str, lines: list[tuple[str, str]], used: set[str]) -> None:
    sheet = book.add_worksheet(sheet_name(_("Cover"), used))
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 60)
    write_value(sheet, 0, 0, str(title), "text", formats.title)
    for r, (label, value) in enumerate(lines, start=2):
        write_value(sheet, r, 0, str(label), "text", formats.label)
        write_value(sheet, r, 1, value, "text", formats.cell["text"])


def cover_lines(data: ReportData) -> list[tuple[str, str]]:
    """The cover sheet's and the print header's lines: group, stores, period, other filters, when made."""
    p = data.params
    lines = [(_("Dealer group"), data.group_name), (_("Stores"), data.store_names),
             (_("Period"), f"{p.start:%Y-%m-%d} – {p.end:%Y-%m-%d}")]
    if p.consultant:
        lines.append((_("Consultant"), str(p.consultant)))
    if p.series:
        lines.append((_("Series"), str(p.series)))
    lines += [(_("Made at"), timezone.localtime(data.generated_at).strftime("%Y-%m-%d %H:%M")),
              (_("Made by"), str(p.user))]
    return lines


def report_xlsx(data: ReportData) -> bytes:
    """The report as a workbook: the cover, then one sheet per table (in section order)."""
    buffer = io.BytesIO()
    book = workbook(buffer)
    formats = Formats(book)
    used: set[str] = set()
    write_cover(book, formats, title=str(data.title), lines=cover_lines(data), used=used)
    for table in data.tables:
        write_table(book, formats, table, used)
    book.close()
    return buffer.getvalue()


def report_filename(data: ReportData, ext: str) -> str:
    """An ASCII-safe file name: the report name, the period, the store ids (the page names the stores)."""
    p = data.params
    stores = "-".join(str(s.pk) for s in p.stores) or "all"
    return f"{data.name}_{stores}_{p.start:%Y%m%d}-{p.end:%Y%m%d}.{ext}"
