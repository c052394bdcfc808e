"""Reads of the consultant levels: each level's load against its capacity, the handoffs waiting for the manager's
pick, and the deals credited to each consultant under the store's credit rule. Every figure is counted in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Case, Count, Exists, F, FloatField, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Cast, Coalesce

from dealercrm.models import Role, Store, User

from .models import Deal, Lead, Status
from .models_levels import ConsultantLevel, DealCredit, Handoff, HandoffStatus, LevelMember, LevelSettings


@dataclass
class LevelLoad:
    """One level of a store now. ``held``: active leads held by the level's consultants; ``capacity``: consultants ×
    the level's capacity; ``at_grades``: the store's active leads at the level's grades, whoever holds them (the
    nobody-held included): the work the level should carry; ``held_at_grades``: of those, the ones its own consultants
    hold (a team shaped by the ladder has ``held_at_grades`` close to both)."""

    level: ConsultantLevel
    consultants: int
    capacity: int
    held: int
    held_at_grades: int  # of ``held``, the leads at the level's own grades (the rest: filling down, or not moved up)
    at_grades: int
    load: float | None  # held / capacity, 0..1 and above; None without capacity


def level_loads(*, user: User, store: Store) -> list[LevelLoad]:
    """Each level of the store, top first, with its active consultants, capacity, held leads and the leads at its
    grades. Two queries: the levels with their active consultants counted, then one conditional aggregation over
    the store's active leads."""
    active_people = User.objects.filter(level_membership__level=OuterRef("pk"), store=store, role=Role.CONSULTANT,
                                        is_active=True).order_by().values("level_membership__level")
    held = (Lead.objects.visible_to(user)
            .filter(store=store, status=Status.ACTIVE, assigned_to__level_membership__level=OuterRef("pk"))
            .order_by().values("store").annotate(n=Count("store")).values("n"))
    number = FloatField()  # a real division on SQLite too (its NUMERIC cast keeps integers whole)
    levels = list(
        ConsultantLevel.objects.filter(store=store)
        .annotate(consultants=Coalesce(Subquery(active_people.annotate(n=Count("pk")).values("n")), 0),
                  held=Coalesce(Subquery(held), 0))
        .annotate(capacity_total=F("consultants") * F("capacity"))
        .annotate(load=Case(When(capacity_total__gt=0,
                                 then=Cast(F("held"), number) / Cast(F("capacity_total"), number)),
                            default=None, output_field=number))
        .order_by("order")
    )
    if not levels:
        return []
    at = Lead.objects.visible_to(user).filter(store=store, status=Status.ACTIVE).aggregate(
        **{f"g{lv.pk}": Count("store", filter=Q(grade__in=list(lv.grades))) for lv in levels},
        **{f"o{lv.pk}": Count("store", filter=Q(grade__in=list(lv.grades),
                                                 assigned_to__level_membership__level=lv.pk)) for lv in levels})
    return [LevelLoad(level=lv, consultants=lv.consultants, capacity=lv.capacity_total, held=lv.held,
                      held_at_grades=at[f"o{lv.pk}"], at_grades=at[f"g{lv.pk}"],
                      load=None if lv.load is None else round(float(lv.load), 4))
            for lv in levels]


def waiting_handoffs(*, user: User, store: Store) -> QuerySet[Handoff]:
    """The store's handoffs waiting for the manager's pick, oldest first, on leads still active."""
    return (Handoff.objects.visible_to(user)
            .filter(lead__store=store, status=HandoffStatus.WAITING, lead__status=Status.ACTIVE)
            .select_related("lead", "from_user", "level", "grade_change")
            .order_by("created_at", "pk"))


def level_of_members(*, store: Store) -> dict[int, ConsultantLevel]:
    """Consultant id -> level, for the store's levels (one query)."""
    return {m.user_id: m.level for m in LevelMember.objects.filter(level__store=store).select_related("level")}


def deal_credit(*, user: User, stores: list[Store] | None, start: date, end: date) -> dict[int, Decimal]:
    """Deals ordered from ``start`` to ``end`` (inclusive) credited to each consultant under each store's credit
    rule (``LevelSettings.credit``), for the deals ``user`` sees. A deal's closer is the lead's holder when it was
    won; its original holders are the holders a handoff took it from (``Handoff.from_user``, other than the closer).
    ``closer``: 1 to the closer. ``both``: 1 to the closer and 1 to each original holder (the credits then add up to
    more than the deals). ``split``: the deal shared equally between the closer and its original holders (two people:
    0.5 each). Two queries, both aggregated in SQL. Returns consultant id -> credited deals (Decimal, 2 places)."""
    deals = Deal.objects.visible_to(user).filter(ordered_at__gte=start, ordered_at__lte=end)
    if stores:
        deals = deals.filter(lead__store__in=[s.pk for s in stores])
    number = FloatField()  # a real division on SQLite too; shares are quantized to 2 places below
    one = Value(1.0, output_field=number)

    def others(lead_ref: str, closer_ref: str):
        return Coalesce(Subquery(
            Handoff.objects.filter(lead=OuterRef(lead_ref), status=HandoffStatus.DONE)
            .exclude(from_user=OuterRef(closer_ref)).order_by().values("lead")
            .annotate(n=Count("from_user", distinct=True)).values("n")), 0)

    def rule(store_ref: str):
        return Coalesce(Subquery(LevelSettings.objects.filter(store=OuterRef(store_ref)).values("credit")[:1]),
                        Value(DealCredit.CLOSER))

    closers = (
        deals.filter(lead__assigned_to__isnull=False)
        .annotate(k=others("lead", "lead__assigned_to"), rule=rule("lead__store"))
        .values("lead__assigned_to")
        .annotate(credit=Sum(Case(When(rule=DealCredit.SPLIT, then=one / Cast(F("k") + 1, number)), default=one,
                                  output_field=number)))
        .order_by()
    )
    credit: dict[int, float] = {}
    for row in closers:
        credit[row["lead__assigned_to"]] = credit.get(row["lead__assigned_to"], 0.0) + row["credit"]
    # Each original holder once per lead: the first done handoff from them.
    originals = (
        Handoff.objects.filter(status=HandoffStatus.DONE, lead__in=deals.values("lead"))
        .exclude(from_user=F("lead__assigned_to"))
        .exclude(Exists(Handoff.objects.filter(lead=OuterRef("lead"), from_user=OuterRef("from_user"),
                                               status=HandoffStatus.DONE, pk__lt=OuterRef("pk"))))
        .annotate(k=others("lead", "lead__assigned_to"), rule=rule("lead__store"))
        .filter(rule__in=[DealCredit.BOTH, DealCredit.SPLIT])
        .values("from_user")
        .annotate(credit=Sum(Case(When(rule=DealCredit.SPLIT, then=one / Cast(F("k") + 1, number)), default=one,
                                  output_field=number)))
        .order_by()
    )
    for row in originals:
        credit[row["from_user"]] = credit.get(row["from_user"], 0.0) + row["credit"]
    return {pk: Decimal(str(round(value, 2))).quantize(Decimal("0.01")) for pk, value in credit.items()}
