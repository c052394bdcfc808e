from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from benchmarks.seed import BenchSeedError, bench_rollups


class Command(BaseCommand):
    help = ("Recount in bulk what the funnel keeps of the bench data set (its rollups, time in stage, the state now) "
            "from its leads, base clients and defeats: the last step of make bench-seed-all, after "
            "seed_bench --defer-rollups. See benchmarks/README.md.")

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("seed_bench_rollups runs on PostgreSQL (the seed_bench database).")
        try:
            counting, vacuum = bench_rollups(log=self.stdout.write)
        except BenchSeedError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Rollups counted in {counting:.1f} s, tables vacuumed in {vacuum:.1f} s"))
