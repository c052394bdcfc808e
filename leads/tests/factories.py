"""Lead factories. A lead's consultant works in the lead's store (SelfAttribute), so scoping tests stay honest."""

from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from dealercrm.tests.factories import ConsultantFactory, StoreFactory, VehicleSeriesFactory
from leads.models import FollowUp, Lead, StaleFlag, Visit


class LeadFactory(DjangoModelFactory):
    class Meta:
        model = Lead

    store = factory.SubFactory(StoreFactory)
    assigned_to = factory.SubFactory(ConsultantFactory, store=factory.SelfAttribute("..store"))
    name = factory.Faker("name", locale="zh_CN")
    phone = factory.Sequence(lambda n: f"+86138{n:08d}")
    source = "walk_in"
    grade = "C"
    first_visit_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=3))
    grade_since = factory.SelfAttribute("first_visit_at")
    last_contact_at = factory.SelfAttribute("first_visit_at")
    next_follow_up_at = factory.LazyAttribute(lambda o: o.first_visit_at + timedelta(days=14))
    created_by = factory.SelfAttribute("assigned_to")


class VisitFactory(DjangoModelFactory):
    class Meta:
        model = Visit

    lead = factory.SubFactory(LeadFactory)
    arrived_at = factory.SelfAttribute("lead.first_visit_at")
    is_first = True
    recorded_by = factory.SelfAttribute("lead.assigned_to")


class FollowUpFactory(DjangoModelFactory):
    class Meta:
        model = FollowUp

    lead = factory.SubFactory(LeadFactory)
    occurred_at = factory.LazyAttribute(lambda o: o.lead.first_visit_at + timedelta(days=1))
    method = "phone"
    content = "电话沟通，客户关注油耗和保值率"
    grade_before = factory.SelfAttribute("lead.grade")
    grade_after = factory.SelfAttribute("lead.grade")
    created_by = factory.SelfAttribute("lead.assigned_to")


__all__ = ["LeadFactory", "VisitFactory", "FollowUpFactory", "VehicleSeriesFactory"]


class StaleFlagFactory(DjangoModelFactory):
    """A lead flagged stale as the stale job would (``since`` the moment it passed ``max_dwell_days``)."""

    class Meta:
        model = StaleFlag

    lead = factory.SubFactory(LeadFactory)
    store = factory.SelfAttribute("lead.store")
    since = factory.LazyFunction(timezone.now)
    max_dwell_days = 30


def reference_data() -> None:
    """The channel list and the vehicle catalogue come from data migrations; a transactional test that ran earlier in
    the session may have flushed them (the bench seeds' tests need them)."""
    import importlib

    from django.apps import apps

    from dealercrm.models import VehicleSeries
    from leads.models import Channel

    for module, has_rows in [("dealercrm.migrations.0002_vehicle_catalogue", VehicleSeries.objects.exists),
                             ("leads.migrations.0002_channels", Channel.objects.exists)]:
        if not has_rows():
            importlib.import_module(module).seed(apps, None)
