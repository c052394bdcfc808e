"""The group's scoring criteria, tier rule, care plan and recognitions: created from the DOMAIN defaults on first
use, edited by the group admin."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from dealercrm.models import User

from .. import defaults
from ..models import CarePlanItem, CareTask, Criterion, Recognition, TierRule
from ._common import require_group_admin


# The group's inspection rule (年检), kept with the tier rule (``care.inspection_dates``).
INSPECTION_FIELDS = ("inspection_operating_months", "inspection_exempt_first_year", "inspection_yearly_from_year")


def ensure_group_defaults(group_id: int) -> None:
    """Create the DOMAIN defaults (criteria, rule, care plan, recognitions) the group does not have yet. Idempotent;
    concurrent first calls are harmless (conflicts ignored; the care plan is created only with the rule)."""
    if TierRule.objects.filter(group_id=group_id).exists():
        return
    Criterion.objects.bulk_create(
        [Criterion(group_id=group_id, dimension=d, code=c, name=zh, name_en=en, max_points=m, fact=f, sort_order=o)
         for d, c, zh, en, m, f, o in defaults.CRITERIA],
        ignore_conflicts=True,
    )
    Recognition.objects.bulk_create(
        [Recognition(group_id=group_id, referral_type=t, text=zh, text_en=en)
         for t, (zh, en) in defaults.RECOGNITIONS.items()],
        ignore_conflicts=True,
    )
    with transaction.atomic():
        rule, created = TierRule.objects.get_or_create(group_id=group_id)
        if created:
            CarePlanItem.objects.bulk_create(
                [CarePlanItem(group_id=group_id, tier=i.tier, kind=i.kind, channel=i.channel, title=i.title,
                              title_en=i.title_en, every_months=i.every_months, offset_days=i.offset_days,
                              on_month=i.on_month, on_day=i.on_day, vehicle_use=i.vehicle_use)
                 for i in defaults.CARE_PLAN]
            )


def tier_rule_for(group_id: int) -> TierRule:
    ensure_group_defaults(group_id)
    return TierRule.objects.get(group_id=group_id)


def criteria_for(group_id: int) -> list[Criterion]:
    ensure_group_defaults(group_id)
    return list(Criterion.objects.filter(group_id=group_id).order_by("dimension", "sort_order", "code"))


def dimension_max(criteria: list[Criterion]) -> dict[str, int]:
    out = {"loyalty": 0, "power": 0}
    for c in criteria:
        out[c.dimension] += c.max_points
    return out


@transaction.atomic
def tier_rule_update(*, actor: User, group_id: int, expected_version: int | None = None, **changes) -> TierRule:
    """Change the group's tier rule (and the method's settings kept with it: the concentration ranks' cut-offs, the
    one-brings-one period, the review interval); the re-tier job (queued on commit) moves every client of the
    group."""
    require_group_admin(actor, group_id)
    ensure_group_defaults(group_id)
    rule = TierRule.objects.select_for_update().get(group_id=group_id)
    if expected_version is not None and rule.version != expected_version:
        from ._common import StaleVersion

        raise StaleVersion(rule.version)
    allowed = {"premium_pct", "general_pct", "repeat_buyer_premium", "referral_deal_premium", "fleet_min",
               "important_pct", "ordinary_pct", "one_brings_one_months", "review_months", *INSPECTION_FIELDS,
               "repurchase_age_years", "repurchase_km"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({f: [_("This field cannot be changed here.")] for f in unknown})
    review_months = rule.review_months
    inspection = [getattr(rule, f) for f in INSPECTION_FIELDS]
    for field, value in changes.items():
        setattr(rule, field, value)
    if not 0 < rule.general_pct <= rule.premium_pct <= 100:
        raise ValidationError({"general_pct": [_("The general threshold must be between 1 and the premium one.")]})
    if not 0 < rule.important_pct <= rule.ordinary_pct <= 100:
        raise ValidationError({"ordinary_pct": [
            _("The ordinary cut-off must be between the important one and 100.")]})
    if rule.inspection_exempt_first_year > rule.inspection_yearly_from_year:
        raise ValidationError({"inspection_exempt_first_year": [
            _("The first inspection cannot come after the yearly ones begin.")]})
    if rule.review_months != review_months:
        rule.care_planned_until = None  # the next care run plans the reviews on the new interval
    if [getattr(rule, f) for f in INSPECTION_FIELDS] != inspection:
        # The pending inspection reminders were planned on the old rule: the next care run plans them on the new.
        CareTask.objects.filter(client__group_id=group_id, kind="inspection", status="pending").delete()
        rule.care_planned_until = None
    rule.version += 1
    rule.full_clean()
    rule.save()
    _queue_retier(group_id)
    return rule


@transaction.atomic
def criteria_update(*, actor: User, group_id: int, max_points: dict[str, int]) -> list[Criterion]:
    """Change criteria's maximum points (``{code: points}``); the re-tier job re-tiers the group. Scores above a
    lowered maximum are cut to it by the job."""
    require_group_admin(actor, group_id)
    criteria = {c.code: c for c in criteria_for(group_id)}
    errors = {}
    for code, points in max_points.items():
        if code not in criteria:
            errors[code] = [_("Unknown criterion.")]
        elif not isinstance(points, int) or not 1 <= points <= 100:
            errors[code] = [_("Between 1 and 100 points.")]
    if errors:
        raise ValidationError({"max_points": errors})
    for code, points in max_points.items():
        criteria[code].max_points = points
    Criterion.objects.bulk_update([criteria[c] for c in max_points], ["max_points"])
    TierRule.objects.filter(group_id=group_id).update(version=F("version") + 1)
    _queue_retier(group_id)
    return list(criteria.values())


def _queue_retier(group_id: int) -> None:
    from ..tasks import retier_group

    transaction.on_commit(lambda: retier_group.delay(group_id))
