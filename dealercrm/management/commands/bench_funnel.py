from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import override_settings

from benchmarks.funnel import BENCH_GROUP, bench
from dealercrm.models import DealerGroup


class Command(BaseCommand):
    help = "Time the funnel API against hand-written SQL on the seed_bench data set; prints p50/p95 and ratios."

    def add_arguments(self, parser):
        parser.add_argument("--iterations", type=int, default=100, help="Calls per store-month case (others: 1/5).")

    def handle(self, *args, iterations=100, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_funnel runs on PostgreSQL (the seed_bench database).")
        if not DealerGroup.objects.filter(name=BENCH_GROUP).exists():
            raise CommandError(f"No {BENCH_GROUP!r} here: run `make bench-seed` first (see benchmarks/README.md).")
        # In-process requests to 'localhost' over plain HTTP, whatever the deployment's host and TLS settings.
        with override_settings(ALLOWED_HOSTS=["localhost"], SECURE_SSL_REDIRECT=False):
            bench(iterations=iterations, out=self.stdout.write)
