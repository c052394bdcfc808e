from django.core.management.base import BaseCommand, CommandError

from benchmarks.baseclients import TARGET, BenchBaseClientsError
from benchmarks.baseclients import seed as seed_base_clients


class Command(BaseCommand):
    help = ("Extend the seed_bench data set with its base clients (the won leads' cards, older buyers up to --clients "
            "(default in proportion to the leads), "
            "1-3 vehicles each, tiers with a year of history, two years of care tasks), without reloading the leads. "
            "Idempotent: a second run adds nothing. See benchmarks/README.md.")

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=None,
                            help=f"Base clients in all (default {TARGET:,} per million leads of the bench group).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")

    def handle(self, *args, clients=None, seed=1, **options):
        try:
            seed_base_clients(target=clients, seed=seed, log=self.stdout.write)
        except BenchBaseClientsError as exc:
            raise CommandError(str(exc)) from exc
