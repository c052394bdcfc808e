"""Events and campaigns: customer club gatherings (客户联谊会), new-model launches (新品上市), workshop care days
(服务关怀日) and roadshows (巡展) of a store; the guests invited from the base clients, the competitor pool and the
nurture list, their answers, and the door attendance. What an event brought (leads, referrals, deals) is counted by
``campaigns.selectors``; nothing here stores a figure."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dealercrm.scoping import Scope, ScopedQuerySet
from leads import phones


class EventKind(models.TextChoices):
    CLUB = "club", _("Customer club gathering")
    LAUNCH = "launch", _("New-model launch")
    CARE_DAY = "care_day", _("Workshop care day")
    ROADSHOW = "roadshow", _("Roadshow")


class Event(models.Model):
    """One event of a store on one day. ``results_until`` is the last day of the event's month: its results are
    counted from ``held_on`` to that day (kept by the services, so the figures are one query)."""

    scope = Scope(group="store__group", store="store")

    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="+", verbose_name=_("store"),
                              db_index=False)
    kind = models.CharField(_("kind"), max_length=20, choices=EventKind.choices)
    title = models.CharField(_("title"), max_length=100)
    held_on = models.DateField(_("date"))
    starts_at = models.TimeField(_("starts at"), null=True, blank=True)
    place = models.CharField(_("place"), max_length=200)
    note = models.TextField(_("note"), blank=True)
    results_until = models.DateField(_("results counted until"), editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("created by"), db_index=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-held_on", "-id"]
        indexes = [models.Index(fields=["store", "-held_on"], name="event_store_held")]

    def __str__(self):
        return f"{self.held_on:%Y-%m-%d} {self.title}"


class GuestSource(models.TextChoices):
    BASE_CLIENT = "base_client", _("Base client")
    COMPETITOR = "competitor", _("Competitor pool")
    NURTURE = "nurture", _("Nurture list")
    WALK_IN = "walk_in", _("Walk-in guest")


class Answer(models.TextChoices):
    INVITED = "invited", _("Invited, no answer yet")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    NO_ANSWER = "no_answer", _("Could not be reached")


class InvitationQuerySet(ScopedQuerySet):
    def arrived(self):
        return self.filter(arrived_at__isnull=False)

    def invited(self):
        """Guests on the target list (a walk-in added at the door was not invited)."""
        return self.filter(walk_in=False)


class Invitation(models.Model):
    """A guest of an event: a base client, a competitor-pool or nurture-list customer (their pool entry), or a
    walk-in added at the door. ``name``/``phone`` are copied when invited (the door list needs no joins).
    ``consultant`` follows the guest up (the client's consultant, the pool entry's owner) and records the answer;
    ``arrived_at`` is the door attendance. One row per guest and event (re-inviting changes nothing)."""

    scope = Scope(group="event__store__group", store="event__store")

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("event"))
    source = models.CharField(_("from"), max_length=20, choices=GuestSource.choices)
    client = models.ForeignKey("baseclients.BaseClient", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+", verbose_name=_("base client"), db_index=False)
    pool_entry = models.ForeignKey("defeats.PoolEntry", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("pool entry"), db_index=False)
    name = models.CharField(_("name"), max_length=60)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("consultant"), db_index=False)
    walk_in = models.BooleanField(_("added at the door"), default=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("invited by"), db_index=False)
    invited_at = models.DateTimeField(_("invited at"), default=timezone.now)
    answer = models.CharField(_("answer"), max_length=20, choices=Answer.choices, default=Answer.INVITED)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("answer recorded by"), db_index=False)
    arrived_at = models.DateTimeField(_("arrived at"), null=True, blank=True)
    arrived_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("arrival recorded by"), db_index=False)
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["event_id", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "client"], condition=Q(client__isnull=False),
                                    name="invitation_once_per_client"),
            models.UniqueConstraint(fields=["event", "pool_entry"], condition=Q(pool_entry__isnull=False),
                                    name="invitation_once_per_pool_entry"),
            models.UniqueConstraint(fields=["event", "phone"], condition=~Q(phone=""),
                                    name="invitation_once_per_phone"),
        ]
        indexes = [
            models.Index(fields=["event", "answer"], name="invitation_event_answer"),
            models.Index(fields=["client"], condition=Q(arrived_at__isnull=False), name="invitation_client_arrived"),
            models.Index(fields=["phone"], condition=Q(arrived_at__isnull=False), name="invitation_phone_arrived"),
        ]

    def __str__(self):
        return self.name

    @property
    def masked_phone(self) -> str:
        return phones.phone_mask(self.phone)
