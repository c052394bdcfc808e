"""Reads on leads: scoped lists, the timeline, the consultant's workspace and the manager's queues."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from dealercrm.models import Role, Store, User
from dealercrm.pagination import capped_count

from .extensions import OPEN_COUNTS, TIMELINE_KINDS
from .models import (
    GRADE_ORDER,
    AssignmentChange,
    Deal,
    FollowUp,
    GradeChange,
    Lead,
    ReviewStatus,
    Status,
    Visit,
    local_day_start,
)


def lead_list(*, user: User) -> QuerySet[Lead]:
    """Every lead ``user`` may see (merged ones excluded), with what a list row shows joined in one query."""
    return (
        Lead.objects.visible_to(user)
        .not_merged()
        .select_related("assigned_to", "channel", "series__brand", "store")
    )


def _ladder_aggregates() -> dict:
    """Leads per grade A–E and ungraded, counting store_id: it is in every lead index (never null), so PostgreSQL
    counts the open leads from the index alone."""
    return {**{g: Count("store", filter=Q(grade=g)) for g in GRADE_ORDER},
            "ungraded": Count("store", filter=Q(grade__isnull=True))}


def grade_counts(leads: QuerySet[Lead]) -> dict[str, int]:
    """Active leads per grade A–E plus ``None`` (ungraded), in one aggregate query."""
    row = leads.filter(status=Status.ACTIVE).aggregate(**_ladder_aggregates())
    return {g: row[g] for g in reversed(GRADE_ORDER)} | {"ungraded": row["ungraded"]}


@dataclass
class Workspace:
    due_today: list[Lead]
    overdue: list[Lead]
    ladder: dict[str, int]
    recent: list[Lead]
    overdue_count: int
    due_today_count: int
    pending_reviews: int = 0


def workspace(*, user: User, now: datetime | None = None, limit: int = 20) -> Workspace:
    """What a consultant (or, for their store, a manager) works through today. A fixed number of queries."""
    leads = lead_list(user=user)
    overdue = leads.overdue(now).order_by("next_follow_up_at")
    due = leads.due_on(now).order_by("next_follow_up_at")
    start = local_day_start(now)
    counts = open_counts(user=user, today=start, tomorrow=start + timedelta(days=1))
    pending = 0
    if user.is_superuser or user.role in (Role.MANAGER, Role.GROUP_ADMIN):
        pending = pending_review_count(user=user)
    return Workspace(
        due_today=list(due[:limit]),
        overdue=list(overdue[:limit]),
        ladder={g: counts[g] for g in (*reversed(GRADE_ORDER), "ungraded")},
        recent=list(leads.order_by("-first_visit_at", "-pk")[:8]),
        overdue_count=counts["overdue"],
        due_today_count=counts["due_today"],
        pending_reviews=pending,
    )


#: The follow-ups to review are counted up to this many for a badge or a tile ("999+"): a group's whole queue counted
#: on every manager page cost 81 ms at two million leads (345,040 waiting), about 0.4 s at ten million.
REVIEW_BADGE_CAP = 999


def pending_review_count(*, user: User) -> int:
    """The follow-ups waiting for ``user``'s review, counted up to ``REVIEW_BADGE_CAP + 1`` (shown as "999+" by the
    ``badge_count`` filter). The review queue's own page counts them all."""
    return capped_count(FollowUp.objects.visible_to(user).filter(review_status=ReviewStatus.PENDING),
                        REVIEW_BADGE_CAP)


def open_counts(*, user: User, today: datetime, tomorrow: datetime, store: Store | None = None,
                by_consultant: bool = False, live: bool = False) -> dict:
    """The active leads ``user`` sees now (of ``store`` only, when given): per grade ``"A"``..``"E"`` and
    ``"ungraded"``, ``"overdue"`` (due before ``today``, a local midnight) and ``"due_today"`` (due from ``today`` to
    ``tomorrow``); ``by_consultant``: ``{consultant id: counts}`` of the leads someone holds, holders with none left
    out. Read from the counts a higher app keeps (leads.extensions.register_open_counts: the funnel's state-now rows,
    a few per store and consultant) where it keeps them, so a group's workspace and a big store's allocation cost the
    same at ten million leads as at ten thousand; else (or ``live``) counted from the leads: an index-only scan of
    every active lead in scope."""
    if not live and OPEN_COUNTS:
        # The leads a user sees are their stores' (Lead.visible_to), a consultant's only their own there: exactly
        # the keys of the kept counts.
        stores = Store.objects.visible_to(user)
        if store is not None:
            stores = stores.filter(pk=store.pk)
        consultant = user.pk if not user.is_superuser and user.role == Role.CONSULTANT else None
        kept = OPEN_COUNTS[-1](store_ids=list(stores.values_list("pk", flat=True)), consultant_id=consultant,
                               today=today, tomorrow=tomorrow, by_consultant=by_consultant)
        if kept is not None:
            if by_consultant:
                kept.pop(None, None)
            return kept
    leads = lead_list(user=user).filter(status=Status.ACTIVE)
    if store is not None:
        leads = leads.filter(store=store)
    # COUNT(store_id), not COUNT(id): the id is not in the open-leads index, and counting it read 100k rows of a big
    # store from the table (275 ms) instead of the index alone (20 ms).
    counts = {**_ladder_aggregates(), "overdue": Count("store", filter=Q(next_follow_up_at__lt=today)),
              "due_today": Count("store", filter=Q(next_follow_up_at__gte=today, next_follow_up_at__lt=tomorrow))}
    if not by_consultant:
        return leads.aggregate(**counts)
    return {row.pop("assigned_to"): row
            for row in leads.filter(assigned_to__isnull=False).values("assigned_to").annotate(**counts).order_by()}


