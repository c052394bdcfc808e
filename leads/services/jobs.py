"""The daily jobs (DOMAIN §3): flag stale leads, flag overdue follow-ups, reclaim long-overdue leads to the store's
pool (公海), and send the daily digests. Celery tasks (``leads.tasks``) and ``manage.py run_jobs`` call these.

How they are built (RELIABILITY.md, PERFORMANCE.md):

- **Set-based, bounded batches.** A job never loops over leads in Python: its condition is one SQL term per rule (a
  group's grade, a group's reclaim delay); it walks the lead table in id ranges of ``batch_size``, one transaction
  per range, and each range is one or two statements whose rows never come to Python: the stale and overdue flags
  are rows of their own narrow tables (``StaleFlag``, ``OverdueFlag``), raised by ``INSERT … SELECT … RETURNING``
  with the events inserted from the ids it returns; the reclaim is one ``UPDATE … RETURNING`` of the leads with
  their history rows (on PostgreSQL, data-modifying CTEs). An interrupted run leaves every lead either fully
  flagged with its event or untouched; the next run carries on from the conditions.
- **No locks before the write.** Nothing is ``SELECT … FOR UPDATE``-d first (that writes every row once more): a
  flag is an insert that a concurrent one makes a conflict, skipped; the reclaim only moves a lead whose version is
  the one it read. A flag raised from a row a follow-up changed in the same instant is cleared by the next run.
- **Conditions, not deltas.** Every run sweeps by condition and date (never "since the last run"), so a missed or
  repeated run is harmless; a lead already flagged is not a candidate, so running twice changes nothing, and the
  notifications carry a key that a second run cannot write twice.
- **Their own audit trail.** Bulk statements write no field history, so each changed lead gets a ``FlagEvent``
  (and, when reclaimed, an ``AssignmentChange``) linked to the ``JobRun`` that records the run.
- **Portable.** The statements are built from ORM querysets (``sql_with_params``) and run on PostgreSQL and the
  embedded SQLite alike (``ON CONFLICT``, ``RETURNING``); only the reclaim's one-statement form is PostgreSQL's,
  with an ORM path for SQLite.

Each job takes ``now`` (default: the current time), ``task_id`` (the Celery task's id, for the run record) and
``batch_size``, and returns its ``JobRun`` with the counts."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (Case, Count, DateTimeField, F, Max, Min, PositiveSmallIntegerField, Q,
                              QuerySet, Value, When)
from django.db.models.functions import Coalesce, Greatest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from dealercrm.jobs import job_run, job_run_count, job_run_heartbeat
from dealercrm.models import DealerGroup, JobRun, Notification, Role, Store, User
from dealercrm.notifications import DIGEST_PARTS, Draft, notify_many

from ..models import (
    IN_POOL,
    LEFT_POOL,
    AssignmentChange,
    FlagAction,
    FlagEvent,
    FlagKind,
    FollowUp,
    Lead,
    OverdueFlag,
    ReviewStatus,
    StaleFlag,
    Status,
    local_day_start,
)
from ..selectors import grade_rule_limits

logger = logging.getLogger(__name__)

# Ids per batch (one transaction). Measured on the bench (benchmarks/README.md): 2,000 → 35 s, 5,000 → 29-34 s,
# 20,000 → 24 s for the reclaim's first run (each batch costs a statement and a commit); a batch holds its leads' row
# locks for about a second at most.
BATCH_SIZE = 20000
NOTIFY_CHUNK = 1000
# Seconds between heartbeats of a run walking ranges with nothing to change (dealercrm.jobs.heartbeat_timeout).
HEARTBEAT_EVERY = 30

JOB_STALE = "flag_stale_leads"
JOB_OVERDUE = "flag_overdue_follow_ups"
JOB_RECLAIM = "reclaim_overdue_leads"
JOB_DIGESTS = "send_daily_digests"
JOBS = (JOB_OVERDUE, JOB_STALE, JOB_RECLAIM, JOB_DIGESTS)  # the order run_jobs runs them in

# Reasons are stored as English source strings and translated when shown (see leads.services._common).
REASON_STALE = gettext_noop("Held the grade longer than its max dwell")
REASON_NOT_STALE = gettext_noop("No longer past the grade's max dwell")
REASON_OVERDUE = gettext_noop("Follow-up date passed without a follow-up")
REASON_NOT_OVERDUE = gettext_noop("No longer overdue")
REASON_RECLAIMED = gettext_noop("Reclaimed to the pool: follow-up overdue too long")
REASON_LEFT_POOL = gettext_noop("No longer in the pool")


def _tables(*models) -> tuple[str, ...]:
    """The tables a job writes, tidied after a run that changed many rows (``dealercrm.jobs.tidy_tables``)."""
    return tuple(model._meta.db_table for model in models)


def _batch_done(job: str, batch: int) -> None:
    """Called after each committed batch. A seam for the tests (an interrupted run); does nothing."""


def _url(name: str, fallback: str = "") -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return fallback


# --- the batch loop -------------------------------------------------------------------------------------------


def _workers() -> int:
    """How many batches run at once: ``settings.JOBS_WORKERS`` on PostgreSQL. One when the caller holds a
    transaction (the tests, a rolled-back benchmark): other connections could not see its rows. One on SQLite, which
    writes one transaction at a time anyway."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return max(1, getattr(settings, "JOBS_WORKERS", 1))


