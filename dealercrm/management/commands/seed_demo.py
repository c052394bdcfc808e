from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dealercrm.demo import demo_organisation_seed
from dealercrm.models import DealerGroup


class Command(BaseCommand):
    help = "Create or refresh the demo dealer group (two stores, managers, consultants, group admin `admin`)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off (never in production).")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the database already holds a dealer group."
        )

    def handle(self, *args, force=False, if_empty=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo resets demo passwords; it refuses to run with DEBUG off (use --force).")
        if if_empty and DealerGroup.objects.exists():
            self.stdout.write("The database already holds data; demo seed skipped.")
            return
        org = demo_organisation_seed()
        self.stdout.write(self.style.SUCCESS(f"Demo group {org.group.name!r} with {len(org.stores)} stores is ready."))
        self.stdout.write(f"Logins (every password is {settings.DEMO_PASSWORD}):")
        for user in org.logins:
            where = user.store.name if user.store else org.group.name
            self.stdout.write(f"  {user.username:<18} {user.get_role_display():<10} {where}  {user.display_name}")
