"""Follow-ups and their review by the manager."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dealercrm.models import Notification, User
from dealercrm.notifications import notify

from ..models import GRADE_ORDER, FollowUp, FollowUpMethod, FollowUpOutcome, Lead, ReviewStatus
from ..rules import next_follow_up_due
from ._common import bump, lock, require_active, require_can_work, require_manager
from .flags import clear_flags
from .visits import interval_days, lead_grade_change


@transaction.atomic
def follow_up_log(
    *,
    actor: User,
    lead: Lead,
    method: str,
    content: str,
    outcome: str = "",
    grade_after: str | None = None,
    next_follow_up_at: datetime | None = None,
    occurred_at: datetime | None = None,
) -> FollowUp:
    """Record a follow-up on an active lead. ``grade_after`` different from the lead's grade changes the grade (with
    its history row, linked to this follow-up). Without ``next_follow_up_at`` the next follow-up falls due after
    the (new) grade's interval. The record waits for the manager's review."""
    errors = {}
    if method not in FollowUpMethod.values:
        errors["method"] = [_("Unknown follow-up method.")]
    if not (content or "").strip():
        errors["content"] = [_("Say what was discussed.")]
    if outcome and outcome not in FollowUpOutcome.values:
        errors["outcome"] = [_("Unknown outcome.")]
    if grade_after is not None and grade_after not in GRADE_ORDER:
        errors["grade_after"] = [_("Unknown grade.")]
    occurred_at = occurred_at or timezone.now()
    if occurred_at > timezone.now() + timedelta(minutes=5):
        errors["occurred_at"] = [_("A follow-up cannot happen in the future.")]
    if next_follow_up_at is not None and next_follow_up_at <= occurred_at:
        errors["next_follow_up_at"] = [_("The next follow-up must be after this one.")]
    if errors:
        raise ValidationError(errors)
    lead = lock(lead)
    require_can_work(actor, lead)
    require_active(lead)
    if occurred_at < lead.first_visit_at:
        raise ValidationError({"occurred_at": [_("A follow-up cannot precede the first visit.")]})

    follow_up = FollowUp.objects.create(
        lead=lead,
        occurred_at=occurred_at,
        method=method,
        content=content.strip(),
        outcome=outcome,
        grade_before=lead.grade,
        grade_after=grade_after or lead.grade,
        created_by=actor,
    )
    if grade_after and grade_after != lead.grade:
        lead = lead_grade_change(actor=actor, lead=lead, to_grade=grade_after, follow_up=follow_up, at=occurred_at,
                                 reason=gettext_noop("Follow-up"))
    due = next_follow_up_at or next_follow_up_due(occurred_at, interval_days(lead.store.group_id, lead.grade))
    follow_up.next_follow_up_at = due
    follow_up.save(update_fields=["next_follow_up_at"])
    lead.next_follow_up_at = due
    fields = ["next_follow_up_at",
              *clear_flags(lead, actor=actor, at=occurred_at, reason=gettext_noop("Followed up"), overdue=True)]
    if lead.first_follow_up_at is None or occurred_at < lead.first_follow_up_at:
        lead.first_follow_up_at = occurred_at
        fields.append("first_follow_up_at")
    if lead.last_contact_at is None or occurred_at > lead.last_contact_at:
        lead.last_contact_at = occurred_at
        fields.append("last_contact_at")
    bump(lead, fields, actor=actor)
    return follow_up


@transaction.atomic
def follow_up_review(*, actor: User, follow_up: FollowUp, approve: bool, comment: str = "") -> FollowUp:
    """The manager approves a follow-up record or rejects it with a comment saying what to fix."""
    follow_up = FollowUp.objects.select_for_update().select_related("lead__store").get(pk=follow_up.pk)
    require_manager(actor, follow_up.lead.store)
    if follow_up.review_status != ReviewStatus.PENDING:
        raise ValidationError({"review": [_("This follow-up has already been reviewed.")]})
    comment = (comment or "").strip()
    if not approve and not comment:
        raise ValidationError({"comment": [_("Say why the record is rejected.")]})
    follow_up.review_status = ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED
    follow_up.review_comment = comment
    follow_up.reviewed_by = actor
    follow_up.reviewed_at = timezone.now()
    follow_up.save(update_fields=["review_status", "review_comment", "reviewed_by", "reviewed_at"])
    if not approve and follow_up.created_by_id != actor.pk:
        notify(recipient=follow_up.created_by, kind=Notification.Kind.REVIEW_REJECTED,
               params={"name": follow_up.lead.name, "comment": comment},
               url=reverse("leads:detail", args=[follow_up.lead_id]))
    return follow_up
