from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from benchmarks.baseclients import BenchBaseClientsError, bench


class Command(BaseCommand):
    help = ("Time the base clients on the bench data set: the list page and API for one store, the region/industry "
            "concentration for the whole group, the care job's first run and re-run (rolled back): p50/p95 and the "
            "issue's goals. Run `make bench-baseclients-seed` first.")

    def add_arguments(self, parser):
        parser.add_argument("--iterations", type=int, default=20, help="Requests per page case (default 20).")
        parser.add_argument("--job-iterations", type=int, default=3, help="Care job runs (default 3).")

    def handle(self, *args, iterations=20, job_iterations=3, **options):
        storages = {**settings.STORAGES,
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
        try:
            with override_settings(ALLOWED_HOSTS=["localhost"], SECURE_SSL_REDIRECT=False, STORAGES=storages):
                bench(iterations=iterations, job_iterations=job_iterations, out=self.stdout.write)
        except BenchBaseClientsError as exc:
            raise CommandError(str(exc)) from exc