def _in_batches(run: JobRun, step: Callable[[int, int], list], *, counter: str, batch_size: int,
                committed: Callable[[list], None] | None = None) -> int:
    """Run ``step(lo, hi)`` over the lead table's ids in ranges of ``batch_size``, each range one transaction.

    ``step`` changes the leads of its range that meet the job's condition, with set-based statements, and returns
    what it changed (one item per lead); their number is added to the run's ``counter`` in the same transaction.
    ``committed`` gets them once their batch is done. Returns the total.

    Why id ranges rather than "the next N candidates": a range is an index range scan of at most ``batch_size`` rows
    whatever the condition, so a batch costs the same at the start and at the end of a run (with ``ORDER BY id LIMIT
    N`` PostgreSQL re-read most of a grade's leads for every batch: minutes over a million leads). And ranges are
    independent: :func:`_workers` connections take them from one queue side by side (each in a thread of its own
    with its own connection), since one PostgreSQL backend writing a batch keeps one core busy. The first failure
    stops every worker from taking another range and is raised once they are done; the ranges committed stay."""
    bounds = Lead.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is None:
        return 0
    ranges = iter(range(bounds["lo"], bounds["hi"] + 1, batch_size))
    lock, failed = threading.Lock(), threading.Event()
    done = {"total": 0, "batches": 0, "beat": time.monotonic()}

    def beat() -> None:
        # A batch that changed something beats with its count (job_run_count); a long stretch of empty ranges beats
        # here, every HEARTBEAT_EVERY seconds, so a live run is never taken for a dead one.
        with lock:
            if time.monotonic() - done["beat"] < HEARTBEAT_EVERY:
                return
            done["beat"] = time.monotonic()
        job_run_heartbeat(run)

    def next_range() -> int | None:
        with lock:
            return None if failed.is_set() else next(ranges, None)

    def work() -> None:
        while (lo := next_range()) is not None:
            try:
                with transaction.atomic():
                    changed = step(lo, lo + batch_size)
                    if changed:
                        with lock:
                            job_run_count(run, counter, len(changed))
                if not changed:
                    beat()
                    continue
                with lock:
                    done["beat"] = time.monotonic()
                    done["total"] += len(changed)
                    done["batches"] += 1
                    batch = done["batches"]
                    if committed is not None:
                        committed(changed)
                _batch_done(run.job, batch)
            except BaseException:
                failed.set()
                raise

    workers = _workers()
    if workers == 1:
        work()
        return done["total"]

    def in_thread() -> None:
        try:
            work()
        finally:
            connection.close()  # the thread's own connection

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"job-{run.pk}") as pool:
        futures = [pool.submit(in_thread) for _ in range(workers)]
    for future in futures:
        future.result()  # raises the first failure
    return done["total"]


