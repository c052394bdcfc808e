"""The group admin's grade rules: meaning, follow-up interval and max dwell per grade."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from dealercrm.models import DealerGroup, Role, User

from ..models import GRADE_ORDER, FollowUpPolicy, GradeRule
from ._common import grade_rules_for


@transaction.atomic
def grade_rules_update(*, actor: User, group: DealerGroup, rules: dict[str, dict]) -> dict[str, GradeRule]:
    """Set the group's rules; ``rules`` maps a grade to {"meaning", "follow_up_days", "max_dwell_days"}.
    Group admins of the group (and superusers) only. Days are whole days from 1 to 365."""
    if not (actor.is_superuser or (actor.role == Role.GROUP_ADMIN and actor.dealer_group_id == group.pk)):
        raise PermissionDenied(_("Only the group admin sets the grade rules."))
    errors = {}
    for grade, values in rules.items():
        if grade not in GRADE_ORDER:
            errors[grade] = [_("Unknown grade.")]
            continue
        for field in ("follow_up_days", "max_dwell_days"):
            value = values.get(field)
            if not isinstance(value, int) or not 1 <= value <= 365:
                errors[f"{grade}.{field}"] = [_("Enter a whole number of days from 1 to 365.")]
        if values.get("follow_up_days", 0) and values.get("max_dwell_days", 0) and (
            isinstance(values["follow_up_days"], int) and isinstance(values["max_dwell_days"], int)
            and values["follow_up_days"] > values["max_dwell_days"]
        ):
            errors[f"{grade}.follow_up_days"] = [_("The follow-up interval cannot exceed the max dwell.")]
    if errors:
        raise ValidationError(errors)
    current = grade_rules_for(group.pk)
    for grade, values in rules.items():
        rule = current[grade]
        rule.meaning = (values.get("meaning") or rule.meaning).strip()
        rule.follow_up_days = values["follow_up_days"]
        rule.max_dwell_days = values["max_dwell_days"]
        rule.save(update_fields=["meaning", "follow_up_days", "max_dwell_days"])
    return current


@transaction.atomic
def group_reclaim_update(*, actor: User, group: DealerGroup, reclaim_after_days: int) -> DealerGroup:
    """Set after how many overdue days a lead goes back to its store's pool (公海). Group admins of the group (and
    superusers) only; whole days from 1 to 365."""
    if not (actor.is_superuser or (actor.role == Role.GROUP_ADMIN and actor.dealer_group_id == group.pk)):
        raise PermissionDenied(_("Only the group admin sets the grade rules."))
    if not isinstance(reclaim_after_days, int) or not 1 <= reclaim_after_days <= 365:
        raise ValidationError({"reclaim_after_days": [_("Enter a whole number of days from 1 to 365.")]})
    group.reclaim_after_days = reclaim_after_days
    group.save(update_fields=["reclaim_after_days"])
    return group


@transaction.atomic
def follow_up_policy_update(*, actor: User, group: DealerGroup, first_follow_up_hours: int,
                            workday_start_hour: int = 9, workday_end_hour: int = 21) -> FollowUpPolicy:
    """Set how soon the group's new customers are called back: within ``first_follow_up_hours`` (1 to 168) of the
    first visit, moved into the working day [start, end). Group admins of the group (and superusers) only."""
    if not (actor.is_superuser or (actor.role == Role.GROUP_ADMIN and actor.dealer_group_id == group.pk)):
        raise PermissionDenied(_("Only the group admin sets the grade rules."))
    errors = {}
    if not isinstance(first_follow_up_hours, int) or not 1 <= first_follow_up_hours <= 168:
        errors["first_follow_up_hours"] = [_("Enter a whole number of hours from 1 to 168.")]
    if not (isinstance(workday_start_hour, int) and isinstance(workday_end_hour, int)
            and 0 <= workday_start_hour < workday_end_hour <= 24):
        errors["workday_end_hour"] = [_("The working day must end after it starts (hours 0 to 24).")]
    if errors:
        raise ValidationError(errors)
    policy, _created = FollowUpPolicy.objects.select_for_update().get_or_create(group=group)
    policy.first_follow_up_hours = first_follow_up_hours
    policy.workday_start_hour, policy.workday_end_hour = workday_start_hour, workday_end_hour
    policy.save()
    return policy
