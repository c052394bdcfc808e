from django.core.management.base import BaseCommand, CommandError

from benchmarks.seed import (
    BENCH_GROUP,
    BENCH_PASSWORD,
    CHUNK,
    FOLLOW_UPS,
    LARGE,
    LARGE_SHAPE,
    SHAPE,
    BenchSeedError,
    bench_seed,
)


class Command(BaseCommand):
    help = (
        f"Load the benchmark data set: {BENCH_GROUP!r} with --leads leads over --months months and their visits, "
        "follow-ups, grade and assignment history and deals, with PostgreSQL COPY. Meant for its own database "
        "(make bench-seed); see benchmarks/README.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=1_000_000, help="Number of leads (default 1,000,000).")
        parser.add_argument("--months", type=int, default=None,
                            help=f"Months of history up to now (default {SHAPE[1]}, {LARGE_SHAPE[1]} from "
                                 f"{LARGE:,} leads on).")
        parser.add_argument("--stores", type=int, default=None,
                            help=f"Stores in the bench group (default {SHAPE[0]}, {LARGE_SHAPE[0]} from {LARGE:,} "
                                 "leads on).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument("--follow-ups", type=float, default=FOLLOW_UPS,
                            help=f"Mean follow-ups of a worked lead older than four months (default {FOLLOW_UPS}).")
        parser.add_argument("--reset", action="store_true", help="Delete an existing bench group and seed it again.")
        parser.add_argument("--force", action="store_true", help="Run even though the database holds the demo group.")
        parser.add_argument("--chunk", type=int, default=CHUNK, help=f"Leads per COPY round (default {CHUNK:,}).")
        parser.add_argument("--row-fk-checks", action="store_true",
                            help="Let PostgreSQL check foreign keys row by row instead of set-based after the load.")
        parser.add_argument("--keep-indexes", action="store_true",
                            help="Load into the indexes as they are instead of building the secondary ones after "
                                 "the load (which it does only into a database holding nothing but bench data).")
        parser.add_argument("--defer-rollups", action="store_true",
                            help="Leave the funnel's rollups uncounted: `manage.py seed_bench_rollups` counts them "
                                 "once the base clients and defeats are in (make bench-seed-all does).")

    def handle(self, *args, **options):
        try:
            result = bench_seed(
                leads=options["leads"], months=options["months"], stores=options["stores"], seed=options["seed"],
                follow_ups=options["follow_ups"], force=options["force"], reset=options["reset"],
                chunk=options["chunk"], row_fk_checks=options["row_fk_checks"],
                keep_indexes=options["keep_indexes"], count_rollups=not options["defer_rollups"],
                log=self.stdout.write,
            )
        except BenchSeedError as exc:
            raise CommandError(str(exc)) from exc
        r = result
        self.stdout.write("Rows per table (time in COPY, overlapping generation):")
        for table, count in r.rows.items():
            self.stdout.write(f"  {table:<17} {count:>11,}  {r.copy_seconds[table]:6.1f} s")
        self.stdout.write("Phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in r.phases.items()))
        share = (lambda part, whole: f"{part / whole:.1%}" if whole else "-")
        self.stdout.write(
            f"N={r.leads:,} leads ({share(r.anonymous, r.leads)} anonymous), valid={r.valid:,} "
            f"(K={share(r.valid, r.leads)}), followed={r.followed:,} (F={share(r.followed, r.valid)}), "
            f"deals={r.deals:,} ({share(r.deals, r.valid)} of valid, C={share(r.deals, r.followed)}), "
            f"re-visited={r.revisited:,} ({share(r.rows['visit'] - r.leads, r.leads)} re-visits per lead)"
        )
        self.stdout.write(self.style.SUCCESS(
            f"{BENCH_GROUP!r}: {r.stores} stores, {r.staff} staff (password {BENCH_PASSWORD}), "
            f"{r.leads:,} leads over {r.months} months in {r.seconds:.1f} s"
            f"{' (TRUNCATE + COPY FREEZE)' if r.fast_path else ''}, foreign keys checked {r.fk_checks}."
        ))