@dataclass
class TimelineEntry:
    kind: str  # visit | follow_up | grade | assignment | deal, or another app's (leads.extensions.TIMELINE_KINDS)
    at: datetime
    obj: object
    sort_key: tuple = field(default=(), repr=False)
    template: str = ""  # another app's kind: the template of its entry on the page


def lead_timeline(*, lead: Lead) -> list[TimelineEntry]:
    """Visits, follow-ups, grade changes, assignment changes, the deal and the other apps' registered kinds (the
    defeat workflow's steps: application, verdict, nurture contacts, win-back) of one lead, newest first. Seven
    queries whatever the lead's history length (five of its own, each other kind's)."""
    entries: list[TimelineEntry] = []
    for visit in Visit.objects.filter(lead=lead).select_related("recorded_by"):
        entries.append(TimelineEntry("visit", visit.arrived_at, visit))
    for fu in FollowUp.objects.filter(lead=lead).select_related("created_by", "reviewed_by"):
        entries.append(TimelineEntry("follow_up", fu.occurred_at, fu))
    for change in GradeChange.objects.filter(lead=lead).select_related("changed_by"):
        entries.append(TimelineEntry("grade", change.changed_at, change))
    for change in AssignmentChange.objects.filter(lead=lead).select_related("from_user", "to_user", "changed_by"):
        entries.append(TimelineEntry("assignment", change.changed_at, change))
    for deal in Deal.objects.filter(lead=lead).select_related("series__brand", "created_by"):
        at = timezone.make_aware(datetime.combine(deal.ordered_at, datetime.min.time()))
        entries.append(TimelineEntry("deal", max(at, deal.created_at), deal))
    order = {"deal": 0, "grade": 2, "follow_up": 3, "assignment": 4, "visit": 5}
    for other in TIMELINE_KINDS.values():
        order[other.kind] = other.rank
        for at, record in other.entries(lead):
            entries.append(TimelineEntry(other.kind, at, record, template=other.template))
    entries.sort(key=lambda e: (e.at, -order[e.kind]), reverse=True)
    return entries


@dataclass
class ConsultantLoad:
    consultant: User
    grades: dict[str, int]
    ungraded: int
    active: int
    overdue: int


def allocation_matrix(*, user: User, store: Store) -> list[ConsultantLoad]:
    """Control point 4: each active consultant of the store × active leads per grade, overdue and total; a
    consultant who left but still holds leads here is listed too. Three queries: the store in the user's scope, its
    counts per holder (``open_counts``: the funnel's state-now rows; counted live, an index-only scan of
    lead_store_open_due, which carries the grade and the holder), and the people."""
    today = local_day_start()
    # Only this store's leads: a consultant who moved here from another store brings no figures with them.
    counts = open_counts(user=user, today=today, tomorrow=today + timedelta(days=1), store=store, by_consultant=True)
    consultants = (
        User.objects.visible_to(user)
        .filter(store=store, role=Role.CONSULTANT)
        .filter(Q(is_active=True) | Q(pk__in=list(counts)))
        .order_by("-is_active", "display_name", "username")
    )
    empty = {**{g: 0 for g in GRADE_ORDER}, "ungraded": 0, "overdue": 0}
    rows = []
    for c in consultants:
        figures = counts.get(c.pk, empty)
        rows.append(ConsultantLoad(
            consultant=c,
            grades={g: figures[g] for g in reversed(GRADE_ORDER)},
            ungraded=figures["ungraded"],
            active=sum(figures[g] for g in GRADE_ORDER) + figures["ungraded"],
            overdue=figures["overdue"],
        ))
    return rows


def review_queue(*, user: User) -> QuerySet[FollowUp]:
    """Follow-ups waiting for the manager's review, oldest first."""
    return (
        FollowUp.objects.visible_to(user)
        .filter(review_status=ReviewStatus.PENDING)
        .select_related("lead", "created_by")
        .order_by("occurred_at", "pk")
    )


