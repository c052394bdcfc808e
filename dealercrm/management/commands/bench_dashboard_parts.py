from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from benchmarks.dashboard_parts import BENCH_GROUP, bench
from dealercrm.models import DealerGroup


class Command(BaseCommand):
    help = "Time each counted part of the funnel dashboard on the seed_bench data set (no figures cache)."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=3, help="Calls per part and case (first and median printed).")
        parser.add_argument("--no-live", action="store_true",
                            help="Leave out the live definitions (the reference counts; minutes at ten million leads).")

    def handle(self, *args, runs=3, no_live=False, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_dashboard_parts runs on PostgreSQL (the seed_bench database).")
        if not DealerGroup.objects.filter(name=BENCH_GROUP).exists():
            raise CommandError(f"No {BENCH_GROUP!r} here: run `make bench-seed` first (see benchmarks/README.md).")
        bench(runs=runs, live=not no_live, out=self.stdout.write)
