"""What every export (CSV, Excel) shares: a cell a spreadsheet would read as a formula is written as text.

OWASP's CSV-injection rule: a value that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
prefixed with an apostrophe, which Excel, LibreOffice and WPS show as plain text. Only strings are touched: numbers,
dates and None keep their type (a negative number is a number, not a formula)."""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """``value`` as it may go into a spreadsheet cell: a string starting with a formula character gets a leading
    apostrophe; any other value is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