def duplicate_candidates(*, user: User, limit: int = 50) -> list[tuple[Lead, Lead]]:
    """Likely duplicates a manager may want to merge: in one store, an anonymous walk-in and a lead of the same name
    with a phone (a phone already makes a second lead impossible). Each anonymous lead is paired with the phoned
    lead nearest to it in time; the phoned lead comes first (the one to keep). Two queries."""
    leads = lead_list(user=user).filter(status=Status.ACTIVE)
    names = (
        leads.values("store_id", "name")
        .annotate(anonymous=Count("pk", filter=Q(phone="")), phoned=Count("pk", filter=~Q(phone="")))
        .filter(anonymous__gt=0, phoned__gt=0)
        .order_by("name")[:limit]
    )
    condition = Q()
    for row in names:
        condition |= Q(store_id=row["store_id"], name=row["name"])
    if not condition:
        return []
    groups: dict[tuple[int, str], list[Lead]] = {}
    for lead in leads.filter(condition).order_by("first_visit_at", "pk"):
        groups.setdefault((lead.store_id, lead.name), []).append(lead)
    pairs = []
    for group in groups.values():
        phoned = [lead for lead in group if lead.phone]
        for anonymous in (lead for lead in group if not lead.phone):
            nearest = min(phoned, key=lambda lead: abs(lead.first_visit_at - anonymous.first_visit_at))
            pairs.append((nearest, anonymous))
    pairs.sort(key=lambda pair: pair[1].first_visit_at, reverse=True)
    return pairs[:limit]


def lead_phone_for(*, user: User, lead: Lead) -> str:
    """The phone as ``user`` may see it: in full for the lead's consultant and whoever manages its store, masked
    (138****8000) for anyone else. Exports by consultants always mask (they call phone_mask directly)."""
    from .phones import phone_display, phone_mask
    from .services import manages_store

    if not lead.phone:
        return ""
    if lead.assigned_to_id == user.pk or manages_store(user, lead.store):
        return phone_display(lead.phone)
    return phone_mask(lead.phone)


def grade_rule_limits(*, group_id: int) -> dict[str, tuple[int, int]]:
    """(follow-up days, max dwell days) per grade for the group: its own rules, DOMAIN defaults where unset.
    A read: unlike services.grade_rules_for it creates nothing. One query."""
    from .models import GradeRule
    from .rules import DEFAULT_RULES

    limits = {g: (r.follow_up_days, r.max_dwell_days) for g, r in DEFAULT_RULES.items()}
    for rule in GradeRule.objects.filter(group_id=group_id).only("grade", "follow_up_days", "max_dwell_days"):
        limits[rule.grade] = (rule.follow_up_days, rule.max_dwell_days)
    return limits


# --- the jobs' flags: the manager's stale queue and the store's pool ------------------------------------------------


def _with_last_follow_up(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """Annotate the latest follow-up's date, method and outcome (``last_fu_at``, ``last_fu_method``,
    ``last_fu_outcome``): correlated subqueries on the (lead, occurred_at) index, still one query for the list."""
    latest = FollowUp.objects.filter(lead=OuterRef("pk")).order_by("-occurred_at", "-pk")
    return leads.annotate(
        last_fu_at=Subquery(latest.values("occurred_at")[:1]),
        last_fu_method=Subquery(latest.values("method")[:1]),
        last_fu_outcome=Subquery(latest.values("outcome")[:1]),
    )


def stale_queue(*, user: User, store: Store) -> QuerySet[Lead]:
    """The manager's review queue (DOMAIN §3): the store's active leads flagged stale, longest stale first, with the
    last-touch evidence (latest follow-up, last contact, next due, consultant) in the same query. Read-only; scoped
    by ``visible_to``, so a store the user does not manage yields nothing."""
    return _with_last_follow_up(
        Lead.objects.visible_to(user)
        .filter(store=store, status=Status.ACTIVE, stale_flag__store=store)
        .select_related("assigned_to", "series__brand", "store", "stale_flag")
        .order_by("stale_flag__since", "pk")
    )


def pool_list(*, user: User, store: Store) -> QuerySet[Lead]:
    """The store's pool (公海): active leads nobody holds that a job or a manager put back, longest waiting first.

    The one place a consultant sees leads they do not hold: the consultants of the store see its pool (claiming needs
    it); pages show them masked phones. Managers and group admins see it through ``visible_to``; anyone else,
    or a consultant of another store, sees nothing."""
    pooled = Lead.objects.in_pool().filter(store=store)
    if user.is_active and user.role == Role.CONSULTANT and not user.is_superuser:
        if user.store_id != store.pk:
            return pooled.none()
    else:
        pooled = pooled & Lead.objects.visible_to(user)
    return _with_last_follow_up(pooled.select_related("series__brand", "store").order_by("pooled_at", "pk"))
