"""Merging two leads that are the same customer."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Min
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dealercrm.models import User

from ..models import AssignmentChange, Deal, FollowUp, GradeChange, Handoff, HandoffStatus, Lead, Status, Visit
from ._common import bump, lock, require_manager

# Customer fields the survivor takes from the absorbed lead when its own are blank.
FILL_BLANKS = ("phone", "gender", "channel_id", "series_id", "budget", "purchase_type", "district", "industry", "grade")


@transaction.atomic
def lead_merge(*, actor: User, keep: Lead, absorb: Lead) -> Lead:
    """Merge ``absorb`` into ``keep`` (same store; the manager's action). Every visit, follow-up, grade change,
    assignment change and the deal of ``absorb`` move to ``keep``; the earliest visit becomes the first visit;
    blank fields of ``keep`` are filled from ``absorb``. ``absorb`` stays, marked merged, pointing at ``keep``."""
    if keep.pk == absorb.pk:
        raise ValidationError({"absorb": [_("Choose two different leads.")]})
    # Lock in id order so two merges of the same pair cannot deadlock.
    first, second = sorted([keep, absorb], key=lambda lead: lead.pk)
    locked = {first.pk: lock(first), second.pk: lock(second)}
    keep, absorb = locked[keep.pk], locked[absorb.pk]
    require_manager(actor, keep.store)
    if keep.store_id != absorb.store_id:
        raise ValidationError({"absorb": [_("Only leads of the same store can be merged.")]})
    if Status.MERGED in (keep.status, absorb.status):
        raise ValidationError({"absorb": [_("This lead has already been merged.")]})
    keep_deal = Deal.objects.filter(lead=keep).exists()
    absorb_deal = Deal.objects.filter(lead=absorb).exists()
    if keep_deal and absorb_deal:
        raise ValidationError({"absorb": [_("Both leads have a deal; they are different sales.")]})

    for model in (Visit, FollowUp, GradeChange, AssignmentChange, Deal):
        model.objects.filter(lead=absorb).update(lead=keep)
    # The handoffs too (a deal's credit follows them); the absorbed lead's waiting one ends: the kept lead's holder
    # holds the customer now.
    Handoff.objects.filter(lead=absorb, status=HandoffStatus.WAITING).delete()
    Handoff.objects.filter(lead=absorb).update(lead=keep)

    # Hand the absorbed lead's phone over only after it stops holding it (one phone per store).
    absorb.status = Status.MERGED
    absorb.merged_into = keep
    absorb.next_follow_up_at = None
    absorb._change_reason = gettext_noop("Merged into another lead")
    bump(absorb, ["status", "merged_into", "next_follow_up_at"], actor=actor)

    fields = []
    for field in FILL_BLANKS:
        if getattr(keep, field) in (None, "") and getattr(absorb, field) not in (None, ""):
            setattr(keep, field, getattr(absorb, field))
            fields.append(field.removesuffix("_id"))
    if "grade" in fields:
        keep.grade_since = absorb.grade_since
        fields.append("grade_since")
    if absorb_deal:
        keep.status = Status.WON
        keep.next_follow_up_at = None
        fields += ["status", "next_follow_up_at"]
    earliest = Visit.objects.filter(lead=keep).aggregate(first=Min("arrived_at"))["first"]
    keep.first_visit_at = min(keep.first_visit_at, absorb.first_visit_at, *([earliest] if earliest else []))
    keep.last_contact_at = max(filter(None, [keep.last_contact_at, absorb.last_contact_at]), default=None)
    keep.first_follow_up_at = min(filter(None, [keep.first_follow_up_at, absorb.first_follow_up_at]), default=None)
    fields += ["first_visit_at", "last_contact_at", "first_follow_up_at"]
    first_visit = Visit.objects.filter(lead=keep).order_by("arrived_at", "pk").first()
    Visit.objects.filter(lead=keep).exclude(pk=getattr(first_visit, "pk", None)).update(is_first=False)
    if first_visit:
        Visit.objects.filter(pk=first_visit.pk).update(is_first=True)
    keep._change_reason = gettext_noop("Absorbed a duplicate lead")
    bump(keep, fields, actor=actor)
    return keep
