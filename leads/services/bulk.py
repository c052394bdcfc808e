"""``visit_log`` for many rows at once (the Excel import): the same checks and the same rows written, in bulk.

One call is one transaction: the phones of the rows are looked up (and locked) in one query, every row is checked as
``visit_log`` checks it (through the same helpers), and the new leads, their field history, grade and assignment
changes, first visits and re-visits are written with one ``bulk_create`` each. A refused row writes nothing and does
not stop the others; its result is the exception ``visit_log`` would have raised. The rows written are the same,
field by field, as ``visit_log`` called once per row in the same order (leads/tests/test_bulk_visits.py)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dealercrm.models import Role, Store, User

from .. import events
from ..models import GRADE_ORDER, AssignmentChange, FollowUpPolicy, GradeChange, Lead, Source, Status, Visit
from ..rules import first_follow_up_due
from ._common import DuplicatePhone, check_visit_time, clean_name
from .assignment import _consultants_by_load
from .visits import VisitResult, _check_budget, _phone_or_error, _pick_assignee, visit_log, visit_unsaved

VISIT_ARGS = ("arrived_at", "left_at", "steps", "companions", "note")


@dataclass
class _Batch:
    """What one call writes, gathered while the rows are checked in order."""

    new_leads: list[Lead] = field(default_factory=list)
    created: list[Lead] = field(default_factory=list)  # "+" history: each new lead as it was created
    created_at: dict[int, int] = field(default_factory=dict)  # id() of a new lead -> its place in ``created``
    bumped: list[Lead] = field(default_factory=list)  # "~" history: a lead as each re-visit left it
    changed: dict[int, Lead] = field(default_factory=dict)  # known leads whose last contact moved (by id())
    visits: list[Visit] = field(default_factory=list)
    grade_changes: list[GradeChange] = field(default_factory=list)
    assignments: list[AssignmentChange] = field(default_factory=list)


class _RoundRobin:
    """``round_robin_next`` for a batch: the store's consultants with their active-lead counts read once, each new
    lead adding one to its consultant's count, so each row gets whom ``visit_log`` would have given it."""

    def __init__(self, store: Store):
        self.consultants = _consultants_by_load(store)

    def next(self) -> User | None:
        if not self.consultants:
            return None
        return min(self.consultants, key=lambda u: (u.load, u.date_joined, u.pk))

    def took_one(self, user: User | None) -> None:
        for consultant in self.consultants:
            if user is not None and consultant.pk == user.pk:
                consultant.load += 1


def _assignee(actor: User, store: Store, assigned_to: User | None, rr: _RoundRobin) -> User | None:
    """``_pick_assignee`` (the same permission and assignee checks) with the batch's round-robin."""
    if assigned_to is None and actor.role != Role.CONSULTANT:
        pick = rr.next()
        if pick is not None:
            # The round-robin's pick is an active consultant of the store: only the actor's right is checked.
            return _pick_assignee(actor, store, pick)
    return _pick_assignee(actor, store, assigned_to)


