"""The shared number and date filters (``dealercrm.formats``), a builtin library: every template has them without a
``{% load %}``. ``{{ deal.price|money }}``, ``{{ projected|units }}``, ``{{ rate|rate }}``, ``{{ day|day }}``."""

from django import template

from dealercrm import formats

register = template.Library()

register.filter("money", formats.money)
register.filter("cny", formats.money)  # the older name of ``money``
register.filter("units", formats.units)
register.filter("rate", formats.rate)
register.filter("number", formats.number)
register.filter("day", formats.day)
register.filter("moment", formats.moment)
