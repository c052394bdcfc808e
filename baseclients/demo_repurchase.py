"""Demo repurchase reminders (``seed_demo``): the light trucks of a few company clients have run 150,000 km or more
(commercial use), and a few fleets told their consultant at a recent visit that they plan to add vehicles; the
nightly care job's ``plan_repurchase`` then makes their reminders, as it would in a store. Idempotent."""

from __future__ import annotations

import random
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from dealercrm.models import Store

from .models import CareKind, CareOutcome, CareStatus, CareTask, ClientKind, Vehicle
from .services.care import add_months
from .services.repurchase import plan_repurchase


def demo_repurchase_seed(*, stores: list[Store], today: date | None = None) -> int:
    """Returns how many reminders were made."""
    today = today or timezone.localdate()
    if not stores or CareTask.objects.filter(store__in=stores, kind__in=[CareKind.REPURCHASE,
                                                                         CareKind.FLEET_GROWTH]).exists():
        return 0
    rng = random.Random(20261207)
    with transaction.atomic():
        for store in stores:
            trucks = list(Vehicle.objects.filter(client__store=store, client__kind=ClientKind.COMPANY,
                                                 mileage_km__isnull=True).order_by("pk")[:40])
            for vehicle in rng.sample(trucks, min(len(trucks), 4)):
                vehicle.mileage_km = rng.randint(150, 190) * 1000
                vehicle.use = "commercial"
                vehicle.save(update_fields=["mileage_km", "use"])
            visits = list(CareTask.objects.filter(store=store, status=CareStatus.DONE, kind="visit",
                                                  client__kind=ClientKind.COMPANY,
                                                  done_at__gte=timezone.now() - timedelta(days=90)).order_by("pk")[:30])
            for task in rng.sample(visits, min(len(visits), 3)):
                task.plan_vehicles = rng.choice([2, 3, 5])
                task.plan_by = add_months(today.replace(day=1), rng.choice([2, 3, 4]))
                task.outcome = CareOutcome.VISITED
                task.note = f"车队扩张：计划{task.plan_by:%Y年%m月}前再添{task.plan_vehicles}辆"
                task.save(update_fields=["plan_vehicles", "plan_by", "outcome", "note"])
        return plan_repurchase(today=today)
