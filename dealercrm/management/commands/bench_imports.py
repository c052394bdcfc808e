from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from benchmarks.imports import bench


class Command(BaseCommand):
    help = ("Time a generated lead import (default 50,000 rows) and a generated sales import (base clients, default "
            "5,000 rows) into a store of the seed_bench group: dry run and commit, rows/s, with the machine's load. "
            "Runs on a copy of the database (dropped at the end) or, with --rollback, in one transaction rolled back: "
            "the bench data is left as it was (benchmarks/README.md).")

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=50_000, help="Rows of the lead workbook (0: skip it).")
        parser.add_argument("--sales", type=int, default=5_000, help="Rows of the sales workbook (0: skip it).")
        parser.add_argument("--store", help="The bench store to import into (default: the first with a manager).")
        parser.add_argument("--seed", type=int, default=1, help="Another seed generates other customers.")
        parser.add_argument("--rollback", action="store_true",
                            help="Run in the bench database inside one transaction rolled back (one worker), "
                                 "instead of on a copy of it.")
        parser.add_argument("--workers", type=int, default=None,
                            help="Commit batches side by side (default: settings.JOBS_WORKERS; 1 with --rollback).")
        parser.add_argument("--profile", metavar="PATH",
                            help="Write a cProfile of each commit to PATH.<kind>.prof (use --workers 1: the "
                                 "profile sees this thread only).")

    def handle(self, *args, leads, sales, store=None, seed=1, rollback=False, workers=None, profile=None,
               **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_imports runs on PostgreSQL (the seed_bench database).")
        try:
            bench(out=self.stdout.write, leads=leads, sales=sales, store=store, seed=seed, rollback=rollback,
                  workers=workers, profile=profile)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
