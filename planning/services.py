"""Work plans' writes: drafting a consultant's plan for a period (once: the first open drafts it, later opens read it)
and his edits. Only the consultant himself drafts and edits his plans; managers read them. Permission errors are
``PermissionDenied`` (403), bad input ``ValidationError`` with field messages (400)."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dealercrm.models import Role, User
from leads.services import StaleVersion

from .models import ITEM_ORDER, Item, Period, WorkPlan, WorkPlanItem
from .periods import is_period_start, period_end
from .selectors import plan_draft

MAX_PLANNED = 100000


def _require_own(actor: User, consultant: User) -> None:
    if not (actor.is_active and actor.pk == consultant.pk and actor.role == Role.CONSULTANT and actor.store_id):
        raise PermissionDenied(_("Only the consultant himself writes his work plan."))


def check_period(period: str, start: date | None) -> None:
    errors = {}
    if period not in Period.values:
        errors["period"] = [_("Choose year, quarter, month, week or day.")]
    elif start is None:
        errors["start"] = [_("Give the period's first day.")]
    elif not is_period_start(period, start):
        errors["start"] = [_("A %(period)s starts on its first day: a week on a Monday, a month on the 1st, a "
                             "quarter on 1 January, April, July or October, a year on 1 January.")
                           % {"period": Period(period).label}]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def work_plan_draft(*, actor: User, period: str, start: date, today: date | None = None) -> tuple[WorkPlan, bool]:
    """The actor's plan for the period starting on ``start``, drafted now if he has none (``planning.selectors
    .plan_draft``: the target's share and its ladder, follow-ups and care due); ``(plan, created)``. Drafting twice
    (two tabs, a double tap) gives one plan."""
    check_period(period, start)
    _require_own(actor, actor)
    existing = WorkPlan.objects.filter(consultant=actor, period=period, start=start).first()
    if existing is not None:
        return existing, False
    end = period_end(period, start)
    draft = plan_draft(consultant=actor, store=actor.store, start=start, end=end, today=today)
    try:
        with transaction.atomic():
            plan = WorkPlan.objects.create(store_id=actor.store_id, consultant=actor, period=period, start=start,
                                           end=end, drafted_at=timezone.now())
    except IntegrityError:
        return WorkPlan.objects.get(consultant=actor, period=period, start=start), False
    WorkPlanItem.objects.bulk_create([
        WorkPlanItem(plan=plan, item=key, planned=draft.numbers[key], drafted=draft.numbers[key],
                     basis=draft.basis.get(key, {})) for key in ITEM_ORDER])
    return plan, True


@transaction.atomic
def work_plan_update(*, actor: User, plan: WorkPlan, notes: str | None = None, items: dict | None = None,
                     expected_version: int | None = None) -> WorkPlan:
    """The consultant edits his plan: ``notes`` (free text) and ``items`` ``{item: {"planned": n, "note": "..."}}``
    (either key may be left out). Numbers are whole, 0..100,000."""
    plan = WorkPlan.objects.select_for_update().get(pk=plan.pk)
    _require_own(actor, plan.consultant)
    if expected_version is not None and plan.version != expected_version:
        raise StaleVersion(plan.version)
    items = items or {}
    errors = {}
    for key, values in items.items():
        if key not in Item.values:
            errors.setdefault("items", []).append(_("Unknown item: %(item)s.") % {"item": key})
            continue
        planned = values.get("planned")
        if planned is not None and (isinstance(planned, bool) or not isinstance(planned, int)
                                    or not 0 <= planned <= MAX_PLANNED):
            errors.setdefault("items", []).append(_("%(item)s: a whole number from 0 to 100,000.")
                                                  % {"item": Item(key).label})
        if len(values.get("note") or "") > 300:
            errors.setdefault("items", []).append(_("%(item)s: the note is longer than 300 characters.")
                                                  % {"item": Item(key).label})
    if errors:
        raise ValidationError(errors)
    rows = {row.item: row for row in plan.items.all()}
    changed = []
    for key, values in items.items():
        row = rows.get(key) or WorkPlanItem(plan=plan, item=key, planned=0)
        if values.get("planned") is not None:
            row.planned = values["planned"]
        if "note" in values and values["note"] is not None:
            row.note = values["note"].strip()
        changed.append(row)
    for row in changed:
        row.save()
    fields = ["version", "updated_at"]
    if notes is not None:
        plan.notes = notes.strip()
        fields.append("notes")
    plan.version += 1
    plan.save(update_fields=fields)
    return plan
