from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from benchmarks.dashboard_parts import BENCH_GROUP, bench
from dealercrm.models import DealerGroup


class Command(BaseCommand):
    help = "Time each counted part of the funnel dashboard on the seed_bench data set (no figures cache)."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=3, help="Calls per part and case (first and median printed).")

    def handle(self, *args, runs=3, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_dashboard_parts runs on PostgreSQL (the seed_bench database).")
        if not DealerGroup.objects.filter(name=BENCH_GROUP).exists():
            raise CommandError(f"No {BENCH_GROUP!r} here: run `make bench-seed` first (see benchmarks/README.md).")
        bench(runs=runs, out=self.stdout.write)
