"""The grade ladder's default rules (DOMAIN §3) and pure date arithmetic on them. No ORM here."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.utils import timezone
from django.utils.translation import gettext_noop


@dataclass(frozen=True)
class RuleDefault:
    meaning: str
    follow_up_days: int
    max_dwell_days: int


# The meanings are stored when a group's rules are first created, in the installation's language (LANGUAGE_CODE);
# from then on they are the group admin's text to edit.
DEFAULT_RULES: dict[str, RuleDefault] = {
    "A": RuleDefault(gettext_noop("Can close within 3 months; already choosing a model. Key push, close tracking."), 3, 90),
    "B": RuleDefault(gettext_noop("Can close in 4–6 months; waits on some event. Keep close contact, catch the B→A moment."), 7, 120),
    "C": RuleDefault(gettext_noop("Wants a new car, no urgency or confidence yet. Fixed-cycle care, use case customers."), 14, 150),
    "D": RuleDefault(gettext_noop("Satisfied with the current car, no plan now. Fixed-cycle care, change the view with evidence."), 30, 180),
    "E": RuleDefault(gettext_noop("Only initial information obtained. Qualify: grade it or drop it."), 3, 14),
}
UNGRADED_FOLLOW_UP_DAYS = 1  # a walk-in without a grade is qualified the next day


def next_follow_up_due(after: datetime, follow_up_days: int) -> datetime:
    """When the next follow-up is due when none is given: the grade's interval after ``after``."""
    return after + timedelta(days=follow_up_days)


def dwell_deadline(grade_since: datetime, max_dwell_days: int) -> datetime:
    """The moment a lead that has held its grade since ``grade_since`` becomes stale."""
    return grade_since + timedelta(days=max_dwell_days)


# The first follow-up (per dealer group, leads.models.FollowUpPolicy): dealers call a new customer back within a day
# of the first visit, whatever the grade's cadence (14 days for C), at a working hour.
FIRST_FOLLOW_UP_HOURS = 24
WORKDAY_START_HOUR = 9
WORKDAY_END_HOUR = 21


def first_follow_up_due(arrived_at: datetime, *, hours: int = FIRST_FOLLOW_UP_HOURS,
                        workday_start: int = WORKDAY_START_HOUR, workday_end: int = WORKDAY_END_HOUR) -> datetime:
    """When a new customer's first follow-up falls due: ``hours`` after the visit, moved to the next working hour
    (local time) when that moment falls outside [workday_start, workday_end). Never later than the next working
    morning after the deadline: 24 h after a 20:30 visit (20:30 the next day) stays; 24 h after a 22:00 visit moves
    to 09:00 the day after."""
    due = timezone.localtime(arrived_at + timedelta(hours=hours))
    opens = due.replace(hour=workday_start, minute=0, second=0, microsecond=0)
    if due.time() < time(workday_start):
        return opens
    if due.time() >= time(workday_end):
        return opens + timedelta(days=1)
    return due
