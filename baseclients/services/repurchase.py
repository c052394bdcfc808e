"""Repurchase reminders (置换 / 增购): care tasks that ask the consultant to call a base client about a new vehicle.

- **Replacement** (``CareKind.REPURCHASE``): a vehicle delivered ``TierRule.repurchase_age_years`` years ago or more
  (default 5), or whose recorded mileage reached ``TierRule.repurchase_km`` (default 150,000 km), gets one reminder,
  due the day the job sees it, once per vehicle in its life (a database constraint says so too).
- **Fleet growth** (``CareKind.FLEET_GROWTH``): a care task closed with a growth plan ("plans to add N vehicles by
  <month>") gets a reminder due two months before that month (today if that day has passed), once per plan: none
  is made while a growth reminder made after the plan was heard exists.

Clients who refused phone calls get none. The nightly care job (``jobs.care_plan``) calls :func:`plan_repurchase`;
it is idempotent. What came of a reminder is counted by ``selectors.repurchase_figures``."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ..models import CareChannel, CareKind, CareStatus, CareTask, DoNotContact, TierRule, Vehicle
from .care import add_months

GROWTH_LEAD_MONTHS = 2


def growth_due(plan_by: date, today: date) -> date:
    """A growth reminder's due day: two months before the plan's month, or today when that day has passed."""
    return max(add_months(plan_by.replace(day=1), -GROWTH_LEAD_MONTHS), today)


def plan_repurchase(*, today: date | None = None, group_id: int | None = None, job_run=None) -> int:
    """Make the replacement and fleet-growth reminders due (see the module docstring) for every group (or one).
    Returns how many were made."""
    today = today or timezone.localdate()
    rules = TierRule.objects.all() if group_id is None else TierRule.objects.filter(group_id=group_id)
    refused = DoNotContact.objects.filter(client=OuterRef("client"), channel=CareChannel.PHONE)
    rows: list[CareTask] = []
    for rule in rules:
        trigger = Q(pk__in=[])
        if rule.repurchase_age_years:
            trigger |= Q(delivered_at__lte=add_months(today, -12 * rule.repurchase_age_years))
        if rule.repurchase_km:
            trigger |= Q(mileage_km__gte=rule.repurchase_km)
        vehicles = (Vehicle.objects.filter(client__group_id=rule.group_id).filter(trigger)
                    .exclude(Exists(CareTask.objects.filter(vehicle=OuterRef("pk"), kind=CareKind.REPURCHASE)))
                    .exclude(Exists(refused))
                    .values_list("pk", "client_id", "client__store_id", "client__assigned_to_id"))
        rows += [CareTask(client_id=client_id, vehicle_id=pk, store_id=store_id, assigned_to_id=owner_id,
                          kind=CareKind.REPURCHASE, channel=CareChannel.PHONE, due_on=today)
                 for pk, client_id, store_id, owner_id in vehicles]
        plans = (CareTask.objects.filter(client__group_id=rule.group_id, status=CareStatus.DONE, plan_vehicles__gt=0,
                                         plan_by__gte=today.replace(day=1))
                 .exclude(Exists(CareTask.objects.filter(client=OuterRef("client"), kind=CareKind.FLEET_GROWTH,
                                                         created_at__gt=OuterRef("done_at"))))
                 .exclude(Exists(refused))
                 .values_list("client_id", "client__store_id", "client__assigned_to_id", "plan_by")
                 .order_by("client_id", "-done_at"))
        seen = set()
        for client_id, store_id, owner_id, plan_by in plans:
            if client_id in seen:  # the latest plan heard for the client
                continue
            seen.add(client_id)
            rows.append(CareTask(client_id=client_id, store_id=store_id, assigned_to_id=owner_id,
                                 kind=CareKind.FLEET_GROWTH, channel=CareChannel.PHONE,
                                 due_on=growth_due(plan_by, today)))
    with transaction.atomic():
        made = CareTask.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    count = len(made)
    if job_run is not None and count:
        from dealercrm.jobs import job_run_count

        job_run_count(job_run, "flagged", count)
    return count
