"""Logging showroom visits (which creates leads), editing leads and changing grades."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dealercrm.bulk import unsaved
from dealercrm.models import Role, Store, User, VehicleSeries

from .. import events
from ..models import (
    GRADE_ORDER,
    AssignmentChange,
    Channel,
    FollowUpPolicy,
    GradeChange,
    Lead,
    Source,
    Status,
    Visit,
    VisitStep,
)
from ..phones import phone_normalize
from ..rules import UNGRADED_FOLLOW_UP_DAYS, first_follow_up_due, next_follow_up_due
from ._common import (
    DuplicatePhone,
    bump,
    check_visit_time,
    clean_name,
    column_limits_or_error,
    date_in_range_or_error,
    grade_rules_for,
    lock,
    manages_store,
    require_active,
    require_can_work,
    validate_assignee,
)
from .companies import check_lead_company
from .flags import clear_flags
from .levels import handoff_on_promotion


@dataclass
class VisitResult:
    lead: Lead
    visit: Visit
    is_revisit: bool
    # A lost customer's visit made the lead active again: the status it had ("defeated": a win-back from the
    # competitor pool or nurture list; "defeat_pending": the application closed as a false defeat), else "".
    came_back_from: str = ""


def first_follow_up_for(group_id: int, arrived_at):
    """When a new customer's first follow-up falls due under the group's FollowUpPolicy (defaults without one)."""
    policy = FollowUpPolicy.objects.filter(group_id=group_id).first()
    if policy is None:
        return first_follow_up_due(arrived_at)
    return first_follow_up_due(arrived_at, hours=policy.first_follow_up_hours,
                               workday_start=policy.workday_start_hour, workday_end=policy.workday_end_hour)


def interval_days(group_id: int, grade: str | None) -> int:
    """Follow-up interval in days for ``grade`` in the group (ungraded leads: the next day)."""
    if not grade:
        return UNGRADED_FOLLOW_UP_DAYS
    return grade_rules_for(group_id)[grade].follow_up_days


def _phone_or_error(raw: str | None) -> str:
    try:
        return phone_normalize(raw)
    except ValidationError as exc:
        raise ValidationError({"phone": exc.messages}) from exc


def _check_budget(budget: Decimal | None) -> None:
    if budget is not None and budget < 0:
        raise ValidationError({"budget": [_("The budget cannot be negative.")]})
    column_limits_or_error(Lead, "budget", budget)  # 20000000000 overflows numeric(12, 2)


def _pick_assignee(actor: User, store: Store, assigned_to: User | None) -> User | None:
    if actor.role == Role.CONSULTANT:
        if assigned_to is not None and assigned_to.pk != actor.pk:
            raise PermissionDenied(_("A consultant logs visits for their own customers only."))
        if actor.store_id != store.pk:
            raise PermissionDenied(_("You do not work in this store."))
        return actor
    if not manages_store(actor, store):
        raise PermissionDenied(_("You do not work in this store."))
    if assigned_to is None:
        from .assignment import round_robin_next

        return round_robin_next(store)
    validate_assignee(store, assigned_to)
    return assigned_to


def visit_unsaved(lead: Lead, actor: User, *, arrived_at, left_at=None, steps=(), companions=0, note="",
                  is_first: bool) -> Visit:
    """A visit of ``lead``, checked (not in the future, in range, leaves after arriving, known steps), unsaved: the
    one set of checks of every visit, written one at a time here or in batches (``leads.services.bulk``)."""
    if arrived_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"arrived_at": [_("A visit cannot be in the future.")]})
    date_in_range_or_error(arrived_at, "arrived_at")  # 0001-01-01 in Asia/Shanghai is before year 1 in UTC
    if left_at is not None and left_at < arrived_at:
        raise ValidationError({"left_at": [_("The customer cannot leave before arriving.")]})
    if companions < 0:
        raise ValidationError({"companions": [_("Ensure this value is greater than or equal to 0.")]})
    unknown = set(steps) - set(VisitStep.values)
    if unknown:
        raise ValidationError({"steps": [_("Unknown step: %(step)s") % {"step": ", ".join(sorted(unknown))}]})
    # Visit(lead=lead, …) without its constructor's cost (a visit per row of an import: dealercrm.bulk.unsaved).
    return unsaved(Visit, {"lead_id": lead.pk, "store_id": lead.store_id, "arrived_at": arrived_at,
                           "left_at": left_at, "is_first": is_first, "companions": companions, "note": note,
                           "recorded_by_id": actor.pk, **{step: True for step in steps}},
                   {"lead": lead, "recorded_by": actor})


def _visit_create(lead: Lead, actor: User, **visit_args) -> Visit:
    visit = visit_unsaved(lead, actor, **visit_args)
    visit.save(force_insert=True)
    return visit


@transaction.atomic
def visit_log(
    *,
    actor: User,
    store: Store,
    name: str,
    source: str,
    phone: str | None = "",
    channel: Channel | None = None,
    series: VehicleSeries | None = None,
    grade: str | None = None,
    assigned_to: User | None = None,
    arrived_at: datetime | None = None,
    left_at: datetime | None = None,
    steps: tuple[str, ...] | list[str] = (),
    companions: int = 0,
    note: str = "",
    gender: str = "",
    budget: Decimal | None = None,
    purchase_type: str = "",
    district: str = "",
    industry: str = "",
    company=None,
    allow_revisit: bool = True,
) -> VisitResult:
    """Log a showroom visit. A phone already known in the store makes it a re-visit of that lead (or, with
    ``allow_revisit=False``, raises DuplicatePhone); otherwise a new lead is created with this first visit.

    An anonymous walk-in (no phone) is still a lead: N counts it, K does not. Consultants log for themselves;
    a manager may name the consultant or leave it to round-robin. Times are aware datetimes (default: now)."""
    arrived_now = arrived_at is None
    arrived_at = arrived_at or timezone.now()
    phone = _phone_or_error(phone)
    name = clean_name(name, blank_message=_("Enter a name, or Mr./Ms. and a surname."))
    if source not in Source.values:
        raise ValidationError({"source": [_("Unknown source.")]})
    if grade is not None and grade not in GRADE_ORDER:
        raise ValidationError({"grade": [_("Unknown grade.")]})
    if channel is not None and channel.source != source:
        raise ValidationError({"channel": [_("This channel belongs to another source.")]})
    _check_budget(budget)
    check_lead_company(store, company)
    assignee = _pick_assignee(actor, store, assigned_to)
    visit_args = dict(arrived_at=arrived_at, left_at=left_at, steps=steps, companions=companions, note=note)

    if phone:
        # The lead holding this phone in the store (PHONE_HOLDERS: the partial unique index's condition). A won lead
        # does not hold it: its buyer coming back starts a new lead, linked to their base client below.
        existing = Lead.objects.select_for_update().phone_holders().filter(store=store, phone=phone).first()
        if existing is not None:
            if not allow_revisit:
                raise DuplicatePhone(existing.pk)
            return _revisit(existing, actor, _now_after_lock(visit_args, arrived_now), grade=grade,
                            assigned_to=assigned_to, store=store)

    lead = Lead(
        store=store,
        assigned_to=assignee,
        name=name,
        phone=phone,
        gender=gender,
        source=source,
        channel=channel,
        series=series,
        budget=budget,
        purchase_type=purchase_type,
        district=district,
        industry=industry,
        company=company,
        grade=grade,
        grade_since=arrived_at if grade else None,
        first_visit_at=arrived_at,
        last_contact_at=arrived_at,
        # An anonymous walk-in cannot be called back: nothing falls due until a phone is added.
        # A new customer is called back within the group's first follow-up window, then the grade's cadence applies.
        next_follow_up_at=first_follow_up_for(store.group_id, arrived_at) if phone else None,
        created_by=actor,
    )
    lead._history_user = actor
    try:
        with transaction.atomic():
            lead.save()
    except IntegrityError:
        # Another request created this phone's lead between our check and our insert.
        existing = Lead.objects.phone_holders().get(store=store, phone=phone)
        if not allow_revisit:
            raise DuplicatePhone(existing.pk) from None
        return _revisit(lock(existing), actor, _now_after_lock(visit_args, arrived_now), grade=grade,
                        assigned_to=assigned_to)
    if grade:
        GradeChange.objects.create(lead=lead, from_grade=None, to_grade=grade, changed_at=arrived_at,
                                   changed_by=actor, reason=gettext_noop("Graded at the first visit"))
    AssignmentChange.objects.create(lead=lead, from_user=None, to_user=assignee, changed_at=arrived_at,
                                    changed_by=actor, reason=gettext_noop("First visit"))
    visit = _visit_create(lead, actor, is_first=True, **visit_args)
    result = VisitResult(lead=lead, visit=visit, is_revisit=False)
    # A buyer back to buy again (the phone is a base client's in the group) is linked to the card by a receiver.
    events.visit_logged.send(sender=Visit, results=[result], actor=actor, store=store)
    return result


def _now_after_lock(visit_args: dict, arrived_now: bool) -> dict:
    """A visit logged "now" that turns out to be a re-visit takes its time once the lead is locked: a simultaneous
    first visit of the same phone (committed while this request waited) was stamped a moment later than this
    request's start, and a re-visit may not precede the first visit."""
    return {**visit_args, "arrived_at": timezone.now()} if arrived_now else visit_args


