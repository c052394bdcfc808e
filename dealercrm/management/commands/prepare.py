from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Bring a deployment up to date: migrate and collect static files (make run and the docker web service)."

    def add_arguments(self, parser):
        parser.add_argument("--seed-demo", action="store_true", help="Seed the demo dealer group if the database is empty.")

    def handle(self, *args, seed_demo=False, **options):
        call_command("migrate", interactive=False, verbosity=1)
        call_command("collectstatic", interactive=False, verbosity=0)
        if seed_demo:
            call_command("seed_demo", if_empty=True)
