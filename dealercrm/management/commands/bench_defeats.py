from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import override_settings

from benchmarks.defeats import BenchDefeatsError, bench, explain


class Command(BaseCommand):
    help = ("Time the defeat metrics API against hand-written SQL on the seed_bench data set (after "
            "seed_bench_defeats); prints p50/p95 and the ratio to the floor.")

    def add_arguments(self, parser):
        parser.add_argument("--iterations", type=int, default=60, help="Calls per store-month case (group: 1/4).")
        parser.add_argument("--explain", action="store_true",
                            help="Print EXPLAIN (ANALYZE, BUFFERS) of the store-month statements instead.")

    def handle(self, *args, iterations=60, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_defeats runs on PostgreSQL (the seed_bench database).")
        try:
            if options.get("explain"):
                explain(out=self.stdout.write)
                return
            # In-process requests to 'localhost' over plain HTTP, whatever the deployment's host and TLS settings.
            with override_settings(ALLOWED_HOSTS=["localhost"], SECURE_SSL_REDIRECT=False):
                bench(iterations=iterations, out=self.stdout.write)
        except BenchDefeatsError as exc:
            raise CommandError(str(exc)) from exc
