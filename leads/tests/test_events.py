"""leads.events: what is sent, with what, and that it is sent inside the writing transaction (a receiver sees the new
rows; a receiver's error undoes the whole write)."""

from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from leads import events, services
from leads.models import Deal, Lead, Status, Visit
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@contextmanager
def listening(signal, receiver):
    signal.connect(receiver, weak=False, dispatch_uid="test")
    try:
        yield
    finally:
        signal.disconnect(dispatch_uid="test")


def test_deal_recorded_is_sent_once_with_the_deal_the_won_lead_and_the_actor_after_the_rows_are_written(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    seen = []

    def receiver(sender, *, deal, lead, actor, **kwargs):
        # Inside the transaction: the deal row is there and the lead is already saved as won.
        seen.append((sender, deal.pk, Deal.objects.filter(pk=deal.pk).exists(),
                     Lead.objects.get(pk=lead.pk).status, actor))

    with listening(events.deal_recorded, receiver):
        deal = services.deal_record(actor=org.consultant, lead=lead, price=Decimal("123456.00"))
    assert seen == [(Deal, deal.pk, True, Status.WON, org.consultant)]


def test_a_receivers_error_undoes_the_whole_deal(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    version = lead.version

    def refuse(sender, **kwargs):
        raise ValidationError({"price": ["refused by a receiver"]})

    with listening(events.deal_recorded, refuse), pytest.raises(ValidationError) as exc:
        services.deal_record(actor=org.consultant, lead=lead, price=Decimal("100000.00"))
    assert exc.value.message_dict == {"price": ["refused by a receiver"]}
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE and lead.version == version
    assert not Deal.objects.exists()


def test_visit_logged_carries_one_visit_and_says_whether_the_lead_is_new(org):
    calls = []

    def receiver(sender, *, results, actor, store, **kwargs):
        calls.append([(r.lead.pk, r.is_revisit, Visit.objects.filter(pk=r.visit.pk).exists()) for r in results])
        assert actor == org.consultant and store == org.store

    with listening(events.visit_logged, receiver):
        first = services.visit_log(actor=org.consultant, store=org.store, name="王先生", source="walk_in",
                                   phone="13800000031")
        again = services.visit_log(actor=org.consultant, store=org.store, name="王先生", source="walk_in",
                                   phone="13800000031")
        services.visit_add(actor=org.consultant, lead=first.lead)
    lead = first.lead.pk
    assert again.lead.pk == lead
    assert calls == [[(lead, False, True)], [(lead, True, True)], [(lead, True, True)]]


def test_the_import_sends_its_batch_once(org):
    calls = []

    def receiver(sender, *, results, **kwargs):
        calls.append([(r.lead.phone, r.is_revisit) for r in results])

    rows = [{"name": "甲", "source": "walk_in", "phone": "13800000041"},
            {"name": "乙", "source": "walk_in", "phone": "13800000042"},
            {"name": "坏", "source": "tv", "phone": "13800000043"},  # refused: not in the batch's results
            {"name": "甲", "source": "walk_in", "phone": "13800000041"}]
    with listening(events.visit_logged, receiver):
        services.visit_log_many(actor=org.manager, store=org.store, rows=rows)
    assert calls == [[("+8613800000041", False), ("+8613800000042", False), ("+8613800000041", True)]]


@pytest.mark.parametrize("status", [Status.DEFEATED, Status.DEFEAT_PENDING])
def test_customer_returned_is_sent_for_a_lost_customers_visit_with_the_visit_form_s_choices(org, status):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, status=status, next_follow_up_at=None)
    arrived = timezone.now() - timedelta(minutes=5)
    seen = []

    def receiver(sender, *, lead, actor, at, grade, assign_to, **kwargs):
        seen.append((sender, lead.status, actor, at, grade, assign_to, Visit.objects.filter(lead=lead).count()))

    with listening(events.customer_returned, receiver):
        services.visit_log(actor=org.manager, store=org.store, name=lead.name, source="walk_in", phone=lead.phone,
                           arrived_at=arrived, grade="B", assigned_to=org.consultant2)
    assert seen == [(Lead, status, org.manager, arrived, "B", org.consultant2, 1)]


def test_customer_returned_is_not_sent_for_an_active_customer(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    seen = []
    with listening(events.customer_returned, lambda sender, **kwargs: seen.append(kwargs)):
        services.visit_add(actor=org.consultant, lead=lead)
    assert seen == []
