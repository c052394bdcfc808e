"""Care (维系, DOMAIN §5): planning care tasks a window ahead from the client's tier plan and vehicles, doing or
skipping them, do-not-contact per channel, and the overdue flag."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from dealercrm.bulk import any_of
from dealercrm.models import PASSENGER_SEGMENTS, DealerGroup, User

from ..models import (
    NON_OPERATING_USES,
    VEHICLE_KINDS,
    BaseClient,
    CareChannel,
    CareKind,
    CareOutcome,
    CarePlanItem,
    CareStatus,
    CareTask,
    ClientContact,
    DoNotContact,
    TierRule,
    Vehicle,
)
from ._common import StaleVersion, lock_client, require_can_work
from .settings import ensure_group_defaults

def care_window_days() -> int:
    return int(getattr(settings, "BASECLIENTS_CARE_WINDOW_DAYS", 30))


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in(year: int, month: int) -> int:
    if month == 2 and (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return 29
    return _MONTH_DAYS[month - 1]


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, the day clamped to the month's length (31 Jan + 1 = 28/29 Feb)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, _days_in(year, month)))


def _recurring(anchor: date, every: int, start: date, end: date, offset: int = 0, first: int = 1):
    """anchor + k*every months + offset days, k >= ``first``, within [start, end]."""
    if every <= 0:
        return
    months_before_start = (start.year - anchor.year) * 12 + start.month - anchor.month
    k = max(first, months_before_start // every - 1)
    while True:
        due = add_months(anchor, k * every) + timedelta(days=offset)
        if due > end:
            return
        if due >= start:
            yield due
        k += 1


def _yearly(month: int, day: int, start: date, end: date):
    for year in range(start.year, end.year + 1):
        due = date(year, month, min(day, _days_in(year, month)))
        if start <= due <= end:
            yield due


def inspection_exempt(use: str, segment: str | None) -> bool:
    """True when the vehicle follows the exempt schedule of a non-operating passenger car (private or company use,
    a passenger segment, or no known series); False: the operating interval (commercial and rental vehicles, and
    every pickup, light truck and light bus whatever its use)."""
    return use in NON_OPERATING_USES and (not segment or segment in PASSENGER_SEGMENTS)


def inspection_dates(base: date, *, exempt: bool, rule: TierRule, start: date, end: date, offset: int = 0):
    """The inspections of a vehicle registered on ``base`` (reminders ``offset`` days before), within [start, end].
    Operating: every ``rule.inspection_operating_months`` from registration. Exempt (a non-operating passenger car):
    on the anniversaries of years ``inspection_exempt_first_year`` and ``inspection_yearly_from_year``, then every
    year (defaults: years 6, 10, 11, 12 …). Pure."""
    if not exempt:
        yield from _recurring(base, rule.inspection_operating_months, start, end, offset)
        return
    for due in _recurring(base, 12, start, end, offset):
        years = (due - timedelta(days=offset)).year - base.year
        if years == rule.inspection_exempt_first_year or years >= rule.inspection_yearly_from_year:
            yield due


def plan_dates(item: CarePlanItem, client: BaseClient, vehicles: list[Vehicle], start: date, end: date,
               rule: TierRule | None = None):
    """(due date, vehicle) pairs of ``item`` for ``client`` within [start, end]; inspections on the group's ``rule``
    (the defaults without one; the vehicles' series loaded). Pure."""
    kind = item.kind
    if kind in VEHICLE_KINDS:
        for v in vehicles:
            if kind in (CareKind.DELIVERY_VISIT, CareKind.FIRST_MAINTENANCE):
                if v.delivered_at:
                    due = v.delivered_at + timedelta(days=item.offset_days)
                    if start <= due <= end:
                        yield due, v
            elif kind == CareKind.INSURANCE_RENEWAL:
                # The renewal date is the policy's first renewal (a year after the delivery when not known): the
                # reminder falls before it and before each anniversary.
                base = v.insurance_renewal_at or (add_months(v.delivered_at, 12) if v.delivered_at else None)
                if base:
                    for due in _recurring(base, item.every_months or 12, start, end, item.offset_days, first=0):
                        yield due, v
            elif kind == CareKind.INSPECTION:
                if item.vehicle_use and item.vehicle_use != v.use:
                    continue
                base = v.registered_at or v.delivered_at
                if base:
                    exempt = inspection_exempt(v.use, v.series.segment if v.series_id else None)
                    for due in inspection_dates(base, exempt=exempt, rule=rule or TierRule(), start=start, end=end,
                                                offset=item.offset_days):
                        yield due, v
        return
    if kind == CareKind.BIRTHDAY:
        if client.birthday:
            for due in _yearly(client.birthday.month, client.birthday.day, start, end):
                yield due, None
        return
    if item.on_month and item.on_day:
        for due in _yearly(item.on_month, item.on_day, start, end):
            yield due, None
        return
    if item.every_months:
        for due in _recurring(client.care_anchor, item.every_months, start, end, item.offset_days):
            yield due, None


# Months from date a to date b, as calendar months (day ignored): the k range of a recurring item.
_MONTHS = "((extract(year from {b})::int - extract(year from {a})::int) * 12 + extract(month from {b})::int " \
          "- extract(month from {a})::int)"


def _recurring_sql(anchor: str, first: int = 1, every: str = "i.every") -> str:
    """anchor + k*every months + offset days for k >= ``first`` covering [start, end] (PostgreSQL's date + interval
    clamps the day to the month's length, as ``add_months`` does); the caller filters to the window. ``every``: the
    SQL of the months between two dates (the item's, or the vehicle's inspection interval)."""
    lo = _MONTHS.format(a=anchor, b="(%(start)s::date - i.offset_days)")
    hi = _MONTHS.format(a=anchor, b="(%(end)s::date - i.offset_days)")
    return (f"CROSS JOIN LATERAL generate_series(greatest({first:d}, floor({lo}::numeric / {every})::int - 1), "
            f"greatest({first:d}, floor({hi}::numeric / {every})::int + 1)) AS k "
            f"CROSS JOIN LATERAL (SELECT ({anchor} + make_interval(months => k * {every}))::date "
            f"+ i.offset_days AS due_on) d")


def _yearly_sql(month: str, day: str) -> str:
    """The day ``month``/``day`` of every year of the window (the day clamped to the month's length)."""
    return (f"CROSS JOIN LATERAL generate_series(extract(year from %(start)s::date)::int, "
            f"extract(year from %(end)s::date)::int) AS y "
            f"CROSS JOIN LATERAL (SELECT make_date(y, {month}, least({day}, extract(day from "
            f"(make_date(y, {month}, 1) + interval '1 month - 1 day'))::int)) AS due_on) d")


_NON_OPERATING_SQL = ", ".join(f"'{u}'" for u in sorted(NON_OPERATING_USES))
_PASSENGER_SQL = ", ".join(f"'{s}'" for s in sorted(PASSENGER_SEGMENTS))

# One INSERT … SELECT per shape of plan item: (the rows it joins, the item condition, the due dates, the vehicle).
# ``i`` is the item (with ``every`` = its months), ``c`` the client, ``v`` a vehicle.
_SHAPES = {
    "after_delivery": (
        "JOIN baseclients_vehicle v ON v.client_id = c.id",
        "i.kind IN ('delivery_visit', 'first_maintenance') AND v.delivered_at IS NOT NULL",
        "CROSS JOIN LATERAL (SELECT v.delivered_at + i.offset_days AS due_on) d", "v.id"),
    "insurance": (
        "JOIN baseclients_vehicle v ON v.client_id = c.id",
        "i.kind = 'insurance_renewal' AND COALESCE(v.insurance_renewal_at, v.delivered_at) IS NOT NULL",
        _recurring_sql("COALESCE(v.insurance_renewal_at, (v.delivered_at + interval '1 year')::date)", first=0),
        "v.id"),
    # The interval is the vehicle's (``inspection_exempt``/``inspection_dates``): the group's rule ``r`` by the
    # vehicle's use and series segment; an exempt car's years between the first inspection and the yearly ones skip.
    "inspection": (
        "JOIN baseclients_vehicle v ON v.client_id = c.id "
        "JOIN baseclients_tierrule r ON r.group_id = c.group_id "
        "LEFT JOIN dealercrm_vehicleseries s ON s.id = v.series_id "
        f"CROSS JOIN LATERAL (SELECT (v.use IN ({_NON_OPERATING_SQL}) AND (s.segment IS NULL OR s.segment = '' "
        f"OR s.segment IN ({_PASSENGER_SQL}))) AS exempt) x "
        "CROSS JOIN LATERAL (SELECT CASE WHEN x.exempt THEN 12 ELSE r.inspection_operating_months END AS every) ie",
        "i.kind = 'inspection' AND (i.vehicle_use = '' OR i.vehicle_use = v.use) "
        "AND COALESCE(v.registered_at, v.delivered_at) IS NOT NULL "
        "AND (NOT x.exempt OR k = r.inspection_exempt_first_year OR k >= r.inspection_yearly_from_year)",
        _recurring_sql("COALESCE(v.registered_at, v.delivered_at)", every="ie.every"), "v.id"),
    "birthday": (
        "", "i.kind = 'birthday' AND c.birthday IS NOT NULL",
        _yearly_sql("extract(month from c.birthday)::int", "extract(day from c.birthday)::int"), "NULL::bigint"),
    "fixed_day": (
        "", "i.kind NOT IN ('birthday', 'delivery_visit', 'first_maintenance', 'insurance_renewal', 'inspection') "
            "AND i.on_month IS NOT NULL AND i.on_day IS NOT NULL",
        _yearly_sql("i.on_month", "i.on_day"), "NULL::bigint"),
    "recurring": (
        "", "i.kind NOT IN ('birthday', 'delivery_visit', 'first_maintenance', 'insurance_renewal', 'inspection') "
            "AND NOT (i.on_month IS NOT NULL AND i.on_day IS NOT NULL) AND i.every_months IS NOT NULL",
        _recurring_sql("c.care_anchor"), "NULL::bigint"),
}


def _plan_sql(shape: str, clients_where: str) -> str:
    join, condition, dates, vehicle = _SHAPES[shape]
    return f"""
        INSERT INTO baseclients_caretask (client_id, item_id, vehicle_id, store_id, assigned_to_id, kind, channel,
                                          due_on, status, outcome, note, created_at, version)
        SELECT DISTINCT ON (c.id, i.id, d.due_on) c.id, i.id, {vehicle}, c.store_id, c.assigned_to_id, i.kind,
               i.channel, d.due_on, 'pending', '', '', %(now)s, 1
        FROM baseclients_baseclient c
        JOIN (SELECT *, COALESCE(every_months, 12) AS every FROM baseclients_careplanitem WHERE is_active) i
          ON i.group_id = c.group_id AND (i.tier = '' OR i.tier = c.tier)
        {join}
        {dates}
        WHERE {clients_where} AND {condition}
          AND d.due_on BETWEEN %(start)s AND %(end)s
          AND NOT EXISTS (SELECT 1 FROM baseclients_donotcontact n WHERE n.client_id = c.id AND n.channel = i.channel)
        ORDER BY c.id, i.id, d.due_on, {vehicle}
        ON CONFLICT (client_id, item_id, due_on) DO NOTHING
    """


# The clients whose planning waits for the end of a ``planning_deferred`` block (None: outside one). A context
# variable: each import worker thread has its own.
_DEFERRED: ContextVar[set[int] | None] = ContextVar("care_planning_deferred", default=None)


@contextmanager
def planning_deferred() -> Iterator[None]:
    """Within the block, ``materialise(client_ids=…)`` (today's window) notes the clients and returns 0; when the
    block ends without an error they are planned, once, by one ``materialise`` (in the caller's transaction). The
    sales import's batch plans its rounds' cards so: the plan's statements cost mostly their planning by PostgreSQL,
    the same for one card as for five hundred. Planning at the end plans what each card's state then asks for, as
    planning after each change would have left it: a tier change drops the old plan's pending tasks
    (``care_drop_unplanned``) and planning only adds what is missing."""
    ids: set[int] = set()
    token = _DEFERRED.set(ids)
    try:
        yield
    finally:
        _DEFERRED.reset(token)
    if ids:
        materialise(client_ids=sorted(ids))


def materialise(*, client_ids: list[int] | None = None, group_id: int | None = None, today: date | None = None,
                window_days: int | None = None, job_run=None, start: date | None = None) -> int:
    """Plan care tasks due within [today, today + window] for the clients (all, a group's, or the given ids): one
    INSERT … SELECT … ON CONFLICT DO NOTHING per shape of plan item (after delivery, insurance, inspection, birthday,
    fixed day, recurring), the due dates computed by PostgreSQL (``plan_dates`` is the same rule in Python, and a
    test holds them together). Idempotent: a task exists once per client, item and due date (the unique key). The
    nightly full run skips the groups already planned up to the window's end, then marks the rest planned.
    ``start`` (default today) plans from an earlier day: the bench seed uses it to lay down past care. Returns how
    many tasks were created (0 for clients noted by ``planning_deferred``, planned at its end)."""
    deferred = _DEFERRED.get()
    if deferred is not None and client_ids is not None and today is None and window_days is None and start is None:
        deferred.update(client_ids)
        return 0
    today = today or timezone.localdate()
    end = today + timedelta(days=care_window_days() if window_days is None else window_days)
    params = {"start": start or today, "end": end, "now": timezone.now()}
    full_run = client_ids is None and group_id is None
    if client_ids is not None:
        if not client_ids:
            return 0
        where, params["ids"] = "c.id = ANY(%(ids)s)", list(client_ids)
        groups = BaseClient.objects.filter(any_of("id", client_ids)).values_list("group_id", flat=True).distinct()
    elif group_id is not None:
        where, params["group"] = "c.group_id = %(group)s", group_id
        groups = [group_id]
    else:
        # The nightly run: the groups already planned up to this window's end (an earlier run today) are skipped.
        groups = list(DealerGroup.objects.filter(Exists(BaseClient.objects.filter(group_id=OuterRef("pk"))))
                      .values_list("pk", flat=True))
        for gid in groups:
            ensure_group_defaults(gid)
        groups = list(TierRule.objects.filter(group_id__in=groups).filter(
            Q(care_planned_until__isnull=True) | Q(care_planned_until__lt=end)).values_list("group_id", flat=True))
        if not groups:
            return 0
        where, params["groups"] = "c.group_id = ANY(%(groups)s)", groups
    for gid in set(groups):
        ensure_group_defaults(gid)
    created = 0
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            # The embedded default (SQLite, a demo's few hundred clients): the same rule in Python.
            clients = BaseClient.objects.filter(group_id__in=groups)
            if client_ids is not None:
                clients = clients.filter(pk__in=client_ids)
            created = _materialise_in_python(clients, params["start"], end)
        else:
            for shape in _SHAPES:
                cursor.execute(_plan_sql(shape, where), params)
                created += max(cursor.rowcount, 0)
        if client_ids is None:
            created += plan_reviews(group_ids=list(set(groups)), start=params["start"], end=end)
        if full_run:
            TierRule.objects.filter(group_id__in=groups).update(care_planned_until=end)
        if job_run is not None and created:
            from dealercrm.jobs import job_run_count

            job_run_count(job_run, "flagged", created)
    return created


_NEVER = datetime(2000, 1, 1, tzinfo=dt_timezone.utc)


def plan_reviews(*, group_ids: list[int], start: date, end: date) -> int:
    """The yearly review (scores go stale): a care task for the client's consultant to re-score the
    client ``TierRule.review_months`` (default 12) after its last scoring (never scored: after its care anchor, the
    first delivery), due that day or ``start`` when that day has passed, planned once it falls before ``end``. Once
    per review: none is planned while a review task (of any status) is due after the last scoring; a scoring closes
    the pending one (``close_reviews``). Per group: one query for the clients due, one bulk insert."""
    from django.db.models.functions import Coalesce, TruncDate

    from ..models import ScoreRecord

    rows = []
    for rule in TierRule.objects.filter(group_id__in=group_ids):
        last = ScoreRecord.objects.filter(client=OuterRef("pk")).order_by("-at").values("at")[:1]
        due = (BaseClient.objects.filter(group_id=rule.group_id)
               .annotate(last_at=Coalesce(Subquery(last), Value(_NEVER)))
               .annotate(anchor=Coalesce(TruncDate(Subquery(last)), F("care_anchor")))
               .filter(anchor__lte=add_months(end, -rule.review_months))
               # This review is planned already: a review task made since the last scoring.
               .exclude(Exists(CareTask.objects.filter(client=OuterRef("pk"), kind=CareKind.REVIEW,
                                                       created_at__gt=OuterRef("last_at"))))
               .values_list("pk", "store_id", "assigned_to_id", "anchor"))
        for pk, store_id, owner_id, anchor in due:
            rows.append(CareTask(client_id=pk, store_id=store_id, assigned_to_id=owner_id, kind=CareKind.REVIEW,
                                 channel=CareChannel.VISIT,
                                 due_on=max(add_months(anchor, rule.review_months), start)))
    CareTask.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def close_reviews(client: BaseClient, *, actor: User, at) -> int:
    """A scoring is the review: close the client's pending review tasks as done by it."""
    return CareTask.objects.filter(client=client, kind=CareKind.REVIEW, status=CareStatus.PENDING).update(
        status=CareStatus.DONE, done_at=at, done_by=actor, note=_("Re-scored."), version=F("version") + 1)


def _materialise_in_python(clients, start: date, end: date) -> int:
    """``materialise`` for databases without its set-based SQL: ``plan_dates`` per client and plan item, the
    refused channels skipped, the tasks inserted once (the unique key ignores what exists)."""
    from collections import defaultdict

    vehicles, refused, plans = defaultdict(list), defaultdict(set), {}
    rules = {}
    for v in Vehicle.objects.filter(client__in=clients).select_related("series"):
        vehicles[v.client_id].append(v)
    for cid, channel in DoNotContact.objects.filter(client__in=clients).values_list("client_id", "channel"):
        refused[cid].add(channel)
    rows = []
    for c in clients.order_by("pk"):
        if c.group_id not in plans:
            plans[c.group_id] = list(CarePlanItem.objects.filter(group_id=c.group_id, is_active=True))
            rules[c.group_id] = TierRule.objects.filter(group_id=c.group_id).first()
        for item in plans[c.group_id]:
            if (item.tier and item.tier != c.tier) or item.channel in refused[c.pk]:
                continue
            for due, vehicle in plan_dates(item, c, vehicles[c.pk], start, end, rules[c.group_id]):
                rows.append(CareTask(client_id=c.pk, item_id=item.pk, vehicle_id=vehicle.pk if vehicle else None,
                                     store_id=c.store_id, assigned_to_id=c.assigned_to_id, kind=item.kind,
                                     channel=item.channel, due_on=due))
    before = CareTask.objects.filter(client__in=clients).count()
    CareTask.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return CareTask.objects.filter(client__in=clients).count() - before


def care_drop_unplanned(*, client_ids: list[int]) -> int:
    """Delete the pending tasks (today onwards) whose plan item no longer applies to the client's tier or whose
    channel the client refused: a tier change replaces the old plan's tasks. Set-based."""
    today = timezone.localdate()
    stale = (CareTask.objects.filter(client_id__in=client_ids, status=CareStatus.PENDING, due_on__gte=today,
                                     item__isnull=False)
             .filter(~Q(item__tier="") & ~Q(item__tier=F("client__tier"))))
    deleted, _ = stale.delete()
    return deleted


def care_replan(client: BaseClient) -> None:
    """After a tier change of one client: drop the old plan's pending tasks, plan the new ones."""
    care_drop_unplanned(client_ids=[client.pk])
    materialise(client_ids=[client.pk])


def _lock_task(task: CareTask, expected_version: int | None) -> CareTask:
    locked = CareTask.objects.select_for_update().select_related("client__store").get(pk=task.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(locked.version)
    return locked


def _require_pending(task: CareTask) -> None:
    if task.status != CareStatus.PENDING:
        raise ValidationError({"status": [_("This care task is already %(status)s.") % {
            "status": task.get_status_display()}]})


@transaction.atomic
def care_task_done(*, actor: User, task: CareTask, outcome: str, note: str = "",
                   expected_version: int | None = None, at=None, plan_vehicles: int | None = None,
                   plan_by: date | None = None) -> CareTask:
    """Close a pending task with its outcome (reached / no answer / visited / declined) and a note, and the fleet's
    growth plan when one was heard (``plan_vehicles`` by the month of ``plan_by``: both or neither). Done twice:
    400."""
    if outcome not in CareOutcome.values:
        raise ValidationError({"outcome": [_("Choose an outcome.")]})
    if bool(plan_vehicles) != bool(plan_by) or (plan_vehicles is not None and plan_vehicles < 0):
        raise ValidationError({"plan_by": [_("Give both: how many vehicles and by which month.")]})
    task = _lock_task(task, expected_version)
    require_can_work(actor, task.client)
    _require_pending(task)
    task.status = CareStatus.DONE
    task.outcome = outcome
    task.note = (note or "").strip()
    task.done_at = at or timezone.now()
    task.done_by = actor
    task.plan_vehicles = plan_vehicles or None
    task.plan_by = plan_by.replace(day=1) if plan_by else None
    task.version += 1
    task.save(update_fields=["status", "outcome", "note", "done_at", "done_by", "plan_vehicles", "plan_by",
                             "version"])
    return task


@transaction.atomic
def care_task_skip(*, actor: User, task: CareTask, reason: str, expected_version: int | None = None) -> CareTask:
    """Skip a pending task, with the reason (required)."""
    if not (reason or "").strip():
        raise ValidationError({"reason": [_("Say why the task is skipped.")]})
    task = _lock_task(task, expected_version)
    require_can_work(actor, task.client)
    _require_pending(task)
    task.status = CareStatus.SKIPPED
    task.note = reason.strip()
    task.done_at = timezone.now()
    task.done_by = actor
    task.version += 1
    task.save(update_fields=["status", "note", "done_at", "done_by", "version"])
    return task


DEFAULT_OUTCOME = {CareChannel.VISIT: CareOutcome.VISITED}


@transaction.atomic
def care_contact_log(*, actor: User, client: BaseClient, channel: str, content: str = "", outcome: str = "",
                     at=None) -> ClientContact:
    """A call or visit logged on the client: kept as a ``ClientContact`` (the care history), and it closes the
    matching task, the earliest pending task of that channel due by a week from the contact (``contact.task``, or
    None when none was due). Without an outcome a visit is "visited", anything else "reached"."""
    errors = {}
    if channel not in CareChannel.values:
        errors["method"] = [_("Choose how the client was contacted.")]
    outcome = outcome or DEFAULT_OUTCOME.get(channel, CareOutcome.REACHED)
    if outcome not in CareOutcome.values:
        errors["outcome"] = [_("Choose an outcome.")]
    if errors:
        raise ValidationError(errors)
    client = lock_client(client)
    require_can_work(actor, client)
    at = at or timezone.now()
    content = (content or "").strip()
    task = (CareTask.objects.select_for_update().filter(
        client=client, channel=channel, status=CareStatus.PENDING,
        due_on__lte=timezone.localtime(at).date() + timedelta(days=7)).exclude(kind=CareKind.REVIEW)
        .order_by("due_on", "pk").first())
    if task is not None:
        task = care_task_done(actor=actor, task=task, outcome=outcome, note=content, at=at)
    return ClientContact.objects.create(client=client, channel=channel, outcome=outcome, content=content, task=task,
                                        by=actor, at=at)


@transaction.atomic
def do_not_contact_set(*, actor: User, client: BaseClient, channel: str, reason: str) -> DoNotContact:
    """The client refuses a channel: record it (with the reason) and drop that channel's pending tasks."""
    errors = {}
    if channel not in CareChannel.values:
        errors["channel"] = [_("Unknown channel.")]
    if not (reason or "").strip():
        errors["reason"] = [_("Say why the client refuses this kind of contact.")]
    if errors:
        raise ValidationError(errors)
    client = lock_client(client)
    require_can_work(actor, client)
    dnc, _created = DoNotContact.objects.update_or_create(
        client=client, channel=channel, defaults={"reason": reason.strip(), "by": actor, "at": timezone.now()})
    # The yearly review is the consultant's own work (a re-scoring), not a contact: a refusal leaves it.
    CareTask.objects.filter(client=client, channel=channel, status=CareStatus.PENDING).exclude(
        kind=CareKind.REVIEW).delete()
    return dnc


@transaction.atomic
def do_not_contact_clear(*, actor: User, client: BaseClient, channel: str) -> None:
    client = lock_client(client)
    require_can_work(actor, client)
    DoNotContact.objects.filter(client=client, channel=channel).delete()
    transaction.on_commit(lambda: materialise(client_ids=[client.pk]))


def flag_overdue(*, today: date | None = None, job_run=None) -> int:
    """Flag pending tasks past their due day (one UPDATE); returns how many were flagged."""
    today = today or timezone.localdate()
    with transaction.atomic():
        n = CareTask.objects.filter(status=CareStatus.PENDING, due_on__lt=today,
                                    overdue_flagged_at__isnull=True).update(overdue_flagged_at=timezone.now())
        if job_run is not None and n:
            from dealercrm.jobs import job_run_count

            job_run_count(job_run, "flagged", n)
    return n
