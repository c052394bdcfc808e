"""What managers enter to steer the funnel: the market-demand estimate M and monthly targets (DOMAIN §3–§4)."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from dealercrm.scoping import Scope, ScopedQuerySet


class MarketEstimate(models.Model):
    """M: the manager's estimate of all potential buyers in the store's local market for one month."""

    scope = Scope(group="store__group", store="store")

    store = models.ForeignKey(
        "dealercrm.Store", on_delete=models.PROTECT, related_name="market_estimates", verbose_name=_("store")
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    estimate = models.PositiveIntegerField(_("market demand (M)"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("entered by")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("market estimate")
        verbose_name_plural = _("market estimates")
        ordering = ["-month", "store_id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "month"], name="marketestimate_one_per_store_month"),
        ]


class Target(models.Model):
    """A monthly sales target for a store (``consultant`` empty) or for one consultant of it: units and revenue
    (CNY), with the average order value the revenue target assumes."""

    scope = Scope(group="store__group", store="store", owner="consultant")

    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="targets",
                              verbose_name=_("store"))
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="targets",
        verbose_name=_("consultant"),
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    units = models.PositiveIntegerField(_("unit target"))
    revenue = models.DecimalField(
        _("revenue target (CNY)"), max_digits=14, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    average_order_value = models.DecimalField(
        _("average order value (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("set by")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("target")
        verbose_name_plural = _("targets")
        ordering = ["-month", "store_id", "consultant_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "month"], condition=Q(consultant__isnull=True), name="target_one_per_store_month"
            ),
            models.UniqueConstraint(
                fields=["store", "consultant", "month"], condition=Q(consultant__isnull=False),
                name="target_one_per_consultant_month",
            ),
            models.CheckConstraint(condition=Q(revenue__gte=0), name="target_revenue_not_negative"),
        ]
