import pytest
from django.core.management import CommandError, call_command

from dealercrm.models import DealerGroup, Role, Store, User

pytestmark = pytest.mark.django_db


def counts():
    return (
        DealerGroup.objects.count(),
        Store.objects.count(),
        User.objects.filter(role=Role.MANAGER).count(),
        User.objects.filter(role=Role.CONSULTANT).count(),
        User.objects.filter(role=Role.GROUP_ADMIN).count(),
    )


def test_seed_demo_builds_the_demo_group_and_is_idempotent(settings, capsys):
    # The organisation and its logins (the history and everything on it: the module's ``demo`` fixture below).
    settings.DEBUG = True
    call_command("seed_demo", no_history=True)
    first = counts()
    assert first == (1, 2, 2, 9, 1)  # four consultants a store, and the second store's fleet sales manager
    admin = User.objects.get(username="admin")
    admin.set_password("changed-by-hand")
    admin.save()
    call_command("seed_demo", no_history=True)
    assert counts() == first
    assert User.objects.get(username="admin").check_password("demo1234")
    assert "demo1234" in capsys.readouterr().out
    for store in Store.objects.all():
        assert store.staff.filter(role=Role.CONSULTANT, fleet_manager=False).count() == 4
        assert store.staff.filter(role=Role.MANAGER).count() == 1
    fleet = User.objects.get(username="minhang_fleet")
    assert fleet.is_fleet_manager and fleet.store.name == "闵行店" and fleet.check_password("demo1234")


def test_seed_demo_refuses_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("seed_demo")
    assert DealerGroup.objects.count() == 0
    call_command("seed_demo", force=True, no_history=True)
    assert DealerGroup.objects.filter(name="Demo Auto Group").exists()


def test_seed_demo_if_empty_leaves_an_existing_database_alone(org, settings):
    settings.DEBUG = True
    call_command("seed_demo", if_empty=True)
    assert not DealerGroup.objects.filter(name="Demo Auto Group").exists()


# The whole demo, seeded once for the module in a transaction rolled back after its last test: a store that uses the
# product well, over a year.
@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    from django.db import connection, transaction
    from django.test import override_settings

    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(DEBUG=True, PASSWORD_HASHERS=fast), transaction.atomic():
        call_command("seed_demo", verbosity=0)
        connection.check_constraints()
        yield list(Store.objects.filter(group__name="Demo Auto Group").order_by("pk"))
        transaction.set_rollback(True)


def test_every_month_of_the_years_chart_has_first_visits_and_a_penetration(demo):
    from django.utils import timezone

    from funnel.selectors import Slice, monthly_trend

    today = timezone.localdate()
    for store in demo:
        manager = store.staff.get(role=Role.MANAGER)
        trend = monthly_trend(Slice(user=manager, start=today.replace(day=1), end=today, stores=[store]))
        assert len(trend) == 12
        for month in trend:
            assert month["N"] > 0, (store.name, month["month"])
            assert month["M"], (store.name, month["month"])
            assert 0.15 < month["penetration"] < 0.5, (store.name, month["month"], month["penetration"])


def test_only_a_few_pooled_customers_are_overdue_for_their_contact(demo):
    from django.db.models import Q
    from django.utils import timezone

    from defeats.models import PoolEntry, PoolList, PoolStatus

    now = timezone.now()
    for store in demo:
        for list_ in PoolList.values:
            entries = PoolEntry.objects.filter(store=store, list=list_, status=PoolStatus.IN_POOL)
            due = entries.filter(Q(next_contact_at__lte=now) | Q(replacement_due_on__lte=now.date())).count()
            assert entries.count() > 20, (store.name, list_)
            assert due <= 0.15 * entries.count(), (store.name, list_, due, entries.count())
    overdue = PoolEntry.objects.filter(store__in=demo, status=PoolStatus.IN_POOL, next_contact_at__lte=now)
    assert overdue.exists()  # the due list has something to show


def test_the_demo_keeps_its_defeat_rate_and_competitor_models(demo):
    from defeats.models import Application, ApplicationStatus, PoolEntry
    from leads.models import Deal

    for store in demo:
        defeats = Application.objects.filter(store=store, kind="defeat", status=ApplicationStatus.CONFIRMED).count()
        deals = Deal.objects.filter(lead__store=store).count()
        assert 0.6 <= defeats / (defeats + deals) <= 0.72, (store.name, defeats, deals)
    assert not Application.objects.filter(competitor_series__brand__is_own=True).exists()
    assert not PoolEntry.objects.filter(competitor_series__brand__is_own=True).exists()


