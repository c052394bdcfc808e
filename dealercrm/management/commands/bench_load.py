from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from benchmarks.load import run
from benchmarks.pages import BENCH_GROUP
from dealercrm.models import DealerGroup


class Command(BaseCommand):
    help = ("A bounded mixed load (consultants logging follow-ups, managers reading dashboards and lists) against a "
            "server running on this machine with the bench database; prints p50/p95 per request type. "
            "`make bench-load` starts gunicorn for it.")

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8010", help="The server (loopback only).")
        parser.add_argument("--duration", type=float, default=360,
                            help="Seconds of load (default 360: several runs of the drains and of the state-now "
                                 "counts' folding fall inside the run).")
        parser.add_argument("--consultants", type=int, default=12)
        parser.add_argument("--managers", type=int, default=8)

    def handle(self, *args, url, duration, consultants, managers, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_load runs against the bench database (PostgreSQL).")
        if not DealerGroup.objects.filter(name=BENCH_GROUP).exists():
            raise CommandError(f"No {BENCH_GROUP!r} here: run `make bench-seed` first.")
        if duration <= 0 or duration > 600:
            raise CommandError("--duration must be between 0 and 600 seconds.")
        run(base=url, duration=duration, consultants=consultants, managers=managers, out=self.stdout.write)
