"""Care (维系, DOMAIN §5): planning care tasks a window ahead from the client's tier plan and vehicles, doing or
skipping them, do-not-contact per channel, and the overdue flag."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from dealercrm.models import User

from ..models import (
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
    Vehicle,
)
from ._common import StaleVersion, lock_client, require_can_work
from .settings import ensure_group_defaults

BATCH = 2000


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


def _recurring(anchor: date, every: int, start: date, end: date, offset: int = 0):
    """anchor + k*every months + offset days, k >= 1, within [start, end]."""
    if every <= 0:
        return
    months_before_start = (start.year - anchor.year) * 12 + start.month - anchor.month
    k = max(1, months_before_start // every - 1)
    while True:
        due = add_months(anchor, k * every) + timedelta(days=offset)
        if due > end:
            return
        if due >= start:
            yield due
        k += 1


def _yearly(month: int, day: int, start: date, end: date):
    for year in (start.year, start.year + 1):
        due = date(year, month, min(day, _days_in(year, month)))
        if start <= due <= end:
            yield due


@dataclass(frozen=True)
class _ClientDates:
    """What planning needs of a client (a light row, not a model instance)."""

    pk: int
    group_id: int
    store_id: int
    assigned_to_id: int | None
    tier: str
    birthday: date | None
    care_anchor: date


@dataclass(frozen=True)
class _VehicleDates:
    """What planning needs of a vehicle (a light row, not a model instance: the job reads ~150k of them)."""

    pk: int
    client_id: int
    use: str
    delivered_at: date | None
    registered_at: date | None
    insurance_renewal_at: date | None


def plan_dates(item: CarePlanItem, client: BaseClient, vehicles: list[Vehicle], start: date, end: date):
    """(due date, vehicle) pairs of ``item`` for ``client`` within [start, end]. Pure."""
    kind = item.kind
    if kind in VEHICLE_KINDS:
        for v in vehicles:
            if kind in (CareKind.DELIVERY_VISIT, CareKind.FIRST_MAINTENANCE):
                if v.delivered_at:
                    due = v.delivered_at + timedelta(days=item.offset_days)
                    if start <= due <= end:
                        yield due, v
            elif kind == CareKind.INSURANCE_RENEWAL:
                base = v.insurance_renewal_at or v.delivered_at
                if base:
                    for due in _recurring(base, item.every_months or 12, start, end, item.offset_days):
                        yield due, v
            elif kind == CareKind.INSPECTION:
                if item.vehicle_use and item.vehicle_use != v.use:
                    continue
                base = v.registered_at or v.delivered_at
                if base:
                    for due in _recurring(base, item.every_months or 12, start, end, item.offset_days):
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


def materialise(*, client_ids: list[int] | None = None, group_id: int | None = None, today: date | None = None,
                window_days: int | None = None, job_run=None) -> int:
    """Plan care tasks due within [today, today + window] for the clients (all, a group's, or the given ids), in
    batches of clients: their plan items, vehicles and refusals read in three queries a batch, the tasks they lack
    inserted in one statement. Idempotent: a task exists once per client, item and due date (the unique key), and
    keys already planned are not inserted again. Returns how many tasks were created."""
    today = today or timezone.localdate()
    end = today + timedelta(days=care_window_days() if window_days is None else window_days)
    clients = BaseClient.objects.order_by("pk")
    full_run = client_ids is None and group_id is None
    if client_ids is not None:
        clients = clients.filter(pk__in=client_ids)
    if group_id is not None:
        clients = clients.filter(group_id=group_id)
    if full_run:
        # The nightly run: clients already planned up to this window's end (an earlier run today) are skipped.
        clients = clients.filter(Q(care_planned_until__isnull=True) | Q(care_planned_until__lt=end))
    fields = ("pk", "group_id", "store_id", "assigned_to_id", "tier", "birthday", "care_anchor")
    created = 0
    last = 0
    plans: dict[int, list[CarePlanItem]] = {}
    while True:
        batch = [_ClientDates(*row) for row in clients.filter(pk__gt=last).values_list(*fields)[:BATCH]]
        if not batch:
            break
        last = batch[-1].pk
        # The batch's id range (pk order): index range scans instead of 2,000-item IN lists; rows of clients in the
        # range but not in the batch (another group's) are simply not looked at.
        span = {"client_id__gte": batch[0].pk, "client_id__lte": batch[-1].pk}
        for gid in {c.group_id for c in batch} - set(plans):
            ensure_group_defaults(gid)
            plans[gid] = list(CarePlanItem.objects.filter(group_id=gid, is_active=True))
        vehicles = defaultdict(list)
        for row in Vehicle.objects.filter(**span).values_list(
                "pk", "client_id", "use", "delivered_at", "registered_at", "insurance_renewal_at"):
            vehicles[row[1]].append(_VehicleDates(*row))
        refused = defaultdict(set)
        for cid, channel in DoNotContact.objects.filter(**span).values_list("client_id", "channel"):
            refused[cid].add(channel)
        planned = set(CareTask.objects.filter(**span, due_on__gte=today, due_on__lte=end)
                      .values_list("client_id", "item_id", "due_on"))
        rows = []
        for c in batch:
            for item in plans[c.group_id]:
                if item.tier and item.tier != c.tier:
                    continue
                if item.channel in refused[c.pk]:
                    continue
                for due, vehicle in plan_dates(item, c, vehicles[c.pk], today, end):
                    key = (c.pk, item.pk, due)
                    if key in planned:
                        continue
                    planned.add(key)
                    rows.append(CareTask(client_id=c.pk, item_id=item.pk, vehicle_id=vehicle.pk if vehicle else None,
                                         store_id=c.store_id,
                                         assigned_to_id=c.assigned_to_id, kind=item.kind, channel=item.channel,
                                         due_on=due))
        with transaction.atomic():
            made = CareTask.objects.bulk_create(rows, ignore_conflicts=True, batch_size=5000)
            created += len(made)
            if full_run:
                BaseClient.objects.filter(pk__in=[c.pk for c in batch]).update(care_planned_until=end)
            if job_run is not None and rows:
                from dealercrm.jobs import job_run_count

                job_run_count(job_run, "flagged", len(rows))
    return created


def care_drop_unplanned(*, client_ids: list[int]) -> int:
    """Delete the pending tasks (today onwards) whose plan item no longer applies to the client's tier or whose
    channel the client refused: a tier change replaces the old plan's tasks. Set-based."""
    today = timezone.localdate()
    stale = (CareTask.objects.filter(client_id__in=client_ids, status=CareStatus.PENDING, due_on__gte=today)
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
                   expected_version: int | None = None, at=None) -> CareTask:
    """Close a pending task with its outcome (reached / no answer / visited / declined) and a note. Done twice: 400."""
    if outcome not in CareOutcome.values:
        raise ValidationError({"outcome": [_("Choose an outcome.")]})
    task = _lock_task(task, expected_version)
    require_can_work(actor, task.client)
    _require_pending(task)
    task.status = CareStatus.DONE
    task.outcome = outcome
    task.note = (note or "").strip()
    task.done_at = at or timezone.now()
    task.done_by = actor
    task.version += 1
    task.save(update_fields=["status", "outcome", "note", "done_at", "done_by", "version"])
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
        due_on__lte=timezone.localtime(at).date() + timedelta(days=7)).order_by("due_on", "pk").first())
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
    CareTask.objects.filter(client=client, channel=channel, status=CareStatus.PENDING).delete()
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