def _revisit(lead: Lead, actor: User, visit_args: dict, *, grade: str | None = None,
             assigned_to: User | None = None, store: Store | None = None) -> VisitResult:
    # Every path to a re-visit (the visit form finding a known phone, the API's visits endpoint) checks its time.
    check_visit_time(lead, visit_args["arrived_at"])
    visit = _visit_create(lead, actor, is_first=False, **visit_args)
    came_back_from = ""
    if lead.status in (Status.DEFEATED, Status.DEFEAT_PENDING):
        # A lost customer came back: a receiver wins them back, or closes a pending defeat application as a false
        # defeat. It saves what it changes; the lead is read again (still under this transaction's lock).
        before = lead.status
        events.customer_returned.send(sender=Lead, lead=lead, actor=actor, at=visit.arrived_at, grade=grade,
                                      assign_to=assigned_to)
        lead = lock(lead)
        came_back_from = before if lead.status == Status.ACTIVE else ""
    if lead.last_contact_at is None or visit.arrived_at > lead.last_contact_at:
        lead.last_contact_at = visit.arrived_at
        bump(lead, ["last_contact_at"], actor=actor)
    result = VisitResult(lead=lead, visit=visit, is_revisit=True, came_back_from=came_back_from)
    events.visit_logged.send(sender=Visit, results=[result], actor=actor, store=store or lead.store)
    return result


