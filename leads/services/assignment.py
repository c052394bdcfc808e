"""Who holds which lead: manual assignment, round-robin and the bulk move of a departing consultant's leads."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from simple_history.utils import bulk_update_with_history

from dealercrm.models import Notification, Role, Store, User
from dealercrm.notifications import Draft, notify, notify_many

from ..models import AssignmentChange, FlagAction, FlagEvent, FlagKind, Lead, Status
from ._common import bump, lock, require_manager, validate_assignee
from .flags import lead_take_from_pool


def _consultants_by_load(store: Store, level=None) -> list[User]:
    """The store's active consultants (of ``level`` only, when given), the one holding the fewest active leads first
    (ties: longest-serving). Not the store's fleet sales manager: he works the competitor pool and the company
    accounts, and holding few showroom leads he would otherwise be handed every new one.

    Each count is a subquery on the consultant's active leads (an index-only scan of ``lead_owner_status_due``): as
    a join with a COUNT … FILTER it read every lead of the database (176 ms at 200,000 leads, once per import
    batch; 3.5 ms so)."""
    people = User.objects.filter(store=store, role=Role.CONSULTANT, is_active=True, fleet_manager=False)
    if level is not None:
        people = people.filter(level_membership__level=level)
    active = (Lead.objects.filter(assigned_to=OuterRef("pk"), status=Status.ACTIVE).order_by()
              .values("assigned_to").annotate(n=Count("*")).values("n"))
    return list(people.annotate(load=Coalesce(Subquery(active), 0)).order_by("load", "date_joined", "pk"))


def round_robin_next(store: Store) -> User | None:
    """The consultant who should get the next new lead of the store: the least loaded active one."""
    consultants = _consultants_by_load(store)
    return consultants[0] if consultants else None


@transaction.atomic
def lead_assign(*, actor: User, lead: Lead, to_user: User | None, reason: str = "",
                expected_version: int | None = None) -> Lead:
    """Give a lead to another consultant of its store (manager's action), with a row in the assignment history.
    ``to_user=None`` leaves it unassigned (the reclaim pool)."""
    lead = lock(lead, expected_version)
    require_manager(actor, lead.store)
    validate_assignee(lead.store, to_user)
    if lead.assigned_to_id == (to_user.pk if to_user else None):
        return lead
    return lead_move(actor=actor, lead=lead, to_user=to_user, reason=reason)


def lead_move(*, actor: User, lead: Lead, to_user: User | None, reason: str = "") -> Lead:
    """The write of every one-lead assignment, on a lead already locked (``lock``) and checked by the caller: the
    history row, the field history with the next version, the pool mark cleared, the new holder notified. Called by
    ``lead_assign`` (the manager) and by the handoff of a promoted lead (``services.levels``)."""
    if to_user is not None and lead.pooled_at is not None and lead.assigned_to_id is None:
        lead = lead_take_from_pool(lead, actor=actor, to_user=to_user,
                               reason=reason or gettext_noop("Assigned from the pool by the manager"))
    else:
        AssignmentChange.objects.create(lead=lead, from_user_id=lead.assigned_to_id, to_user=to_user,
                                        changed_by=actor, reason=reason or gettext_noop("Assigned by the manager"))
        lead.assigned_to = to_user
        bump(lead, ["assigned_to"], actor=actor)
    if to_user is not None and to_user.pk != actor.pk:
        # In the same transaction: a failed assignment notifies nobody.
        notify(recipient=to_user, kind=Notification.Kind.ASSIGNED, params={"count": 1, "name": lead.name},
               url=_lead_url(lead))
    return lead


def _lead_url(lead: Lead) -> str:
    return reverse("leads:detail", args=[lead.pk])


def _notify_assigned(actor: User, leads: list[Lead]) -> None:
    """One ``assigned`` notification per consultant who got leads, with the count (and the name when just one)."""
    per_target: dict[int, list[Lead]] = {}
    for lead in leads:
        if lead.assigned_to_id is not None and lead.assigned_to_id != actor.pk:
            per_target.setdefault(lead.assigned_to_id, []).append(lead)
    notify_many(
        Draft(target, Notification.Kind.ASSIGNED,
              {"count": len(got), **({"name": got[0].name} if len(got) == 1 else {})},
              _lead_url(got[0]) if len(got) == 1 else reverse("leads:list"))
        for target, got in per_target.items()
    )


def _move(actor: User, leads: list[Lead], targets: Iterable[User], reason: str) -> int:
    """Assign each lead to the next target in turn; history rows and field history are written in bulk."""
    targets = list(targets)
    if not targets:
        raise ValidationError({"to_user": [_("The store has no other active consultant to take these leads.")]})
    now = timezone.now()
    changes, pool_events = [], []
    for i, lead in enumerate(leads):
        target = targets[i % len(targets)]
        changes.append(AssignmentChange(lead=lead, from_user_id=lead.assigned_to_id, to_user=target,
                                        changed_at=now, changed_by=actor, reason=reason))
        lead.assigned_to = target
        lead.version += 1
        if lead.pooled_at is not None:
            pool_events.append(FlagEvent(lead=lead, kind=FlagKind.POOL, action=FlagAction.CLEARED, at=now, by=actor,
                                         reason=reason))
            lead.pooled_at = None
    AssignmentChange.objects.bulk_create(changes)
    FlagEvent.objects.bulk_create(pool_events)
    bulk_update_with_history(leads, Lead, ["assigned_to", "pooled_at", "version", "updated_at"], default_user=actor,
                             default_change_reason=reason, batch_size=500)
    _notify_assigned(actor, leads)
    return len(leads)


@transaction.atomic
def leads_round_robin(*, actor: User, store: Store, leads: Iterable[Lead] | None = None) -> int:
    """Share leads out across the store's active consultants, least loaded first. Default: every active lead of the
    store that nobody holds. Returns how many were assigned."""
    require_manager(actor, store)
    qs = Lead.objects.select_for_update().filter(store=store, status=Status.ACTIVE)
    qs = qs.filter(pk__in=[lead.pk for lead in leads]) if leads is not None else qs.filter(assigned_to__isnull=True)
    batch = list(qs.order_by("first_visit_at", "pk"))
    if not batch:
        return 0
    return _move(actor, batch, _consultants_by_load(store), gettext_noop("Round-robin"))


@transaction.atomic
def leads_bulk_reassign(*, actor: User, from_user: User, to_user: User | None = None) -> int:
    """Move every active lead ``from_user`` holds (a consultant who leaves or is overloaded) to ``to_user``, or round
    robin across the store's other active consultants. All or nothing. Returns how many moved."""
    if from_user.store is None:
        raise ValidationError({"from_user": [_("This person holds no store's leads.")]})
    require_manager(actor, from_user.store)
    if to_user is not None:
        validate_assignee(from_user.store, to_user)
        if to_user.pk == from_user.pk:
            raise ValidationError({"to_user": [_("Choose someone else.")]})
    batch = list(
        Lead.objects.select_for_update()
        .filter(assigned_to=from_user, store=from_user.store, status=Status.ACTIVE)
        .order_by("first_visit_at")
    )
    if not batch:
        return 0
    targets = [to_user] if to_user else [u for u in _consultants_by_load(from_user.store) if u.pk != from_user.pk]
    return _move(actor, batch, targets, gettext_noop("Bulk move of a consultant's leads"))
