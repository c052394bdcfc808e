from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from benchmarks.defeats import BenchDefeatsError, bench_defeats_reset, bench_defeats_seed


class Command(BaseCommand):
    help = ("Add defeats (applications, verdicts, the competitor pool) to the seed_bench data set without reloading "
            "its leads; idempotent (stores with applications are skipped). See benchmarks/README.md.")

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Remove the bench group's defeats first.")
        parser.add_argument("--update-leads", action="store_true",
                            help="Also set the leads' status (defeated / defeat_pending). Off by default: others "
                                 "measure pages on the bench database.")
        parser.add_argument("--defer-rollups", action="store_true",
                            help="Leave the funnel's rollups to `manage.py seed_bench_rollups` (after seed_bench "
                                 "--defer-rollups; make bench-seed-all): the leads' status changes skip their "
                                 "triggers and nothing is drained here.")

    def handle(self, *args, reset=False, update_leads=False, defer_rollups=False, **options):
        if connection.vendor != "postgresql":
            raise CommandError("seed_bench_defeats runs on PostgreSQL (the seed_bench database).")
        try:
            if reset:
                bench_defeats_reset(log=self.stdout.write)
            bench_defeats_seed(update_leads=update_leads, recount=not defer_rollups, log=self.stdout.write)
        except BenchDefeatsError as exc:
            raise CommandError(str(exc)) from exc
