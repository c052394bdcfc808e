from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.test.utils import override_settings

# Django's manifest storage without WhiteNoise's compression: it writes the same staticfiles.json the production
# storage reads, in a second or two instead of minutes (WhiteNoise serves the files uncompressed then).
MANIFEST_STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"


class Command(BaseCommand):
    help = "Bring a deployment up to date: migrate and collect static files (make run and the docker web service)."

    def add_arguments(self, parser):
        parser.add_argument("--seed-demo", action="store_true", help="Seed the demo dealer group if the database is empty.")

    def handle(self, *args, seed_demo=False, verbosity=1, **options):
        call_command("migrate", interactive=False, verbosity=verbosity)
        if settings.DEBUG:
            # DEBUG serves static files from the app folders, but a tree started with DEBUG off later needs the
            # manifest, or every page's {% static %} (the error pages' too) fails with a 500. Refreshed each time:
            # a static file added since the last run would be missing from an old manifest in the same way.
            storages = {**settings.STORAGES, "staticfiles": {"BACKEND": MANIFEST_STORAGE}}
            with override_settings(STORAGES=storages):
                call_command("collectstatic", interactive=False, verbosity=0)
        else:
            call_command("collectstatic", interactive=False, verbosity=0)
        if seed_demo:
            call_command("seed_demo", if_empty=True, verbosity=verbosity)
