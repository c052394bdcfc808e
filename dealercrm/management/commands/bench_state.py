from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from benchmarks.state import report


class Command(BaseCommand):
    help = ("Print what benchmark figures are measured on: the machine and its load, PostgreSQL, the bench data and "
            "its state (nightly jobs run, tables analysed and vacuumed). --strict fails when it is not fit to publish.")

    def add_arguments(self, parser):
        parser.add_argument("--strict", action="store_true",
                            help="Exit non-zero when the machine is busy or the nightly jobs have not run.")

    def handle(self, *args, strict=False, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_state reads PostgreSQL's statistics (the seed_bench database).")
        if not report(self.stdout.write) and strict:
            raise CommandError("Not fit for publishing figures (see the warnings above).")
