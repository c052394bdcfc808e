"""bench_imports: time the Excel imports (``reports.services.imports``) on the seed_bench data set: a generated lead
workbook (default 50,000 rows) and a generated sales workbook (base clients, default 5,000 rows), each imported into a
store of the bench group by its manager, in-process as the embedded default runs it: the dry run (``import_parse``),
then the commit (``import_commit``).

The imports write leads, deals and base clients, so the bench database is left as it was: by default they run on a
copy of it (``CREATE DATABASE … TEMPLATE``, dropped at the end; the commit commits batch by batch on
``JOBS_WORKERS`` connections, as in production); with ``rollback`` they run in the bench database itself inside one
transaction that is rolled back (one worker then: other connections could not see its rows). The machine's load is
printed before and after each run: the figures mean little without it."""

from __future__ import annotations

import cProfile
import io
import os
import random
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import xlsxwriter
from django.conf import settings
from django.db import transaction

from dealercrm.models import DealerGroup, Role, Store, User
from leads.models import Lead
from leads.vehicles import vin_with_check_digit

LEAD_HEADERS = ["姓名", "电话", "到店日期", "来源", "级别", "销售顾问", "区域", "行业"]
SALE_HEADERS = ["客户姓名", "手机", "车架号", "车牌号", "成交价", "订车日期", "交车日期", "销售顾问", "区域", "行业"]
DISTRICTS = ["闵行", "徐汇", "浦东", "嘉定", ""]
INDUSTRIES = ["IT", "制造", "金融", "物流", ""]


@dataclass
class Run:
    kind: str
    rows: int
    parse_seconds: float
    commit_seconds: float
    commit_cpu: float
    commit_db_cpu: float | None  # the database backend's CPU time for the commit (one worker only), else None
    load_before: tuple
    load_after: tuple
    counts: dict


def _phone(seed: int, kind: int, n: int) -> str:
    """A mobile number no seed_bench lead has (the 19x prefixes are not among its generator's)."""
    return f"+86{196 + kind}{seed % 10}{n:07d}"


def _known(store: Store, n: int, rnd: random.Random, *, clients: bool = False) -> list[str]:
    """Up to ``n`` phones already in the data: leads of the store that hold their phone, or base clients of its
    group (``clients``)."""
    if n <= 0:
        return []
    if clients:
        from baseclients.models import BaseClient

        phones = list(BaseClient.objects.filter(group_id=store.group_id).exclude(phone="")
                      .order_by("-pk").values_list("phone", flat=True)[: n * 4])
    else:
        phones = list(Lead.objects.phone_holders().filter(store=store, status="active").exclude(phone="")
                      .order_by("-pk").values_list("phone", flat=True)[: n * 4])
    rnd.shuffle(phones)
    return phones[:n]


