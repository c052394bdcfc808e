"""Writes of events: create and edit an event, invite from the target list (idempotent), record a guest's answer,
take the door attendance (which scores the base clients' "events" criterion through ``baseclients.services``), add
a walk-in guest. Each is one transaction; another scope's record never reaches here (the views look it up scoped).
PermissionDenied: 403; ValidationError: 400 with field messages."""

from __future__ import annotations

import calendar
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from baseclients.models import BaseClient, Tier
from baseclients.services.scoring import events_attended_set
from dealercrm.models import Role, Store, User
from defeats.models import PoolEntry, PoolList
from leads import phones
from leads.services import manages_store

from . import selectors
from .models import Answer, Event, EventKind, GuestSource, Invitation

EVENT_FIELDS = ("kind", "title", "held_on", "starts_at", "place", "note")


class StaleVersion(Exception):
    def __init__(self, current_version: int):
        self.current_version = current_version
        super().__init__(f"at version {current_version}")


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def works_at(user: User, store: Store) -> bool:
    """Staff of the event's store (its consultants at the door) and whoever manages it."""
    if manages_store(user, store):
        return True
    return bool(user.is_active and user.role == Role.CONSULTANT and user.store_id == store.pk)


def require_manager(user: User, store: Store) -> None:
    if not manages_store(user, store):
        raise PermissionDenied(_("Only the store's manager can organise its events."))