def _clear_in_batches(run: JobRun, candidates: QuerySet, clear: Callable[[QuerySet], list[int]], *, kind: str,
                      at: datetime, reason: str, batch_size: int) -> int:
    """Clear a flag whose condition no longer holds: ``candidates`` are the flagged rows (keyed by the lead's id)
    where it does not; ``clear`` clears the ones its queryset names and returns their lead ids. A cleared event
    each, one transaction per batch.

    Such conditions hold for few leads, so the batches are "the next ``batch_size`` candidates after the last id" on
    the flag's own table or partial index: a run with nothing to clear is one query (walking the lead table's id
    ranges would read the whole flag index once per range)."""
    total, last = 0, 0
    while True:
        with transaction.atomic():
            ids = list(candidates.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return total
            cleared = clear(candidates.filter(pk__in=ids))
            _events(cleared, kind=kind, action=FlagAction.CLEARED, at=at, run=run, reason=reason)
            job_run_count(run, "cleared", len(cleared))
        total += len(cleared)
        last = ids[-1]


def _insert_rows(model, columns: dict[str, object], arrays: dict[str, list]) -> None:
    """Insert one row per element of ``arrays`` (equal-length lists of ids), with ``columns`` constant; both keyed by
    field attname (``lead_id``).

    On PostgreSQL one ``INSERT … SELECT unnest(…)``: the rows never become Python objects (Django's ``bulk_create``
    spends ~40 µs of CPU per object, which over the first run's half a million rows outweighed the SQL). Elsewhere
    (the embedded SQLite) ``bulk_create``."""
    if not next(iter(arrays.values())):
        return
    if connection.vendor == "postgresql":
        meta = model._meta
        array_cols = [meta.get_field(name).column for name in arrays]
        const_cols = [meta.get_field(name).column for name in columns]
        select = ["unnest(%s::bigint[])" for _ in arrays] + ["%s" for _ in columns]
        sql = (f'INSERT INTO "{meta.db_table}" ({", ".join(f'"{c}"' for c in array_cols + const_cols)}) '
               f"SELECT {', '.join(select)}")
        with connection.cursor() as cursor:
            cursor.execute(sql, [*arrays.values(), *columns.values()])
        return
    names = list(arrays)
    model.objects.bulk_create(
        [model(**dict(zip(names, values, strict=True)), **columns) for values in zip(*arrays.values(), strict=True)],
        batch_size=BATCH_SIZE,
    )


def _events(ids: list[int], *, kind: str, action: str, at: datetime, run: JobRun, reason: str) -> None:
    _insert_rows(FlagEvent, {"kind": kind, "action": action, "at": at, "job_run_id": run.pk, "reason": reason,
                             "by_id": None}, {"lead_id": list(ids)})


def _raise_flags(model, leads: QuerySet[Lead], columns: dict[str, object]) -> list[int]:
    """Give each lead of ``leads`` a flag row of ``model`` with ``columns`` (attname → expression over the lead), as
    ONE ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`` (PostgreSQL and SQLite alike); returns the flagged
    leads' ids. The leads never come to Python and are not written: the flag is a row of its own narrow table.

    ``leads`` need not exclude the leads flagged already: each is a conflict on the flag's primary key, which
    PostgreSQL checks with one index probe before writing anything, and skips. That is what an anti-join would do,
    without leaving the plan to table statistics: a flag table that was empty when last analysed has led the planner
    to a nested loop re-reading the table for every lead (quadratic, minutes), and two runs at once are safe too."""
    aliases = {f"flag_{name}": expression for name, expression in columns.items()}
    rows = leads.order_by().values(**aliases)
    assert list(rows.query.annotation_select) == list(aliases), "the SELECT must list the columns in order"
    sql, params = rows.query.sql_with_params()
    quote, meta = connection.ops.quote_name, model._meta
    pk = quote(meta.pk.column)
    names = ", ".join(quote(meta.get_field(name).column) for name in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(meta.db_table)} ({names}) {sql} ON CONFLICT ({pk}) DO NOTHING "
                       f"RETURNING {pk}", params)
        return [row[0] for row in cursor.fetchall()]


