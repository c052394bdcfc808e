"""Demo work plans: every demo consultant's plans for this week and today, drafted from his target and ladder by
the same service a consultant's first open uses, with a note or two the way a consultant would write them."""

from __future__ import annotations

from django.utils import timezone

from dealercrm.models import Role, Store, User
from funnel.models import Target
from funnel.services import target_set

from . import services
from .models import WorkPlan
from .periods import period_start

TARGET_UNITS = [7, 6, 5, 6]
NOTES = ["周三下午集中回访B级客户，周六约两组试驾", "月底前跟紧两位A级客户的金融方案", "关怀回访优先做交车满三天的客户",
         "周末车展：提前邀约三位C级客户到店"]


def demo_work_plans_seed(*, stores: list[Store]) -> int:
    """Week and day plans for the demo stores' consultants who have none; returns how many plans were drafted."""
    today = timezone.localdate()
    drafted = 0
    consultants = User.objects.filter(store__in=stores, role=Role.CONSULTANT, is_active=True).order_by("pk")
    for i, consultant in enumerate(consultants):
        if WorkPlan.objects.filter(consultant=consultant).exists():
            continue
        # The month's unit target the plan is drafted from, as his manager would set it (when none is set yet).
        month = period_start("month", today)
        manager = User.objects.filter(store=consultant.store_id, role=Role.MANAGER, is_active=True).first()
        if manager and not Target.objects.filter(consultant=consultant, month=month).exists():
            target_set(actor=manager, store=consultant.store, month=month, units=TARGET_UNITS[i % len(TARGET_UNITS)],
                       consultant=consultant)
        week, _ = services.work_plan_draft(actor=consultant, period="week", start=period_start("week", today))
        services.work_plan_update(actor=consultant, plan=week, notes=NOTES[i % len(NOTES)])
        services.work_plan_draft(actor=consultant, period="day", start=today)
        services.work_plan_draft(actor=consultant, period="month", start=period_start("month", today))
        drafted += 3
    return drafted