def _check(values: dict) -> None:
    errors = {}
    if values.get("kind") not in EventKind.values:
        errors["kind"] = [_("Choose a kind of event.")]
    if not (values.get("title") or "").strip():
        errors["title"] = [_("Give the event a title.")]
    if not isinstance(values.get("held_on"), date):
        errors["held_on"] = [_("Give the event's date.")]
    if not (values.get("place") or "").strip():
        errors["place"] = [_("Say where it takes place.")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def event_create(*, actor: User, store: Store, kind: str, title: str, held_on: date, place: str,
                 starts_at=None, note: str = "") -> Event:
    """A new event of ``store`` (its manager, a group admin of its group)."""
    require_manager(actor, store)
    values = {"kind": kind, "title": title, "held_on": held_on, "starts_at": starts_at, "place": place,
              "note": note or ""}
    _check(values)
    return Event.objects.create(store=store, created_by=actor, results_until=month_end(held_on),
                                **{**values, "title": title.strip(), "place": place.strip()})


@transaction.atomic
def event_update(*, actor: User, event: Event, expected_version: int | None = None, **changes) -> Event:
    """Change an event's fields (not its store)."""
    event = Event.objects.select_for_update().select_related("store").get(pk=event.pk)
    require_manager(actor, event.store)
    if expected_version is not None and event.version != expected_version:
        raise StaleVersion(event.version)
    unknown = set(changes) - set(EVENT_FIELDS)
    if unknown:
        raise ValidationError({f: [_("This field cannot be changed here.")] for f in unknown})
    for field, value in changes.items():
        setattr(event, field, value)
    _check({f: getattr(event, f) for f in EVENT_FIELDS})
    event.results_until = month_end(event.held_on)
    event.version += 1
    event.save()
    return event


def _lock_event(event: Event) -> Event:
    return Event.objects.select_for_update().select_related("store").get(pk=event.pk)


@transaction.atomic
def invite(*, actor: User, event: Event, tiers=(), regions=(), industries=(), client_ids=(), pool_lists=(),
           pool_entry_ids=()) -> dict:
    """Put the guests the filters and ids pick (``selectors.target_clients`` / ``target_pool``: the event's
    store's base clients and pool customers) on the event's list. Idempotent: a guest already on it (by client,
    pool entry or phone) is left as they are. Ids outside the store: 400. Returns {"invited": new rows, "already":
    picked but on the list before, "total": on the list now}."""
    event = _lock_event(event)
    require_manager(actor, event.store)
    errors = {}
    bad_tiers = [t for t in tiers if t not in Tier.values]
    if bad_tiers:
        errors["tiers"] = [_("Unknown tier: %(value)s") % {"value": ", ".join(map(str, bad_tiers))}]
    bad_lists = [x for x in pool_lists if x not in PoolList.values]
    if bad_lists:
        errors["pool_lists"] = [_("Unknown list: %(value)s") % {"value": ", ".join(map(str, bad_lists))}]
    clients = list(selectors.target_clients(event, tiers=tiers, regions=regions, industries=industries,
                                            client_ids=client_ids).values("pk", "name", "phone", "assigned_to_id"))
    missing = set(client_ids) - {c["pk"] for c in clients}
    if missing:
        errors["client_ids"] = [_("Not base clients of this event's store: %(ids)s") % {
            "ids": ", ".join(str(i) for i in sorted(missing))}]
    entries = list(selectors.target_pool(event, pool_lists=pool_lists, pool_entry_ids=pool_entry_ids)
                   .values("pk", "list", "lead__name", "lead__phone", "owner_id"))
    missing = set(pool_entry_ids) - {e["pk"] for e in entries}
    if missing:
        errors["pool_entry_ids"] = [_("Not on this store's competitor pool or nurture list: %(ids)s") % {
            "ids": ", ".join(str(i) for i in sorted(missing))}]
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    rows = [Invitation(event=event, source=GuestSource.BASE_CLIENT, client_id=c["pk"], name=c["name"],
                       phone=c["phone"], consultant_id=c["assigned_to_id"], invited_by=actor, invited_at=now)
            for c in clients]
    rows += [Invitation(event=event, source=GuestSource.NURTURE if e["list"] == PoolList.NURTURE
                        else GuestSource.COMPETITOR, pool_entry_id=e["pk"], name=e["lead__name"] or "—",
                        phone=e["lead__phone"], consultant_id=e["owner_id"], invited_by=actor, invited_at=now)
             for e in entries]
    before = Invitation.objects.filter(event=event).count()
    Invitation.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    total = Invitation.objects.filter(event=event).count()
    return {"invited": total - before, "already": len(rows) - (total - before), "total": total}


def can_answer(user: User, invitation: Invitation) -> bool:
    """The guest's consultant (in the event's store) or whoever manages the store records the answer."""
    store = invitation.event.store
    if manages_store(user, store):
        return True
    return bool(user.is_active and user.role == Role.CONSULTANT and user.store_id == store.pk
                and invitation.consultant_id == user.pk)


def _lock(invitation: Invitation, expected_version: int | None) -> Invitation:
    locked = Invitation.objects.select_for_update().select_related("event__store").get(pk=invitation.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(locked.version)
    return locked


@transaction.atomic
def answer_set(*, actor: User, invitation: Invitation, answer: str,
               expected_version: int | None = None) -> Invitation:
    """Record a guest's answer (accepted / declined / could not be reached, or back to no answer)."""
    if answer not in Answer.values:
        raise ValidationError({"answer": [_("Choose an answer.")]})
    invitation = _lock(invitation, expected_version)
    if not can_answer(actor, invitation):
        raise PermissionDenied(_("Only the guest's consultant or the store's manager records the answer."))
    if invitation.walk_in:
        raise ValidationError({"answer": [_("A walk-in guest was not invited.")]})
    invitation.answer = answer
    invitation.answered_at = timezone.now()
    invitation.answered_by = actor
    invitation.version += 1
    invitation.save(update_fields=["answer", "answered_at", "answered_by", "version"])
    return invitation


def _score_attendance(actor: User, client_id: int | None) -> None:
    """The client's "events" criterion from their attendance: the events they were marked arrived at."""
    if client_id is None:
        return
    count = Invitation.objects.filter(client_id=client_id, arrived_at__isnull=False).count()
    events_attended_set(actor=actor, client=BaseClient(pk=client_id), count=count)


@transaction.atomic
def attendance_set(*, actor: User, invitation: Invitation, arrived: bool = True) -> Invitation:
    """Mark a guest arrived (or take it back, a wrong tap) at the door: any staff of the event's store. A base
    client's "events" criterion is re-scored from the attendance."""
    invitation = _lock(invitation, None)
    if not works_at(actor, invitation.event.store):
        raise PermissionDenied(_("Only the store's staff take the attendance."))
    if bool(invitation.arrived_at) == arrived:
        return invitation
    invitation.arrived_at = timezone.now() if arrived else None
    invitation.arrived_by = actor if arrived else None
    invitation.version += 1
    invitation.save(update_fields=["arrived_at", "arrived_by", "version"])
    _score_attendance(actor, invitation.client_id)
    return invitation


@transaction.atomic
def walk_in_add(*, actor: User, event: Event, name: str, phone: str = "") -> Invitation:
    """A guest not on the list arrives: recorded as arrived, a walk-in. A phone already on the list marks that guest
    arrived instead; a phone of one of the group's base clients (or of the store's pool customers) links them, so
    their leads and the scoring count."""
    event = _lock_event(event)
    if not works_at(actor, event.store):
        raise PermissionDenied(_("Only the store's staff take the attendance."))
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [_("Give the guest's name.")]})
    try:
        phone = phones.phone_normalize(phone) if (phone or "").strip() else ""
    except ValidationError:
        raise ValidationError({"phone": [_("Enter a valid phone number.")]}) from None
    if phone:
        listed = Invitation.objects.filter(event=event, phone=phone).first()
        if listed is not None:
            return attendance_set(actor=actor, invitation=listed, arrived=True)
    client = (BaseClient.objects.filter(group_id=event.store.group_id, phone=phone).first() if phone else None)
    entry = (PoolEntry.objects.filter(store_id=event.store_id, lead__phone=phone).order_by("-joined_at").first()
             if phone and client is None else None)
    if client is not None and Invitation.objects.filter(event=event, client=client).exists():
        return attendance_set(actor=actor, invitation=Invitation.objects.get(event=event, client=client))
    if entry is not None and Invitation.objects.filter(event=event, pool_entry=entry).exists():
        return attendance_set(actor=actor, invitation=Invitation.objects.get(event=event, pool_entry=entry))
    now = timezone.now()
    invitation = Invitation.objects.create(
        event=event, source=GuestSource.WALK_IN, client=client, pool_entry=entry, name=name, phone=phone,
        # A new face is followed up by whoever registered them at the door (a consultant), else by nobody yet.
        consultant_id=(client.assigned_to_id if client else entry.owner_id if entry
                       else actor.pk if actor.role == Role.CONSULTANT else None),
        walk_in=True, invited_by=actor, invited_at=now, arrived_at=now, arrived_by=actor)
    _score_attendance(actor, invitation.client_id)
    return invitation


__all__ = ["StaleVersion", "answer_set", "attendance_set", "can_answer", "event_create", "event_update", "invite",
           "walk_in_add", "works_at"]
