"""Repurchase reminders: a vehicle old enough or driven far enough gets one replacement reminder, a fleet's growth
plan heard on a care contact one growth reminder two months before its month; made once, whatever the re-runs; the
monthly figures count what came of them."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from baseclients.models import CareKind, CareTask, ClientLead, DoNotContact, TierRule, Vehicle
from baseclients.selectors import repurchase_figures
from baseclients.services import care_task_done, ensure_group_defaults
from baseclients.services.jobs import care_plan
from baseclients.services.repurchase import growth_due, plan_repurchase
from baseclients.tests.factories import buy

pytestmark = pytest.mark.django_db


def _client(org, days_ago, phone):
    deal = buy(store=org.store, consultant=org.consultant, phone=phone, delivered_days_ago=days_ago)
    return deal.purchase.client


def test_age_and_mileage_make_one_reminder_each_vehicle_once(org):
    today = timezone.localdate()
    old = _client(org, 5 * 366, "+8613600000001")  # delivered more than 5 years ago
    young = _client(org, 400, "+8613600000002")
    driven = _client(org, 200, "+8613600000003")
    Vehicle.objects.filter(client=driven).update(mileage_km=150_000)
    refused = _client(org, 6 * 366, "+8613600000004")
    DoNotContact.objects.create(client=refused, channel="phone", reason="不接电话", by=org.manager)
    ensure_group_defaults(org.group.pk)
    assert plan_repurchase(today=today) == 2
    tasks = CareTask.objects.filter(kind=CareKind.REPURCHASE)
    assert {t.client_id for t in tasks} == {old.pk, driven.pk}
    assert all(t.due_on == today and t.assigned_to_id == org.consultant.pk and t.channel == "phone" for t in tasks)
    # Made once: the next nights (and the nightly job) make none, even after the first is done.
    care_task_done(actor=org.consultant, task=tasks.get(client=old), outcome="reached", note="明年再说")
    assert plan_repurchase(today=today + timedelta(days=1)) == 0
    care_plan()
    assert CareTask.objects.filter(kind=CareKind.REPURCHASE).count() == 2
    assert young.pk not in set(tasks.values_list("client_id", flat=True))
    # The group's setting: 0 turns a trigger off.
    TierRule.objects.filter(group=org.group).update(repurchase_age_years=1)
    assert plan_repurchase(today=today) == 1  # the young car (400 days) now counts
    TierRule.objects.filter(group=org.group).update(repurchase_age_years=0, repurchase_km=0)
    _client(org, 3000, "+8613600000005")
    assert plan_repurchase(today=today) == 0


def test_a_growth_plan_makes_one_reminder_two_months_before(org):
    client = _client(org, 30, "+8613600000011")
    ensure_group_defaults(org.group.pk)
    visit = CareTask.objects.create(client=client, store=org.store, assigned_to=org.consultant, kind="visit",
                                    channel="visit", due_on=timezone.localdate())
    care_task_done(actor=org.consultant, task=visit, outcome="visited", note="年底前再添3辆轻卡",
                   plan_vehicles=3, plan_by=date(2027, 9, 17))
    visit.refresh_from_db()
    assert (visit.plan_vehicles, visit.plan_by) == (3, date(2027, 9, 1))
    assert plan_repurchase(today=date(2027, 1, 10)) == 1
    task = CareTask.objects.get(kind=CareKind.FLEET_GROWTH)
    assert task.due_on == date(2027, 7, 1) and task.client_id == client.pk
    assert plan_repurchase(today=date(2027, 1, 11)) == 0
    assert plan_repurchase(today=date(2027, 8, 20)) == 0  # late runs do not remind again
    assert growth_due(date(2027, 9, 1), date(2027, 8, 20)) == date(2027, 8, 20)


def test_both_or_neither_of_the_plan_fields(org, api_as):
    client = _client(org, 30, "+8613600000021")
    task = CareTask.objects.create(client=client, store=org.store, assigned_to=org.consultant, kind="call",
                                   channel="phone", due_on=timezone.localdate())
    r = api_as(org.consultant).post(f"/api/v1/care-tasks/{task.pk}/done/", {"outcome": "reached",
                                                                          "plan_vehicles": 2}, format="json")
    assert r.status_code == 400 and "plan_by" in r.json()
    r = api_as(org.consultant).post(f"/api/v1/care-tasks/{task.pk}/done/", {
        "outcome": "reached", "plan_vehicles": 2, "plan_by": "2027-05-01"}, format="json")
    assert r.status_code == 200


def test_the_figures_count_the_leads_and_deals_that_came_of_them(org):
    """Two reminders made today: one client comes back with a new lead (linked to the card) that is won, the other
    does nothing. Made 2, done 0, pending 2, leads 1, deals 1."""
    from decimal import Decimal

    from baseclients.tests.factories import a_vin
    from leads.services import deal_record, visit_log

    today = timezone.localdate()
    back = _client(org, 6 * 366, "+8613600000031")
    _client(org, 6 * 366, "+8613600000032")
    ensure_group_defaults(org.group.pk)
    assert plan_repurchase(today=today) == 2
    lead = visit_log(actor=org.consultant, store=org.store, name=back.name, phone=back.phone, source="walk_in",
                     grade="B").lead
    assert ClientLead.objects.filter(client=back, lead=lead).exists()
    deal_record(actor=org.consultant, lead=lead, price=Decimal("99000.00"), ordered_at=today, delivered_at=today,
                vin=a_vin())
    rows = {r["kind"]: r for r in repurchase_figures(user=org.manager, start=today.replace(day=1), end=today)}
    assert {k: rows["repurchase"][k] for k in ("made", "done", "pending", "leads", "deals")} == {
        "made": 2, "done": 0, "pending": 2, "leads": 1, "deals": 1}
    assert rows["fleet_growth"]["made"] == 0
    assert repurchase_figures(user=org.other_manager, start=today.replace(day=1), end=today)[0]["made"] == 0
