"""Formatting a report's cells on the page and in the print (no arithmetic: reports.tables.cell_text)."""

from django import template

from ..tables import cell_text

register = template.Library()


@register.simple_tag
def cell(row: dict, column) -> str:
    """The formatted value of ``column`` in ``row`` ("—" for a missing figure)."""
    return cell_text(row.get(column.key), column.kind)
