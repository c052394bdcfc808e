"""The two ways a period's deals are counted, named once (docs/domain.md, "Cohort and calendar").

The funnel follows a *cohort*: the customers first seen in the period, and how many of them have bought so far
(whenever they signed). Target progress, the store comparison's units and the defeat rate count the *calendar*: the
deals ordered in the period, whoever's traffic they came from. The two numbers differ on the same screen, so each is
shown under its own name, with the same words on the pages, in the workbooks and print layouts, and in the API's
field descriptions: everything takes its label from here, so the names cannot drift apart."""

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

COHORT = "cohort"
CALENDAR = "calendar"

# Short enough for a table header on a phone; the help says what is counted.
LABELS = {
    COHORT: _("Deals (cohort)"),
    CALENDAR: _("Orders (calendar)"),
}
HELP = {
    COHORT: _("Customers first seen in the period who have bought so far, whenever they signed."),
    CALENDAR: _("Deals ordered in the period, whoever's traffic they came from."),
}

DEALS_COHORT = LABELS[COHORT]
ORDERS_CALENDAR = LABELS[CALENDAR]
# Volume: a deal is one order of ``quantity`` units (a fleet order of five trucks: one order, five units). Customers
# and orders count deals; volume (targets, units sold) counts units.
UNITS_COHORT = _("Units (cohort)")
UNITS_CALENDAR = _("Units (calendar)")
UNITS_CALENDAR_HELP = _("Units of the deals ordered in the period (a fleet order of five counts five), whoever's "
                        "traffic they came from.")


def described(basis: str, more: str = ""):
    """"Label: help" (and ``more``), lazily translated: the API's help_text and the pages' tooltips."""
    if more:
        return format_lazy("{}: {} {}", LABELS[basis], HELP[basis], more)
    return format_lazy("{}: {}", LABELS[basis], HELP[basis])
