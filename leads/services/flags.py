"""The stale, overdue and pool flags a person changes: keeping a stale lead, moving a lead to the store's pool,
claiming one from it. The jobs that raise the flags in bulk live in ``leads.services.jobs``."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dealercrm.models import Role, User

from ..models import AssignmentChange, FlagAction, FlagEvent, FlagKind, Lead, OverdueFlag, StaleFlag
from ._common import bump, lock, require_active, require_manager


class AlreadyClaimed(ValidationError):
    """Someone else took the lead from the pool first (API: 409)."""

    def __init__(self):
        super().__init__({"lead": [_("Someone else has just claimed this lead.")]})


def clear_flags(lead: Lead, *, actor: User | None, at: datetime, reason: str, stale: bool = False,
                overdue: bool = False, pool: bool = False) -> list[str]:
    """Clear the named flags that are set on ``lead`` (already locked), each with its flag event: the stale and
    overdue flags are rows of their own tables (deleted here), the pool flag a field of the lead. Returns the lead's
    changed fields for the caller's save."""
    fields, events = [], []
    for wanted, kind, model in ((stale, FlagKind.STALE, StaleFlag), (overdue, FlagKind.OVERDUE, OverdueFlag)):
        if wanted and model.objects.filter(lead=lead).delete()[0]:
            events.append(kind)
    if pool and lead.pooled_at is not None:
        lead.pooled_at = None
        fields.append("pooled_at")
        events.append(FlagKind.POOL)
    FlagEvent.objects.bulk_create(
        [FlagEvent(lead=lead, kind=kind, action=FlagAction.CLEARED, at=at, by=actor, reason=reason) for kind in events]
    )
    return fields


def lead_take_from_pool(lead: Lead, *, actor: User, to_user: User, reason: str) -> Lead:
    """Give a pooled lead, locked by the caller (``_common.lock``), to ``to_user``: the pool flag and a missed due
    date are cleared and the lead falls due today, so the new holder has a day before it counts as overdue again."""
    now = timezone.now()
    AssignmentChange.objects.create(lead=lead, from_user=None, to_user=to_user, changed_at=now, changed_by=actor,
                                    reason=reason)
    lead.assigned_to = to_user
    fields = ["assigned_to", *clear_flags(lead, actor=actor, at=now, reason=reason, pool=True, overdue=True)]
    if lead.next_follow_up_at is None or lead.next_follow_up_at < now:
        lead.next_follow_up_at = now
        fields.append("next_follow_up_at")
    bump(lead, fields, actor=actor)
    return lead


@transaction.atomic
def lead_claim(*, actor: User, lead: Lead) -> Lead:
    """A consultant of the store takes a lead from the store's pool (公海). Two consultants claiming at once: the row
    lock serialises them, the first wins, the second gets :class:`AlreadyClaimed`."""
    if not (actor.is_active and actor.role == Role.CONSULTANT and actor.store_id == lead.store_id):
        raise PermissionDenied(_("Only a consultant of this store can claim its pool leads."))
    lead = lock(lead)
    require_active(lead)
    if lead.assigned_to_id is not None or lead.pooled_at is None:
        raise AlreadyClaimed()
    return lead_take_from_pool(lead, actor=actor, to_user=actor, reason=gettext_noop("Claimed from the pool"))


@transaction.atomic
def lead_move_to_pool(*, actor: User, lead: Lead, reason: str = "") -> Lead:
    """The manager puts a lead back in the store's pool, unassigned, for any consultant of the store to claim."""
    lead = lock(lead)
    require_manager(actor, lead.store)
    require_active(lead)
    if lead.pooled_at is not None and lead.assigned_to_id is None:
        return lead
    now = timezone.now()
    reason = (reason or "").strip() or gettext_noop("Moved to the pool by the manager")
    AssignmentChange.objects.create(lead=lead, from_user=lead.assigned_to, to_user=None, changed_at=now,
                                    changed_by=actor, reason=reason)
    FlagEvent.objects.create(lead=lead, kind=FlagKind.POOL, action=FlagAction.RAISED, at=now, by=actor, reason=reason)
    lead.assigned_to = None
    lead.pooled_at = now
    bump(lead, ["assigned_to", "pooled_at"], actor=actor)
    return lead


@transaction.atomic
def lead_keep(*, actor: User, lead: Lead, reason: str) -> Lead:
    """The manager keeps a stale lead in its grade, saying why: the stale flag is cleared and the dwell clock
    restarts now (the lead turns stale again after another max dwell)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why the lead stays in its grade.")]})
    lead = lock(lead)
    require_manager(actor, lead.store)
    require_active(lead)
    now = timezone.now()
    if not StaleFlag.objects.filter(lead=lead).delete()[0]:
        raise ValidationError({"lead": [_("This lead is not stale.")]})
    FlagEvent.objects.create(lead=lead, kind=FlagKind.STALE, action=FlagAction.KEPT, at=now, by=actor, reason=reason)
    lead.dwell_kept_at = now
    lead._change_reason = reason
    bump(lead, ["dwell_kept_at"], actor=actor)
    return lead