def _delete_flags(flags: QuerySet) -> list[int]:
    """Delete the flag rows ``flags`` names (one ``DELETE … RETURNING``, on PostgreSQL and SQLite alike); returns the
    ids of the leads they flagged: only the rows this statement deleted, never one someone cleared meanwhile."""
    meta = flags.model._meta
    pk = connection.ops.quote_name(meta.pk.column)
    sql, params = flags.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(meta.db_table)} WHERE {pk} IN ({sql}) "
                       f"RETURNING {pk}", params)
        return [row[0] for row in cursor.fetchall()]


def _on_lead(condition: Q) -> Q:
    """``condition`` (on a lead) as a condition on a flag row's lead: a join through the flag's key, so PostgreSQL
    can plan it as one (``lead__in=<subquery>`` under ``exclude`` becomes a per-row ``NOT IN``: quadratic)."""
    return Q(*(_on_lead(child) if isinstance(child, Q) else (f"lead__{child[0]}", child[1])
               for child in condition.children), _connector=condition.connector, _negated=condition.negated)


def _stores_by_group() -> dict[int, list[int]]:
    stores: dict[int, list[int]] = {}
    for store_id, group_id in Store.objects.order_by("pk").values_list("pk", "group_id"):
        stores.setdefault(group_id, []).append(store_id)
    return stores


# --- stale ----------------------------------------------------------------------------------------------------


def _past_dwell(threshold: datetime) -> Q:
    """The dwell clock (the later of ``grade_since`` and ``dwell_kept_at``) started before ``threshold``."""
    return Q(grade_since__lt=threshold) & (Q(dwell_kept_at__isnull=True) | Q(dwell_kept_at__lt=threshold))


def stale_rules(now: datetime) -> tuple[QuerySet[Lead], dict, Q]:
    """The stale condition as of ``now``, one term per (group, grade) rule: the leads to flag (active, past the max
    dwell; those flagged already are conflicts of the flag's insert), their :class:`StaleFlag` columns (the moment
    each turned stale and the rule that fired, as ``CASE`` expressions over the same rules), and the condition under
    which a flag no longer holds."""
    past, not_past = Q(pk__in=[]), Q(pk__in=[])
    since, fired = [], []
    clock = Greatest(F("grade_since"), Coalesce(F("dwell_kept_at"), F("grade_since")))
    for group_id, store_ids in _stores_by_group().items():
        for grade, (_interval, days) in grade_rule_limits(group_id=group_id).items():
            rule = Q(store_id__in=store_ids, grade=grade)
            threshold = now - timedelta(days=days)
            past |= rule & _past_dwell(threshold)
            not_past |= rule & Q(grade_since__gte=threshold) | rule & Q(dwell_kept_at__gte=threshold)
            since.append(When(rule, then=clock + timedelta(days=days)))
            fired.append(When(rule, then=Value(days)))
    columns = {
        "lead_id": F("pk"), "store_id": F("store_id"),
        "since": Case(*since, output_field=DateTimeField()),
        "max_dwell_days": Case(*fired, output_field=PositiveSmallIntegerField()),
    }
    no_longer = ~Q(status=Status.ACTIVE) | Q(grade__isnull=True) | Q(grade_since__isnull=True) | not_past
    return Lead.objects.filter(past, status=Status.ACTIVE), columns, no_longer


def leads_flag_stale(*, now: datetime | None = None, task_id: str = "", batch_size: int = BATCH_SIZE) -> JobRun:
    """Flag the active graded leads that have held their grade longer than their group's max dwell for it (DOMAIN
    §3: 滞留). The dwell clock runs from the later of ``grade_since`` and ``dwell_kept_at`` (a manager kept the lead);
    a flagged lead gets a :class:`StaleFlag` with ``since`` = clock + max dwell (the moment it turned stale),
    ``max_dwell_days`` = the rule that fired, and a raised event. Flags whose condition no longer holds (the lead is
    won or merged, or its group's rule now allows longer) are cleared first, with a cleared event. The condition is
    one term per (group, grade) rule; each batch is one ``INSERT … SELECT`` whatever the number of rules."""
    now = now or timezone.now()
    with job_run(JOB_STALE, task_id=task_id, tables=_tables(StaleFlag, FlagEvent)) as run:
        stale, columns, no_longer = stale_rules(now)
        _clear_in_batches(run, StaleFlag.objects.filter(_on_lead(no_longer)),
                          _delete_flags, kind=FlagKind.STALE, at=now, reason=REASON_NOT_STALE, batch_size=batch_size)

        def step(lo, hi):
            flagged = _raise_flags(StaleFlag, stale.filter(pk__gte=lo, pk__lt=hi), columns)
            _events(flagged, kind=FlagKind.STALE, action=FlagAction.RAISED, at=now, run=run, reason=REASON_STALE)
            return flagged

        _in_batches(run, step, counter="flagged", batch_size=batch_size)
    return run


