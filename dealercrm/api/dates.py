"""The dates the app accepts as input: one range for every date filter, period and month (API and pages).

A date outside it is a question nobody asks (a first visit in year 1, a period ending in 9999) and one the
arithmetic cannot answer (the day after 9999-12-31 overflows; 0001-01-01 in Asia/Shanghai is before year 1 in
UTC). Refusing it with a message (400 / a form error) is the answer, not a server error."""

from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2999, 12, 31)


def date_in_range(value: date | None) -> None:
    """A validator for DateField (forms, filters, DRF serializers)."""
    if value is not None and not (MIN_DATE <= value <= MAX_DATE):
        raise ValidationError(
            _("Enter a date between %(min)s and %(max)s.") % {"min": MIN_DATE.isoformat(), "max": MAX_DATE.isoformat()},
            code="date_out_of_range",
        )
