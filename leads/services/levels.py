"""Consultant levels: a store's levels and who holds which, and the handoff of a lead promoted past its holder's
level (leads.models_levels). Each write is one transaction; the handoff runs inside the grade change's."""

from __future__ import annotations

from itertools import pairwise

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dealercrm.models import Role, Store, User

from ..models import GRADE_ORDER, AssignmentChange, GradeChange, Lead
from ..models_levels import (
    DEFAULT_LEVELS,
    ConsultantLevel,
    DealCredit,
    Handoff,
    HandoffMode,
    HandoffStatus,
    LevelMember,
    LevelSettings,
)
from ._common import lock, require_active, require_manager
from .assignment import _consultants_by_load, lead_move

MAX_LEVELS = 5
# The assignment history's reason for a handoff (translated when shown).
HANDOFF_REASON = gettext_noop("Handed to the next level after a promotion")
MAX_CAPACITY = 10000


def store_level_settings(store: Store) -> LevelSettings:
    """The store's settings row, or the defaults (unsaved) when the manager never set them."""
    found = LevelSettings.objects.filter(store=store).first()
    return found or LevelSettings(store=store)


def store_levels(store: Store) -> list[ConsultantLevel]:
    """The store's levels, top first; a store that never set any gets the method's three (created here)."""
    levels = list(ConsultantLevel.objects.filter(store=store).order_by("order"))
    if levels:
        return levels
    ConsultantLevel.objects.bulk_create(
        [ConsultantLevel(store=store, order=order, name=name, grades=grades, capacity=capacity)
         for order, name, grades, capacity in DEFAULT_LEVELS],
        ignore_conflicts=True,
    )
    return list(ConsultantLevel.objects.filter(store=store).order_by("order"))


def levels_validate(levels: list[dict]) -> list[dict]:
    """Check a store's levels as typed (each a dict of name, order, grades, capacity) and return them cleaned (names
    stripped, grades as an upper-case string top first), or raise ValidationError with field messages: ``levels``
    for the rules between levels, ``levels.<i>.<field>`` for one level's field. The rules: one to five levels; names
    and ranks unique; every grade of the ladder in exactly one level; a higher level (smaller rank) holds only
    grades above those of every lower level; capacity 1 to 10,000."""
    errors: dict[str, list[str]] = {}
    if not levels:
        raise ValidationError({"levels": [_("Set at least one level.")]})
    if len(levels) > MAX_LEVELS:
        raise ValidationError({"levels": [_("At most %(n)s levels.") % {"n": MAX_LEVELS}]})
    cleaned = []
    for i, level in enumerate(levels):
        name = str(level.get("name") or "").strip()
        if not name:
            errors[f"levels.{i}.name"] = [_("Name the level.")]
        elif len(name) > 40:
            errors[f"levels.{i}.name"] = [_("At most 40 characters.")]
        order = level.get("order")
        if not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= MAX_LEVELS:
            errors[f"levels.{i}.order"] = [_("A rank from 1 (the top) to %(n)s.") % {"n": MAX_LEVELS}]
        grades = [str(g).upper() for g in (level.get("grades") or [])]
        if not grades:
            errors[f"levels.{i}.grades"] = [_("Choose the grades this level holds.")]
        elif any(g not in GRADE_ORDER for g in grades) or len(set(grades)) != len(grades):
            errors[f"levels.{i}.grades"] = [_("Grades are A, B, C, D and E, each once.")]
        capacity = level.get("capacity")
        if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= MAX_CAPACITY:
            errors[f"levels.{i}.capacity"] = [_("A whole number of leads from 1 to %(n)s.") % {"n": MAX_CAPACITY}]
        cleaned.append({"name": name, "order": order,
                        "grades": "".join(sorted(set(grades), key=lambda g: GRADE_ORDER.index(g) if g in GRADE_ORDER
                                                 else -1, reverse=True)),
                        "capacity": capacity})
    if errors:
        raise ValidationError(errors)
    rules = []
    if len({c["name"] for c in cleaned}) != len(cleaned):
        rules.append(_("Two levels have the same name."))
    if len({c["order"] for c in cleaned}) != len(cleaned):
        rules.append(_("Two levels have the same rank."))
    held: dict[str, int] = {}
    for c in cleaned:
        for g in c["grades"]:
            held[g] = held.get(g, 0) + 1
    overlap = [g for g in reversed(GRADE_ORDER) if held.get(g, 0) > 1]
    missing = [g for g in reversed(GRADE_ORDER) if g not in held]
    if overlap:
        rules.append(_("Each grade belongs to one level: %(grades)s are in more than one.") % {
            "grades": ", ".join(overlap)})
    if missing:
        rules.append(_("Every grade needs a level: %(grades)s are in none.") % {"grades": ", ".join(missing)})
    if not rules:
        ranked = sorted(cleaned, key=lambda c: c["order"])
        for higher, lower in pairwise(ranked):
            if min(GRADE_ORDER.index(g) for g in higher["grades"]) < max(GRADE_ORDER.index(g) for g in lower["grades"]):
                rules.append(_("A higher level (a smaller rank) holds higher grades: %(higher)s is below %(lower)s.")
                             % {"higher": higher["name"], "lower": lower["name"]})
                break
    if rules:
        raise ValidationError({"levels": rules})
    return cleaned


