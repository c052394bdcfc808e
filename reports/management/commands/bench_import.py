"""Time a large lead import (dry run, then commit) on the database DATABASE_URL names: a generated workbook of old
customers, imported into a store by its manager, in-process as the embedded default runs it. It writes leads: run it
on a scratch database (docs/reports.md, "Measured"), never on the bench or a real one."""

import io
import random
import resource
import time
from datetime import date, timedelta

import xlsxwriter
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dealercrm.models import Role, Store, User
from reports.models import ImportBatch, ImportKind
from reports.services.imports import import_commit, import_create, import_parse, import_start_commit

PREFIXES = ["139", "186", "158", "177", "135", "188", "150", "199"]  # mobile prefixes: one per seed
HEADERS = ["姓名", "电话", "到店日期", "来源", "级别", "销售顾问", "区域", "行业"]


def workbook(rows: int, seed: int, consultants: list[str]) -> bytes:
    """``rows`` customers with phones unique to ``seed`` (a new run imports new customers); every 20th row a
    re-visit of an earlier phone, every 50th an invalid phone."""
    rnd = random.Random(seed)
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"constant_memory": True})
    sheet = book.add_worksheet("客户")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, HEADERS)
    phones = []
    for n in range(1, rows + 1):
        if n % 50 == 0:
            phone = "12345"
        elif n % 20 == 0 and phones:
            phone = rnd.choice(phones)
        else:
            phone = f"{PREFIXES[seed % len(PREFIXES)]}{n:08d}"
            phones.append(phone)
        visited = date(2023, 1, 1) + timedelta(days=rnd.randrange(900))
        sheet.write_row(n, 0, [f"客户{seed}-{n}", phone])
        sheet.write_datetime(n, 2, visited, day)
        sheet.write_row(n, 3, [rnd.choice(["自来", "推荐", "开发"]), rnd.choice("ABCDE"),
                               rnd.choice(consultants + [""]), rnd.choice(["闵行", "徐汇", "浦东", ""]),
                               rnd.choice(["IT", "制造", "金融", ""])])
    book.close()
    return out.getvalue()


class Command(BaseCommand):
    help = "Time the import of a generated workbook (dry run and commit) into a store. Writes leads: scratch DB only."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=50_000)
        parser.add_argument("--store", help="Store name (default: the first store with a manager).")
        parser.add_argument("--seed", type=int, default=1, help="Another seed imports other customers.")
        parser.add_argument("--again", action="store_true", help="Also import the same file a second time.")
        parser.add_argument("--fresh-store", action="store_true",
                            help="Import into a new empty store of the first group (a manager and five consultants), "
                                 "so every run starts from the same state.")

    def handle(self, *args, rows, store=None, seed=1, again=False, fresh_store=False, **options):
        if fresh_store:
            store = self.fresh_store(seed).name
        stores = Store.objects.filter(name=store) if store else Store.objects.order_by("pk")
        manager = User.objects.filter(role=Role.MANAGER, is_active=True, store__in=stores).select_related(
            "store").order_by("pk").first()
        if manager is None:
            raise CommandError("No store with an active manager here.")
        names = list(User.objects.filter(store=manager.store, role=Role.CONSULTANT, is_active=True)
                     .values_list("display_name", flat=True))
        started = time.perf_counter()
        content = workbook(rows, seed, [n for n in names if n])
        self.stdout.write(f"workbook: {rows} rows, {len(content) / 2**20:.1f} MB, "
                          f"made in {time.perf_counter() - started:.1f} s; store {manager.store.name}")
        for attempt in ("first", "again")[: 2 if again else 1]:
            batch = import_create(actor=manager, store=manager.store, kind=ImportKind.LEADS,
                                  file_name=f"bench-{seed}.xlsx", content=content)
            cpu, wall = time.process_time(), time.perf_counter()
            batch = import_parse(batch.pk)
            parse = time.perf_counter() - wall, time.process_time() - cpu
            if batch.status != ImportBatch.Status.DRY_RUN_READY:
                raise CommandError(f"dry run: {batch.status} {batch.error}")
            import_start_commit(actor=manager, batch=batch)
            cpu, wall = time.process_time(), time.perf_counter()
            batch = import_commit(batch.pk)
            commit = time.perf_counter() - wall, time.process_time() - cpu
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            self.stdout.write(
                f"{attempt}: dry run {parse[0]:.1f} s (CPU {parse[1]:.1f} s), commit {commit[0]:.1f} s "
                f"(CPU of this process {commit[1]:.1f} s), total {parse[0] + commit[0]:.1f} s; status {batch.status}; "
                f"rows {batch.rows} new {batch.new} revisits {batch.revisits} updated {batch.updated} "
                f"unchanged {batch.unchanged} refused {batch.refused} imported {batch.done_rows}; "
                f"peak RSS {rss:.0f} MB")

    @staticmethod
    @transaction.atomic
    def fresh_store(seed: int) -> Store:
        first = Store.objects.order_by("pk").first()
        if first is None:
            raise CommandError("No store here: seed the demo first.")
        n = Store.objects.filter(name__startswith="导入测试").count() + 1
        store = Store.objects.create(group=first.group, name=f"导入测试{n}-{seed}")
        User.objects.create_user(username=f"imp{store.pk}_manager", password=None, role=Role.MANAGER, store=store,
                                 dealer_group=store.group)
        for i in range(5):
            User.objects.create_user(username=f"imp{store.pk}_c{i}", password=None, role=Role.CONSULTANT, store=store,
                                     dealer_group=store.group, display_name=f"顾问{store.pk}-{i}")
        return store
