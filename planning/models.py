"""Work plans (工作计划和工作记录, docs/planning.md): one plan per consultant and period (year, quarter, month, week,
day), drafted from the month's target and the ladder, edited by the consultant; each item's number is what he means
to do. What was done is never stored here: it is counted from the records (follow-ups, visits, care tasks, deals),
so the record survives the consultant leaving and cannot disagree with the leads."""

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from dealercrm.scoping import Scope, ScopedQuerySet


class Period(models.TextChoices):
    YEAR = "year", _("Year")
    QUARTER = "quarter", _("Quarter")
    MONTH = "month", _("Month")
    WEEK = "week", _("Week")
    DAY = "day", _("Day")


class Item(models.TextChoices):
    """What a plan counts; each is counted from the records the same way in every period (docs/planning.md)."""

    NEW_CUSTOMERS = "new_customers", _("New customers")
    FOLLOW_UPS = "follow_ups", _("Follow-ups")
    CARE = "care", _("Care tasks")
    DEALS = "deals", _("Deals")


ITEM_ORDER = [Item.FOLLOW_UPS, Item.NEW_CUSTOMERS, Item.CARE, Item.DEALS]


class WorkPlan(models.Model):
    """A consultant's plan for one period, named by its first day (``start``; ``end`` inclusive)."""

    scope = Scope(group="store__group", store="store", owner="consultant")

    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="+", db_index=False,
                              verbose_name=_("store"))
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="work_plans",
                                   db_index=False, verbose_name=_("consultant"))
    period = models.CharField(_("period"), max_length=10, choices=Period.choices)
    start = models.DateField(_("first day"))
    end = models.DateField(_("last day"))
    notes = models.TextField(_("notes"), blank=True)
    drafted_at = models.DateTimeField(_("drafted at"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("work plan")
        verbose_name_plural = _("work plans")
        ordering = ["-start", "consultant_id", "period"]
        constraints = [models.UniqueConstraint(fields=["consultant", "period", "start"],
                                               name="workplan_one_per_consultant_period")]
        indexes = [models.Index(fields=["store", "period", "start"], name="workplan_store_period")]

    def __str__(self):
        return f"{self.consultant} · {self.get_period_display()} {self.start:%Y-%m-%d}"


class WorkPlanItem(models.Model):
    """One line of a plan: the number drafted (``drafted``, and what it was drafted from, ``basis``) and the number
    the consultant plans (``planned``), with his note."""

    scope = Scope(group="plan__store__group", store="plan__store", owner="plan__consultant")

    plan = models.ForeignKey(WorkPlan, on_delete=models.CASCADE, related_name="items", verbose_name=_("plan"))
    item = models.CharField(_("item"), max_length=20, choices=Item.choices)
    planned = models.PositiveIntegerField(_("planned"), validators=[MaxValueValidator(100000)])
    drafted = models.PositiveIntegerField(_("drafted"), default=0)
    basis = models.JSONField(_("drafted from"), default=dict, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("work plan item")
        verbose_name_plural = _("work plan items")
        constraints = [models.UniqueConstraint(fields=["plan", "item"], name="workplanitem_one_per_item")]