# --- overdue --------------------------------------------------------------------------------------------------


def _overdue(now: datetime) -> Q:
    """DOMAIN §3 逾期未跟进, as ``LeadQuerySet.overdue``: an active lead with a phone (an anonymous walk-in has nothing
    due) whose next follow-up fell due before today (local time)."""
    return Q(status=Status.ACTIVE, next_follow_up_at__lt=local_day_start(now)) & ~Q(phone="")


OVERDUE_COLUMNS = {"lead_id": F("pk"), "since": F("next_follow_up_at")}


def overdue_leads(now: datetime) -> QuerySet[Lead]:
    """The overdue leads, to flag with ``OVERDUE_COLUMNS`` (those flagged already are conflicts of the insert)."""
    return Lead.objects.filter(_overdue(now))


def leads_flag_overdue(*, now: datetime | None = None, task_id: str = "", batch_size: int = BATCH_SIZE) -> JobRun:
    """Flag overdue follow-ups: an :class:`OverdueFlag` with ``since`` = the missed due date, and a raised event. A
    flag whose condition no longer holds (followed up with a later due date, won, merged, or the due date moved) is
    cleared first. The follow-up service clears the flag at once; this catches every other way out."""
    now = now or timezone.now()
    with job_run(JOB_OVERDUE, task_id=task_id, tables=_tables(OverdueFlag, FlagEvent)) as run:
        _clear_in_batches(run, OverdueFlag.objects.exclude(_on_lead(_overdue(now))),
                          _delete_flags, kind=FlagKind.OVERDUE, at=now, reason=REASON_NOT_OVERDUE,
                          batch_size=batch_size)

        def step(lo, hi):
            flagged = _raise_flags(OverdueFlag, overdue_leads(now).filter(pk__gte=lo, pk__lt=hi), OVERDUE_COLUMNS)
            _events(flagged, kind=FlagKind.OVERDUE, action=FlagAction.RAISED, at=now, run=run, reason=REASON_OVERDUE)
            return flagged

        _in_batches(run, step, counter="flagged", batch_size=batch_size)
    return run


# --- reclaim --------------------------------------------------------------------------------------------------


def reclaim_threshold(now: datetime, reclaim_after_days: int) -> datetime:
    """A lead whose follow-up fell due before this moment has been overdue (since the start of the day after its due
    date) for at least ``reclaim_after_days`` whole days."""
    return local_day_start(now) - timedelta(days=reclaim_after_days)


