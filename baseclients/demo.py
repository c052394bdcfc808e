"""Demo base clients (seed_demo calls this after the lead history): the cards of the demo's deals, older customers
bought a year or two before the CRM (so this year compares with last), vehicles with valid VINs and Shanghai plates,
scores across the three tiers, companies with fleets, regions and industries like the seed's, a year of care history
(on time, late, skipped, a few overdue), referrals of every type (some closed as referral deals) and a few repeat
purchases. Deterministic (seeded random); skipped when the demo group already has base clients from it."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from dealercrm.models import Role, Store, User, VehicleSeries
from leads.demo.params import DISTRICTS, GIVEN, INDUSTRIES, LCV_SEGMENTS, MOBILE_PREFIXES, SURNAMES
from leads.models import Deal, Lead, Source, Status

from .models import (
    BaseClient,
    CareOutcome,
    CarePlanItem,
    CareStatus,
    CareTask,
    ClientKind,
    ClientScore,
    DoNotContact,
    Purchase,
    Referral,
    ReferralType,
    TierCause,
    TierChange,
    Vehicle,
    VehicleUse,
)
from .services import care as care_services
from .services import ensure_group_defaults
from .services.backfill import backfill
from .services.lists import list_entries_sync
from .services.scoring import retier_group
from .services.settings import criteria_for
from .vehicles import PROVINCES, vin_with_check_digit

LEGACY_PER_STORE = 90
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass
class DemoBaseClients:
    clients: int
    legacy: int
    referrals: int
    repeat_purchases: int
    care_tasks: int
    seconds: float
    skipped: bool = False


def _vin(rng: random.Random, n: int) -> str:
    return vin_with_check_digit(f"LVGBE40K{rng.choice('0123456789')}{rng.choice('JKLMNP')}{n:07d}")


def _plate(rng: random.Random) -> str:
    return "沪" + rng.choice("ABDEFGHKLN") + "".join(rng.choice("0123456789" + PLATE_LETTERS[:8]) for _ in range(5))


def _fleet_buyers(rng: random.Random, group_id: int, today: date) -> None:
    """The fleet orders' buyers are companies (a fleet order is one purchase of several units); an order delivered
    whole came in two parts, the later units two to five weeks after the first (each with its own dates)."""
    fleet = Deal.objects.filter(lead__store__group_id=group_id, quantity__gt=1)
    for client in BaseClient.objects.filter(purchase_rows__deal__in=fleet).distinct():
        if client.kind != ClientKind.COMPANY:
            client.kind = ClientKind.COMPANY
            client.name = f"上海{client.name[0]}{rng.choice(['顺达', '通运', '鑫源', '恒泰', '安捷'])}" + \
                rng.choice(["物流有限公司", "建设工程有限公司", "货运有限公司", "冷链运输有限公司"])
            client.save(update_fields=["kind", "name"])
    for deal in fleet.filter(units_delivered__gte=4, units_delivered=F("quantity"), delivered_at__isnull=False):
        later = list(Vehicle.objects.filter(deal=deal).order_by("pk"))[deal.quantity // 2:]
        second = min(deal.delivered_at + timedelta(days=rng.randint(14, 35)), today)
        for v in later:
            v.delivered_at = v.registered_at = second
            v.insurance_renewal_at = care_services.add_months(second, 12)
        Vehicle.objects.bulk_update(later, ["delivered_at", "registered_at", "insurance_renewal_at"])


def demo_baseclients_seed(*, stores: list[Store], now=None) -> DemoBaseClients:
    started = time.perf_counter()
    rng = random.Random(20261202)
    today = timezone.localdate(now) if now else timezone.localdate()
    if not stores:
        return DemoBaseClients(0, 0, 0, 0, 0, 0.0, skipped=True)
    group_id = stores[0].group_id
    if BaseClient.objects.filter(group_id=group_id, care_tasks__isnull=False).exists() and \
            Referral.objects.filter(lead__store__in=stores).exists():
        return DemoBaseClients(0, 0, 0, 0, 0, 0.0, skipped=True)
    ensure_group_defaults(group_id)
    # Each store's own range: passenger cars at the first, light commercial vehicles at the second.
    own = list(VehicleSeries.objects.filter(brand__is_own=True).order_by("pk"))
    ranges = [[s for s in own if s.segment not in LCV_SEGMENTS], [s for s in own if s.segment in LCV_SEGMENTS]]
    with transaction.atomic():
        # 1. Older customers (bought 13-30 months ago), a few of whom are back in the showroom now: their won lead's
        #    deal becomes a repeat purchase when the backfill takes the deals in.
        legacy = []
        vin_n = 1
        won = list(Lead.objects.filter(store__in=stores, status=Status.WON).exclude(phone="").order_by("pk"))
        returning = {lead.pk for lead in rng.sample(won, min(len(won), 4 * len(stores)))}
        used_phones: set[str] = set()

        def fresh_phone() -> str:
            while True:
                phone = "+86" + rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
                if phone not in used_phones:
                    used_phones.add(phone)
                    return phone

        for store in stores:
            staff = list(User.objects.filter(store=store, role=Role.CONSULTANT, is_active=True,
                                             fleet_manager=False).order_by("pk"))
            for i in range(LEGACY_PER_STORE):
                bought = today - timedelta(days=rng.randint(400, 900))
                gender = rng.choice(["male", "female"])
                company = rng.random() < 0.15
                name = rng.choice(SURNAMES) + rng.choice(GIVEN[gender])
                legacy.append(BaseClient(
                    group_id=group_id, store=store, assigned_to=rng.choice(staff) if staff else None,
                    name=(name[0] + "氏" + rng.choice(["物流", "建材", "贸易", "餐饮"]) + "有限公司") if company else name,
                    phone=fresh_phone(),
                    kind=ClientKind.COMPANY if company else ClientKind.PERSON,
                    region=rng.choice(DISTRICTS[:8] if rng.random() < 0.7 else DISTRICTS),
                    industry=rng.choice(INDUSTRIES), fleet_size=rng.choice([3, 5, 8, 12]) if company else 1,
                    birthday=None if company else date(rng.randint(1965, 1998), rng.randint(1, 12), rng.randint(1, 28)),
                    purchases=1, units=1, care_anchor=bought, created_at=timezone.make_aware(
                        timezone.datetime.combine(bought, timezone.datetime.min.time())),
                    tier_since=timezone.now()))
        # Returning buyers: the legacy card carries the won lead's phone (one card per phone in the group).
        back = []
        for lead in won:
            if lead.pk in returning and lead.phone not in used_phones:
                used_phones.add(lead.phone)
                back.append(lead)
        for lead, card in zip(back, legacy[::7], strict=False):
            card.phone, card.name, card.store_id = lead.phone, lead.name, lead.store_id
            card.assigned_to_id = lead.assigned_to_id
        BaseClient.objects.bulk_create(legacy, batch_size=1000)
        vehicles = []
        position = {store.pk: i % 2 for i, store in enumerate(stores)}
        for card in legacy:
            delivered = card.care_anchor
            series = ranges[position[card.store_id]] or own
            lcv = position[card.store_id] == 1
            vehicles.append(Vehicle(
                client=card, series=rng.choice(series) if series else None, vin=_vin(rng, vin_n), plate=_plate(rng),
                use=VehicleUse.COMMERCIAL if card.kind == ClientKind.COMPANY or (lcv and rng.random() < 0.5)
                else VehicleUse.PRIVATE,
                colour=rng.choice(["白", "黑", "银", "灰", "蓝", "红"]), ordered_at=delivered - timedelta(days=7),
                delivered_at=delivered, registered_at=delivered, insurance_renewal_at=care_services.add_months(delivered, 12),
                mileage_km=rng.randint(8_000, 60_000)))
            vin_n += 1
        Vehicle.objects.bulk_create(vehicles, batch_size=1000)

        # 2. The demo's deals: cards, purchases (repeat for the returning buyers), vehicles.
        backfill(plan_care=False)
        for v in Vehicle.objects.filter(client__group_id=group_id, vin="").select_related("deal"):
            v.vin, v.plate = _vin(rng, vin_n), _plate(rng)
            v.colour = rng.choice(["白", "黑", "银", "灰", "蓝"])
            vin_n += 1
            v.save(update_fields=["vin", "plate", "colour"])
        _fleet_buyers(rng, group_id, today)
        clients = list(BaseClient.objects.filter(group_id=group_id).order_by("pk"))
        for c in clients:
            changed = False
            if not c.birthday and c.kind == ClientKind.PERSON and rng.random() < 0.8:
                c.birthday = date(rng.randint(1965, 1998), rng.randint(1, 12), rng.randint(1, 28))
                changed = True
            if not c.region:
                c.region, changed = rng.choice(DISTRICTS[:8]), True
            if not c.industry:
                c.industry, changed = rng.choice(INDUSTRIES), True
            if changed:
                c.save(update_fields=["birthday", "region", "industry"])

        # 3. Referrals of every type: referral-source leads name a base client (or, one in eight, a consultant).
        referral_leads = list(Lead.objects.filter(store__in=stores, source=Source.REFERRAL).exclude(
            status=Status.MERGED).order_by("first_visit_at", "pk"))
        seq: dict = {}
        refs = []
        typed = list(ReferralType.values)
        for i, lead in enumerate(referral_leads):
            if i % 8 == 7:
                staff = User.objects.filter(store=lead.store, role=Role.CONSULTANT, fleet_manager=False).exclude(
                    pk=lead.assigned_to_id).first()
                if staff is None:
                    continue
                key, values = ("s", staff.pk), {"referrer_staff": staff}
            else:
                pool = [c for c in clients if c.store_id == lead.store_id and c.created_at < lead.first_visit_at]
                if not pool:
                    continue
                # Some clients refer again and again (repeat referrers).
                referrer = rng.choice(pool[: max(1, len(pool) // 4)] if rng.random() < 0.5 else pool)
                key, values = ("c", referrer.pk), {"referrer_client": referrer}
            seq[key] = seq.get(key, 0) + 1
            types = [typed[i % len(typed)]] + ([typed[(i + 2) % len(typed)]] if i % 3 == 0 else [])
            refs.append(Referral(lead=lead, types=types, sequence=seq[key], created_by=lead.assigned_to,
                                 created_at=lead.first_visit_at, **values))
        Referral.objects.bulk_create(refs, batch_size=1000)
        for p in Purchase.objects.filter(deal__lead__referral__isnull=False).select_related("deal__lead__referral"):
            p.referral = p.deal.lead.referral
            p.save(update_fields=["referral"])
        deals_by = (Purchase.objects.filter(referral__referrer_client=OuterRef("pk")).values("referral__referrer_client")
                    .annotate(n=Count("pk")).values("n"))
        BaseClient.objects.filter(group_id=group_id).update(
            referral_deals=Coalesce(Subquery(deals_by, output_field=IntegerField()), 0))

        # 4. Scores across the tiers: a third strong, a third middling, a third weak (plus the automatic ones).
        criteria = criteria_for(group_id)
        rows = []
        for c in clients:
            band = rng.random()
            lo, hi = (0.72, 1.0) if band < 0.25 else ((0.42, 0.75) if band < 0.6 else (0.05, 0.4))
            for cr in criteria:
                if cr.fact:
                    continue
                rows.append(ClientScore(client=c, criterion=cr, points=round(cr.max_points * rng.uniform(lo, hi))))
        ClientScore.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
        for dim in ("loyalty", "power"):
            total = (ClientScore.objects.filter(client=OuterRef("pk"), criterion__dimension=dim).values("client")
                     .annotate(s=Sum("points")).values("s"))
            BaseClient.objects.filter(group_id=group_id).update(**{
                f"{dim}_score": Coalesce(Subquery(total, output_field=IntegerField()), 0)})
        retier_group(group_id)
        # Tier history over the past year: each client's current tier dated to a moment in the year, caused by what
        # decided it (a scoring, a repeat purchase, a referral deal, the fleet on the card); the rows the seeding
        # itself wrote (deals, referrals and the re-tier, all dated now) are replaced, the cards' opening rows kept.
        causes = {"scores": TierCause.SCORING, "repeat_buyer": TierCause.DEAL,
                  "referral_deal": TierCause.REFERRAL_DEAL, "fleet": TierCause.CARD}
        changes = []
        for c in BaseClient.objects.filter(group_id=group_id).exclude(tier="general"):
            # Anywhere in the client's life (so last year's tiers differ from this year's too), not in the last days.
            span = max(timedelta(0), timezone.now() - timedelta(days=5) - c.created_at)
            when = c.created_at + span * rng.random()
            changes.append(TierChange(client=c, from_tier="general", to_tier=c.tier, basis=c.tier_basis,
                                      cause=causes.get(c.tier_basis, TierCause.SCORING), loyalty=c.loyalty_score,
                                      power=c.power_score, at=when, by=c.assigned_to, owner=c.assigned_to))
            if rng.random() < 0.1 and c.tier == "potential":
                changes.append(TierChange(client=c, from_tier="premium", to_tier="potential", basis="scores",
                                          cause=TierCause.SCORING, loyalty=c.loyalty_score, power=c.power_score,
                                          at=when - timedelta(days=40), by=c.assigned_to, owner=c.assigned_to))
        TierChange.objects.filter(client__group_id=group_id, job_run__isnull=True).exclude(
            cause=TierCause.INITIAL).delete()
        # A card's opening row dates from the card (the seed back-dates the older buyers' cards).
        TierChange.objects.filter(client__group_id=group_id, cause=TierCause.INITIAL).update(
            at=Subquery(BaseClient.objects.filter(pk=OuterRef("client_id")).values("created_at")[:1]),
            to_tier="general")
        TierChange.objects.bulk_create(changes, batch_size=2000)

        # 5. A year of care history, then the plan ahead.
        items = [i for i in CarePlanItem.objects.filter(group_id=group_id, is_active=True)]
        by_client_vehicles: dict = {}
        for v in Vehicle.objects.filter(client__group_id=group_id):
            by_client_vehicles.setdefault(v.client_id, []).append(v)
        past = []
        start = today - timedelta(days=365)
        for c in BaseClient.objects.filter(group_id=group_id):
            begin = max(start, c.care_anchor)
            for item in items:
                if item.tier and item.tier != c.tier:
                    continue
                for due, vehicle in care_services.plan_dates(item, c, by_client_vehicles.get(c.pk, []), begin,
                                                             today - timedelta(days=1)):
                    roll = rng.random()
                    age = (today - due).days
                    if age <= 10 and roll < 0.35:
                        status, done_at, outcome = CareStatus.PENDING, None, ""
                    elif roll < 0.08:
                        status, done_at, outcome = CareStatus.SKIPPED, due, ""
                    else:
                        late = rng.random() < 0.2
                        status = CareStatus.DONE
                        done_at = due + timedelta(days=rng.randint(1, 9) if late else -rng.randint(0, 2))
                        outcome = rng.choice([CareOutcome.REACHED, CareOutcome.REACHED, CareOutcome.NO_ANSWER,
                                              CareOutcome.VISITED if item.channel == "visit" else CareOutcome.REACHED])
                    done = None if done_at is None else timezone.make_aware(
                        timezone.datetime.combine(min(done_at, today), timezone.datetime.min.time())
                        + timedelta(hours=rng.randint(9, 18)))
                    past.append(CareTask(
                        client=c, item=item, vehicle=vehicle, store_id=c.store_id, assigned_to_id=c.assigned_to_id,
                        kind=item.kind, channel=item.channel, due_on=due, status=status, outcome=outcome,
                        note="" if status != CareStatus.SKIPPED else "客户出差", done_at=done,
                        done_by_id=c.assigned_to_id if done else None))
        CareTask.objects.bulk_create(past, batch_size=2000, ignore_conflicts=True)
        for c in rng.sample(clients, min(6, len(clients))):
            DoNotContact.objects.get_or_create(client=c, channel="visit", defaults={"reason": "不希望上门打扰"})
    # The regions and industries the seed wrote on the cards join the group's lists.
    list_entries_sync(group_id)
    care_services.materialise(group_id=group_id)
    care_services.flag_overdue()
    return DemoBaseClients(
        clients=BaseClient.objects.filter(group_id=group_id).count(), legacy=len(legacy), referrals=len(refs),
        repeat_purchases=Purchase.objects.filter(client__group_id=group_id, is_repeat=True).count(),
        care_tasks=CareTask.objects.filter(client__group_id=group_id).count(),
        seconds=time.perf_counter() - started)
