"""The demo stores' consultant levels (`seed_demo`, after the lead history): the method's three levels in both
stores, each consultant at a level (one first-level closer, one second-level, two third-level), and in 浦东店 the
handoff held for the manager's pick with credit split, so its history has handoffs: promoted leads the manager handed
to the second or first level, and a few still waiting on the allocation page."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from dealercrm.models import Role, Store, User

from ..models import AssignmentChange, GradeChange, Lead, Status
from ..models_levels import ConsultantLevel, Handoff, HandoffStatus, LevelMember
from ..services._common import lock
from ..services.assignment import lead_move
from ..services.deals import deal_record
from ..services.levels import HANDOFF_REASON, store_levels_set

# (order, name, grades, capacity): a closer follows 40 A customers closely, a second-level consultant 80 B ones, a
# third-level one 300 of the many E, D and C customers.
DEMO_LEVELS = [
    {"order": 1, "name": "一级", "grades": ["A"], "capacity": 40},
    {"order": 2, "name": "二级", "grades": ["B"], "capacity": 80},
    {"order": 3, "name": "三级", "grades": ["C", "D", "E"], "capacity": 300},
]
# Consultant username suffix -> level: sales1 closes, sales2 works the C→B jump, sales3 and sales4 learn on E–C.
DEMO_RANKS = {"sales1": 1, "sales2": 2, "sales3": 3, "sales4": 3}
HANDOFF_STORE = "浦东店"
HANDED, WAITING, CLOSED = 12, 3, 2
DEMO_PRICE = Decimal("168800.00")


@dataclass
class DemoLevels:
    stores: int = 0
    handed: int = 0
    waiting: int = 0


def demo_levels_seed(*, stores: list[Store]) -> DemoLevels:
    """Give each demo store its levels and consultants' ranks (idempotent); hand over a dozen promoted leads in 浦东店
    once (skipped when it has handoffs already)."""
    out = DemoLevels()
    for store in stores:
        manager = User.objects.filter(store=store, role=Role.MANAGER).order_by("pk").first()
        if manager is None:
            continue
        members = {}
        for user in User.objects.filter(store=store, role=Role.CONSULTANT):
            suffix = user.username.rsplit("_", 1)[-1]
            if suffix in DEMO_RANKS:
                members[user.pk] = DEMO_RANKS[suffix]
        handing = store.name == HANDOFF_STORE
        store_levels_set(actor=manager, store=store, levels=DEMO_LEVELS, members=members,
                         handoff="hold" if handing else "off", credit="split" if handing else "closer")
        out.stores += 1
        if handing and not Handoff.objects.filter(lead__store=store).exists():
            out.handed, out.waiting = _handoff_history(store, manager)
    return out


@transaction.atomic
def _handoff_history(store: Store, manager: User) -> tuple[int, int]:
    """Active leads now at B or A, held by a third- or second-level consultant, whose last grade change was a
    promotion into a higher level: the newest wait for the manager's pick, the others were handed (through the
    assignment service) when they were promoted."""
    levels = {lv.order: lv for lv in ConsultantLevel.objects.filter(store=store)}
    rank = {m.user_id: m.level.order for m in LevelMember.objects.filter(level__store=store).select_related("level")}
    by_rank: dict[int, list[int]] = {}
    for pk, order in rank.items():
        by_rank.setdefault(order, []).append(pk)
    last = GradeChange.objects.filter(lead=OuterRef("pk")).order_by("-changed_at", "-id")
    candidates = list(
        Lead.objects.filter(store=store, status=Status.ACTIVE, grade__in=["B", "A"],
                            assigned_to__in=[pk for pk, order in rank.items() if order > 1])
        .annotate(change_id=Subquery(last.values("pk")[:1]), last_from=Subquery(last.values("from_grade")[:1]))
        .filter(last_from__in=["C", "B"]).order_by("-grade_since")[:3 * (HANDED + WAITING)]
    )
    changes = GradeChange.objects.in_bulk([c.change_id for c in candidates])
    handed = waiting = closed = 0
    for lead in candidates:
        change = changes[lead.change_id]
        target = levels[1] if change.to_grade == "A" else levels[2]
        if rank.get(lead.assigned_to_id, 0) <= target.order or not by_rank.get(target.order):
            continue
        if handed >= HANDED and waiting >= WAITING:
            break
        holder = User.objects.get(pk=lead.assigned_to_id)
        if waiting < WAITING:
            Handoff.objects.create(lead=lead, grade_change=change, from_user=holder, level=target,
                                   status=HandoffStatus.WAITING, created_at=change.changed_at)
            waiting += 1
            continue
        people = by_rank[target.order]
        to_user = User.objects.get(pk=people[handed % len(people)])
        locked = lock(lead)
        lead_move(actor=manager, lead=locked, to_user=to_user,
                  reason=HANDOFF_REASON)
        moved = AssignmentChange.objects.filter(lead=lead).order_by("-id").first()
        # The manager picked the day it was promoted: the history says so.
        AssignmentChange.objects.filter(pk=moved.pk).update(changed_at=change.changed_at)
        Handoff.objects.create(lead=lead, grade_change=change, from_user=holder, to_user=to_user, level=target,
                               status=HandoffStatus.DONE, assignment_change=moved, created_at=change.changed_at,
                               decided_at=change.changed_at, decided_by=manager)
        handed += 1
        if change.to_grade == "A" and closed < CLOSED:
            # The closer won it: the deal is split with the consultant who brought it up the ladder.
            deal_record(actor=to_user, lead=Lead.objects.get(pk=lead.pk), price=DEMO_PRICE,
                        ordered_at=timezone.localdate())
            closed += 1
    return handed, waiting
