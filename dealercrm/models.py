"""The organisation every other app hangs off: dealer group → store → staff, and the vehicle catalogue."""

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from .scoping import Role, Scope, ScopedQuerySet

__all__ = ["DealerGroup", "Store", "User", "Role", "VehicleBrand", "VehicleSeries", "Segment", "JobRun", "Notification"]


class DealerGroup(models.Model):
    """A dealer group (经销商集团): the tenant. Group admins configure it and compare its stores."""

    scope = Scope(group="pk", store="stores")

    name = models.CharField(_("name"), max_length=100, unique=True)
    # A lead overdue this many days goes back to its store's pool (公海) for others to claim (DOMAIN §3).
    reclaim_after_days = models.PositiveSmallIntegerField(
        _("reclaim overdue leads after (days)"), default=7, validators=[MinValueValidator(1)]
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("dealer group")
        verbose_name_plural = _("dealer groups")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Store(models.Model):
    """A dealership store (4S店). Leads and customers belong to a store, never to a consultant alone."""

    scope = Scope(group="group", store="pk")

    group = models.ForeignKey(
        DealerGroup, on_delete=models.PROTECT, related_name="stores", verbose_name=_("dealer group")
    )
    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["group_id", "name"]
        constraints = [models.UniqueConstraint(fields=["group", "name"], name="store_unique_name_in_group")]

    def __str__(self):
        return self.name


class UserQuerySet(ScopedQuerySet):
    def consultants(self):
        return self.filter(role=Role.CONSULTANT)

    def active(self):
        return self.filter(is_active=True)


class StaffManager(UserManager.from_queryset(UserQuerySet)):
    pass


class User(AbstractUser):
    """A member of staff with exactly one role. Consultants and managers work in one store; a group admin
    belongs to a dealer group. Staff are deactivated, never deleted, so their records stay with the store."""

    scope = Scope(group="dealer_group", store="store", owner="pk")
    Role = Role

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, blank=True)
    dealer_group = models.ForeignKey(
        DealerGroup,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        verbose_name=_("dealer group"),
    )
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, null=True, blank=True, related_name="staff", verbose_name=_("store")
    )
    display_name = models.CharField(_("display name"), max_length=60, blank=True)
    # The store's fleet sales manager (批售经理): a consultant who also owns the store's competitor-customer pool and
    # sees the store's company accounts. Kept by the pool-owner service (defeats), which makes him the pool owner.
    fleet_manager = models.BooleanField(_("fleet sales manager"), default=False)

    objects = StaffManager()

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["username"]
        constraints = [
            # Consultants and managers work in a store; every role belongs to a dealer group.
            models.CheckConstraint(
                condition=~Q(role__in=[Role.CONSULTANT, Role.MANAGER]) | Q(store__isnull=False),
                name="user_store_required_for_store_roles",
            ),
            models.CheckConstraint(
                condition=Q(role="") | Q(dealer_group__isnull=False),
                name="user_group_required_for_roles",
            ),
            # The fleet sales manager is a consultant of a store, and a store has at most one.
            models.CheckConstraint(
                condition=Q(fleet_manager=False) | Q(role=Role.CONSULTANT, store__isnull=False),
                name="user_fleet_manager_is_a_store_consultant",
            ),
            models.UniqueConstraint(fields=["store"], condition=Q(fleet_manager=True),
                                    name="user_one_fleet_manager_per_store"),
        ]

    def __str__(self):
        return self.display_name or self.username

    @property
    def is_consultant(self) -> bool:
        return self.role == Role.CONSULTANT

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def is_group_admin(self) -> bool:
        return self.role == Role.GROUP_ADMIN

    @property
    def role_label(self) -> str:
        """The role as shown: "Fleet sales manager" for the store's fleet sales manager, else the role's name."""
        return str(_("Fleet sales manager")) if self.is_fleet_manager else self.get_role_display()

    @property
    def is_fleet_manager(self) -> bool:
        """The store's fleet sales manager (批售经理): a consultant with the store's company accounts and its pool."""
        return bool(self.fleet_manager and self.role == Role.CONSULTANT and self.store_id and self.is_active)


class Segment(models.TextChoices):
    COMPACT = "compact", _("Compact car")
    MIDSIZE = "midsize", _("Mid-size car")
    LARGE = "large", _("Large car")
    SUV = "suv", _("SUV")
    MPV = "mpv", _("MPV")
    PICKUP = "pickup", _("Pickup")
    LIGHT_TRUCK = "light_truck", _("Light truck")
    LIGHT_BUS = "light_bus", _("Light bus / van")


