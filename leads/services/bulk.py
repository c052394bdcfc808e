"""``visit_log`` for many rows at once (the Excel import): the same checks and the same rows written, in bulk.

One call is one transaction: the phones of the rows are looked up (and locked) in one query, every row is checked as
``visit_log`` checks it (through the same helpers), and the new leads, their field history, grade and assignment
changes, first visits and re-visits are written with one statement each, from arrays (``dealercrm.bulk``: a lead
import spent most of its time in ``bulk_create`` building and compiling instances and placeholders). A refused row
writes nothing and does not stop the others; its result is the exception ``visit_log`` would have raised. The rows
written are the same, field by field, as ``visit_log`` called once per row in the same order
(leads/tests/test_bulk_visits.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dealercrm.bulk import any_of, insert_history, insert_objects, insert_rows, unsaved, update_rows
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
    """What one call writes, gathered while the rows are checked in order: the new leads (instances: the results
    hold them) and visits, the rest as the values of their rows."""

    new_leads: list[Lead] = field(default_factory=list)
    # "+" history: each new lead as it was created (its last contact then: a re-visit in the batch may move it).
    created: list[Lead] = field(default_factory=list)
    created_contact: list = field(default_factory=list)
    # "~" history: a lead as each re-visit left it (only its last contact and version change).
    bumped: list[Lead] = field(default_factory=list)
    bumped_contact: list = field(default_factory=list)
    changed: dict[int, Lead] = field(default_factory=dict)  # known leads whose last contact moved (by id())
    visits: list[Visit] = field(default_factory=list)
    graded: list[Lead] = field(default_factory=list)  # new leads graded at the first visit
    assigned: list[Lead] = field(default_factory=list)  # every new lead ("First visit"; to_user may be None)


class _RoundRobin:
    """``round_robin_next`` for a batch: the store's consultants with their active-lead counts read once, each new
    lead adding one to its consultant's count, so each row gets whom ``visit_log`` would have given it. Read when a
    row first needs it: a batch whose rows all name their consultant (the sales import's) does not count."""

    def __init__(self, store: Store):
        self.store = store
        self._consultants: list[User] | None = None
        self._taken: dict[int, int] = {}  # leads given before the counts were read (not written yet), by user

    @property
    def consultants(self) -> list[User]:
        if self._consultants is None:
            self._consultants = _consultants_by_load(self.store)
            for consultant in self._consultants:
                consultant.load += self._taken.get(consultant.pk, 0)
        return self._consultants

    def next(self) -> User | None:
        if not self.consultants:
            return None
        return min(self.consultants, key=lambda u: (u.load, u.date_joined, u.pk))

    def took_one(self, user: User | None) -> None:
        if self._consultants is None:
            if user is not None:
                self._taken[user.pk] = self._taken.get(user.pk, 0) + 1
            return
        for consultant in self._consultants:
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
def visit_log_many(*, actor: User, store: Store, rows: list[dict], phones_normalised: bool = False,
                   then: Callable[[list[VisitResult | Exception | None]], None] | None = None,
                   ) -> list[VisitResult | Exception]:
    """Log the visits of ``rows`` (each a dict of ``visit_log``'s keyword arguments but ``actor`` and ``store``), in
    order, as one transaction. Returns per row a ``VisitResult`` or the ValidationError / PermissionDenied (a
    DuplicatePhone with ``allow_revisit=False``) that ``visit_log`` would have raised for it; a refused row writes
    nothing. A concurrent first visit of one of the phones (the unique phone index refusing an insert) makes the
    batch start over once, seeing that lead.

    Each row's phone is normalised once (``phone_normalize``). ``phones_normalised``: the caller normalised them
    already (the import's dry run stores them in E.164), so a phone in E.164 form is taken as it is, unparsed.

    ``then``: called with the results once every row is checked, before anything is written (a row a lost customer
    holds is None there: it is logged afterwards). It may change the NEW leads (``is_revisit`` false), which then go
    in as it leaves them, written once: the sales import records each new buyer's deal so, instead of inserting the
    lead and updating it at once. Their field history still records them as logged (the "+" rows: each lead's
    tracked fields as they were before ``then``); what ``then`` changed is the caller's to record. An exception it
    raises undoes the call."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _log_many(actor, store, rows, phones_normalised, then)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _phone(row: dict, normalised: bool) -> str | ValidationError:
    """The row's phone as ``visit_log`` normalises it, or the error it raises for it (in its place among the row's
    checks): ``phone_normalize`` once, or not at all for a phone the caller normalised already."""
    raw = row.get("phone", "")
    if normalised and (not raw or E164.fullmatch(raw)):
        return raw or ""
    try:
        return _phone_or_error(raw)
    except ValidationError as exc:
        return exc


def _log_many(actor: User, store: Store, rows: list[dict], normalised: bool,
              then: Callable | None = None) -> list[VisitResult | Exception]:
    phones_of = [_phone(row, normalised) for row in rows]
    phones = {phone for phone in phones_of if phone and isinstance(phone, str)}
    # The leads holding these phones in the store, locked as visit_log locks the one it finds. Not blank: so the
    # unique phone index serves the look-up whatever the number of phones (PostgreSQL proves its predicate's
    # "phone <> ''" from "phone IN (…)" for at most 100 phones; else it read the store's every lead).
    holders = {lead.phone: lead for lead in Lead.objects.select_for_update().phone_holders().filter(
        any_of("phone", phones), store=store).exclude(phone="")} if phones else {}
    policy = FollowUpPolicy.objects.filter(group_id=store.group_id).first()
    rr = _RoundRobin(store)
    out = _Batch()
    # A phone a lost customer holds (defeated, or awaiting a defeat verdict): their return is a win-back or closes
    # the application (the customer_returned receivers), which visit_log does. Those rows go through it, one by one
    # and in their order, after the batch's other rows are written.
    lost = {phone for phone, lead in holders.items() if lead.status in (Status.DEFEATED, Status.DEFEAT_PENDING)}
    results: list[VisitResult | Exception | None] = []
    returning: list[int] = []
    for row, phone in zip(rows, phones_of, strict=True):
        if lost and isinstance(phone, str) and phone in lost:
            returning.append(len(results))
            results.append(None)
            continue
        try:
            results.append(_one(actor, store, dict(row), phone, holders, policy, rr, out))
        except (ValidationError, PermissionDenied) as exc:
            results.append(exc)
    logged = None
    if then is not None:
        # The leads as logged, for their history rows, before ``then`` changes the new ones (but the key and the
        # creation time, which the insert gives them).
        tracked = [f.attname for f in Lead.history.model.tracked_fields if not f.primary_key
                   and not getattr(f, "auto_now", False) and not getattr(f, "auto_now_add", False)]
        logged = ({name: [getattr(lead, name) for lead in out.created] for name in tracked},
                  {name: [getattr(lead, name) for lead in out.bumped] for name in tracked})
        then(results)
    _write(actor, store, out, logged)
    _announce(actor, store, results)
    for place in returning:
        try:
            with transaction.atomic():
                results[place] = visit_log(actor=actor, store=store, **rows[place])
        except (ValidationError, PermissionDenied) as exc:
            results[place] = exc
    return results


def _one(actor, store, row, phone: str | ValidationError, holders, policy, rr, out: _Batch) -> VisitResult:
    """One row as ``visit_log`` takes it: the same checks in the same order, the rows it would write gathered.
    ``phone``: the row's phone normalised, or the error that makes it refused (``_phone``)."""
    allow_revisit = row.pop("allow_revisit", True)
    arrived_now = row.get("arrived_at") is None
    arrived_at = row.get("arrived_at") or timezone.now()
    if isinstance(phone, ValidationError):
        raise phone
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
            existing.last_contact_at = visit.arrived_at
            existing.version += 1
            out.bumped.append(existing)
            out.bumped_contact.append(existing.last_contact_at)
            if existing.pk is not None:
                out.changed[id(existing)] = existing
        return VisitResult(lead=existing, visit=visit, is_revisit=True)

    series = row.get("series")
    lead = unsaved(Lead, {  # Lead(store=store, …) without its constructor's cost (dealercrm.bulk.unsaved)
        "store_id": store.pk, "assigned_to_id": assignee.pk if assignee else None, "name": name, "phone": phone,
        "gender": row.get("gender", ""), "source": source, "channel_id": channel.pk if channel else None,
        "series_id": series.pk if series else None, "budget": budget, "purchase_type": row.get("purchase_type", ""),
        "district": row.get("district", ""), "industry": row.get("industry", ""), "grade": grade,
        "grade_since": arrived_at if grade else None, "first_visit_at": arrived_at,
        "first_visit_day": timezone.localtime(arrived_at).date(), "last_contact_at": arrived_at,
        "next_follow_up_at": _first_follow_up(policy, arrived_at) if phone else None, "created_by_id": actor.pk,
    }, {"store": store, "assigned_to": assignee, "channel": channel, "series": series, "created_by": actor})
    visit = visit_unsaved(lead, actor, is_first=True, **visit_args)  # checked before anything of the row is kept
    out.new_leads.append(lead)
    out.created.append(lead)
    out.created_contact.append(lead.last_contact_at)
    if grade:
        out.graded.append(lead)
    out.assigned.append(lead)
    out.visits.append(visit)
    rr.took_one(assignee)
    if phone:
        holders[phone] = lead
    return VisitResult(lead=lead, visit=visit, is_revisit=False)


