"""The demo's defeats, on top of the lead history (seed_demo calls it after ``leads.demo``): in the seed's proportions
most closed leads are lost (defeat rate ≈ 60-70 %), some applications are rejected as false defeats and reactivated
(a third of those later won), a few wait for a verdict (one past the alert), the competitor pool holds the confirmed
ones by brand and series with nurture contacts and a few win-backs, and the group has talk tracks.

Written through the services (so every row is what the app would write), then dated back into the history.
Deterministic (a seeded ``random.Random``); skipped for a store that already has applications. The notifications
the services send while seeding are removed: they would be months old news."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from dealercrm.bulk import tidy
from dealercrm.models import Notification, Role, Store, User, VehicleSeries
from leads.models import Deal, Lead, OverdueFlag, StaleFlag, Status
from leads.services import deal_record

from . import services, stages
from .models import (
    Application,
    ApplicationReason,
    ApplicationStatus,
    DefeatEvent,
    EventKind,
    NurtureContact,
    PoolEntry,
    PoolList,
    PoolOwner,
    PoolStatus,
    Reason,
)

SEED = 20261202
# Confirmed applications per deal: ~81 % of them defeats (≈ 2 per deal counting the deals won after a false defeat:
# defeat rate ≈ 66 %, between the seed's store at 70 % and its goal of 65 %), the rest quasi-defeats (beside the rate,
# on the nurture list).
DEFEATS_PER_DEAL = 2.8
MAX_DECIDED = 840  # per store: keeps seed_demo quick
FALSE_SHARE = 0.16  # of decided applications
PENDING = 7  # per store, filed in the last days
# Reason code → weight. A defeat bought a competitor's car (these reasons, with its series), or lost contact / bought
# a used car; a quasi-defeat has bought nothing, its intention unclear.
RIVAL_REASONS = {"model_unsatisfied": 16, "price_high": 13, "config_basic": 6, "brand_habit": 6, "model_outdated": 4,
                 "brand_not_accepted": 4, "test_drive_noise": 2, "load_capacity": 1, "no_stock": 4,
                 "slow_follow_up": 5, "no_confidence": 3, "weak_knowledge": 2, "process_unclear": 1,
                 "technique_over_process": 1}
NO_RIVAL_REASONS = {"lost_contact": 9, "bought_used": 4}
QUASI_REASONS = {"funding_not_ready": 6, "purchase_cancelled": 5, "people_disapprove": 3, "long_no_deal": 4,
                 "unreasonable_demands": 1}
REASONS = {**RIVAL_REASONS, **NO_RIVAL_REASONS, **QUASI_REASONS}
PRICE_CAUSES = {"really_high": 4, "mark_up": 2, "price_war": 3, "promotions": 2, "excuse": 2, "needs_misread": 1}
FALSE_REASONS = {"long_no_deal": 5, "funding_not_ready": 4, "purchase_cancelled": 3, "people_disapprove": 2}
# Competitor brand (English name) → weight; series drawn within the brand.
BRANDS = {"Honda": 30, "Volkswagen": 22, "BYD": 24, "Nissan": 12, "Buick": 8, "Great Wall": 4}
NOTES = ["客户说同事推荐了竞品，已经下定", "对比后觉得竞品优惠力度更大", "客户要的配置我们没有现车", "客户觉得我们跟进太少了",
         "客户去了4S店隔壁的竞品店", "竞品店直接给了现车"]
QUASI_NOTES = {"funding_not_ready": "客户说资金要用在别处，暂时不买", "purchase_cancelled": "客户说今年不换车了",
               "people_disapprove": "家里人还没统一意见，客户说再等等", "long_no_deal": "跟了三个月一直没有进展",
               "unreasonable_demands": "客户要求送全年保养和全车膜，条件谈不拢"}
NO_RIVAL_NOTES = {"lost_contact": "电话多次未接，微信也不回", "bought_used": "客户说朋友转让了一台二手车"}
VERDICTS = ["已电话回访客户，确认已购竞品", "核实属实：客户已在竞品店提车", "查看跟进记录并回访，确认已购竞品，转入竞品客源"]
NO_RIVAL_VERDICTS = {"lost_contact": "多次电话、短信均无回应，确认失去联系，转入竞品客源",
                     "bought_used": "回访确认客户已购二手车，转入竞品客源"}
QUASI_VERDICTS = ["客户未购他牌，暂无购车计划，转入培育名单定期回访", "核实：客户意向不明，未购车，三个月后再联系",
                  "客户还在观望，没有买别的车，列入培育名单"]
# Each store's defeat-rate target for this year (the method's example: from 70 % to 65 %).
TARGET_RATE = Decimal("0.65")


def kind_of(code: str) -> str:
    return "quasi" if code in QUASI_REASONS or code in FALSE_REASONS else "defeat"


def needs_rival(code: str) -> bool:
    return code in RIVAL_REASONS


def note_for(rng, code: str) -> str:
    if code in QUASI_NOTES:
        return QUASI_NOTES[code] if code == "unreasonable_demands" or rng.random() < .6 else ""
    if code in NO_RIVAL_NOTES:
        return NO_RIVAL_NOTES[code] if rng.random() < .6 else ""
    return rng.choice(NOTES) if rng.random() < .5 else ""


def verdict_for(rng, code: str) -> str:
    if kind_of(code) == "quasi":
        return rng.choice(QUASI_VERDICTS)
    return NO_RIVAL_VERDICTS.get(code) or rng.choice(VERDICTS)


FALSE_VERDICTS = ["跟进不足，客户仍有意向，继续跟进", "客户只是暂缓，不是战败，请两天内再联系", "顾问判断过早，安排二次跟进"]
TRACKS = [
    ("price_really_high", "同级别车型中，我们的保值率和五年用车成本最低", "只看落地价，后面的保养、油耗、残值损失会更多",
     "买车看总拥有成本：五年算下来我们更省钱"),
    ("price_apparently_high", "各家促销方式不同，厂家和经销商的优惠需要合在一起算", "只比较裸车价，容易忽略金融、置换和保养礼包",
     "把所有优惠放在一张表里比较，我们的综合价格并不高"),
    ("config_basic", "我们全系标配主动安全和十安全气囊", "低配车省下的钱，换来的是家人的安全风险", "安全配置是买车的底线，不能省"),
    ("brand_not_accepted", "这个品牌在全球的可靠性排名连续多年领先", "小众品牌后期维修和配件等待时间长", "选一个让你十年都放心的品牌"),
    ("funding_not_ready", "首付两成、36期低息金融方案可选", "等资金到位再买，可能错过当前优惠和现车",
     "用金融方案把压力分摊开，现在就能开上车"),
    ("bought_competitor", "很多客户买了竞品后，第三年开始考虑置换", "置换时残值和服务体验决定了下一台车的选择",
     "保持联系，置换时我们提供高于市场的评估价"),
]


@dataclass
class DemoDefeats:
    stores: list = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False


@dataclass
class StoreDefeats:
    store: Store
    confirmed: int = 0
    rejected: int = 0
    won_after_rejection: int = 0
    pending: int = 0
    pool: int = 0
    won_back: int = 0


def _pick(rng, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def demo_defeats_seed(*, stores: list[Store], now: datetime | None = None) -> DemoDefeats:
    started = time.monotonic()
    now = now or timezone.now()
    rng = random.Random(SEED)
    result = DemoDefeats()
    todo = [s for s in stores if not Application.objects.filter(store=s).exists()]
    if not todo:
        result.skipped = True
        return result
    seeded_since = timezone.now()
    competitor = {}
    for s in VehicleSeries.objects.filter(brand__is_own=False).select_related("brand"):
        competitor.setdefault(s.brand.name_en, []).append(s)
    for store in todo:
        result.stores.append(_seed_store(rng, store, now, competitor))
    _talk_tracks({s.group_id for s in todo})
    Notification.objects.filter(created_at__gte=seeded_since, kind__startswith="defeat_").delete()
    Notification.objects.filter(created_at__gte=seeded_since, kind="assigned",
                                recipient__store__in=todo).delete()
    result.seconds = time.monotonic() - started
    return result


def _seed_store(rng, store: Store, now: datetime, competitor: dict) -> StoreDefeats:
    out = StoreDefeats(store=store)
    services.reasons_for(store.group_id)
    manager = User.objects.filter(store=store, role=Role.MANAGER, is_active=True).order_by("pk").first()
    fleet = User.objects.filter(store=store, fleet_manager=True, is_active=True).first()
    if fleet is not None:
        # The method: confirmed defeats go to the fleet sales manager, who hands them out.
        PoolOwner.objects.update_or_create(store=store, defaults={"user": fleet})
    if manager is None:
        return out
    deals = Deal.objects.filter(lead__store=store).count()
    decided = min(MAX_DECIDED, round(deals * DEFEATS_PER_DEAL / (1 - FALSE_SHARE)))
    # Candidates: active leads with a phone and a consultant, first seen at least three weeks ago, colder grades
    # more likely; the newest few for the pending ones.
    old = list(Lead.objects.filter(store=store, status=Status.ACTIVE, assigned_to__isnull=False)
               .exclude(phone="").filter(first_visit_at__lt=now - timedelta(days=21))
               .filter(Q(grade__in=["C", "D", "E"]) | Q(grade__isnull=True)).order_by("pk"))
    rng.shuffle(old)
    chosen, pending_leads = old[:decided], old[decided:decided + PENDING]
    staff = list(User.objects.filter(store=store, role=Role.CONSULTANT, is_active=True, fleet_manager=False)
                 .order_by("pk"))
    confirmed = []  # (lead, code, series, applied, decided_at, note): written in bulk below
    for lead in chosen:
        is_false = rng.random() < FALSE_SHARE
        code = _pick(rng, FALSE_REASONS if is_false else REASONS)
        series = None
        if not is_false and needs_rival(code):
            series = rng.choice(competitor[_pick(rng, {b: w for b, w in BRANDS.items() if b in competitor})])
        earliest = lead.first_visit_at + timedelta(days=14)
        latest = now - timedelta(days=5)
        if earliest >= latest:
            continue
        applied = earliest + (latest - earliest) * rng.random() ** 0.8
        note = note_for(rng, code)
        decided_at = min(applied + timedelta(hours=rng.randint(4, 70)), now - timedelta(hours=2))
        if not is_false:
            confirmed.append((lead, code, series, applied, decided_at, note))
            continue
        # False defeats through the services (a few per store): filed, rejected, reactivated, some won later.
        app = services.application_file(actor=lead.assigned_to, lead=lead, kind="quasi", reasons=[code], note=note,
                                        at=applied)
        other = rng.choice(staff) if staff and rng.random() < .4 else None
        services.application_decide(actor=manager, application=app, verdict="reject",
                                    comment=rng.choice(FALSE_VERDICTS), assign_to=other,
                                    grade=rng.choice(["B", "C", "C", "D"]))
        _date(app, decided_at, EventKind.REJECTED)
        # Back in a consultant's day: the second follow-up happened (or is near), the next one is due soon.
        Lead.objects.filter(pk=lead.pk).update(
            next_follow_up_at=max(decided_at + timedelta(days=2), now + timedelta(days=rng.randint(0, 6))))
        out.rejected += 1
        if rng.random() < 0.33 and decided_at < now - timedelta(days=8):
            ordered = timezone.localtime(decided_at + timedelta(days=rng.randint(4, 7))).date()
            deal_record(actor=manager, lead=Lead.objects.get(pk=lead.pk),
                        price=Decimal(rng.choice([128000, 168000, 205000])),
                        ordered_at=min(ordered, timezone.localdate(now)))
            out.won_after_rejection += 1
    confirmed_apps = _confirmed_in_bulk(rng, store, manager, confirmed, now)
    out.confirmed = len(confirmed_apps)
    for i, lead in enumerate(pending_leads):
        days = 5 if i == 0 else rng.randint(0, 2)  # the first one is past the alert
        services.application_file(actor=lead.assigned_to, lead=lead, kind="quasi",
                                  reasons=[(code := _pick(rng, FALSE_REASONS))],
                                  note=QUASI_NOTES.get(code, "") or rng.choice(list(QUASI_NOTES.values())),
                                  at=now - timedelta(days=days, hours=rng.randint(1, 8)))
        out.pending += 1
    out.pool, out.won_back = _nurture(rng, confirmed_apps, manager, staff, now)
    if fleet is not None and staff:
        # The fleet sales manager hands a few of the pool's customers to the consultants (the method's 统一分配).
        entries = PoolEntry.objects.filter(store=store, owner=fleet, status=PoolStatus.IN_POOL).order_by("pk")[:6]
        for n, entry in enumerate(entries):
            services.pool_entries_reassign(actor=fleet, entries=[entry], to_user=staff[n % len(staff)],
                                           comment="按片区分配给顾问跟进")
    services.defeat_target_set(actor=manager, store=store, year=timezone.localdate(now).year, rate=TARGET_RATE)
    return out


def _confirmed_in_bulk(rng, store: Store, manager: User, rows: list, now: datetime) -> list[Application]:
    """The confirmed applications of the history, written as the services would (application, reason, the two steps,
    the entry on the competitor pool (a defeat, worked by the pool owner) or the nurture list (a quasi-defeat, worked
    by its consultant), the lead closed and still its consultant's, its flags cleared) but in a few statements:
    hundreds of them through the services would make seed_demo minutes slower. No field-history rows, like
    leads.demo."""
    if not rows:
        return []
    reasons = {r.code: r for r in Reason.objects.filter(group_id=store.group_id)}
    owner = services.pool_owner_for(store) or manager
    s = services.settings_for(store.group_id)
    own = set(VehicleSeries.objects.filter(brand__is_own=True).values_list("pk", flat=True))

    def owner_of(app):
        return owner.pk if app.kind == "defeat" else app.consultant_id
    apps = Application.objects.bulk_create([
        Application(lead=lead, store=store, consultant_id=lead.assigned_to_id,
                    our_series_id=lead.series_id if lead.series_id in own else None,
                    source=lead.source, kind=kind_of(code),
                    price_cause=_pick(rng, PRICE_CAUSES) if code == "price_high" else "",
                    competitor_series=series, competitor_brand_id=series.brand_id if series else None,
                    price_gap=Decimal(rng.choice([3000, 5000, 8000, 12000])) if series and rng.random() < .4 else None,
                    note=note, status=ApplicationStatus.CONFIRMED, applied_by_id=lead.assigned_to_id,
                    applied_at=applied, from_status=Status.ACTIVE, decided_by=manager, decided_at=decided,
                    comment=verdict_for(rng, code), version=2)
        for lead, code, series, applied, decided, note in rows])
    tidy([Application._meta.db_table], vacuum=False)  # analysed empty: the update below would be planned for that
    with connection.cursor() as cursor:  # the grade when filed, the highest reached (loss by stage)
        stages.record_grades(cursor, ids=[app.pk for app in apps])
    ApplicationReason.objects.bulk_create([
        ApplicationReason(application=app, reason=reasons[row[1]], parent_id=reasons[row[1]].parent_id)
        for app, row in zip(apps, rows, strict=True)])
    events = []
    for app, (lead, _code, _series, applied, decided, note) in zip(apps, rows, strict=True):
        events.append(DefeatEvent(lead=lead, application=app, kind=EventKind.APPLIED, at=applied,
                                  by_id=lead.assigned_to_id, comment=note, from_status=Status.ACTIVE,
                                  to_status=Status.DEFEAT_PENDING))
        events.append(DefeatEvent(lead=lead, application=app, kind=EventKind.CONFIRMED, at=decided, by=manager,
                                  comment=app.comment, from_status=Status.DEFEAT_PENDING, to_status=Status.DEFEATED,
                                  to_user_id=owner_of(app)))
    DefeatEvent.objects.bulk_create(events)
    entries = []
    for app, (lead, _code, series, applied, decided, _note) in zip(apps, rows, strict=True):
        defeat = app.kind == "defeat"
        bought = timezone.localtime(applied).date() if defeat else None
        entries.append(PoolEntry(lead=lead, store=store, application=app, owner_id=owner_of(app),
                                 list=PoolList.COMPETITOR if defeat else PoolList.NURTURE,
                                 competitor_brand_id=series.brand_id if series else None, competitor_series=series,
                                 purchased_on=bought, joined_at=decided,
                                 next_contact_at=decided + timedelta(days=s.nurture_interval_days),
                                 replacement_due_on=bought.replace(year=bought.year + s.replacement_after_years,
                                                                   day=min(bought.day, 28)) if bought else None))
    PoolEntry.objects.bulk_create(entries)
    ids = [row[0].pk for row in rows]
    StaleFlag.objects.filter(lead_id__in=ids).delete()
    OverdueFlag.objects.filter(lead_id__in=ids).delete()
    Lead.objects.filter(pk__in=ids).update(status=Status.DEFEATED, next_follow_up_at=None, pooled_at=None,
                                           version=F("version") + 1)
    return apps


def _date(app: Application, decided_at: datetime, kind: str) -> None:
    """Move the verdict (and what it wrote) back to ``decided_at``; the pool's cadence counts from it."""
    Application.objects.filter(pk=app.pk).update(decided_at=decided_at)
    DefeatEvent.objects.filter(application=app, kind=kind).update(at=decided_at)
    if kind == EventKind.CONFIRMED:
        entry = PoolEntry.objects.get(application=app)
        s = services.settings_for(app.store.group_id)
        purchased = timezone.localtime(app.applied_at).date()
        PoolEntry.objects.filter(pk=entry.pk).update(
            joined_at=decided_at, next_contact_at=decided_at + timedelta(days=s.nurture_interval_days),
            purchased_on=purchased)


POOL_CONTACTS = ["邀请参加新车上市活动", "节日问候，了解用车情况", "介绍保养优惠，客户表示感谢"]
NURTURE_CONTACTS = ["电话回访，客户购车计划未定，下季度再联系", "微信问候，客户说资金还没到位", "邀请参加周末试驾会，客户说再看看"]


# The chance a due contact slipped (the entry is overdue now); each entry meets at most one due per interval, so with a
# year of history a handful of the lists are overdue, as in a store whose pool owner works the list.
SLIPPED = 0.04


def _nurture(rng, apps: list[Application], manager: User, staff: list[User], now: datetime) -> tuple[int, int]:
    """Contacts on both lists (the competitor pool by its owner, the nurture list by its consultant), every entry
    contacted around each due date since it joined (a few dues slipped: overdue now), and a few customers whose
    intention returned (win-backs, through the service). The routine contacts are written as the service writes them
    (contact, NURTURED event, the entry's last and next contact) but in a few statements."""
    entries = list(PoolEntry.objects.filter(application__in=apps).select_related("lead", "owner", "store")
                   .order_by("pk"))
    if not entries:
        return 0, 0
    interval = timedelta(days=services.settings_for(entries[0].store.group_id).nurture_interval_days)
    won, contacts, events, touched = 0, [], [], []
    for entry in entries:
        nurture = entry.list == PoolList.NURTURE
        actor = entry.owner if entry.owner.is_active else manager
        if rng.random() > (0.94 if nurture else 0.97) and staff:
            at = now - timedelta(days=rng.randint(1, 20))
            if at <= entry.joined_at:
                continue
            content = "客户资金到位了，想再来看看" if nurture else "客户说竞品不满意，想来看看新款"
            services.nurture_contact_log(actor=manager, entry=entry, method="phone", content=content,
                                         came_back=True, grade="B",
                                         assign_to=entry.owner if nurture and entry.owner.is_active else rng.choice(
                                             staff), occurred_at=at)
            won += 1
            continue
        last, count = entry.joined_at, 0
        while last + interval <= now and rng.random() >= SLIPPED:
            # Called in the days before the due date, in working hours.
            at = last + interval - timedelta(days=rng.randint(0, 12), hours=rng.randint(0, 6))
            at = min(max(at, last + timedelta(days=1)), now - timedelta(hours=1))
            content = rng.choice(NURTURE_CONTACTS if nurture else POOL_CONTACTS)
            method = rng.choice(["phone", "phone", "wechat"])
            contacts.append(NurtureContact(entry=entry, occurred_at=at, method=method, content=content,
                                           created_by=actor))
            events.append(DefeatEvent(lead=entry.lead, kind=EventKind.NURTURED, at=at, by=actor, comment=content,
                                      from_status=entry.lead.status, to_status=entry.lead.status))
            last, count = at, count + 1
        if count:
            entry.last_contact_at, entry.next_contact_at = last, last + interval
            entry.version += count
            touched.append(entry)
    NurtureContact.objects.bulk_create(contacts, batch_size=500)
    DefeatEvent.objects.bulk_create(events, batch_size=500)
    PoolEntry.objects.bulk_update(touched, ["last_contact_at", "next_contact_at", "version"], batch_size=500)
    return len(entries) - won, won


def _talk_tracks(group_ids: set[int]) -> None:
    for gid in group_ids:
        author = User.objects.filter(dealer_group_id=gid, role=Role.MANAGER, is_active=True).order_by("pk").first()
        if author is None:
            continue
        reasons = {r.code: r for r in Reason.objects.filter(group_id=gid)}
        for code, fact, problem, viewpoint in TRACKS:
            if code in reasons:
                services.talk_track_save(actor=author, reason=reasons[code], fact=fact, problem=problem,
                                         viewpoint=viewpoint)