def _reclaim_range(candidates: QuerySet[Lead], lo: int, hi: int, *, now: datetime, run: JobRun) -> list[tuple]:
    """Put the candidates with ids in ``[lo, hi)`` in the pool: unassigned, ``pooled_at`` = now, the version bumped,
    each with an assignment-history row and a raised pool event. Returns ``(holder, store)`` per lead moved.

    No row locks are taken before the write (a ``SELECT … FOR UPDATE`` writes every row once more before the
    ``UPDATE`` writes it again): the ``UPDATE`` only touches a lead whose version is still the one the candidates'
    read saw, so a lead someone followed up, reassigned or edited in between (every write bumps the version) is left
    for the next run, and the holder in its history row is exactly the one it had.

    On PostgreSQL the whole batch is ONE statement (the update and both history inserts as data-modifying CTEs): the
    rows never come to Python. Elsewhere (the embedded SQLite, one writer at a time) the same steps through the ORM,
    with the history rows written by ``_insert_rows`` / ``_events``. Writing them that way on PostgreSQL too, from the
    ``UPDATE … RETURNING``'s rows, costs the first run over the bench backlog 2–3 s more (33–35 s against 28–33 s).
    """
    read = candidates.filter(pk__gte=lo, pk__lt=hi).order_by().values("pk", "assigned_to_id", "store_id", "version")
    if connection.vendor != "postgresql":
        rows = {pk: (holder, store, version) for pk, holder, store, version in read.values_list(
            "pk", "assigned_to_id", "store_id", "version")}
        by_version: dict[int, list[int]] = {}
        for pk, (_holder, _store, version) in rows.items():
            by_version.setdefault(version, []).append(pk)
        for version, ids in by_version.items():
            Lead.objects.filter(pk__in=ids, version=version).update(
                assigned_to=None, pooled_at=now, updated_at=now, version=F("version") + 1)
        ids = list(Lead.objects.filter(pk__in=list(rows), pooled_at=now).values_list("pk", flat=True))
        _insert_rows(AssignmentChange,
                     {"to_user_id": None, "changed_at": now, "changed_by_id": None, "reason": REASON_RECLAIMED},
                     {"lead_id": ids, "from_user_id": [rows[pk][0] for pk in ids]})
        _events(ids, kind=FlagKind.POOL, action=FlagAction.RAISED, at=now, run=run, reason=REASON_RECLAIMED)
        return [rows[pk][:2] for pk in ids]
    sql, params = read.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH moved AS (
                UPDATE leads_lead SET assigned_to_id = NULL, pooled_at = %s, updated_at = %s,
                       version = leads_lead.version + 1
                FROM ({sql}) AS read
                WHERE leads_lead.id = read.pk AND leads_lead.version = read.version
                RETURNING leads_lead.id, read.assigned_to_id AS holder, read.store_id
            ), history AS (
                INSERT INTO leads_assignmentchange (lead_id, from_user_id, to_user_id, changed_at, changed_by_id, reason)
                SELECT id, holder, NULL, %s, NULL, %s FROM moved
            ), events AS (
                INSERT INTO leads_flagevent (lead_id, kind, action, at, by_id, job_run_id, reason)
                SELECT id, %s, %s, %s, NULL, %s, %s FROM moved
            )
            SELECT holder, store_id FROM moved""",
            [now, now, *params, now, REASON_RECLAIMED, FlagKind.POOL, FlagAction.RAISED, now, run.pk,
             REASON_RECLAIMED],
        )
        return cursor.fetchall()


def reclaim_candidates(now: datetime) -> QuerySet[Lead]:
    """The leads to reclaim as of ``now``: active, with a phone, held by someone, overdue for their group's
    ``reclaim_after_days`` or more (one term per group)."""
    stores = _stores_by_group()
    overdue_long = Q(pk__in=[])
    for group_id, days in DealerGroup.objects.order_by("pk").values_list("pk", "reclaim_after_days"):
        if group_id in stores:
            overdue_long |= Q(store_id__in=stores[group_id], next_follow_up_at__lt=reclaim_threshold(now, days))
    return Lead.objects.filter(overdue_long, status=Status.ACTIVE, assigned_to__isnull=False).exclude(phone="")


def leads_reclaim(*, now: datetime | None = None, task_id: str = "", batch_size: int = BATCH_SIZE) -> JobRun:
    """Reclaim pool (公海): an active lead with a phone, held by someone, overdue for its group's
    ``reclaim_after_days`` or more, goes back to its store's pool: unassigned, ``pooled_at`` = now, the version bumped
    (an edit made on the old version is refused), an assignment-history row and a raised pool event. The holders who
    lost leads and their stores' managers get a ``reclaimed`` notification with the count. A pool flag left on a lead
    that is assigned again, won or merged is cleared first.

    The notifications are written by each batch, in the batch's transaction (:func:`_notify_reclaimed`): the leads a
    batch moves and the word to the people who lost them commit together or not at all. A worker killed between
    batches (SIGKILL: no exception handler runs) leaves every moved lead notified; the next run moves the rest."""
    now = now or timezone.now()
    count_lock = threading.Lock()
    with job_run(JOB_RECLAIM, task_id=task_id,
                 tables=_tables(Lead, AssignmentChange, FlagEvent, OverdueFlag, Notification)) as run:
        def leave_pool(leads: QuerySet[Lead]) -> list[int]:
            ids = list(leads.select_for_update(skip_locked=True).values_list("pk", flat=True))
            Lead.objects.filter(pk__in=ids).update(pooled_at=None)
            return ids

        _clear_in_batches(run, Lead.objects.filter(LEFT_POOL), leave_pool,
                          kind=FlagKind.POOL, at=now, reason=REASON_LEFT_POOL, batch_size=batch_size)
        candidates = reclaim_candidates(now)

        def step(lo, hi):
            rows = _reclaim_range(candidates, lo, hi, now=now, run=run)
            if rows:
                written = _notify_reclaimed(run, rows)
                if written:
                    with count_lock:
                        job_run_count(run, "notified", written)
            return rows

        _in_batches(run, step, counter="flagged", batch_size=batch_size)
    return run


def _notify_reclaimed(run: JobRun, rows: list[tuple]) -> int:
    """Tell, inside a batch's transaction, who lost the batch's leads (``rows``: ``(holder, store)`` per lead moved):
    one ``reclaimed`` notification per holder and per manager of a store that got leads back (a manager who lost
    leads themself is told their own count), keyed by the run. A later batch of the same run adds its count to
    the same notification (and makes it unread again) rather than writing another. Returns how many notifications
    this batch wrote new.

    On PostgreSQL one ``INSERT … ON CONFLICT DO UPDATE`` in recipient order (two batches side by side lock the rows
    they share in the same order: no deadlock); elsewhere the ORM."""
    lost = Counter(holder for holder, _store in rows)
    by_store = Counter(store for _holder, store in rows)
    counts = dict(lost)
    managers = User.objects.filter(role=Role.MANAGER, is_active=True, store_id__in=list(by_store))
    for pk, store_id in managers.values_list("pk", "store_id"):
        if pk not in lost:
            counts[pk] = counts.get(pk, 0) + by_store[store_id]
    recipients = sorted(counts)
    key, url = f"reclaimed:{run.pk}", _url("leads:pool", "/leads/pool/")
    if connection.vendor == "postgresql":
        table = Notification._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {table} (recipient_id, kind, params, url, dedupe_key, created_at, read_at)
                    SELECT r, %s, jsonb_build_object('count', n), %s, %s, %s, NULL
                    FROM unnest(%s::bigint[], %s::integer[]) AS t(r, n) ORDER BY r
                    ON CONFLICT (recipient_id, dedupe_key) WHERE dedupe_key <> '' DO UPDATE
                    SET params = jsonb_build_object(
                            'count', COALESCE(({table}.params ->> 'count')::integer, 0)
                                     + (EXCLUDED.params ->> 'count')::integer),
                        read_at = NULL
                    RETURNING (xmax = 0)""",
                [Notification.Kind.RECLAIMED, url, key, timezone.now(), recipients, [counts[r] for r in recipients]],
            )
            return sum(1 for (inserted,) in cursor.fetchall() if inserted)
    existing = {n.recipient_id: n for n in Notification.objects.select_for_update().filter(
        recipient_id__in=recipients, dedupe_key=key)}
    for pk, notification in existing.items():
        notification.params = {"count": int((notification.params or {}).get("count", 0)) + counts[pk]}
        notification.read_at = None
        notification.save(update_fields=["params", "read_at"])
    return notify_many([Draft(pk, Notification.Kind.RECLAIMED, {"count": counts[pk]}, url, key)
                        for pk in recipients if pk not in existing])


