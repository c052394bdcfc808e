"""Work plans' reads: the numbers a plan is drafted from (the funnel's target and its ladder decomposition, the
follow-ups and care visits falling due) and what the records say was done, per plan or per consultant and week.

Every count is an aggregate in the database. What was done is counted from the records of the plan's store,
written by the plan's consultant (docs/planning.md):

- follow-ups: follow-ups he wrote whose time falls in the period;
- new customers: first visits he logged in the period (a re-visit is not a new customer);
- care tasks: care tasks he marked done in the period;
- deals: deals ordered in the period on the leads he holds (the funnel's target progress counts them the same way).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import BooleanField, Case, Count, QuerySet, Value, When
from django.db.models.functions import TruncWeek
from django.utils import timezone

from baseclients.models import CareStatus, CareTask
from dealercrm.models import Role, Store, User
from funnel import calc
from funnel import selectors as funnel
from funnel.models import Target
from leads.models import Deal, FollowUp, Lead, Status, Visit

from .models import ITEM_ORDER, Item, WorkPlan
from .periods import months_of, weeks_of


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _share(month: date, start: date, end: date) -> Decimal:
    """The part of ``month`` that [start, end] covers, as a Decimal fraction of its days."""
    first, last = calc.month_bounds(month)
    return Decimal(calc.overlap_days(start, end, first, last)) / Decimal(last.day)


@dataclass
class Draft:
    """The drafted number of each item and what it came from (``basis``, kept on the item)."""

    numbers: dict[str, int] = field(default_factory=dict)
    basis: dict[str, dict] = field(default_factory=dict)


def plan_draft(*, consultant: User, store: Store, start: date, end: date, today: date | None = None) -> Draft:
    """The numbers a consultant's plan for [start, end] is drafted from (docs/planning.md):

    - deals: his monthly unit targets (``funnel.Target``), each month's share of the period by its days, summed and
      rounded up (6 units in a 31-day month: a 7-day week 2, a day 1);
    - new customers: the bottom rung (E) of each month's ladder decomposition of that target (``funnel.calc
      .plan_ladder`` on his own promotion rates of the last 12 months, ``funnel.selectors.measured_promotion_rates``),
      shared out the same way; 0 when a rate is unknown (the basis says so);
    - follow-ups: his active leads whose next follow-up falls due in the period, by grade, plus, when the period
      holds today, those already overdue;
    - care tasks: his care tasks due in the period (not skipped), plus, when it holds today, pending ones overdue.
    """
    today = today or timezone.localdate()
    draft = Draft()
    months = months_of(start, end)
    targets = dict(Target.objects.filter(store=store, consultant=consultant, month__in=months)
                   .values_list("month", "units"))
    deals = Decimal(0)
    new = Decimal(0)
    needed_e: dict[str, int | None] = {}
    rates = funnel.measured_promotion_rates(user=consultant, store=store, today=today) if targets else {}
    for month, units in targets.items():
        share = _share(month, start, end)
        deals += Decimal(units) * share
        e = calc.plan_ladder(a=calc.a_needed(target_units=units), promotion_rates=rates)["E"]
        needed_e[month.strftime("%Y-%m")] = e
        if e is not None:
            new += Decimal(e) * share
    draft.numbers[Item.DEALS] = math.ceil(deals)
    draft.basis[Item.DEALS] = {"targets": {m.strftime("%Y-%m"): u for m, u in sorted(targets.items())}}
    draft.numbers[Item.NEW_CUSTOMERS] = math.ceil(new)
    draft.basis[Item.NEW_CUSTOMERS] = {"ladder_e": needed_e,
                                       "rates": {k: v for k, v in rates.items() if k != "E->A"}}

    holds_today = start <= today <= end
    lo = _aware(start)
    hi = _aware(end + timedelta(days=1))
    leads = Lead.objects.filter(store=store, assigned_to=consultant, status=Status.ACTIVE,
                                next_follow_up_at__lt=hi)
    if not holds_today:
        leads = leads.filter(next_follow_up_at__gte=lo)
    today_at = _aware(today)
    by_grade: dict[str, int] = defaultdict(int)
    overdue = 0
    for grade, is_overdue, n in _due_by_grade(leads, today_at):
        by_grade[grade or "-"] += n
        overdue += n if is_overdue else 0
    draft.numbers[Item.FOLLOW_UPS] = sum(by_grade.values())
    # By grade from A down, the leads not graded yet ("-") last.
    ordered = sorted(by_grade.items(), key=lambda kv: ("ABCDE-".index(kv[0]) if kv[0] in "ABCDE-" else 9))
    draft.basis[Item.FOLLOW_UPS] = {"by_grade": dict(ordered), "overdue": overdue}

    care = CareTask.objects.filter(store=store, assigned_to=consultant, due_on__lte=end).exclude(
        status=CareStatus.SKIPPED)
    if holds_today:
        care = care.filter(due_on__gte=start) | care.filter(due_on__lt=start, status=CareStatus.PENDING)
    else:
        care = care.filter(due_on__gte=start)
    draft.numbers[Item.CARE] = care.count()
    draft.basis[Item.CARE] = {}
    return draft


def _due_by_grade(leads: QuerySet, today_at: datetime) -> list[tuple[str | None, bool, int]]:
    """(grade, overdue before today, count) of ``leads``: one GROUP BY query."""
    overdue = Case(When(next_follow_up_at__lt=today_at, then=Value(True)), default=Value(False),
                   output_field=BooleanField())
    return list(leads.order_by().annotate(is_overdue=overdue).values("grade", "is_overdue")
                .annotate(n=Count("pk")).values_list("grade", "is_overdue", "n"))


def done_counts(*, store_id: int, consultant_ids: list[int], start: date, end: date,
                by_week: bool = False) -> dict[tuple[int, date | None], dict[str, int]]:
    """What the records say each consultant did in [start, end] (the module's definitions): ``{(consultant id, week's
    Monday or None): {item: count}}``. Four GROUP BY queries whatever the number of consultants and weeks."""
    lo, hi = _aware(start), _aware(end + timedelta(days=1))
    out: dict[tuple[int, date | None], dict[str, int]] = defaultdict(lambda: dict.fromkeys(ITEM_ORDER, 0))
    sources = [
        (Item.FOLLOW_UPS, FollowUp.objects.filter(store_id=store_id, created_by_id__in=consultant_ids,
                                                  occurred_at__gte=lo, occurred_at__lt=hi),
         "created_by_id", "occurred_at"),
        (Item.NEW_CUSTOMERS, Visit.objects.filter(store_id=store_id, recorded_by_id__in=consultant_ids,
                                                  is_first=True, arrived_at__gte=lo, arrived_at__lt=hi),
         "recorded_by_id", "arrived_at"),
        (Item.CARE, CareTask.objects.filter(store_id=store_id, done_by_id__in=consultant_ids,
                                            status=CareStatus.DONE, done_at__gte=lo, done_at__lt=hi),
         "done_by_id", "done_at"),
        (Item.DEALS, Deal.objects.filter(lead__store_id=store_id, lead__assigned_to_id__in=consultant_ids,
                                         ordered_at__gte=start, ordered_at__lte=end),
         "lead__assigned_to_id", "ordered_at"),
    ]
    for item, qs, who, when in sources:
        qs = qs.order_by()
        if by_week:
            rows = qs.annotate(week=TruncWeek(when)).values_list(who, "week").annotate(n=Count("pk"))
            for consultant_id, week, n in rows:
                week = timezone.localtime(week).date() if isinstance(week, datetime) else week
                out[(consultant_id, week)][item] += n
        else:
            for consultant_id, n in qs.values_list(who).annotate(n=Count("pk")).values_list(who, "n"):
                out[(consultant_id, None)][item] += n
    return out


@dataclass
class ItemProgress:
    item: str
    label: str
    planned: int
    drafted: int
    done: int
    basis: dict
    note: str

    @property
    def complete(self) -> bool:
        return self.planned > 0 and self.done >= self.planned


def work_plan_progress(plan: WorkPlan) -> list[ItemProgress]:
    """The plan's items beside what was done in its period (``done_counts``), in the display order. The plan's items
    should be prefetched (``plan.items``); five queries otherwise at most."""
    done = done_counts(store_id=plan.store_id, consultant_ids=[plan.consultant_id], start=plan.start,
                       end=plan.end).get((plan.consultant_id, None), dict.fromkeys(ITEM_ORDER, 0))
    items = {i.item: i for i in plan.items.all()}
    return [ItemProgress(item=key, label=str(Item(key).label), planned=items[key].planned,
                         drafted=items[key].drafted, done=done[key], basis=items[key].basis, note=items[key].note)
            for key in ITEM_ORDER if key in items]


def work_plan_list(*, user: User) -> QuerySet[WorkPlan]:
    """The plans ``user`` may read: a consultant his own, a manager his store's, a group admin his group's."""
    return WorkPlan.objects.visible_to(user).select_related("consultant", "store").prefetch_related("items")


@dataclass
class WeekRow:
    consultant: User
    week: date
    planned: dict[str, int | None]
    done: dict[str, int]


def plan_vs_record(*, user: User, store: Store, start: date, end: date) -> list[WeekRow]:
    """Per consultant of ``store`` and week (Monday to Sunday) touching [start, end]: the week plan's numbers (None
    when he wrote no plan for the week) beside what the records say he did that week (``done_counts``; the whole
    week, even where it runs past [start, end]). Consultants: the store's active consultants and anyone with a week
    plan in the range. Six queries."""
    weeks = weeks_of(start, end)
    plans = list(WorkPlan.objects.visible_to(user).filter(store=store, period="week", start__in=weeks)
                 .select_related("consultant").prefetch_related("items"))
    people = {u.pk: u for u in User.objects.visible_to(user).filter(store=store, role=Role.CONSULTANT,
                                                                     is_active=True)}
    people.update({p.consultant_id: p.consultant for p in plans})
    if not people:
        return []
    planned = {(p.consultant_id, p.start): {i.item: i.planned for i in p.items.all()} for p in plans}
    done = done_counts(store_id=store.pk, consultant_ids=list(people), start=weeks[0], end=weeks[-1] + timedelta(6),
                       by_week=True)
    rows = []
    for consultant in sorted(people.values(), key=lambda u: (str(u), u.pk)):
        for week in weeks:
            plan = planned.get((consultant.pk, week))
            rows.append(WeekRow(consultant=consultant, week=week,
                                planned={k: (plan.get(k) if plan else None) for k in ITEM_ORDER},
                                done=done.get((consultant.pk, week), dict.fromkeys(ITEM_ORDER, 0))))
    return rows