def lead_create(**kwargs) -> Lead:
    """Create a lead with its first visit now; a phone already in the store raises DuplicatePhone."""
    return visit_log(allow_revisit=False, **kwargs).lead


@transaction.atomic
def visit_add(*, actor: User, lead: Lead, arrived_at: datetime | None = None, left_at: datetime | None = None,
              steps=(), companions: int = 0, note: str = "") -> Visit:
    """Record a re-visit of a known lead."""
    lead = lock(lead)
    require_can_work(actor, lead)
    arrived_at = arrived_at or timezone.now()
    visit_args = dict(arrived_at=arrived_at, left_at=left_at, steps=steps, companions=companions, note=note)
    return _revisit(lead, actor, visit_args).visit


EDITABLE_FIELDS = (
    "name", "phone", "gender", "source", "channel", "series", "budget", "purchase_type", "district", "industry", "notes",
    "company",
)


@transaction.atomic
def lead_update(*, actor: User, lead: Lead, expected_version: int | None = None, **changes) -> Lead:
    """Edit a lead's customer fields (not its grade, owner or store: those have their own services, which keep the
    history). ``expected_version`` makes the write conditional: StaleVersion when someone saved in between."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({field: [_("This field cannot be changed here.")] for field in unknown})
    lead = lock(lead, expected_version)
    require_can_work(actor, lead)
    if "phone" in changes:
        changes["phone"] = _phone_or_error(changes["phone"])
        if changes["phone"]:
            holder = (
                Lead.objects.phone_holders().filter(store=lead.store, phone=changes["phone"]).exclude(pk=lead.pk)
                .values_list("pk", flat=True).first()
            )
            if holder:
                raise DuplicatePhone(holder)
    _check_budget(changes.get("budget"))
    if "company" in changes:
        check_lead_company(lead.store, changes["company"])
    if "name" in changes:
        changes["name"] = clean_name(changes["name"], blank_message=_("This field may not be blank."))
    source = changes.get("source", lead.source)
    channel = changes.get("channel", lead.channel)
    if channel is not None and channel.source != source:
        raise ValidationError({"channel": [_("This channel belongs to another source.")]})
    changed = [field for field, value in changes.items() if getattr(lead, field) != value]
    if "phone" in changed and changes["phone"] and not lead.phone and lead.next_follow_up_at is None and lead.is_active:
        # The first contact number of an anonymous walk-in: the follow-up clock starts now.
        lead.next_follow_up_at = (first_follow_up_for(lead.store.group_id, timezone.now())
                                  if lead.first_follow_up_at is None else
                                  next_follow_up_due(timezone.now(), interval_days(lead.store.group_id, lead.grade)))
        changed.append("next_follow_up_at")
    for field in changed:
        if field != "next_follow_up_at":
            setattr(lead, field, changes[field])
    if changed:
        lead._change_reason = gettext_noop("Edited")
        bump(lead, changed, actor=actor)
    return lead


@transaction.atomic
def lead_grade_change(*, actor: User, lead: Lead, to_grade: str, reason: str = "", follow_up=None,
                      at: datetime | None = None, expected_version: int | None = None) -> Lead:
    """Move a lead to ``to_grade``, recording who, when, from, to and why. Restarts the dwell clock and, unless a
    follow-up sets it, the next follow-up falls due after the new grade's interval."""
    if to_grade not in GRADE_ORDER:
        raise ValidationError({"grade": [_("Unknown grade.")]})
    lead = lock(lead, expected_version)
    require_can_work(actor, lead)
    require_active(lead)
    if lead.grade == to_grade:
        return lead
    at = at or timezone.now()
    change = GradeChange.objects.create(lead=lead, from_grade=lead.grade, to_grade=to_grade, changed_at=at,
                                        changed_by=actor, reason=reason, follow_up=follow_up)
    lead.grade = to_grade
    lead.grade_since = at
    fields = ["grade", "grade_since",
              *clear_flags(lead, actor=actor, at=at, reason=gettext_noop("Grade changed"), stale=True)]
    if follow_up is None:
        lead.next_follow_up_at = next_follow_up_due(at, interval_days(lead.store.group_id, to_grade))
        fields.append("next_follow_up_at")
    bump(lead, fields, actor=actor)
    # A lead promoted past its holder's level goes to the next level when the store says so (services.levels).
    return handoff_on_promotion(actor=actor, lead=lead, change=change)