def test_the_demo_shows_time_in_stage_and_loss_by_stage(demo):
    """Every grade has ended stays and open customers over the demo's year, and the demo's defeats carry the grade
    they were filed at (most of them at the lower grades, as in a real store)."""
    from datetime import timedelta

    from django.db.models import Count
    from django.utils import timezone

    from dealercrm.models import User
    from defeats.models import Application
    from funnel import stage_times
    from funnel.selectors import Slice

    manager = User.objects.get(username="pudong_manager")
    today = timezone.localdate()
    figures = stage_times.stage_times(Slice(user=manager, start=today - timedelta(days=364), end=today,
                                            stores=[demo[0]]))
    for row in figures["grades"]:
        assert row["n"] > 20 and row["median_days"] is not None and row["open"] > 0, row
    filed = Application.objects.filter(store__in=demo)
    assert not filed.filter(grade_at_filing__isnull=True, lead__grade_changes__isnull=False).exists()
    by_grade = dict(filed.values_list("grade_at_filing").annotate(n=Count("pk")))
    assert by_grade.get("E", 0) + by_grade.get("D", 0) > by_grade.get("A", 0) + by_grade.get("B", 0)
    # The highest grade reached is never below the grade at filing (A is the top: the smaller letter).
    assert not any(top > at for at, top in filed.values_list("grade_at_filing", "highest_grade") if at and top)


def test_the_second_store_sells_light_commercial_vehicles_with_fleet_orders(demo):
    from django.db.models import F

    from baseclients.models import BaseClient, Purchase, Vehicle
    from leads.models import Deal

    passenger, lcv = demo
    lcv_segments = {"light_truck", "pickup", "light_bus"}
    first = set(Deal.objects.filter(lead__store=passenger).values_list("series__segment", flat=True))
    # (A deal of no series, e.g. a customer won back at an event who named none, has no segment.)
    second = set(Deal.objects.filter(lead__store=lcv, series__isnull=False).values_list("series__segment", flat=True))
    assert first and not first & lcv_segments
    assert second and second <= lcv_segments and {"light_truck", "light_bus"} <= second
    assert set(Deal.objects.filter(lead__store=passenger).values_list("quantity", flat=True)) == {1}
    fleet = Deal.objects.filter(lead__store=lcv, quantity__gt=1)
    assert 0.2 < fleet.count() / Deal.objects.filter(lead__store=lcv).count() < 0.55
    assert set(fleet.values_list("quantity", flat=True)) <= set(range(2, 11))
    partial = fleet.filter(units_delivered__gt=0, units_delivered__lt=F("quantity"))
    assert partial.exists()
    # Each delivered unit is a commercial vehicle on a company's card; the order is one purchase.
    for deal in fleet.filter(units_delivered__gt=0)[:30]:
        vehicles = Vehicle.objects.filter(deal=deal)
        assert vehicles.count() == deal.units_delivered
        assert set(vehicles.values_list("use", flat=True)) == {"commercial"}
        assert Purchase.objects.filter(deal=deal).count() == 1
        assert deal.purchase.client.kind == "company"
    # Whole orders of four or more came in two parts.
    whole = fleet.filter(units_delivered=F("quantity"), quantity__gte=4)
    assert any(Vehicle.objects.filter(deal=d).values("delivered_at").distinct().count() == 2 for d in whole)
    # A card's units are its orders' quantities (and one a purchase made before the CRM).
    for buyer in BaseClient.objects.filter(purchase_rows__deal__in=fleet).distinct()[:30]:
        quantities = list(Deal.objects.filter(purchase__client=buyer).values_list("quantity", flat=True))
        assert buyer.units - sum(quantities) == buyer.purchases - len(quantities) >= 0