@transaction.atomic
def visit_log_many(*, actor: User, store: Store, rows: list[dict]) -> list[VisitResult | Exception]:
    """Log the visits of ``rows`` (each a dict of ``visit_log``'s keyword arguments but ``actor`` and ``store``), in
    order, as one transaction. Returns per row a ``VisitResult`` or the ValidationError / PermissionDenied (a
    DuplicatePhone with ``allow_revisit=False``) that ``visit_log`` would have raised for it; a refused row writes
    nothing. A concurrent first visit of one of the phones (the unique phone index refusing an insert) makes the
    batch start over once, seeing that lead."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _log_many(actor, store, rows)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _log_many(actor: User, store: Store, rows: list[dict]) -> list[VisitResult | Exception]:
    phones = set()
    for row in rows:
        try:
            if phone := _phone_or_error(row.get("phone", "")):
                phones.add(phone)
        except ValidationError:
            pass
    # The leads holding these phones in the store, locked as visit_log locks the one it finds.
    holders = {lead.phone: lead for lead in
               Lead.objects.select_for_update().phone_holders().filter(store=store, phone__in=phones)} if phones else {}
    policy = FollowUpPolicy.objects.filter(group_id=store.group_id).first()
    rr = _RoundRobin(store)
    out = _Batch()
    # A phone a lost customer holds (defeated, or awaiting a defeat verdict): their return is a win-back or closes
    # the application (the customer_returned receivers), which visit_log does. Those rows go through it, one by one
    # and in their order, after the batch's other rows are written.
    lost = {phone for phone, lead in holders.items() if lead.status in (Status.DEFEATED, Status.DEFEAT_PENDING)}
    results: list[VisitResult | Exception | None] = []
    returning: list[int] = []
    for row in rows:
        if lost and _phone_or_none(row) in lost:
            returning.append(len(results))
            results.append(None)
            continue
        try:
            results.append(_one(actor, store, dict(row), holders, policy, rr, out))
        except (ValidationError, PermissionDenied) as exc:
            results.append(exc)
    _write(actor, store, out)
    _announce(actor, store, results)
    for place in returning:
        try:
            with transaction.atomic():
                results[place] = visit_log(actor=actor, store=store, **rows[place])
        except (ValidationError, PermissionDenied) as exc:
            results[place] = exc
    return results


def _phone_or_none(row: dict) -> str | None:
    try:
        return _phone_or_error(row.get("phone", "")) or None
    except ValidationError:
        return None


def _one(actor, store, row, holders, policy, rr, out: _Batch) -> VisitResult:
    """One row as ``visit_log`` takes it: the same checks in the same order, the rows it would write gathered."""
    allow_revisit = row.pop("allow_revisit", True)
    arrived_now = row.get("arrived_at") is None
    arrived_at = row.get("arrived_at") or timezone.now()
    phone = _phone_or_error(row.get("phone", ""))
    name = clean_name(row.get("name", ""), blank_message=_("Enter a name, or Mr./Ms. and a surname."))
    source = row.get("source")
    if source not in Source.values:
        raise ValidationError({"source": [_("Unknown source.")]})
    grade, channel = row.get("grade"), row.get("channel")
    if grade is not None and grade not in GRADE_ORDER:
        raise ValidationError({"grade": [_("Unknown grade.")]})
    if channel is not None and channel.source != source:
        raise ValidationError({"channel": [_("This channel belongs to another source.")]})
    budget = row.get("budget")
    _check_budget(budget)
    assignee = _assignee(actor, store, row.get("assigned_to"), rr)
    visit_args = {key: row[key] for key in VISIT_ARGS if key in row and row[key] is not None}
    visit_args["arrived_at"] = arrived_at

    if phone and (existing := holders.get(phone)) is not None:
        if not allow_revisit:
            raise DuplicatePhone(existing.pk)
        if arrived_now:
            visit_args["arrived_at"] = timezone.now()
        check_visit_time(existing, visit_args["arrived_at"])
        visit = visit_unsaved(existing, actor, is_first=False, **visit_args)
        out.visits.append(visit)
        if existing.last_contact_at is None or visit.arrived_at > existing.last_contact_at:
            place = out.created_at.get(id(existing))
            if place is not None and out.created[place] is existing:
                out.created[place] = _snapshot(existing, actor)  # its "+" row keeps the lead as it was created
            existing.last_contact_at = visit.arrived_at
            existing.version += 1
            out.bumped.append(_snapshot(existing, actor))
            if existing.pk is not None:
                out.changed[id(existing)] = existing
        return VisitResult(lead=existing, visit=visit, is_revisit=True)

    lead = Lead(
        store=store, assigned_to=assignee, name=name, phone=phone, gender=row.get("gender", ""), source=source,
        channel=channel, series=row.get("series"), budget=budget, purchase_type=row.get("purchase_type", ""),
        district=row.get("district", ""), industry=row.get("industry", ""), grade=grade,
        grade_since=arrived_at if grade else None, first_visit_at=arrived_at,
        first_visit_day=timezone.localtime(arrived_at).date(), last_contact_at=arrived_at,
        next_follow_up_at=_first_follow_up(policy, arrived_at) if phone else None, created_by=actor,
    )
    visit = visit_unsaved(lead, actor, is_first=True, **visit_args)  # checked before anything of the row is kept
    out.new_leads.append(lead)
    out.created_at[id(lead)] = len(out.created)
    out.created.append(lead)  # copied only if a re-visit in this batch changes it before it is written
    if grade:
        out.grade_changes.append(GradeChange(lead=lead, from_grade=None, to_grade=grade, changed_at=arrived_at,
                                             changed_by=actor, reason=gettext_noop("Graded at the first visit")))
    out.assignments.append(AssignmentChange(lead=lead, from_user=None, to_user=assignee, changed_at=arrived_at,
                                            changed_by=actor, reason=gettext_noop("First visit")))
    out.visits.append(visit)
    rr.took_one(assignee)
    if phone:
        holders[phone] = lead
    return VisitResult(lead=lead, visit=visit, is_revisit=False)


def _snapshot(lead: Lead, actor: User) -> Lead:
    """The lead as it is now, for its history row (written once the lead has its id and creation time)."""
    snapshot = copy.copy(lead)
    snapshot._history_user = actor
    snapshot._lead = lead
    return snapshot


def _first_follow_up(policy: FollowUpPolicy | None, arrived_at):
    """``visits.first_follow_up_for`` with the group's policy read once per batch."""
    if policy is None:
        return first_follow_up_due(arrived_at)
    return first_follow_up_due(arrived_at, hours=policy.first_follow_up_hours,
                               workday_start=policy.workday_start_hour, workday_end=policy.workday_end_hour)


def _write(actor: User, store: Store, out: _Batch) -> None:
    if out.new_leads:
        Lead.objects.bulk_create(out.new_leads, batch_size=1000)
    now = timezone.now()
    if out.changed:
        for lead in out.changed.values():
            lead.updated_at = now
        Lead.objects.bulk_update(list(out.changed.values()), ["last_contact_at", "version", "updated_at"],
                                 batch_size=1000)
    for snapshots, update in ((out.created, False), (out.bumped, True)):
        for snapshot in snapshots:
            if hasattr(snapshot, "_lead"):
                # A copy of a lead created in this batch: the lead got its id and creation time from the insert.
                snapshot.pk, snapshot.created_at = snapshot._lead.pk, snapshot._lead.created_at
        if snapshots:
            Lead.history.bulk_history_create(snapshots, batch_size=1000, update=update, default_user=actor,
                                             default_change_reason=None)
    for objs in (out.grade_changes, out.assignments, out.visits):
        for obj in objs:
            obj.lead_id = obj.lead.pk
    GradeChange.objects.bulk_create(out.grade_changes, batch_size=1000)
    AssignmentChange.objects.bulk_create(out.assignments, batch_size=1000)
    Visit.objects.bulk_create(out.visits, batch_size=1000)


def _announce(actor: User, store: Store, results: list[VisitResult | Exception]) -> None:
    """``visit_logged`` once for the batch's visits (a returning buyer's new lead is linked to the card by a
    receiver, with one query for the batch)."""
    written = [result for result in results if isinstance(result, VisitResult)]
    if written:
        events.visit_logged.send(sender=Visit, results=written, actor=actor, store=store)
