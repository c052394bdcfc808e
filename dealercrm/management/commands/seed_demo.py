import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dealercrm.demo import demo_organisation_seed
from dealercrm.models import DealerGroup
from baseclients.demo import demo_baseclients_seed
from baseclients.demo_companies import demo_companies_seed
from baseclients.demo_repurchase import demo_repurchase_seed
from campaigns.demo import demo_events_seed
from defeats.demo import demo_defeats_seed
from defeats.demo_postmortems import demo_post_mortems_seed
from funnel import rollups
from funnel.demo import demo_market_estimates_seed
from funnel.demo_staffing import demo_targets_seed
from leads.demo import MONTHS, demo_history_seed
from planning.demo import demo_work_plans_seed
from leads.demo.levels import demo_levels_seed


class Command(BaseCommand):
    help = (
        "Create or refresh the demo dealer group (two stores, managers, consultants, group admin `admin`) and give "
        "its stores a year of lead history (once: skipped when they already have leads)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off (never in production).")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the database already holds a dealer group."
        )
        parser.add_argument("--no-history", action="store_true", help="Only the organisation: no leads, visits, deals.")

    def handle(self, *args, force=False, if_empty=False, no_history=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo resets demo passwords; it refuses to run with DEBUG off (use --force).")
        if if_empty and DealerGroup.objects.exists():
            self.stdout.write("The database already holds data; demo seed skipped.")
            return
        with transaction.atomic():
            org = demo_organisation_seed()
            if no_history:
                history = base_clients = defeats = companies = levels = events = None
            else:
                # Each stage says what it does before it starts: the whole takes about a minute.
                self._stage(f"leads, visits, follow-ups and deals: {MONTHS} months for {len(org.stores)} stores")
                history = demo_history_seed(stores=org.stores)
                self._stage("market estimates (M) for every month")
                estimates = demo_market_estimates_seed(stores=org.stores)
                self._stage("base clients, their care and referrals")
                # The base clients of the history's deals, older customers, scores, care history and referrals.
                base_clients = demo_baseclients_seed(stores=org.stores)
                self._stage("defeats, the competitor pool and the nurture list")
                # Defeats on the lead history: applications, verdicts, the competitor pool, talk tracks. After the
                # base clients: a false defeat won later is a deal recorded through the service, which makes its
                # base client.
                defeats = demo_defeats_seed(stores=org.stores)
                self._stage("consultant levels, handoffs and the year's targets")
                levels = demo_levels_seed(stores=org.stores)
                targets = demo_targets_seed(stores=org.stores)
                self._stage("post-mortems and work plans")
                demo_post_mortems_seed(stores=org.stores)
                demo_work_plans_seed(stores=org.stores)
                self._stage("company accounts of the fleet sales manager")
                # With the history too: the company leads are leads of their own, and a re-run adds no lead.
                companies = None if history.skipped else demo_companies_seed(stores=org.stores)
                self._stage("events, their guests and results; repurchase reminders")
                # With the history: the events bring leads of their own, and a re-run adds no lead.
                events = None if history.skipped else demo_events_seed(stores=org.stores)
                reminders = demo_repurchase_seed(stores=org.stores)
                self._stage("the dashboards' rollups")
                # Every write above marked its store-day; one bulk recount instead of draining them one by one.
                rollups.rebuild(store_ids=[store.pk for store in org.stores])
                self._stage(None)
        self.stdout.write(self.style.SUCCESS(f"Demo group {org.group.name!r} with {len(org.stores)} stores is ready."))
        self.stdout.write(f"Logins (every password is {settings.DEMO_PASSWORD}):")
        for user in org.logins:
            where = user.store.name if user.store else org.group.name
            self.stdout.write(f"  {user.username:<18} {user.role_label:<10} {where}  {user.display_name}")
        if history is None:
            return
        if defeats is not None and not defeats.skipped:
            self.stdout.write(self.style.SUCCESS(f"Demo defeats in {defeats.seconds:.1f} s:"))
            for d in defeats.stores:
                self.stdout.write(f"  {d.store.name}: {d.confirmed} confirmed, {d.rejected} false defeats "
                                  f"({d.won_after_rejection} won later), {d.pending} pending, {d.won_back} won back")
        if companies is not None and not companies.skipped and companies.companies:
            self.stdout.write(self.style.SUCCESS(
                f"Demo company accounts: {companies.companies} with {companies.people} people, {companies.leads} "
                f"company leads, {companies.clients} base clients buying for them."))
        if events is not None and not events.skipped:
            self.stdout.write(self.style.SUCCESS(
                f"Demo events: {events.events}, {events.invited} guests invited, {events.attended} came; "
                f"{reminders} repurchase reminders."))
        if base_clients is not None and not base_clients.skipped:
            self.stdout.write(self.style.SUCCESS(
                f"Demo base clients: {base_clients.clients} ({base_clients.legacy} bought before the CRM), "
                f"{base_clients.referrals} referrals, {base_clients.repeat_purchases} repeat purchases, "
                f"{base_clients.care_tasks} care tasks in {base_clients.seconds:.1f} s."
            ))
        self.stdout.write(f"Demo market estimates: {estimates} set.")
        self.stdout.write(f"Demo consultant levels: {levels.stores} stores, {levels.handed} handoffs made, "
                          f"{levels.waiting} waiting; {targets} monthly targets set.")
        if history.skipped:
            self.stdout.write("Demo lead history skipped: the demo stores already have leads.")
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Demo lead history: {MONTHS} months for {len(history.stores)} stores in {history.seconds:.1f} s."
            ))
        for s in history.stores:
            grades = " ".join(f"{grade}={count}" for grade, count in s.grades.items())
            self.stdout.write(
                f"  {s.store.name}: {s.leads} leads, {s.anonymous_share:.0%} anonymous, {s.valid} valid; "
                f"active {grades}; {s.followed} followed up; {s.deals} deals; "
                f"{s.overdue} overdue, {s.due_today} due today"
            )

    def _stage(self, text: str | None) -> None:
        """Say how long the stage before took, then what the next one does (None: the last one ended)."""
        now = time.monotonic()
        if getattr(self, "_stage_started", None) is not None:
            self.stdout.write(f"      done in {now - self._stage_started:.0f} s")
        self._stage_started = now if text else None
        if text:
            self.stdout.write(f"    {text}…")
        self.stdout.flush()