def test_the_second_store_sells_to_companies_through_its_fleet_sales_manager(demo):
    from defeats.models import DefeatEvent, EventKind, PoolEntry
    from defeats.services import pool_owner_for
    from leads.companies import Company, CompanyPerson, Qualification, validate_credit_code

    fleet = User.objects.get(username="minhang_fleet")
    assert pool_owner_for(fleet.store) == fleet
    # He holds the store's competitor pool and has handed a few customers to the consultants, with history.
    assert PoolEntry.objects.filter(store=fleet.store, owner=fleet, list="competitor").count() > 100
    handed = DefeatEvent.objects.filter(kind=EventKind.REASSIGNED, by=fleet)
    assert handed.count() == 6 and not handed.filter(to_user=fleet).exists()
    companies = Company.objects.filter(store=fleet.store)
    assert companies.count() == 5 and not Company.objects.exclude(store=fleet.store).exists()
    for company in companies:
        validate_credit_code(company.credit_code)
    assert set(CompanyPerson.objects.values_list("decision_role", flat=True)) == {
        "decider", "influencer", "supporter", "opponent"}
    assert Qualification.objects.filter(lead__company__in=companies, lead__assigned_to=fleet).count() == 3
    # The fleets are counted from base clients that name the companies.
    from baseclients.selectors_companies import company_list

    assert sum(c.fleet_total for c in company_list(user=fleet)) >= companies.count()


def test_the_demo_leaves_its_rollups_exact_and_drained(demo):
    """The seed recounts the funnel's rollups in bulk at its end: nothing is left marked, and a year of every store
    reads from the rollup rows exactly what the live count says."""
    from datetime import timedelta

    from django.utils import timezone

    from funnel import rollups
    from funnel.models import RollupMark
    from funnel.selectors import Slice, funnel_metrics

    assert not RollupMark.objects.filter(store_id__in=[store.pk for store in demo]).exists()
    today = timezone.localdate()
    for store in demo:
        manager = store.staff.get(role=Role.MANAGER)
        s = Slice(user=manager, start=today - timedelta(days=365), end=today, stores=[store])
        for group_by in (None, "month", "consultant", "channel"):
            assert funnel_metrics(s, group_by=group_by) == funnel_metrics(s, group_by=group_by, live=True)
        assert not any(rollups.drifted(store.pk, day, kind) for day in (today, today.replace(day=1))
                       for kind in (rollups.COHORT, rollups.REVISITS))


def test_the_demo_has_events_with_guests_results_card_codes_and_repurchase_reminders(demo):
    """Per store a club gathering and a launch in the last months, with answers, door attendance (walk-ins too) and
    what they brought; every client has a card code; repurchase reminders wait in the care queues."""
    from baseclients.cards import client_id_of
    from baseclients.models import BaseClient, CareKind, CareTask
    from campaigns.models import Answer, Event, Invitation
    from campaigns.selectors import with_results

    for store in demo:
        events = list(with_results(Event.objects.filter(store=store)).order_by("held_on"))
        assert [e.kind for e in events] == ["club", "launch"]
        for e in events:
            assert e.held_on < e.results_until and e.invited >= 20
            assert 0 < e.attended < e.invited + e.walk_ins and e.walk_ins == 2
            assert e.referrals >= 1 and e.leads >= e.referrals and e.deals >= 1
            answers = set(Invitation.objects.filter(event=e, walk_in=False).values_list("answer", flat=True))
            assert {Answer.ACCEPTED, Answer.DECLINED} <= answers
            assert not Invitation.objects.filter(event=e, arrived_at__isnull=False,
                                                 arrived_at__date__gt=e.held_on).exists()
        # Attendance scored the events criterion of the clients who came.
        came = Invitation.objects.filter(event__store=store, arrived_at__isnull=False, client__isnull=False)
        assert BaseClient.objects.filter(pk__in=came.values("client_id"), events_attended__gte=1).count() == \
            came.values("client_id").distinct().count()
    clients = list(BaseClient.objects.filter(store__in=demo).values_list("pk", flat=True)[:500])
    codes = {BaseClient(pk=pk).card_code for pk in clients}
    assert len(codes) == len(clients) and all(client_id_of(code) is not None for code in codes)
    reminders = CareTask.objects.filter(store__in=demo, kind__in=[CareKind.REPURCHASE, CareKind.FLEET_GROWTH])
    assert reminders.filter(kind=CareKind.REPURCHASE).exists() and reminders.filter(kind=CareKind.FLEET_GROWTH).exists()
    # Never twice: a replacement reminder once per vehicle (a fleet's vehicles may come due the same day), a growth
    # plan's once per client and day.
    assert reminders.values("client", "vehicle", "kind", "due_on").distinct().count() == reminders.count()
