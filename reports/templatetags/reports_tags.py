"""Formatting a report's cells on the page and in the print (no arithmetic: reports.tables.cell_text)."""

from django import template

from ..tables import cell_text

register = template.Library()


@register.simple_tag
def cell(row: dict, column) -> str:
    """The formatted value of ``column`` in ``row`` ("—" for a missing figure)."""
    return cell_text(row.get(column.key), column.kind)


@register.filter
def phone(e164: str) -> str:
    """An imported row's phone (E.164) in the national form, as the lead pages show it."""
    import phonenumbers

    from leads.phones import phone_display

    try:
        return phone_display(e164 or "")
    except phonenumbers.NumberParseException:  # a malformed value shows as it is
        return e164
