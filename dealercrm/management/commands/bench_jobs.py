from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from benchmarks.funnel import BENCH_GROUP
from benchmarks.jobs import bench
from benchmarks.jobs import floor as floor_
from dealercrm.models import DealerGroup
from leads.services.jobs import BATCH_SIZE, JOBS


class Command(BaseCommand):
    help = ("Time each daily job (first run over the backlog, no-op re-run, next day) on the seed_bench data set, for "
            "real on a copy of the database that is dropped at the end (the data is left as it was).")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument("--only", action="append", choices=JOBS, metavar="JOB", help="Repeatable.")
        parser.add_argument("--workers", type=int, default=None,
                            help="Batches side by side (default: settings.JOBS_WORKERS).")
        parser.add_argument("--floor", action="store_true",
                            help="Also time each job's change as one plain statement (on a copy of its own).")

    def handle(self, *args, batch_size=BATCH_SIZE, only=None, workers=None, floor=False, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_jobs runs on PostgreSQL (the seed_bench database).")
        if not DealerGroup.objects.filter(name=BENCH_GROUP).exists():
            raise CommandError(f"No {BENCH_GROUP!r} here: run `make bench-seed` first (see benchmarks/README.md).")
        if floor:
            floor_(out=self.stdout.write)
        bench(out=self.stdout.write, batch_size=batch_size, only=only, workers=workers)
