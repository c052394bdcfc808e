"""``{% load deal_bases %}{% deal_bases as db %}`` → ``{{ db.cohort.label }}``, ``{{ db.calendar.help }}``: the
names of the two deal counts (leads.deal_bases), and ``db.units`` (the calendar's units), the same words as the
workbooks and the API."""

from django import template

from leads import deal_bases

register = template.Library()


@register.simple_tag(name="deal_bases")
def deal_bases_names() -> dict:
    names = {basis: {"label": deal_bases.LABELS[basis], "help": deal_bases.HELP[basis]}
             for basis in (deal_bases.COHORT, deal_bases.CALENDAR)}
    # Volume against the unit target: the calendar's deals counted in units (a fleet order counts its units).
    names["units"] = {"label": deal_bases.UNITS_CALENDAR, "help": deal_bases.UNITS_CALENDAR_HELP}
    return names

