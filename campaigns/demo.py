"""Demo events (``seed_demo``): per store, a customer club gathering (客户联谊会) two months ago and a new-model
launch (新品上市) last month, each inviting the store's premium clients and some competitor-pool customers, with the
consultants' answers, the door attendance (and a walk-in or two), and what came of it in the event's month: leads
referred by attending clients (one of whom buys), and a lost customer who came back. Through the services, so the
scoring of the events criterion follows; idempotent (skipped when the stores have events)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from baseclients.models import BaseClient, Tier
from baseclients.services import referral_set
from baseclients.vehicles import vin_with_check_digit
from dealercrm.models import Role, Store, User
from defeats.models import PoolEntry, PoolList, PoolStatus
from leads.demo.params import GIVEN, MOBILE_PREFIXES, SURNAMES
from leads.models import Lead
from leads.services import deal_record, visit_log

from . import services
from .models import Answer, Event, EventKind, Invitation


@dataclass
class DemoEvents:
    events: int
    invited: int
    attended: int
    skipped: bool = False


PLANS = [
    # (kind, months back, day, title, place)
    (EventKind.CLUB, 2, 18, "{store}客户联谊会", "{store}二楼会议厅"),
    (EventKind.LAUNCH, 1, 12, "新款轻卡上市品鉴会", "{store}展厅"),
]


def _month_day(today: date, months_back: int, day: int) -> date:
    year, month = today.year, today.month - months_back
    while month < 1:
        year, month = year - 1, month + 12
    return date(year, month, day)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def demo_events_seed(*, stores: list[Store], now: datetime | None = None) -> DemoEvents:
    if not stores or Event.objects.filter(store__in=stores).exists():
        return DemoEvents(0, 0, 0, skipped=True)
    rng = random.Random(20261207)
    today = timezone.localdate(now) if now else timezone.localdate()
    made = invited = attended = 0
    used = set(Lead.objects.filter(store__group_id=stores[0].group_id).values_list("phone", flat=True))
    with transaction.atomic():
        for store in stores:
            manager = User.objects.filter(store=store, role=Role.MANAGER, is_active=True).first()
            if manager is None:
                continue
            for kind, back, day, title, place in PLANS:
                held_on = _month_day(today, back, day)
                event = services.event_create(actor=manager, store=store, kind=kind, title=title.format(
                    store=store.name), held_on=held_on, starts_at=time(14, 30),
                    place=place.format(store=store.name), note="茶歇、抽奖、新车静态展示；老客户可带朋友参加。")
                made += 1
                invited += _invite(rng, event, manager)
                attended += _answers_and_door(rng, event, manager, used)
                _results(rng, event, manager, used)
    return DemoEvents(made, invited, attended)


def _invite(rng, event: Event, manager: User) -> int:
    premium = list(BaseClient.objects.filter(store=event.store, tier=Tier.PREMIUM).order_by("pk")
                   .values_list("pk", flat=True))
    potential = list(BaseClient.objects.filter(store=event.store, tier=Tier.POTENTIAL).order_by("pk")
                     .values_list("pk", flat=True))
    pool = list(PoolEntry.objects.filter(store=event.store, status=PoolStatus.IN_POOL, list=PoolList.COMPETITOR)
                .order_by("pk").values_list("pk", flat=True))
    clients = rng.sample(premium, min(len(premium), 30)) + rng.sample(potential, min(len(potential), 10))
    entries = rng.sample(pool, min(len(pool), 12))
    result = services.invite(actor=manager, event=event, client_ids=clients, pool_entry_ids=entries)
    invited_at = _at(event.held_on - timedelta(days=14), 10)
    Invitation.objects.filter(event=event).update(invited_at=invited_at)
    return result["invited"]


def _answers_and_door(rng, event: Event, manager: User, used: set) -> int:
    came = 0
    for inv in Invitation.objects.filter(event=event).select_related("event__store").order_by("pk"):
        roll = rng.random()
        answer = (Answer.ACCEPTED if roll < 0.6 else Answer.DECLINED if roll < 0.75
                  else Answer.NO_ANSWER if roll < 0.9 else None)
        if answer:
            actor = inv.consultant if inv.consultant and inv.consultant.store_id == event.store_id else manager
            services.answer_set(actor=actor, invitation=inv, answer=answer)
            Invitation.objects.filter(pk=inv.pk).update(
                answered_at=_at(event.held_on - timedelta(days=rng.randint(2, 10)), rng.randint(9, 18)))
        if (answer == Answer.ACCEPTED and rng.random() < 0.8) or (answer is None and rng.random() < 0.2):
            services.attendance_set(actor=manager, invitation=inv)
            Invitation.objects.filter(pk=inv.pk).update(arrived_at=_at(event.held_on, 14, rng.randint(0, 40)))
            came += 1
    for _ in range(2):
        gender = rng.choice(["male", "female"])
        phone = _phone(rng, used)
        inv = services.walk_in_add(actor=manager, event=event, name=rng.choice(SURNAMES) + rng.choice(GIVEN[gender]),
                                   phone=phone)
        Invitation.objects.filter(pk=inv.pk).update(arrived_at=_at(event.held_on, 14, rng.randint(10, 50)),
                                                    invited_at=_at(event.held_on, 14))
        came += 1
    return came


def _phone(rng, used: set) -> str:
    while True:
        phone = "+86" + rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
        if phone not in used:
            used.add(phone)
            return phone


def _results(rng, event: Event, manager: User, used: set) -> None:
    """Two or three friends referred by attending clients visit within the event's month (one buys), and an
    attending lost customer comes back to the showroom."""
    attendees = list(Invitation.objects.filter(event=event, arrived_at__isnull=False, client__isnull=False,
                                               walk_in=False).select_related("client").order_by("pk"))
    staff = list(User.objects.filter(store=event.store, role=Role.CONSULTANT, is_active=True).order_by("pk"))
    last = min(event.results_until, timezone.localdate() - timedelta(days=1))
    for n, inv in enumerate(rng.sample(attendees, min(len(attendees), 3))):
        day = min(event.held_on + timedelta(days=rng.randint(1, 9)), last)
        consultant = inv.client.assigned_to if inv.client.assigned_to in staff else rng.choice(staff)
        gender = rng.choice(["male", "female"])
        lead = visit_log(actor=consultant, store=event.store, name=rng.choice(SURNAMES) + rng.choice(GIVEN[gender]),
                         phone=_phone(rng, used), source="referral", grade="B" if n == 0 else "C",
                         arrived_at=_at(day, rng.randint(10, 17), rng.randint(0, 59))).lead
        referral_set(actor=consultant, lead=lead, referrer_client=inv.client, types=["friends_family"])
        if n == 0:
            ordered = min(day + timedelta(days=3), last)
            deal_record(actor=consultant, lead=lead, price=Decimal("128800.00"), ordered_at=ordered,
                        delivered_at=ordered + timedelta(days=5) if ordered + timedelta(days=5) <= timezone.localdate()
                        else None,
                        vin=vin_with_check_digit(f"LSVDEMEV0{event.pk % 10}{rng.randint(0, 9_999_999):07d}"))
    lost = (Invitation.objects.filter(event=event, arrived_at__isnull=False, pool_entry__isnull=False)
            .select_related("pool_entry__lead").order_by("pk").first())
    if lost is not None and lost.phone:
        day = min(event.held_on + timedelta(days=4), last)
        visit_log(actor=lost.pool_entry.owner, store=event.store, name=lost.name, phone=lost.phone,
                  source="walk_in", grade="C", arrived_at=_at(day, 15, 20))