@transaction.atomic
def store_levels_set(*, actor: User, store: Store, levels: list[dict], handoff: str | None = None,
                     credit: str | None = None, members: dict[int, int | None] | None = None) -> list[ConsultantLevel]:
    """Set a store's levels (replacing them: matched by rank, so a level keeps its consultants when only its name,
    grades or capacity change; a rank no longer given is removed with its consultants' places), its handoff and
    credit settings, and the level of the consultants named in ``members`` (consultant id -> rank, None: no level;
    consultants not named keep theirs). The store's manager or a group admin of its group only. All or nothing."""
    require_manager(actor, store)
    cleaned = levels_validate(levels)
    errors = {}
    if handoff is not None and handoff not in HandoffMode.values:
        errors["handoff"] = [_("Unknown handoff rule.")]
    if credit is not None and credit not in DealCredit.values:
        errors["credit"] = [_("Unknown credit rule.")]
    orders = {c["order"] for c in cleaned}
    consultants = {}
    if members:
        consultants = {u.pk: u for u in User.objects.filter(pk__in=list(members), store=store, role=Role.CONSULTANT)}
        strangers = [pk for pk in members if pk not in consultants]
        bad_rank = [pk for pk, order in members.items() if order is not None and order not in orders]
        if strangers:
            errors["consultants"] = [_("Only consultants of this store can be given a level.")]
        elif bad_rank:
            errors["consultants"] = [_("Give each consultant one of the levels set above.")]
    if errors:
        raise ValidationError(errors)

    existing = {lv.order: lv for lv in ConsultantLevel.objects.select_for_update().filter(store=store)}
    ConsultantLevel.objects.filter(store=store).exclude(order__in=orders).delete()
    # Names and ranks are unique per store: park the kept levels' names first so a swap of two names never collides.
    ConsultantLevel.objects.filter(store=store, order__in=orders).update(
        name=Concat(Value("~"), Cast("order", CharField())))
    kept = []
    for c in sorted(cleaned, key=lambda c: c["order"]):
        level = existing.get(c["order"]) or ConsultantLevel(store=store, order=c["order"])
        level.name, level.grades, level.capacity = c["name"], c["grades"], c["capacity"]
        level.save()
        kept.append(level)
    by_order = {lv.order: lv for lv in kept}
    if members:
        for pk, order in members.items():
            if order is None:
                LevelMember.objects.filter(user_id=pk).delete()
            else:
                LevelMember.objects.update_or_create(user_id=pk, defaults={"level": by_order[order]})
    if handoff is not None or credit is not None:
        current = store_level_settings(store)
        current.handoff = handoff or current.handoff
        current.credit = credit or current.credit
        current.save()
    return kept


