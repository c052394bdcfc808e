"""Make base clients for every won lead that has none yet (deals recorded before the app, or bulk-loaded by a seed)."""

from django.core.management.base import BaseCommand

from baseclients.services.backfill import backfill


class Command(BaseCommand):
    help = ("Make base clients (cards, purchases, vehicles, tiers, care plan) for every deal that has none. "
            "Idempotent: a second run takes in nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--no-care", action="store_true", help="Do not plan care tasks now (the job will).")

    def handle(self, *args, no_care=False, **options):
        n = backfill(plan_care=not no_care)
        self.stdout.write(f"base clients: {n} deals taken in")
