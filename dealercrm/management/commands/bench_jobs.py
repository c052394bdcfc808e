from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from benchmarks.funnel import BENCH_GROUP
from benchmarks.jobs import bench
from benchmarks.jobs import floor as floor_
from dealercrm.models import DealerGroup
from leads.services.jobs import BATCH_SIZE, JOBS


class Command(BaseCommand):
    help = ("Time each daily job (first run and no-op re-run) on the seed_bench data set, inside one transaction "
            "rolled back at the end (the data is left as it was), then vacuum the touched tables.")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument("--only", action="append", choices=JOBS, metavar="JOB", help="Repeatable.")
        parser.add_argument("--no-vacuum", action="store_true", help="Skip the VACUUM after the rollback.")
        parser.add_argument("--floor", action="store_true",
                            help="Also time the overdue and stale flags as plain set-based UPDATEs (rolled back).")

    def handle(self, *args, batch_size=BATCH_SIZE, only=None, no_vacuum=False, floor=False, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_jobs runs on PostgreSQL (the seed_bench database).")
        if not DealerGroup.objects.filter(name=BENCH_GROUP).exists():
            raise CommandError(f"No {BENCH_GROUP!r} here: run `make bench-seed` first (see benchmarks/README.md).")
        if floor:
            floor_(out=self.stdout.write)
        bench(out=self.stdout.write, batch_size=batch_size, only=only, vacuum=not no_vacuum)