# Passenger cars: a non-operating one follows the exempt inspection schedule (baseclients.inspection). Pickups, light
# trucks and light buses are goods vehicles or vans, inspected on the operating interval whatever their use.
PASSENGER_SEGMENTS = frozenset({Segment.COMPACT, Segment.MIDSIZE, Segment.LARGE, Segment.SUV, Segment.MPV})


class _BilingualName(models.Model):
    """Catalogue rows carry a Chinese and an English name; ``label`` follows the active language."""

    name = models.CharField(_("name (Chinese)"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=60)

    class Meta:
        abstract = True

    @property
    def label(self) -> str:
        return self.name_en if (get_language() or "").startswith("en") else self.name

    def __str__(self):
        return self.label


class VehicleBrand(_BilingualName):
    """A vehicle brand; ``is_own`` marks the brands this installation sells, the rest are competitors."""

    is_own = models.BooleanField(_("our brand"), default=False)

    class Meta:
        verbose_name = _("vehicle brand")
        verbose_name_plural = _("vehicle brands")
        ordering = ["-is_own", "name_en"]
        constraints = [models.UniqueConstraint(fields=["name_en"], name="vehiclebrand_unique_name_en")]


class VehicleSeries(_BilingualName):
    brand = models.ForeignKey(VehicleBrand, on_delete=models.PROTECT, related_name="series", verbose_name=_("brand"))
    segment = models.CharField(_("segment"), max_length=20, choices=Segment.choices)
    is_active = models.BooleanField(_("on sale"), default=True)

    class Meta:
        verbose_name = _("vehicle series")
        verbose_name_plural = _("vehicle series")
        ordering = ["brand__name_en", "name_en"]
        constraints = [models.UniqueConstraint(fields=["brand", "name_en"], name="vehicleseries_unique_in_brand")]


class JobRun(models.Model):
    """One run of a background job (flag stale leads, flag overdue follow-ups, reclaim, digests): when it ran, what it
    changed, how it ended. Bulk jobs write no field history, so this row and the per-lead flag events are their audit
    trail; group admins read them on the jobs page."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        # The worker died mid-run (killed, out of memory, the machine restarted): no heartbeat for
        # JOBS_HEARTBEAT_TIMEOUT. Closed by the next run of the job or the sweep (dealercrm.jobs).
        ABANDONED = "abandoned", _("Abandoned (worker lost)")

    job = models.CharField(_("job"), max_length=60)
    task_id = models.CharField(_("task id"), max_length=100, blank=True)
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.RUNNING)
    flagged = models.PositiveIntegerField(_("flagged"), default=0)
    cleared = models.PositiveIntegerField(_("cleared"), default=0)
    notified = models.PositiveIntegerField(_("notified"), default=0)
    error = models.TextField(_("error"), blank=True)
    # Written with every committed batch: a running run whose heartbeat is older than JOBS_HEARTBEAT_TIMEOUT lost its
    # worker.
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["job", "-started_at"], name="jobrun_job_started")]

    def __str__(self):
        return f"{self.job} {self.started_at:%Y-%m-%d %H:%M} {self.status}"


class NotificationQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Notifications are personal: everyone, managers and admins included, sees only their own."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(recipient=user)

    def unread(self):
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """An in-app message to one member of staff. ``kind`` and ``params`` are stored, the text is rendered in the
    reader's language when shown. ``dedupe_key`` makes a job's notification idempotent: a second run of the same
    digest for the same day notifies nobody twice."""

    class Kind(models.TextChoices):
        DIGEST = "digest", _("Daily digest")
        STORE_SUMMARY = "store_summary", _("Store summary")
        ASSIGNED = "assigned", _("Leads assigned to you")
        REVIEW_REJECTED = "review_rejected", _("Follow-up rejected")
        RECLAIMED = "reclaimed", _("Leads moved to the pool")

    recipient = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="notifications", verbose_name=_("recipient")
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    params = models.JSONField(_("details"), default=dict, blank=True)
    url = models.CharField(_("link"), max_length=200, blank=True)
    dedupe_key = models.CharField(_("deduplication key"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"], condition=~Q(dedupe_key=""), name="notification_once_per_key"
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notification_recipient"),
            # The bell's unread count on every page: a tiny partial index.
            models.Index(fields=["recipient"], condition=Q(read_at__isnull=True), name="notification_unread"),
        ]

    def __str__(self):
        return f"{self.recipient}: {self.kind}"
