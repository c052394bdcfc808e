"""A year of believable lead history for the demo stores (`seed_demo`): first visits, grades, follow-ups and
their reviews, grade and assignment changes, re-visits, deals, a few duplicates.

Deterministic (one seeded `random.Random`) but relative to "now", so the demo always looks current. Rows are written
with `bulk_create` in batches, not through the services, yet keep the services' invariants: the first visit is the
only `is_first` visit and `first_visit_at` is its arrival; a graded lead's grade is the `to_grade` of its latest
GradeChange and `grade_since` that change's time; grades move one rung per follow-up; the next follow-up is due the
grade's interval after the last follow-up (or after the first visit); a won lead has one Deal and nothing due.
One deliberate difference: a lead without a phone (anonymous walk-in) has nothing due, since nobody can call it
(`visit_log` would schedule it for the next day, so every anonymous walk-in would be overdue forever).
No simple_history rows are written: one "created" row per lead would carry the final state at the first-visit time,
which is not what happened; GradeChange and AssignmentChange hold the business history."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from dealercrm.bulk import tidy
from dealercrm.models import Role, Store, User, VehicleSeries

from ..models import (
    GRADE_ORDER,
    AssignmentChange,
    Channel,
    Deal,
    FollowUp,
    GradeChange,
    Lead,
    ReviewStatus,
    Status,
    Visit,
    local_day_start,
)
from ..phones import phone_normalize
from ..rules import UNGRADED_FOLLOW_UP_DAYS
from ..services import grade_rules_for
from .params import (
    ANONYMOUS_GRADE,
    ARRIVAL_HOURS,
    BASE_PER_DAY,
    BATCH,
    CALL_HOURS,
    CHANNELS,
    CLOSING,
    DEAL_SHARE,
    DEMOTE,
    DILIGENCE,
    DISTRICTS,
    DOWN_OUTCOMES,
    DUPLICATES_PER_STORE,
    FIRST_GRADE,
    FLEET_INDUSTRIES,
    FLEET_SHARE,
    FLEET_SIZES,
    GIVEN,
    HOME_DISTRICT,
    INDUSTRIES,
    LCV_PRICES,
    LCV_SEGMENTS,
    METHODS,
    MOBILE_PREFIXES,
    MONTHS,
    OLD_UNFOLLOWED,
    OUTCOMES,
    OWN_INTEREST,
    PRICES,
    PROMOTE,
    REASSIGN_REASONS,
    REJECTIONS,
    SEASON,
    SEED,
    SEGMENT_PRICES,
    SHANGHAI,
    SHARE,
    SOURCES,
    STALE_LEFT_PER_STORE,
    STORE_TRAFFIC,
    SURNAMES,
    TEXTS,
    UP_OUTCOMES,
    VISIT_NOTES,
    WEEKDAY,
)


@dataclass
class StoreSummary:
    store: Store
    leads: int
    anonymous: int
    valid: int
    grades: dict[str, int]  # active leads per grade, A..E
    followed: int
    deals: int
    revisited: int
    overdue: int
    due_today: int

    @property
    def anonymous_share(self) -> float:
        return self.anonymous / self.leads if self.leads else 0.0


@dataclass
class DemoHistory:
    skipped: bool
    stores: list[StoreSummary]
    seconds: float


@transaction.atomic
def demo_history_seed(*, stores: list[Store], now: datetime | None = None) -> DemoHistory:
    """Write a year (``MONTHS``) of lead history (to ``now``, default the current time) for each of ``stores``, whose staff
    are a manager and consultants. Skipped, writing nothing, when any of the stores already has a lead."""
    started = time.perf_counter()
    now = timezone.localtime(now or timezone.now(), SHANGHAI)
    if Lead.objects.filter(store__in=stores).exists():
        return DemoHistory(skipped=True, stores=demo_history_summary(stores=stores, now=now), seconds=0.0)
    rng = random.Random(SEED)
    catalogue = list(VehicleSeries.objects.filter(is_active=True).select_related("brand").order_by("pk"))
    channels = {c.code: c for c in Channel.objects.filter(is_active=True)}
    phones: set[str] = set()
    plans: list[_Plan] = []
    for position, store in enumerate(stores):
        plans += _StorePlanner(rng, store, position % 2, now, catalogue, channels, phones).plan()
    _insert(plans, stores)
    return DemoHistory(skipped=False, stores=demo_history_summary(stores=stores, now=now),
                       seconds=time.perf_counter() - started)


def demo_history_summary(*, stores: list[Store], now: datetime | None = None) -> list[StoreSummary]:
    """Per store: leads, anonymous, valid-info (phone and grade), active leads per grade, followed-up valid leads,
    deals, leads with a re-visit, overdue and due-today active leads. One query per store."""
    start = local_day_start(now)
    valid = ~Q(phone="") & Q(grade__isnull=False)
    summaries = []
    for store in stores:
        row = (
            Lead.objects.filter(store=store).not_merged()
            .annotate(has_follow_up=Exists(FollowUp.objects.filter(lead=OuterRef("pk"))),
                      has_revisit=Exists(Visit.objects.filter(lead=OuterRef("pk"), is_first=False)))
            .aggregate(
                leads=Count("pk"), anonymous=Count("pk", filter=Q(phone="")), valid=Count("pk", filter=valid),
                followed=Count("pk", filter=valid & Q(has_follow_up=True)),
                deals=Count("pk", filter=Q(status=Status.WON)), revisited=Count("pk", filter=Q(has_revisit=True)),
                overdue=Count("pk", filter=Q(status=Status.ACTIVE, next_follow_up_at__lt=start)),
                due_today=Count("pk", filter=Q(status=Status.ACTIVE, next_follow_up_at__gte=start,
                                               next_follow_up_at__lt=start + timedelta(days=1))),
                **{g: Count("pk", filter=Q(status=Status.ACTIVE, grade=g)) for g in GRADE_ORDER},
            )
        )
        summaries.append(StoreSummary(store=store, grades={g: row.pop(g) for g in reversed(GRADE_ORDER)}, **row))
    return summaries


@dataclass(eq=False)
class _Plan:
    lead: Lead
    pitch: VehicleSeries | None  # the series of ours the consultant talks about (and sells)
    visits: list[Visit] = field(default_factory=list)
    follow_ups: list[FollowUp] = field(default_factory=list)
    grade_changes: list[GradeChange] = field(default_factory=list)
    assignments: list[AssignmentChange] = field(default_factory=list)
    deal: Deal | None = None
    owners: list[tuple[datetime, User]] = field(default_factory=list)  # who held the lead from when

    def owner_at(self, at: datetime) -> User:
        return [user for since, user in self.owners if since <= at][-1]


class _StorePlanner:
    def __init__(self, rng, store, position, now, catalogue, channels, phones):
        self.rng, self.store, self.position, self.now = rng, store, position, now
        self.today = now.date()
        staff = User.objects.filter(store=store, is_active=True)
        self.manager = staff.filter(role=Role.MANAGER).order_by("username").first()
        # The fleet sales manager works company accounts, not the showroom's walk-ins.
        self.consultants = list(staff.filter(role=Role.CONSULTANT, fleet_manager=False).order_by("username"))
        if not self.consultants:
            raise ValueError(f"Store {store} has no active consultant to hold the demo leads.")
        self.skill = {c.pk: i % len(SHARE) for i, c in enumerate(self.consultants)}
        rules = grade_rules_for(store.group_id)
        self.interval = {g: rule.follow_up_days for g, rule in rules.items()}
        self.max_dwell = {g: rule.max_dwell_days for g, rule in rules.items()}
        # The first store sells passenger cars, the second light commercial vehicles (its catalogue and rivals).
        self.lcv = position == 1
        range_ = [s for s in catalogue if (s.segment in LCV_SEGMENTS) == self.lcv]
        self.own = [s for s in range_ if s.brand.is_own]
        self.rivals = [s for s in range_ if not s.brand.is_own]
        self.channels, self.phones = channels, phones
        self.slipped: set[tuple[int, str]] = set()  # (consultant, "today" / "overdue") already planted

    # --- random helpers -------------------------------------------------------------------------------------
    def pick(self, weights: dict):
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def at(self, day: date, hours: dict, latest_minute: int = 59) -> datetime:
        hour = self.pick(hours)
        minute = self.rng.randint(0, latest_minute if hour == max(hours) else 59)
        return datetime(day.year, day.month, day.day, hour, minute, self.rng.randint(0, 59), tzinfo=SHANGHAI)

    def call_time(self, day: date, not_before: datetime) -> datetime:
        """A follow-up moment on ``day`` during working hours, after ``not_before`` and not in the future."""
        moment = self.at(day, CALL_HOURS)
        if moment <= not_before:
            moment = not_before + timedelta(minutes=self.rng.randint(20, 180))
        if moment > self.now and moment - timedelta(days=1) > not_before:
            moment -= timedelta(days=1)  # later today has not happened yet: the same hour yesterday
        return min(moment, self.now - timedelta(minutes=self.rng.randint(5, 60)))

    def text(self, template: str, plan: _Plan) -> str:
        """Fill a text with the series the consultant pitches (ours), a rival's and prices in 万元."""
        lead = plan.lead
        rival = lead.series if lead.series and not lead.series.brand.is_own else (
            self.rival(plan.pitch) if self.rivals else None)
        price = self.price(plan.pitch) / 10_000
        return template.format(series=plan.pitch.name if plan.pitch else "卡罗拉",
                               rival=rival.name if rival else "同级车", price=f"{price:.1f}",
                               budget=int(lead.budget / 10_000) if lead.budget else int(price))

    def rival(self, series: VehicleSeries | None) -> VehicleSeries:
        same = [s for s in self.rivals if series and s.segment == series.segment]
        return self.rng.choice(same or self.rivals)

    def own_series(self) -> VehicleSeries | None:
        if not self.own:
            return None
        return self.rng.choices(self.own, weights=[OWN_INTEREST.get(s.name_en, 5) for s in self.own])[0]

    def price(self, series: VehicleSeries | None) -> int:
        if series is None:
            return 150_000
        return (PRICES.get(series.name_en) or LCV_PRICES.get(series.name_en)
                or SEGMENT_PRICES.get(series.segment, 150_000))

    def phone(self) -> str:
        while True:
            number = f"+86{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"
            if number in self.phones:
                continue
            try:
                valid = phone_normalize(number) == number
            except ValidationError:
                valid = False
            if valid:
                self.phones.add(number)
                return number

    def name(self, gender: str, anonymous: bool) -> str:
        surname = self.rng.choices(SURNAMES, weights=[1 / (i + 4) for i in range(len(SURNAMES))])[0]
        if anonymous and self.rng.random() < 0.85:
            return surname + ("先生" if gender != "female" else "女士")
        return surname + self.rng.choice(GIVEN[gender or "male"])

    # --- the plan ----------------------------------------------------------------------------------------------
    def plan(self) -> list[_Plan]:
        plans = [self.new_lead(arrived) for arrived in self.arrivals()]
        plans += self.duplicates(plans)
        plans.sort(key=lambda p: p.lead.first_visit_at)
        valid = [p for p in plans if p.lead.phone and p.lead.grade]
        won = self.choose_deals(valid)
        for plan in plans:
            if plan in won:
                self.work_won(plan)
            elif plan.lead.phone and plan.lead.grade and self.followed(plan):
                self.work_active(plan)
            else:
                self.leave(plan)
            self.review(plan)
            lead = plan.lead
            lead.last_contact_at = max([lead.first_visit_at, *(v.arrived_at for v in plan.visits),
                                        *(f.occurred_at for f in plan.follow_ups)])
            lead.version = 1 + len(plan.follow_ups) + len(plan.grade_changes) + len(plan.visits) + len(plan.owners)
        self.keep_stale(plans)
        return plans

    def keep_stale(self, plans: list[_Plan]) -> None:
        """A store that uses the product reviews its stale queue: the manager has kept most leads that held their
        grade past its max dwell (the clock restarts at the keep), leaving a handful for the stale page to show."""
        stale = [p.lead for p in plans if p.lead.status == Status.ACTIVE and p.lead.grade and p.lead.grade_since
                 and p.lead.grade_since + timedelta(days=self.max_dwell[p.lead.grade]) < self.now]
        self.rng.shuffle(stale)
        for lead in stale[STALE_LEFT_PER_STORE:]:
            room = max(1, min(self.max_dwell[lead.grade] - 1, 20))
            lead.dwell_kept_at = self.now - timedelta(days=self.rng.randint(0, room), hours=self.rng.randint(1, 8))

    def arrivals(self) -> list[datetime]:
        start_month = self.today.month - MONTHS
        year, month = self.today.year + (start_month - 1) // 12, (start_month - 1) % 12 + 1
        day, moments = date(year, month, min(self.today.day, 28)), []
        while day <= self.today:
            mu = BASE_PER_DAY * WEEKDAY[day.weekday()] * SEASON[day.month] * STORE_TRAFFIC[self.position]
            for _ in range(max(0, round(self.rng.gauss(mu, 0.12 * mu)))):
                moments.append(self.at(day, ARRIVAL_HOURS, latest_minute=15))
            day += timedelta(days=1)
        return sorted(m for m in moments if m <= self.now)

    def new_lead(self, arrived: datetime, *, name: str = "", gender: str | None = None, anonymous=None) -> _Plan:
        rng = self.rng
        source = self.pick(SOURCES)
        code, _, no_phone = rng.choices(CHANNELS[source], weights=[c[1] for c in CHANNELS[source]])[0]
        anonymous = rng.random() < no_phone if anonymous is None else anonymous
        gender = gender if gender is not None else ("male" if rng.random() < 0.63 else "female")
        series = None
        if rng.random() < (0.6 if anonymous else 0.9):
            series = self.rival(None) if self.rivals and rng.random() < 0.12 else self.own_series()
        if anonymous:
            grade = self.pick(ANONYMOUS_GRADE)
        elif (self.now - arrived).days < 2 and rng.random() < 0.25:
            grade = None  # qualified at tomorrow's call
        else:
            grade = rng.choices(GRADE_ORDER, weights=FIRST_GRADE[source])[0]
        consultant = rng.choices(self.consultants, weights=[SHARE[self.skill[c.pk]] for c in self.consultants])[0]
        informed = 0.3 if anonymous else 0.9
        lead = Lead(
            store=self.store, assigned_to=consultant, name=name or self.name(gender, anonymous),
            phone="" if anonymous else self.phone(), gender=gender, source=source,
            channel=self.channels.get(code), series=series,
            budget=_yuan(self.price(series) * rng.uniform(0.85, 1.2), 5000) if rng.random() < informed else None,
            purchase_type=(self.pick({"first": 45, "replacement": 40, "additional": 15})
                           if rng.random() < informed else ""),
            district=((HOME_DISTRICT[self.position] if rng.random() < 0.45 else rng.choice(DISTRICTS))
                      if rng.random() < informed else ""),
            industry=rng.choice(INDUSTRIES) if not anonymous and rng.random() < 0.55 else "",
            grade=grade, grade_since=arrived if grade else None, first_visit_at=arrived, created_by=consultant,
            next_follow_up_at=None if anonymous else arrived + timedelta(
                days=self.interval[grade] if grade else UNGRADED_FOLLOW_UP_DAYS),
        )
        pitch = series if series and series.brand.is_own else (
            self.rng.choice([s for s in self.own if series and s.segment == series.segment] or [None])
            or self.own_series())
        plan = _Plan(lead=lead, pitch=pitch, owners=[(arrived, consultant)])
        test_drive = rng.random() < (0.08 if anonymous else 0.25)
        plan.visits.append(self.visit(lead, arrived, consultant, is_first=True, test_drive=test_drive,
                                      quote=rng.random() < (0.05 if anonymous else 0.18),
                                      note=self.text(rng.choice(VISIT_NOTES), plan) if rng.random() < 0.5 else ""))
        plan.visits[0].needs_analysis = rng.random() < 0.85
        if grade:
            plan.grade_changes.append(GradeChange(lead=lead, from_grade=None, to_grade=grade, changed_at=arrived,
                                                  changed_by=consultant, reason="Graded at the first visit"))
        plan.assignments.append(AssignmentChange(lead=lead, from_user=None, to_user=consultant, changed_at=arrived,
                                                 changed_by=consultant, reason="First visit"))
        return plan

    def visit(self, lead, arrived, by, *, is_first=False, test_drive=False, quote=False, note="") -> Visit:
        minutes = self.rng.randint(25, 110) + (35 if test_drive else 0) + (20 if quote else 0)
        closing = arrived.replace(hour=20, minute=0, second=0)
        left = max(min(arrived + timedelta(minutes=minutes), closing), arrived + timedelta(minutes=15))
        return Visit(lead=lead, arrived_at=arrived, left_at=left if left <= self.now else None, is_first=is_first,
                     test_drive=test_drive, quote=quote, companions=self.pick({0: 40, 1: 35, 2: 18, 3: 7}),
                     trade_in=lead.purchase_type == "replacement" and self.rng.random() < 0.3, note=note,
                     recorded_by=by)

    def duplicates(self, plans: list[_Plan]) -> list[_Plan]:
        """An anonymous walk-in who comes back weeks later, gives the same name and a phone: a second lead."""
        pool = [p for p in plans if not p.lead.phone and (self.now - p.lead.first_visit_at).days > 20]
        named = [p for p in pool if not p.lead.name.endswith(("先生", "女士"))]
        chosen = self.rng.sample(named, min(4, len(named)))
        chosen += self.rng.sample([p for p in pool if p not in chosen], min(DUPLICATES_PER_STORE - len(chosen),
                                                                             len(pool) - len(chosen)))
        twins = []
        for first in chosen:
            age = (self.now - first.lead.first_visit_at).days
            day = first.lead.first_visit_at.date() + timedelta(days=self.rng.randint(3, min(30, age - 1)))
            twins.append(self.new_lead(self.at(day, ARRIVAL_HOURS, 15), name=first.lead.name,
                                       gender=first.lead.gender, anonymous=False))
        return twins

    def choose_deals(self, valid: list[_Plan]) -> set[_Plan]:
        """About 12% of valid leads, warmer and older leads and better closers first (weighted, without
        replacement: Efraimidis–Spirakis keys)."""
        target = round(self.rng.uniform(*DEAL_SHARE) * len(valid))
        warmth = {"E": 1.0, "D": 1.1, "C": 2.2, "B": 4.0, "A": 6.0}
        keyed = []
        for plan in valid:
            age = (self.now - plan.lead.first_visit_at).days
            if age < 12:
                continue
            weight = (warmth[plan.lead.grade] * CLOSING[self.skill[plan.lead.assigned_to_id]] * min(age, 60) / 60
                      * (1.5 if plan.lead.source == "referral" else 0.8 if plan.lead.source == "outbound" else 1))
            keyed.append((self.rng.random() ** (1 / weight), plan))
        keyed.sort(key=lambda pair: pair[0], reverse=True)
        return {plan for _, plan in keyed[:target]}

    def followed(self, plan: _Plan) -> bool:
        age = (self.now - plan.lead.first_visit_at).days
        # Recent leads may still wait for their call; an older valid lead nobody followed up is rare in a store that
        # uses the product (a handful shows on the overdue and pool pages; the bench data set holds the backlogs).
        if age >= 10:
            return self.rng.random() < 1 - OLD_UNFOLLOWED
        chance = DILIGENCE[self.skill[plan.lead.assigned_to_id]] * (0.4 if age < 3 else 0.8)
        return self.rng.random() < chance

    def handover(self, plan: _Plan, earliest: datetime, latest: datetime) -> None:
        """A few leads change hands (the manager's reassignment) somewhere between ``earliest`` and ``latest``."""
        if not plan.lead.phone or self.manager is None or latest - earliest < timedelta(days=10):
            return
        if self.rng.random() > 0.03:
            return
        when = earliest + (latest - earliest) * self.rng.uniform(0.2, 0.8)
        old = plan.lead.assigned_to
        new = self.rng.choice([c for c in self.consultants if c.pk != old.pk] or [old])
        plan.owners.append((when, new))
        plan.lead.assigned_to = new
        plan.assignments.append(AssignmentChange(lead=plan.lead, from_user=old, to_user=new, changed_at=when,
                                                 changed_by=self.manager, reason=self.rng.choice(REASSIGN_REASONS)))

    def grade_path(self, plan: _Plan, steps: int, target: str | None = None) -> list[str | None]:
        """The grade after each of ``steps`` follow-ups (None: unchanged). With ``target``, climb to it one rung at
        a time at random follow-ups; otherwise promote or (rarely) demote by the consultant's skill."""
        grade, skill = plan.lead.grade, PROMOTE[self.skill[plan.lead.assigned_to_id]]
        if target:
            rungs = GRADE_ORDER[GRADE_ORDER.index(grade) + 1: GRADE_ORDER.index(target) + 1]
            at = sorted(self.rng.sample(range(steps), len(rungs)))
            path: list[str | None] = [None] * steps
            for index, rung in zip(at, rungs):
                path[index] = rung
            return path
        path = []
        for _ in range(steps):
            rung = GRADE_ORDER.index(grade)
            if grade != "A" and self.rng.random() < skill[grade]:
                grade = GRADE_ORDER[rung + 1]
                path.append(grade)
            elif grade != "E" and self.rng.random() < DEMOTE:
                grade = GRADE_ORDER[rung - 1]
                path.append(grade)
            else:
                path.append(None)
        return path

    def follow_ups(self, plan: _Plan, path: list[str | None], last: datetime, *, won: bool = False) -> None:
        """Follow-ups ending at ``last``: the first a day or two after the first visit, the rest in between; each
        grade change in ``path`` rides on its follow-up with a GradeChange row."""
        lead, rng = plan.lead, self.rng
        t0, earlier = lead.first_visit_at, set()
        while len(earlier) < len(path) - 1:
            offset = (last - t0) * rng.uniform(0.01, 1)
            if not earlier:
                offset = min(offset, timedelta(days=rng.uniform(0.6, 3.0)))
            moment = self.at((t0 + offset).date(), CALL_HOURS)
            earlier.add(moment if t0 < moment < last else t0 + offset)
        moments = [*sorted(earlier), last]
        grade = lead.grade
        for index, (moment, new_grade) in enumerate(zip(moments, path)):
            by = plan.owner_at(moment)
            if won and index == len(path) - 1:
                method, outcome, key = rng.choice(["phone", "wechat"]), "appointment", "won"
            elif new_grade and GRADE_ORDER.index(new_grade) > GRADE_ORDER.index(grade):
                method, outcome, key = self.pick(METHODS), self.pick(UP_OUTCOMES), new_grade
            elif new_grade:
                method, outcome, key = self.pick({"phone": 3, "wechat": 1}), self.pick(DOWN_OUTCOMES), "down"
            else:
                outcome = self.pick(OUTCOMES)
                method = "phone" if outcome == "no_answer" else self.pick(METHODS)
                key = outcome if outcome in ("no_answer", "not_now") else method
            if method in ("showroom", "test_drive", "home_visit") and not 9 <= moment.hour < 19:
                key = "wechat" if key == method else key  # nobody visits after hours: it was a message
                method = "wechat"
            follow_up = FollowUp(lead=lead, occurred_at=moment, method=method, outcome=outcome,
                                 content=self.text(rng.choice(TEXTS[key]), plan), grade_before=grade,
                                 grade_after=new_grade or grade, created_by=by)
            if new_grade:
                plan.grade_changes.append(GradeChange(lead=lead, from_grade=grade, to_grade=new_grade,
                                                      changed_at=moment, changed_by=by, reason="Follow-up",
                                                      follow_up=follow_up))
                grade, lead.grade, lead.grade_since = new_grade, new_grade, moment
            follow_up.next_follow_up_at = moment + timedelta(days=self.interval[grade])
            plan.follow_ups.append(follow_up)
            if method in ("showroom", "test_drive"):
                plan.visits.append(self.visit(lead, moment, by, test_drive=method == "test_drive",
                                              quote=rng.random() < 0.4, note="再次到店"))

    def work_active(self, plan: _Plan) -> None:
        """An active lead that was followed up 1–4 times. Most were worked recently, so their next follow-up is
        coming up; some are due today and a few slipped (overdue)."""
        lead, rng = plan.lead, self.rng
        t0 = lead.first_visit_at
        age = (self.now.date() - t0.date()).days
        if age < 1:
            return self.leave(plan)  # first call tomorrow
        lead.series = lead.series or plan.pitch  # learnt at the first calls
        steps = min(self.pick({1: 12, 2: 33, 3: 33, 4: 22}), max(1, age // 3))
        self.handover(plan, t0, self.now - timedelta(days=5))
        path = self.grade_path(plan, steps)
        interval = self.interval[next((g for g in reversed(path) if g), lead.grade)]
        slip = self.pick({"overdue": 0.5, "today": 7, "coming": 92.5})
        back = {"overdue": interval + rng.randint(1, 12), "today": interval, "coming": rng.randint(0, interval - 1)}
        # Every consultant opens the demo with something due today and something overdue, whatever the date.
        holder = plan.owner_at(self.now).pk
        if age > interval + 12:
            slip = next((need for need in ("today", "overdue") if (holder, need) not in self.slipped), slip)
        self.slipped.add((holder, slip))
        last = self.call_time(self.today - timedelta(days=back[slip]), t0)
        if last <= t0 + timedelta(hours=steps * 6):
            # A young lead: its follow-ups so far fit between the first visit and now.
            last = self.call_time(t0.date() + timedelta(days=rng.randint(1, age)), t0)
        self.follow_ups(plan, path, last)
        lead.next_follow_up_at = plan.follow_ups[-1].next_follow_up_at

    def work_won(self, plan: _Plan) -> None:
        """A lead that climbed to A (sometimes B), ordered after its last follow-up and took delivery weeks later."""
        lead, rng = plan.lead, self.rng
        t0 = lead.first_visit_at
        lead.series = lead.series or plan.pitch
        age = (self.now - t0).days
        target = "A" if rng.random() < 0.86 else "B"
        if GRADE_ORDER.index(lead.grade) > GRADE_ORDER.index(target):
            target = lead.grade
        rungs = GRADE_ORDER.index(target) - GRADE_ORDER.index(lead.grade)
        cycle = min(age - 1, rng.randint(6 + 8 * rungs, 25 + 15 * rungs))
        ordered = self.at(t0.date() + timedelta(days=cycle), ARRIVAL_HOURS, 15)
        if ordered > self.now:  # later today: it was yesterday
            ordered -= timedelta(days=1)
        steps = max(2, rungs + self.pick({0: 2, 1: 2, 2: 1}))
        self.handover(plan, t0, ordered - timedelta(days=3))
        last = self.call_time(ordered.date() - timedelta(days=rng.randint(1, 4)), t0)
        self.follow_ups(plan, self.grade_path(plan, steps, target), min(last, ordered - timedelta(hours=1)), won=True)
        by = plan.owner_at(ordered)
        plan.visits.append(self.visit(lead, ordered, by, quote=True, test_drive=rng.random() < 0.3,
                                      note="签订购车合同，交定金"))
        delivered = ordered.date() + timedelta(days=rng.randint(3, 35))
        unit_price = _yuan(self.price(plan.pitch) * rng.uniform(0.92, 1.05), 100)  # less the discount, or options
        quantity, units_delivered = 1, 0
        if self.lcv and rng.random() < FLEET_SHARE:
            # A fleet order: several units, delivered in parts; a recent one is not all delivered yet.
            quantity = rng.choice(FLEET_SIZES)
            lead.industry = lead.industry or rng.choice(FLEET_INDUSTRIES)
            if delivered <= self.today:
                recent = (self.today - ordered.date()).days < 75
                units_delivered = rng.randint(1, quantity - 1) if recent and rng.random() < 0.6 else quantity
        plan.deal = Deal(lead=lead, series=plan.pitch, created_by=by, quantity=quantity,
                         price=unit_price * quantity, units_delivered=units_delivered,
                         ordered_at=ordered.date(), delivered_at=delivered if delivered <= self.today else None)
        plan.deal.created_at = ordered + timedelta(minutes=rng.randint(30, 90))
        lead.status, lead.next_follow_up_at = Status.WON, None

    def leave(self, plan: _Plan) -> None:
        """A lead nobody followed up: the due date set at the first visit stands. Some come back on their own."""
        lead = plan.lead
        self.handover(plan, lead.first_visit_at, self.now - timedelta(days=5))
        age = (self.now - lead.first_visit_at).days
        if lead.phone and age > 3 and self.rng.random() < 0.12:
            day = lead.first_visit_at.date() + timedelta(days=self.rng.randint(2, age - 1))
            moment = self.at(day, ARRIVAL_HOURS, 15)
            plan.visits.append(self.visit(lead, moment, plan.owner_at(moment), test_drive=self.rng.random() < 0.5,
                                          quote=self.rng.random() < 0.4, note="客户自行再次到店"))

    def review_round(self, after: datetime) -> datetime:
        """The manager's first review round at or after ``after``: a look at the queue every hour from 09:00 to 21:00
        local (between customers, a few minutes past the hour)."""
        local = timezone.localtime(after, SHANGHAI)
        for day in range(3):
            for hour in range(9, 22):
                moment = (local + timedelta(days=day)).replace(hour=hour, minute=self.rng.randint(5, 50), second=0,
                                                                microsecond=0)
                if moment >= local:
                    return moment
        return local + timedelta(days=3)

    def review(self, plan: _Plan) -> None:
        """The manager approves most follow-ups within a day or two and rejects a few; the last days' wait."""
        for follow_up in plan.follow_ups:
            # The manager looks at the queue every hour of the working day and reviews what is at least an hour old;
            # a few records of the last two days the manager has left for later.
            reviewed = self.review_round(follow_up.occurred_at + timedelta(hours=1))
            recent = follow_up.occurred_at > self.now - timedelta(days=2)
            if self.manager is None or reviewed > self.now or (recent and self.rng.random() < 0.03):
                continue
            follow_up.reviewed_by, follow_up.reviewed_at = self.manager, reviewed
            if self.rng.random() < 0.08:
                follow_up.review_status, follow_up.review_comment = ReviewStatus.REJECTED, self.rng.choice(REJECTIONS)
            else:
                follow_up.review_status = ReviewStatus.APPROVED


def _yuan(amount: float, step: int) -> Decimal:
    """``amount`` CNY rounded to a multiple of ``step``, as a Decimal with fen."""
    return Decimal(round(amount / step) * step).quantize(Decimal("0.01"))


def _insert(plans: list[_Plan], stores: list[Store]) -> None:
    """Write the plans in batches, parents first; then give every row its historical creation time (bulk_create
    stamps auto_now_add fields with the current time)."""
    for plan in plans:
        plan.lead.first_follow_up_at = min((f.occurred_at for f in plan.follow_ups), default=None)
        plan.lead.first_visit_day = timezone.localtime(plan.lead.first_visit_at).date()  # save() is not called
        for row in (*plan.visits, *plan.follow_ups):  # bulk_create does not call save(), which sets the store
            row.store_id = plan.lead.store_id
    Lead.objects.bulk_create([p.lead for p in plans], batch_size=BATCH)
    for model, rows in [
        (Visit, [v for p in plans for v in sorted(p.visits, key=lambda v: v.arrived_at)]),
        (FollowUp, [f for p in plans for f in p.follow_ups]),
        (GradeChange, [g for p in plans for g in p.grade_changes]),
        (AssignmentChange, [a for p in plans for a in p.assignments]),
    ]:
        model.objects.bulk_create(rows, batch_size=BATCH)
    deals = [p.deal for p in plans if p.deal]
    created = {id(deal): deal.created_at for deal in deals}
    Deal.objects.bulk_create(deals, batch_size=BATCH)
    for deal in deals:
        deal.created_at = created[id(deal)]
    Deal.objects.bulk_update(deals, ["created_at"], batch_size=BATCH)
    Lead.objects.filter(store__in=stores).update(created_at=F("first_visit_at"), updated_at=F("last_contact_at"))
    Visit.objects.filter(lead__store__in=stores).update(created_at=F("arrived_at"))
    FollowUp.objects.filter(lead__store__in=stores).update(created_at=F("occurred_at"))
    # The tables were empty when last analysed: the later seeds' per-row look-ups and the triggers' statements would
    # be planned for empty tables (a correlated update on the grade history took 4 s instead of 0.1 s).
    tidy([m._meta.db_table for m in (Lead, Visit, FollowUp, GradeChange, AssignmentChange, Deal)], vacuum=False)


__all__ = ["DemoHistory", "StoreSummary", "demo_history_seed", "demo_history_summary"]