def lead_workbook(rows: int, seed: int, consultants: list[str], known: list[str]) -> bytes:
    """``rows`` customers: mostly new phones; every 10th row a customer the store already has (a re-visit, when
    ``known`` lists their phones), every 20th a second visit of an earlier row's phone, every 50th an invalid
    phone."""
    rnd = random.Random(seed)
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"constant_memory": True})
    sheet = book.add_worksheet("客户")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, LEAD_HEADERS)
    phones: list[str] = []
    for n in range(1, rows + 1):
        days = 900
        if n % 50 == 0:
            phone = "12345"
        elif n % 20 == 0 and phones:
            phone = rnd.choice(phones)
        elif n % 10 == 0 and known:
            phone, days = known[(n // 10) % len(known)], 2  # a re-visit after the lead's first visit
        else:
            phone = _phone(seed, 0, n)
            phones.append(phone)
        visited = date.today() - timedelta(days=1 + rnd.randrange(days))
        sheet.write_row(n, 0, [f"客户{seed}-{n}", phone])
        sheet.write_datetime(n, 2, visited, day)
        sheet.write_row(n, 3, [rnd.choice(["自来", "推荐", "开发"]), rnd.choice("ABCDE"),
                               rnd.choice(consultants + [""]), rnd.choice(DISTRICTS), rnd.choice(INDUSTRIES)])
    book.close()
    return out.getvalue()


def sale_workbook(rows: int, seed: int, consultants: list[str], clients: list[str], leads: list[str]) -> bytes:
    """``rows`` sales: mostly new buyers with a VIN and plate; every 10th a base client of the group buying again
    (``clients``), every 12th a customer the store has as an active lead (``leads``: the visit and the deal go on
    that lead), every 15th a second car for an earlier row's buyer, every 30th without a VIN, every 40th a VIN with a
    wrong check digit (refused)."""
    rnd = random.Random(seed)
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"constant_memory": True})
    sheet = book.add_worksheet("成交")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, SALE_HEADERS)
    phones: list[str] = []
    for n in range(1, rows + 1):
        days = 700
        if n % 15 == 0 and phones:
            phone = rnd.choice(phones)
        elif n % 10 == 0 and clients:
            phone = clients[(n // 10) % len(clients)]
        elif n % 12 == 0 and leads:
            phone, days = leads[(n // 12) % len(leads)], 1  # ordered after the lead's first visit
        else:
            phone = _phone(seed, 1, n)
            phones.append(phone)
        vin = "" if n % 30 == 0 else vin_with_check_digit(f"LRW{seed % 100000:05d}0{n:08d}")
        if n % 40 == 0 and vin:
            vin = vin[:8] + ("0" if vin[8] != "0" else "1") + vin[9:]
        delivered = date.today() - timedelta(days=1 + rnd.randrange(days))
        ordered = delivered - timedelta(days=rnd.randrange(min(days, 30)))
        sheet.write_row(n, 0, [f"车主{seed}-{n}", phone, vin, f"沪A{n % 100000:05d}",
                               rnd.randrange(80_000, 400_000)])
        sheet.write_datetime(n, 5, ordered, day)
        sheet.write_datetime(n, 6, delivered, day)
        sheet.write_row(n, 7, [rnd.choice(consultants + [""]), rnd.choice(DISTRICTS), rnd.choice(INDUSTRIES)])
    book.close()
    return out.getvalue()


@contextmanager
def _rolled_back() -> Iterator[None]:
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def _import(manager: User, store: Store, kind: str, content: bytes, rows: int,
            profile: str | None) -> Run:
    from benchmarks.state import machine
    from reports.models import ImportBatch
    from reports.services.imports import import_commit, import_create, import_parse, import_start_commit

    batch = import_create(actor=manager, store=store, kind=kind, file_name=f"bench-{kind}.xlsx", content=content)
    load_before = machine()["load"]
    started = time.perf_counter()
    batch = import_parse(batch.pk)
    parse = time.perf_counter() - started
    if batch.status != ImportBatch.Status.DRY_RUN_READY:
        raise RuntimeError(f"dry run: {batch.status} {batch.error}")
    import_start_commit(actor=manager, batch=batch)
    profiler = cProfile.Profile() if profile else None
    db_cpu = _backend_cpu() if settings.JOBS_WORKERS == 1 else None
    cpu, started = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    batch = import_commit(batch.pk)
    if profiler:
        profiler.disable()
        profiler.dump_stats(f"{profile}.{kind}.prof")
    commit, cpu = time.perf_counter() - started, time.process_time() - cpu
    if db_cpu is not None:
        after = _backend_cpu()
        db_cpu = None if after is None else after - db_cpu
    if batch.status != ImportBatch.Status.DONE:
        raise RuntimeError(f"commit: {batch.status} {batch.error}")
    counts = {name: getattr(batch, name) for name in ("new", "revisits", "updated", "unchanged", "refused",
                                                      "done_rows")}
    return Run(kind, rows, parse, commit, cpu, db_cpu, load_before, machine()["load"], counts)


def _backend_cpu() -> float | None:
    """The CPU seconds (user + system) the database backend of this connection has used, read from /proc: with one
    worker the commit's SQL runs there, so this process's CPU plus it is the commit's cost on an idle machine,
    whatever else loads this one. None when PostgreSQL runs on another host (or /proc is not there)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def bench(*, out: Callable[[str], None], leads: int = 50_000, sales: int = 5_000, store: str | None = None,
          seed: int = 1, rollback: bool = False, workers: int | None = None, profile: str | None = None) -> list[Run]:
    """The lead import, then the sales import, into one store of the bench group (the first with an active
    manager, or ``store`` by name), on a copy of the database or rolled back (module docstring); rolled back when the disk has no room for the copy."""
    from benchmarks.funnel import BENCH_GROUP
    from benchmarks.jobs import _on_a_copy, no_room_for_a_copy
    from benchmarks.state import machine
    from reports.models import ImportKind

    group = DealerGroup.objects.filter(name=BENCH_GROUP).first()
    if group is None:
        raise RuntimeError(f"No {BENCH_GROUP!r} here: seed the bench first (benchmarks/README.md).")
    stores = Store.objects.filter(group=group, **({"name": store} if store else {}))
    manager = (User.objects.filter(role=Role.MANAGER, is_active=True, store__in=stores).select_related("store")
               .order_by("store_id", "pk").first())
    if manager is None:
        raise RuntimeError("No store of the bench group with an active manager.")
    store_obj = manager.store
    if not rollback and (reason := no_room_for_a_copy()):
        out(f"{reason} Running rolled back instead (--rollback).")
        rollback = True
    workers = 1 if rollback else (workers or settings.JOBS_WORKERS)
    rnd = random.Random(seed)
    names = [n for n in User.objects.filter(store=store_obj, role=Role.CONSULTANT, is_active=True)
             .values_list("display_name", flat=True) if n]
    started = time.perf_counter()
    lead_file = lead_workbook(leads, seed, names, _known(store_obj, leads // 10, rnd)) if leads else b""
    sale_file = sale_workbook(sales, seed, names, _known(store_obj, sales // 10, rnd, clients=True),
                              _known(store_obj, sales // 12, rnd)) if sales else b""
    info = machine()
    out(f"{info['host']}: {info['cores']} cores, load {_load(info['load'])}; PostgreSQL {info['postgresql']}; "
        f"Python {info['python']}")
    out(f"store {store_obj.name}: {Lead.objects.filter(store=store_obj).count():,} leads "
        f"({Lead.objects.count():,} in the database); workbooks made in {time.perf_counter() - started:.1f} s "
        f"({len(lead_file) / 2**20:.1f} MB leads, {len(sale_file) / 2**20:.1f} MB sales); {workers} worker(s)")
    previous = settings.JOBS_WORKERS
    settings.JOBS_WORKERS = workers
    runs: list[Run] = []
    try:
        if rollback:
            context = _rolled_back()
            out("Running in one transaction, rolled back at the end.")
        else:
            context = _on_a_copy()
        with context as copied:
            if copied is not None:
                out(f"Running on a copy of the database (CREATE DATABASE … TEMPLATE: {copied:.1f} s), dropped at "
                    "the end.")
            manager = User.objects.select_related("store").get(pk=manager.pk)  # on the copy's connection
            for kind, content, rows in ((ImportKind.LEADS, lead_file, leads), (ImportKind.BASE_CLIENTS, sale_file,
                                                                              sales)):
                if not rows:
                    continue
                run = _import(manager, manager.store, kind, content, rows, profile)
                runs.append(run)
                db = "" if run.commit_db_cpu is None else f", of the database backend {run.commit_db_cpu:.1f} s"
                out(f"  {kind:12} {rows:>7,} rows: dry run {run.parse_seconds:6.1f} s, commit "
                    f"{run.commit_seconds:6.1f} s (CPU of this process {run.commit_cpu:.1f} s{db}), "
                    f"{rows / run.commit_seconds:,.0f} rows/s committed; load {_load(run.load_before)} → "
                    f"{_load(run.load_after)}; " + ", ".join(f"{k} {v:,}" for k, v in run.counts.items()))
    finally:
        settings.JOBS_WORKERS = previous
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out("")
    out("| import | rows | dry run | commit | rows/s (commit) | CPU (commit) | DB CPU (commit) | load before → after |")
    out("|---|---:|---:|---:|---:|---:|---:|---|")
    for run in runs:
        db = "–" if run.commit_db_cpu is None else f"{run.commit_db_cpu:.1f} s"
        out(f"| {run.kind} | {run.rows:,} | {run.parse_seconds:.1f} s | {run.commit_seconds:.1f} s | "
            f"{run.rows / run.commit_seconds:,.0f} | {run.commit_cpu:.1f} s | {db} | {_load(run.load_before)} → "
            f"{_load(run.load_after)} |")
    out(f"peak memory (RSS) {rss:.0f} MB")
    return runs


def _load(load: tuple) -> str:
    return " ".join(f"{x:.2f}" for x in load)
