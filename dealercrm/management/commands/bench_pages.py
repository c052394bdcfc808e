from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import override_settings

from benchmarks.pages import BENCH_GROUP, bench
from dealercrm.models import DealerGroup


class Command(BaseCommand):
    help = ("Time the pages managers, group admins and consultants open on the seed_bench data set: p50/p95 per page "
            "and role, the page's queries and their SQL replayed raw (the floor), and the goal each must meet.")

    def add_arguments(self, parser):
        parser.add_argument("--iterations", type=int, default=20, help="Requests per page (default 20).")
        parser.add_argument("--only", help="Only the pages whose title contains this text.")

    def handle(self, *args, iterations=20, only=None, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_pages runs on PostgreSQL (the seed_bench database).")
        if not DealerGroup.objects.filter(name=BENCH_GROUP).exists():
            raise CommandError(f"No {BENCH_GROUP!r} here: run `make bench-seed` first (see benchmarks/README.md).")
        # Static URLs without a collectstatic manifest: the bench times the pages, not the static files.
        storages = {**settings.STORAGES,
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
        with override_settings(ALLOWED_HOSTS=["localhost"], SECURE_SSL_REDIRECT=False, STORAGES=storages):
            bench(iterations=iterations, out=self.stdout.write, only=only)