def _level_of(user: User | None, store_id: int) -> ConsultantLevel | None:
    if user is None:
        return None
    member = LevelMember.objects.select_related("level").filter(user=user, level__store_id=store_id).first()
    return member.level if member else None


def handoff_on_promotion(*, actor: User, lead: Lead, change: GradeChange) -> Lead:
    """Called by the grade change (``lead_grade_change``) in its transaction, on the locked lead: when the store
    hands off promoted leads and ``change`` lifts the lead above every grade of its holder's level, hand it to the
    level that holds the new grade. ``round_robin``: to that level's active consultant of the store holding the
    fewest active leads (ties: longest-serving), through the assignment service (history row, field history,
    notification); with nobody in that level it waits like ``hold``. ``hold``: a waiting handoff for the manager's
    pick, the lead staying with its holder meanwhile. Returns the lead (reassigned or not)."""
    if change.from_grade is None or not change.is_promotion or lead.assigned_to_id is None:
        return lead
    settings_row = LevelSettings.objects.filter(store_id=lead.store_id).first()
    if settings_row is None or settings_row.handoff == HandoffMode.OFF:
        return lead
    holder = User.objects.get(pk=lead.assigned_to_id)
    mine = _level_of(holder, lead.store_id)
    top = GRADE_ORDER.index(change.to_grade)
    if mine is None or change.to_grade in mine.grades or all(GRADE_ORDER.index(g) > top for g in mine.grades):
        return lead
    target = next((lv for lv in ConsultantLevel.objects.filter(store_id=lead.store_id)
                   if change.to_grade in lv.grades), None)
    if target is None:
        return lead
    # A lead already waiting (promoted twice before the manager picked) keeps one waiting handoff, now for this level.
    Handoff.objects.filter(lead=lead, status=HandoffStatus.WAITING).delete()
    handoff = Handoff(lead=lead, grade_change=change, from_user=holder, level=target, created_at=change.changed_at)
    people = _consultants_by_load(lead.store, level=target) if settings_row.handoff == HandoffMode.ROUND_ROBIN else []
    if not people:
        handoff.status = HandoffStatus.WAITING
        handoff.save()
        return lead
    lead = lead_move(actor=actor, lead=lead, to_user=people[0],
                     reason=HANDOFF_REASON)
    handoff.status = HandoffStatus.DONE
    handoff.to_user = people[0]
    handoff.decided_at = timezone.now()
    handoff.decided_by = actor
    handoff.assignment_change = AssignmentChange.objects.filter(lead=lead).order_by("-id").first()
    handoff.save()
    return lead


@transaction.atomic
def handoff_pick(*, actor: User, handoff: Handoff, to_user: User) -> Handoff:
    """The manager picks who takes a waiting handoff's lead: an active consultant of the store (normally of the
    level holding the lead's grade, which the page offers first). The move goes through the assignment service."""
    handoff = Handoff.objects.select_for_update().select_related("lead__store").get(pk=handoff.pk)
    require_manager(actor, handoff.lead.store)
    if handoff.status != HandoffStatus.WAITING:
        raise ValidationError({"handoff": [_("This handoff has already been decided.")]})
    if not (to_user.is_active and to_user.role == Role.CONSULTANT and to_user.store_id == handoff.lead.store_id):
        raise ValidationError({"to_user": [_("Choose an active consultant of this store.")]})
    lead = lock(handoff.lead)
    require_active(lead)
    if lead.assigned_to_id != to_user.pk:
        lead = lead_move(actor=actor, lead=lead, to_user=to_user,
                         reason=HANDOFF_REASON)
        handoff.assignment_change = AssignmentChange.objects.filter(lead=lead).order_by("-id").first()
    handoff.status = HandoffStatus.DONE
    handoff.to_user = to_user
    handoff.decided_at = timezone.now()
    handoff.decided_by = actor
    handoff.save()
    return handoff

