"""``{% load deal_bases %}{% deal_bases as db %}`` → ``{{ db.cohort.label }}``, ``{{ db.calendar.help }}``: the
names of the two deal counts (leads.deal_bases), the same words as the workbooks and the API."""

from django import template

from leads import deal_bases

register = template.Library()


@register.simple_tag(name="deal_bases")
def deal_bases_names() -> dict:
    return {basis: {"label": deal_bases.LABELS[basis], "help": deal_bases.HELP[basis]}
            for basis in (deal_bases.COHORT, deal_bases.CALENDAR)}