def _first_follow_up(policy: FollowUpPolicy | None, arrived_at):
    """``visits.first_follow_up_for`` with the group's policy read once per batch."""
    if policy is None:
        return first_follow_up_due(arrived_at)
    return first_follow_up_due(arrived_at, hours=policy.first_follow_up_hours,
                               workday_start=policy.workday_start_hour, workday_end=policy.workday_end_hour)


def _write(actor: User, store: Store, out: _Batch, logged: tuple[dict, dict] | None = None) -> None:
    """The batch's rows, a statement per table (``dealercrm.bulk``: from arrays, no instance per history, grade or
    assignment row): the rows ``bulk_create`` / ``bulk_update`` / ``bulk_history_create`` wrote, value for value.
    ``logged``: the tracked fields of the created and of the bumped leads as logged (``visit_log_many``'s ``then``),
    for their history rows."""
    created_as, bumped_as = logged or ({}, {})
    now = timezone.now()
    insert_objects(out.new_leads)  # their ids, created_at and updated_at (now), as bulk_create sets them
    if out.changed:
        for lead in out.changed.values():
            lead.updated_at = now
        update_rows(Lead, list(out.changed.values()), ["last_contact_at", "version", "updated_at"])
    insert_history(Lead, out.created, history_type="+", user_id=actor.pk,
                   overrides={**created_as, "last_contact_at": out.created_contact})
    insert_history(Lead, out.bumped, history_type="~", user_id=actor.pk,
                   overrides={**bumped_as, "last_contact_at": out.bumped_contact})
    insert_rows(GradeChange, {"lead_id": [lead.pk for lead in out.graded],
                              "to_grade": [lead.grade for lead in out.graded],
                              "changed_at": [lead.first_visit_at for lead in out.graded]},
                constants={"from_grade": None, "changed_by_id": actor.pk,
                           "reason": gettext_noop("Graded at the first visit")})
    insert_rows(AssignmentChange, {"lead_id": [lead.pk for lead in out.assigned],
                                   "to_user_id": [lead.assigned_to_id for lead in out.assigned],
                                   "changed_at": [lead.first_visit_at for lead in out.assigned]},
                constants={"from_user_id": None, "changed_by_id": actor.pk, "reason": gettext_noop("First visit")})
    insert_objects(out.visits)


def _announce(actor: User, store: Store, results: list[VisitResult | Exception]) -> None:
    """``visit_logged`` once for the batch's visits (a returning buyer's new lead is linked to the card by a
    receiver, with one query for the batch)."""
    written = [result for result in results if isinstance(result, VisitResult)]
    if written:
        events.visit_logged.send(sender=Visit, results=written, actor=actor, store=store)
