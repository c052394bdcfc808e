"""Recount the funnel's rollups from the leads (funnel.rollups.rebuild): after a bulk load that bypassed the triggers
(``seed_bench`` loads with them off), or to start over. Safe while people work: the dashboards count the store-days
being rebuilt live until the fresh rows are committed. On PostgreSQL the recount is set-based (one statement per
kind for the whole scope); on SQLite the drain recounts the marked days."""

import time

from django.core.management.base import BaseCommand

from funnel import rollups


class Command(BaseCommand):
    help = "Recount the funnel's rollup rows (cohort and re-visits per day) from the leads, and check the triggers."

    def add_arguments(self, parser):
        parser.add_argument("--store", type=int, action="append", dest="stores", metavar="ID",
                            help="Only this store (repeatable).")

    def handle(self, *args, stores=None, **options):
        started = time.monotonic()
        if not rollups.triggers_installed():
            rollups.triggers_install()
            self.stdout.write("installed the rollups' triggers")
        days = rollups.rebuild(store_ids=stores)
        self.stdout.write(f"recounted {days} store-days in {time.monotonic() - started:.1f} s")
