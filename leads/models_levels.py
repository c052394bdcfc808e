"""The team shaped by the ladder: consultant levels per store, who holds which level, the store's handoff and
deal-credit settings, and the handoffs of promoted leads (docs/domain.md, "Consultant levels").

A level holds the leads of its grades: by default the third level (三级) holds E, D and C (it brings new customers
up the first rungs), the second (二级) holds B (the customers the hard C→B jump brings), the first (一级) holds A
and closes. Every grade of the ladder belongs to exactly one level, and a higher level (a smaller ``order``) holds
higher grades. ``capacity`` is the number of active leads one consultant of the level can work at once, whatever
their grades (one figure per level, not per grade)."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dealercrm.scoping import Scope, ScopedQuerySet

from .models import CHILD_SCOPE, GRADE_ORDER, AssignmentChange, GradeChange, Lead

# The method's three levels, top first: (order, name, grades top first, capacity). Capacities are the defaults a
# store starts with (active leads one consultant works at once); the manager sets their own.
DEFAULT_LEVELS = [
    (1, "一级", "A", 30),
    (2, "二级", "B", 40),
    (3, "三级", "CDE", 120),
]


class HandoffMode(models.TextChoices):
    OFF = "off", _("Off: the lead stays with its holder")
    ROUND_ROBIN = "round_robin", _("Hand it to the next level's least-loaded consultant")
    HOLD = "hold", _("Hold it for the manager's pick")


class DealCredit(models.TextChoices):
    CLOSER = "closer", _("The closer only")
    BOTH = "both", _("Both: the closer and the original holder each count the deal")
    SPLIT = "split", _("Split: the deal is shared equally")


class LevelSettings(models.Model):
    """A store's handoff rule and how a handed-off lead's deal is credited. A store without a row works with the
    defaults (no handoff, credit to the closer)."""

    scope = Scope(group="store__group", store="store")

    store = models.OneToOneField("dealercrm.Store", on_delete=models.PROTECT, related_name="level_settings",
                                 verbose_name=_("store"))
    handoff = models.CharField(_("handoff of promoted leads"), max_length=20, choices=HandoffMode.choices,
                               default=HandoffMode.OFF)
    credit = models.CharField(_("deal credit after a handoff"), max_length=20, choices=DealCredit.choices,
                              default=DealCredit.CLOSER)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("level settings")
        verbose_name_plural = _("level settings")


class ConsultantLevel(models.Model):
    """One level of a store's sales team: its name, its rank (1 = top), the grades its consultants hold, and how
    many active leads one of them can work at once."""

    scope = Scope(group="store__group", store="store")

    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="consultant_levels",
                              verbose_name=_("store"))
    name = models.CharField(_("name"), max_length=40)
    order = models.PositiveSmallIntegerField(_("rank"), validators=[MinValueValidator(1)],
                                             help_text=_("1 is the top level."))
    # The grade letters, top first ("CDE"): few, fixed, read as a set.
    grades = models.CharField(_("grades"), max_length=5)
    capacity = models.PositiveIntegerField(_("capacity (active leads per consultant)"),
                                           validators=[MinValueValidator(1)])

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("consultant level")
        verbose_name_plural = _("consultant levels")
        ordering = ["store_id", "order"]
        constraints = [
            models.UniqueConstraint(fields=["store", "order"], name="consultantlevel_unique_order"),
            models.UniqueConstraint(fields=["store", "name"], name="consultantlevel_unique_name"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="consultantlevel_capacity_positive"),
        ]

    def __str__(self):
        return self.name

    @property
    def grade_list(self) -> list[str]:
        """The level's grades, top first."""
        return sorted(self.grades, key=GRADE_ORDER.index, reverse=True)

    @property
    def grade_range(self) -> str:
        """"C–E", "B": how the level's grades read on a page."""
        grades = self.grade_list
        return grades[0] if len(grades) == 1 else f"{grades[0]}–{grades[-1]}"


class LevelMember(models.Model):
    """A consultant's level in their store. Only a level of the consultant's own store counts: a consultant moved to
    another store has no level there until the manager gives one."""

    scope = Scope(group="level__store__group", store="level__store", owner="user")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="level_membership",
                                verbose_name=_("consultant"))
    level = models.ForeignKey(ConsultantLevel, on_delete=models.CASCADE, related_name="members",
                              verbose_name=_("level"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("consultant's level")
        verbose_name_plural = _("consultants' levels")


class HandoffStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for the manager's pick")
    DONE = "done", _("Handed over")


class Handoff(models.Model):
    """A lead promoted past its holder's level, handed (or waiting to be handed) to the level that holds its new
    grade. ``from_user`` is the holder when it was promoted: the original holder a deal's credit is shared with."""

    scope = CHILD_SCOPE

    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="handoffs", verbose_name=_("lead"))
    grade_change = models.ForeignKey(GradeChange, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("promotion"))
    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("from"))
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+", verbose_name=_("to"))
    level = models.ForeignKey(ConsultantLevel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                              verbose_name=_("to level"))
    status = models.CharField(_("status"), max_length=20, choices=HandoffStatus.choices)
    assignment_change = models.ForeignKey(AssignmentChange, on_delete=models.PROTECT, null=True, blank=True,
                                          related_name="+", verbose_name=_("assignment change"))
    created_at = models.DateTimeField(_("promoted at"), default=timezone.now)
    decided_at = models.DateTimeField(_("handed over at"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("by"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("handoff")
        verbose_name_plural = _("handoffs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lead"], condition=Q(status="waiting"), name="handoff_one_waiting"),
        ]