def _notify_in_chunks(drafts: list[Draft]) -> int:
    written = 0
    for i in range(0, len(drafts), NOTIFY_CHUNK):
        with transaction.atomic():
            written += notify_many(drafts[i:i + NOTIFY_CHUNK])
    return written


# --- digests --------------------------------------------------------------------------------------------------


def notifications_send_digests(*, now: datetime | None = None, task_id: str = "") -> JobRun:
    """The morning notifications. Each active consultant: a ``digest`` of their follow-ups due today, overdue ones,
    their stale leads and the leads reclaimed from them in the last 24 hours (none when all four are 0). Each active
    manager: a ``store_summary`` of the store's overdue and stale leads, its pool and the follow-ups waiting for
    review. Other apps add their counts to both (``dealercrm.notifications.DIGEST_PARTS``: care tasks due, defeat
    applications waiting …), so each person gets one morning notification. Keyed by the local date, so a second run
    the same day notifies nobody twice. The counts come from grouped aggregate queries whatever the number of
    people."""
    now = now or timezone.now()
    start = local_day_start(now)
    day = start.date().isoformat()
    with job_run(JOB_DIGESTS, task_id=task_id, tables=_tables(Notification)) as run:
        active = Lead.objects.filter(status=Status.ACTIVE)
        overdue = Q(next_follow_up_at__lt=start)
        per_holder = {
            row.pop("assigned_to"): row
            for row in active.filter(assigned_to__isnull=False).values("assigned_to").annotate(
                due_today=Count("pk", filter=Q(next_follow_up_at__gte=start,
                                               next_follow_up_at__lt=start + timedelta(days=1))),
                overdue=Count("pk", filter=overdue),
                stale=Count("pk", filter=Q(stale_flag__isnull=False)),
            ).order_by()
        }
        reclaimed = dict(
            AssignmentChange.objects.filter(reason=REASON_RECLAIMED, changed_by__isnull=True,
                                            changed_at__gt=now - timedelta(hours=24), changed_at__lte=now)
            .values("from_user").annotate(n=Count("pk")).order_by().values_list("from_user", "n")
        )
        home = _url("home", "/")
        drafts = []
        # The other apps' parts (care due, competitor-pool contacts, late defeat verdicts …): one notification per
        # person, their counts beside these.
        people = [part.people(now) for part in DIGEST_PARTS if part.people]
        consultants = User.objects.filter(role=Role.CONSULTANT, is_active=True, store__isnull=False)
        for pk in consultants.order_by("pk").values_list("pk", flat=True):
            counts = {"due_today": 0, "overdue": 0, "stale": 0, **per_holder.get(pk, {}),
                      "reclaimed": reclaimed.get(pk, 0)}
            for part in people:
                counts.update(part.get(pk, {}))
            if any(counts.values()):
                drafts.append(Draft(pk, Notification.Kind.DIGEST, counts, home, f"digest:{day}"))

        per_store = {
            row.pop("store"): row
            for row in active.values("store").annotate(
                overdue=Count("pk", filter=overdue),
                stale=Count("pk", filter=Q(stale_flag__isnull=False)),
                pool=Count("pk", filter=IN_POOL),
            ).order_by()
        }
        pending = dict(
            FollowUp.objects.filter(review_status=ReviewStatus.PENDING).values("store")
            .annotate(n=Count("pk")).order_by().values_list("store", "n")
        )
        stale_url = _url("leads:stale", _url("leads:list", "/leads/"))
        store_parts = [part.stores(now) for part in DIGEST_PARTS if part.stores]
        managers = User.objects.filter(role=Role.MANAGER, is_active=True, store__isnull=False)
        for pk, store_id, store_name in managers.order_by("pk").values_list("pk", "store_id", "store__name"):
            counts = {"overdue": 0, "stale": 0, "pool": 0, **per_store.get(store_id, {}),
                      "pending_reviews": pending.get(store_id, 0)}
            for part in store_parts:
                counts.update(part.get(store_id, {}))
            for part in people:
                counts.update(part.get(pk, {}))
            drafts.append(Draft(pk, Notification.Kind.STORE_SUMMARY, {"store": store_name, **counts}, stale_url,
                                f"store_summary:{day}"))
        run.notified = _notify_in_chunks(drafts)
    return run


RUNNERS: dict[str, Callable[..., JobRun]] = {
    JOB_OVERDUE: leads_flag_overdue,
    JOB_STALE: leads_flag_stale,
    JOB_RECLAIM: leads_reclaim,
    JOB_DIGESTS: notifications_send_digests,
}
