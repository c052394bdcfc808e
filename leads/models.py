"""Prospects on the A–E grade ladder (DOMAIN.md §3–§4, §7), their visits, follow-ups, history and deals."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from dealercrm.scoping import Role, Scope, ScopedQuerySet

from . import phones
from .companies import Company, CompanyPerson, Qualification  # noqa: F401  (the app's models, defined there)


def local_day_start(now=None) -> datetime:
    """Midnight at the start of ``now``'s day in the current time zone (Asia/Shanghai by default)."""
    local = timezone.localtime(now or timezone.now())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


LEAD_SCOPE = Scope(group="store__group", store="store", owner="assigned_to")
# Rows that hang off a lead are seen by whoever sees the lead.
CHILD_SCOPE = Scope(group="lead__store__group", store="lead__store", owner="lead__assigned_to")


class Grade(models.TextChoices):
    A = "A", _("A · closes within 3 months")
    B = "B", _("B · closes in 4–6 months")
    C = "C", _("C · wants a car, no urgency")
    D = "D", _("D · no plan now")
    E = "E", _("E · first contact only")


GRADE_ORDER = ["E", "D", "C", "B", "A"]  # bottom to top of the ladder


class Source(models.TextChoices):
    WALK_IN = "walk_in", _("Walk-in")
    REFERRAL = "referral", _("Referral")
    OUTBOUND = "outbound", _("Outbound")


class Status(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("lead status", "Active")
    WON = "won", _("Won")
    MERGED = "merged", _("Merged into another lead")
    # A defeat application (defeats app) is waiting for the manager's verdict: the lead is frozen (nothing falls
    # due, it is in no queue, the jobs skip it) but still its consultant's. A rejection makes it active again.
    DEFEAT_PENDING = "defeat_pending", _("Defeat pending verification")
    # The manager confirmed the defeat: terminal, like won (the customer is in the competitor-customer pool).
    DEFEATED = "defeated", _("Defeated")


class Gender(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


class PurchaseType(models.TextChoices):
    FIRST = "first", _("First car")
    REPLACEMENT = "replacement", _("Replacement")
    ADDITIONAL = "additional", _("Additional car")


class Channel(models.Model):
    """Where a customer came from, within a source (DOMAIN §7). An editable list shared by every group."""

    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name (Chinese)"), max_length=40)
    name_en = models.CharField(_("name (English)"), max_length=40)
    is_active = models.BooleanField(_("in use"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["sort_order", "code"]

    def __str__(self):
        return self.name_en if (get_language() or "").startswith("en") else self.name


class GradeRule(models.Model):
    """Per dealer group and grade: what the grade means, how often to follow up, how long a lead may sit in it."""

    scope = Scope(group="group", store="group__stores")

    group = models.ForeignKey(
        "dealercrm.DealerGroup", on_delete=models.CASCADE, related_name="grade_rules", verbose_name=_("dealer group")
    )
    grade = models.CharField(_("grade"), max_length=1, choices=Grade.choices)
    meaning = models.CharField(_("meaning"), max_length=200)
    follow_up_days = models.PositiveSmallIntegerField(_("follow-up interval (days)"), validators=[MinValueValidator(1)])
    max_dwell_days = models.PositiveSmallIntegerField(_("max dwell (days)"), validators=[MinValueValidator(1)])

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("grade rule")
        verbose_name_plural = _("grade rules")
        ordering = ["group_id", "grade"]
        constraints = [models.UniqueConstraint(fields=["group", "grade"], name="graderule_unique_grade_in_group")]

    def __str__(self):
        return f"{self.grade}: {self.follow_up_days}d / {self.max_dwell_days}d"


# The leads that hold their phone in a store (the unique constraint's condition): open ones, and those waiting for
# or past a defeat verdict (a defeated customer who returns is reactivated by the defeats app, not duplicated). Won
# and merged leads do not: a buyer who comes back to buy again starts a new lead. Every store+phone look-up carries
# this condition so PostgreSQL can use the partial unique index.
PHONE_HOLDERS = Q(status__in=[Status.ACTIVE, Status.DEFEAT_PENDING, Status.DEFEATED])

# Open leads nobody holds: the store's pool and the leads never assigned (the allocation page's "unassigned").
UNHELD = Q(status=Status.ACTIVE, assigned_to__isnull=True)
# The store's pool (公海): active leads nobody holds that the reclaim job or a manager put back.
IN_POOL = UNHELD & Q(pooled_at__isnull=False)
# Leads still marked pooled that someone holds again or that closed: the reclaim job clears their mark first.
LEFT_POOL = Q(pooled_at__isnull=False) & (~Q(status=Status.ACTIVE) | Q(assigned_to__isnull=False))


class FollowUpPolicy(models.Model):
    """Per dealer group: how soon a new customer is called back. The first follow-up falls due
    ``first_follow_up_hours`` after the first visit (at a working hour), then the grade's cadence applies. A group
    without a row uses the defaults (leads.rules)."""

    scope = Scope(group="group", store="group__stores")

    group = models.OneToOneField(
        "dealercrm.DealerGroup", on_delete=models.CASCADE, related_name="follow_up_policy",
        verbose_name=_("dealer group"),
    )
    first_follow_up_hours = models.PositiveSmallIntegerField(
        _("first follow-up within (hours)"), default=24, validators=[MinValueValidator(1), MaxValueValidator(168)],
    )
    workday_start_hour = models.PositiveSmallIntegerField(
        _("working day starts (hour)"), default=9, validators=[MaxValueValidator(23)])
    workday_end_hour = models.PositiveSmallIntegerField(
        _("working day ends (hour)"), default=21, validators=[MinValueValidator(1), MaxValueValidator(24)])

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("follow-up policy")
        verbose_name_plural = _("follow-up policies")

    def __str__(self):
        return f"{self.first_follow_up_hours} h"


def phone_search_condition(user, text: str) -> Q:
    """``LeadQuerySet.phone_search`` as a condition, to combine with others (a name search). A lead's masked phone
    matches no search at all, not even by the whole number: the lead pages have no referral to credit, and a pool
    lead must not be told apart from no match (the pool shows consultants every phone masked)."""
    return phones.phone_search_condition(text, readable=phone_readable_by(user), whole_number=False)


def phone_readable_by(user) -> Q:
    """The leads whose phone ``user`` sees in full (the rule of selectors.lead_phone_for, as a condition): the
    lead's consultant, whoever manages its store (its manager, its group's admins) and superusers. Anyone else
    sees the phone masked, so it must not match a search or filter either."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    mine = Q(assigned_to_id=user.pk)
    if user.role == Role.MANAGER and user.store_id:
        return mine | Q(store_id=user.store_id)
    if user.role == Role.GROUP_ADMIN and user.dealer_group_id:
        return mine | Q(store__group_id=user.dealer_group_id)
    return mine


class LeadQuerySet(ScopedQuerySet):
    def phone_search(self, user, text: str):
        """The leads whose phone matches ``text`` for ``user`` (leads.phones.phone_search_condition): by digits
        among the phones the user sees in full only (see ``phone_search_condition``)."""
        return self.filter(phone_search_condition(user, text))

    def active(self):
        return self.filter(status=Status.ACTIVE)

    def in_pool(self):
        return self.filter(IN_POOL)

    def not_merged(self):
        return self.exclude(status=Status.MERGED)

    def phone_holders(self):
        """The leads that hold their phone in the store (PHONE_HOLDERS): look up a store's phone through this."""
        return self.filter(PHONE_HOLDERS)

    def overdue(self, now=None):
        """Active leads whose follow-up date has passed (DOMAIN §3: 逾期未跟进): due before today, local time."""
        return self.filter(status=Status.ACTIVE, next_follow_up_at__lt=local_day_start(now))

    def due_on(self, now=None):
        """Active leads whose next follow-up falls due today (local time)."""
        start = local_day_start(now)
        return self.filter(
            status=Status.ACTIVE, next_follow_up_at__gte=start, next_follow_up_at__lt=start + timedelta(days=1)
        )


# The foreign keys of the append-only audit rows the jobs write by the hundred thousand (FlagEvent,
# AssignmentChange): no database constraint, and no index of their own (AssignmentChange.lead keeps its index: a
# lead's history), as django-simple-history keeps its history rows. PostgreSQL checks a constraint with one query per
# inserted row (SELECT … FOR KEY SHARE), which made up most of the cost of writing those rows: 406k assignment-history
# and flag-event rows, 28 s with the checks, 10 s without (benchmarks/README.md). What a constraint would catch does
# not happen here: the jobs take each key from the row they just wrote or read in the same statement, and nothing
# deletes a lead, a user or a job run but Django, whose on_delete=PROTECT refuses while an audit row points at it.
AUDIT_KEY = {"db_index": False, "db_constraint": False}


class Lead(models.Model):
    """One customer at one store. Within a store the phone number identifies the customer.

    ``grade`` is null until the customer is qualified; ``grade_since`` starts the dwell clock of the current grade.
    ``version`` grows with every write, so two people editing one lead cannot silently overwrite each other."""

    scope = LEAD_SCOPE

    # No single-column indexes on the lead's foreign keys: every query by store or consultant has a composite index
    # starting with it (Meta.indexes), the other keys are never filtered alone, and each index costs every bulk write
    # (the jobs' first run over a million leads: 42 s with them, 25 s without, for the same UPDATE). The PROTECT
    # checks they would serve (deleting a channel, a series, a user) are rare admin actions.
    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="leads", verbose_name=_("store"),
                              db_index=False)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("consultant"),
        db_index=False,
    )
    name = models.CharField(_("name"), max_length=60)
    phone = models.CharField(_("phone"), max_length=20, blank=True, help_text=_("E.164, e.g. +8613800138000"))
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, null=True, blank=True, related_name="leads", verbose_name=_("channel"),
        db_index=False,
    )
    series = models.ForeignKey(
        "dealercrm.VehicleSeries",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("series of interest"),
        db_index=False,
    )
    budget = models.DecimalField(
        _("budget (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    purchase_type = models.CharField(_("purchase type"), max_length=20, choices=PurchaseType.choices, blank=True)
    district = models.CharField(_("district"), max_length=60, blank=True)
    industry = models.CharField(_("industry"), max_length=60, blank=True)
    # The company the customer buys for (a fleet purchase), if any: its people and the qualification are shown with
    # the lead.
    company = models.ForeignKey(Company, on_delete=models.PROTECT, null=True, blank=True, related_name="leads",
                                verbose_name=_("company"), db_index=False)
    grade = models.CharField(_("grade"), max_length=1, choices=Grade.choices, null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    first_visit_at = models.DateTimeField(_("first visit"), default=timezone.now)
    # The local calendar day of the first visit, kept by save(): the funnel's cohorts filter and group on it
    # (a low-cardinality column PostgreSQL can estimate, no time-zone arithmetic per row).
    first_visit_day = models.DateField(_("first visit day"), editable=False)
    last_contact_at = models.DateTimeField(_("last contact"), null=True, blank=True)
    next_follow_up_at = models.DateTimeField(_("next follow-up due"), null=True, blank=True)
    # Kept by the follow-up service (and merge): the funnel's "followed-up" (F) is one indexed column, not a join.
    first_follow_up_at = models.DateTimeField(_("first follow-up"), null=True, blank=True, editable=False)
    grade_since = models.DateTimeField(_("grade held since"), null=True, blank=True)
    # The manager kept the stale lead with a reason: the dwell clock runs from the later of grade_since and this
    # (DOMAIN §3). The stale and overdue flags themselves are rows of StaleFlag / OverdueFlag.
    dwell_kept_at = models.DateTimeField(_("kept by the manager at"), null=True, blank=True)
    # When the lead went back to the store's pool (公海), unassigned; cleared when someone claims it.
    pooled_at = models.DateTimeField(_("in the pool since"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("merged into"),
        db_index=False,
    )
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("created by"),
        db_index=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    history = HistoricalRecords(excluded_fields=["updated_at", "version"])
    objects = LeadQuerySet.as_manager()

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-first_visit_at", "-id"]
        constraints = [
            # A phone identifies one customer per store among the leads that hold it (PHONE_HOLDERS): a buyer who
            # comes back is a new lead (baseclients), merged leads hand their phone to the survivor.
            models.UniqueConstraint(
                fields=["store", "phone"],
                condition=~Q(phone="") & PHONE_HOLDERS,
                name="lead_unique_phone_in_store",
            ),
            models.CheckConstraint(condition=Q(grade__in=GRADE_ORDER) | Q(grade__isnull=True), name="lead_grade_valid"),
            models.CheckConstraint(condition=Q(budget__gte=0) | Q(budget__isnull=True), name="lead_budget_not_negative"),
        ]
        # Each lead the reclaim job puts in the pool gets a new row version in every index whose predicate it meets
        # (a non-HOT update: it clears assigned_to): five of these seven (benchmarks/README.md). The funnel's cohort
        # filter, the store's lead list and its date filters share one (store, first_visit_at) index.
        indexes = [
            # A company's leads (few leads name one: a partial index costs the bulk writes nothing).
            models.Index(fields=["company"], condition=Q(company__isnull=False), name="lead_company"),
            # The funnel's cohort scan for a store (an index-only scan on PostgreSQL) and the store's lead list,
            # newest first.
            models.Index(
                fields=["store", "first_visit_at"],
                include=["first_visit_day", "status", "source", "grade", "phone", "first_follow_up_at", "assigned_to",
                         "grade_since", "id"],
                name="lead_store_cohort",
            ),
            # A consultant's due and overdue lists; a lead nobody holds is not in it.
            models.Index(fields=["assigned_to", "status", "next_follow_up_at"], condition=Q(assigned_to__isnull=False),
                         name="lead_owner_status_due"),
            # A store's open leads: due and overdue lists and counts, grades, the allocation matrix.
            models.Index(fields=["store", "next_follow_up_at"], include=["grade", "assigned_to"],
                         condition=Q(status="active"), name="lead_store_open_due"),
            # A store's open leads nobody holds: its pool (pooled_at set, in order) and, with the never-assigned
            # ones, the allocation page's unassigned leads and their counts.
            models.Index(fields=["store", "pooled_at"], include=["grade", "next_follow_up_at"],
                         condition=UNHELD, name="lead_store_unheld"),
            # The reclaim's first step: leads still marked pooled that someone holds again or that closed. Almost
            # none, and never a lead the reclaim puts in the pool, so it costs that write nothing.
            models.Index(fields=["id"], condition=LEFT_POOL, name="lead_left_pool"),
            # A group's lists, newest first: walked backwards, a page is its first rows whichever stores the group
            # has (by the store index alone a group's first page sorted every lead of the group).
            models.Index(fields=["first_visit_at", "id"], name="lead_newest"),
            # A group's due and overdue lists (the group admin's workspace), in due order across its stores.
            models.Index(fields=["next_follow_up_at"], condition=Q(status="active"), name="lead_open_due"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.first_visit_day = timezone.localtime(self.first_visit_at).date()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "first_visit_at" in update_fields:
            kwargs["update_fields"] = {*update_fields, "first_visit_day"}
        super().save(*args, **kwargs)

    def _flag(self, relation: str):
        try:
            return getattr(self, relation)
        except ObjectDoesNotExist:
            return None

    @property
    def stale_since(self) -> datetime | None:
        """When the lead turned stale (its :class:`StaleFlag`), or None. Load with ``select_related("stale_flag")``."""
        flag = self._flag("stale_flag")
        return flag.since if flag else None

    @property
    def stale_max_dwell_days(self) -> int | None:
        """The max dwell (days) of the rule that flagged the lead stale, or None."""
        flag = self._flag("stale_flag")
        return flag.max_dwell_days if flag else None

    @property
    def overdue_since(self) -> datetime | None:
        """The missed due date of an overdue lead (its :class:`OverdueFlag`), or None. Load with
        ``select_related("overdue_flag")``."""
        flag = self._flag("overdue_flag")
        return flag.since if flag else None

    @property
    def is_active(self) -> bool:
        return self.status == Status.ACTIVE

    @property
    def masked_phone(self) -> str:
        from .phones import phone_mask

        return phone_mask(self.phone)


class ChildQuerySet(ScopedQuerySet):
    pass


class FlagKind(models.TextChoices):
    STALE = "stale", _("Stale")
    OVERDUE = "overdue", _("Overdue")
    POOL = "pool", _("Pool")


class StaleFlag(models.Model):
    """The stale flag (DOMAIN §3: 滞留): the row exists while the lead is past its grade's max dwell, as the stale job
    found it, with the moment it turned stale and the rule that fired. The flags are rows of narrow tables of their
    own rather than columns of the lead: flagging half a million leads is then an insert into a two-index table,
    not a new version of each wide lead row in every one of the lead's indexes (benchmarks/README.md: 4-5× less).
    ``store`` is the lead's, copied so that a store's queue is one index range."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, primary_key=True, related_name="stale_flag",
                                verbose_name=_("lead"))
    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name=_("store"))
    since = models.DateTimeField(_("stale since"))
    max_dwell_days = models.PositiveSmallIntegerField(_("max dwell that fired (days)"))

    class Meta:
        verbose_name = _("stale flag")
        verbose_name_plural = _("stale flags")
        indexes = [models.Index(fields=["store", "since"], name="staleflag_store_since")]


class OverdueFlag(models.Model):
    """The overdue flag (DOMAIN §3: 逾期未跟进): the row exists while the lead's follow-up is overdue, as the overdue job
    found it; ``since`` is the missed due date. Cleared by the next follow-up (or the job, for any other way out)."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, primary_key=True, related_name="overdue_flag",
                                verbose_name=_("lead"))
    since = models.DateTimeField(_("overdue since"))

    class Meta:
        verbose_name = _("overdue flag")
        verbose_name_plural = _("overdue flags")


class FlagAction(models.TextChoices):
    RAISED = "raised", _("Raised")
    CLEARED = "cleared", _("Cleared")
    KEPT = "kept", _("Kept by the manager")


class FlagEvent(models.Model):
    """Append-only: a flag raised or cleared on a lead, by a job run (``job_run``) or a person (``by``). The jobs
    update leads in bulk, which writes no field history, so this is their per-lead audit trail."""

    scope = CHILD_SCOPE

    # No single-column indexes on the keys (the jobs write hundreds of thousands of these in a first run): the
    # (lead, at) index serves a lead's trail; nobody looks events up by person or run. The keys the jobs write
    # carry no database constraint (AUDIT_KEY): PostgreSQL checks one row at a time, and those checks were most of
    # the cost of writing the rows.
    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="flag_events", verbose_name=_("lead"),
                             **AUDIT_KEY)
    kind = models.CharField(_("flag"), max_length=20, choices=FlagKind.choices)
    action = models.CharField(_("action"), max_length=20, choices=FlagAction.choices)
    at = models.DateTimeField(_("when"), default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("by"), db_index=False,
    )
    job_run = models.ForeignKey(
        "dealercrm.JobRun", on_delete=models.PROTECT, null=True, blank=True, related_name="flag_events",
        verbose_name=_("job run"), **AUDIT_KEY,
    )
    # Source strings (gettext_noop) for system reasons, translated when shown; a manager's own words otherwise.
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    objects = ChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("flag event")
        verbose_name_plural = _("flag events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["lead", "at"], name="flagevent_lead_at")]


class VisitStep(models.TextChoices):
    NEEDS_ANALYSIS = "needs_analysis", _("Needs analysis")
    TEST_DRIVE = "test_drive", _("Test drive")
    QUOTE = "quote", _("Quote")
    TRADE_IN = "trade_in", _("Trade-in appraisal")


class Visit(models.Model):
    """A showroom visit. The first visit creates the lead; later ones are re-visits (not counted in N)."""

    scope = CHILD_SCOPE

    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="visits", verbose_name=_("lead"))
    # The lead's store, kept by save(): re-visits per store and period are counted without joining the leads.
    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="+", editable=False,
                              verbose_name=_("store"))
    arrived_at = models.DateTimeField(_("arrived"), default=timezone.now)
    left_at = models.DateTimeField(_("left"), null=True, blank=True)
    is_first = models.BooleanField(_("first visit"), default=False)
    needs_analysis = models.BooleanField(_("needs analysis"), default=False)
    test_drive = models.BooleanField(_("test drive"), default=False)
    quote = models.BooleanField(_("quote"), default=False)
    trade_in = models.BooleanField(_("trade-in appraisal"), default=False)
    companions = models.PositiveSmallIntegerField(_("companions"), default=0)
    note = models.TextField(_("note"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("recorded by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = ChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["-arrived_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(left_at__isnull=True) | Q(left_at__gte=F("arrived_at")), name="visit_leaves_after_arriving"
            )
        ]
        indexes = [
            models.Index(fields=["lead", "arrived_at"], name="visit_lead_arrived"),
            models.Index(fields=["store", "arrived_at"], condition=Q(is_first=False), include=["lead"],
                         name="visit_store_revisits"),
            # The new customers a consultant received on a day or week (the work plans' record).
            models.Index(fields=["recorded_by", "arrived_at"], condition=Q(is_first=True), include=["store"],
                         name="visit_first_by_recorder"),
        ]

    def save(self, *args, **kwargs):
        if self.store_id is None:
            self.store_id = self.lead.store_id
        super().save(*args, **kwargs)

    @property
    def steps(self) -> list[str]:
        return [str(step.label) for step in VisitStep if getattr(self, step.value)]

    @property
    def minutes_on_lot(self) -> int | None:
        if not self.left_at:
            return None
        return int((self.left_at - self.arrived_at).total_seconds() // 60)


class FollowUpMethod(models.TextChoices):
    PHONE = "phone", _("Phone call")
    SHOWROOM = "showroom", _("Showroom")
    WECHAT = "wechat", _("WeChat")
    SMS = "sms", _("SMS")
    HOME_VISIT = "home_visit", _("Home visit")
    TEST_DRIVE = "test_drive", _("Test drive")


class FollowUpOutcome(models.TextChoices):
    REACHED = "reached", _("Reached, talked")
    APPOINTMENT = "appointment", _("Booked a visit")
    NO_ANSWER = "no_answer", _("No answer")
    NOT_NOW = "not_now", _("Not interested now")


class ReviewStatus(models.TextChoices):
    PENDING = "pending", _("Pending review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class FollowUp(models.Model):
    """A follow-up record. Managers review it (control point 5)."""

    # Scoped by its own copy of the lead's store: a store's review queue and its count are one range of a partial
    # index, not a join over every follow-up's lead.
    scope = Scope(group="store__group", store="store", owner="lead__assigned_to")

    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="follow_ups", verbose_name=_("lead"))
    # The lead's store, kept by save() (a lead never changes store), like Visit.store.
    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="+", editable=False,
                              db_index=False, verbose_name=_("store"))
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    method = models.CharField(_("method"), max_length=20, choices=FollowUpMethod.choices)
    content = models.TextField(_("content"))
    outcome = models.CharField(_("outcome"), max_length=20, choices=FollowUpOutcome.choices, blank=True)
    grade_before = models.CharField(_("grade before"), max_length=1, choices=Grade.choices, null=True, blank=True)
    grade_after = models.CharField(_("grade after"), max_length=1, choices=Grade.choices, null=True, blank=True)
    next_follow_up_at = models.DateTimeField(_("next follow-up due"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="follow_ups", verbose_name=_("by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    review_status = models.CharField(
        _("review"), max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    review_comment = models.TextField(_("review comment"), blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)

    objects = ChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["lead", "occurred_at"], name="followup_lead_occurred"),
            models.Index(fields=["created_by", "occurred_at"], name="followup_author_occurred"),
            # The review queue: a store's pending follow-ups, oldest first (and their count), from the index alone.
            models.Index(fields=["store", "occurred_at"], condition=Q(review_status="pending"),
                         name="followup_store_pending"),
            # A group's queue, oldest (or newest) first across its stores: walked in order, a page is its first rows.
            models.Index(fields=["occurred_at", "id"], condition=Q(review_status="pending"),
                         name="followup_pending_oldest"),
            # A store's follow-ups of one local day: the dashboards count the days their rollup has not recounted yet
            # from the base rows, found from those days, not by scanning the period (the time zone is TIME_ZONE's).
            models.Index(F("store"), TruncDate("occurred_at"), name="followup_store_day"),
        ]

    def save(self, *args, **kwargs):
        if self.store_id is None:
            self.store_id = self.lead.store_id
        super().save(*args, **kwargs)


class GradeChange(models.Model):
    """Append-only: every change of a lead's grade. Promotion rates are computed from these rows."""

    scope = CHILD_SCOPE

    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="grade_changes", verbose_name=_("lead"))
    from_grade = models.CharField(_("from"), max_length=1, choices=Grade.choices, null=True, blank=True)
    to_grade = models.CharField(_("to"), max_length=1, choices=Grade.choices)
    changed_at = models.DateTimeField(_("when"), default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("by")
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    follow_up = models.ForeignKey(
        FollowUp, on_delete=models.PROTECT, null=True, blank=True, related_name="grade_changes",
        verbose_name=_("follow-up"),
    )

    objects = ChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("grade change")
        verbose_name_plural = _("grade changes")
        ordering = ["-changed_at", "-id"]
        indexes = [
            # The grade as of a date is the latest change before it: an index-only lookup per lead.
            models.Index(fields=["lead", "changed_at"], include=["to_grade"], name="gradechange_lead_when"),
        ]

    @property
    def is_promotion(self) -> bool:
        if self.from_grade is None:
            return False
        return GRADE_ORDER.index(self.to_grade) > GRADE_ORDER.index(self.from_grade)


class AssignmentChange(models.Model):
    """Append-only: every change of who holds a lead (manual, round-robin, bulk move, merge, the reclaim job)."""

    scope = CHILD_SCOPE

    # Looked up by lead (its history) and by time (the morning digest's "reclaimed in the last 24 hours"), never by
    # person: no indexes on the people, which the reclaim job's first run would pay for on 400k rows. The keys the
    # reclaim writes carry no database constraint (AUDIT_KEY).
    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="assignment_changes", verbose_name=_("lead"),
                             db_index=True, db_constraint=False)
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("from"), **AUDIT_KEY,
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("to"), db_index=False,
    )
    changed_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("by"),
        db_index=False,
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    objects = ChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("assignment change")
        verbose_name_plural = _("assignment changes")
        ordering = ["-changed_at", "-id"]


class Deal(models.Model):
    """The lead's sale; recording it makes the lead won (a terminal state, not a grade). One order of ``quantity``
    units (a fleet order, 批售, has several): ONE purchase for the buyer, ``quantity`` units for volume. ``price`` is
    the order's amount (``unit_price`` × ``quantity``); ``units_delivered`` counts the order's vehicles on the buyer's
    card (one VIN and plate per unit, delivered in parts; kept by the base-client delivery service)."""

    scope = CHILD_SCOPE

    lead = models.OneToOneField(Lead, on_delete=models.PROTECT, related_name="deal", verbose_name=_("lead"))
    series = models.ForeignKey(
        "dealercrm.VehicleSeries", on_delete=models.PROTECT, null=True, blank=True, related_name="deals",
        verbose_name=_("vehicle series"),
    )
    quantity = models.PositiveIntegerField(_("units ordered"), default=1, validators=[MinValueValidator(1)])
    price = models.DecimalField(_("order amount (CNY)"), max_digits=12, decimal_places=2,
                                validators=[MinValueValidator(0)])
    # Computed by the database from the amount, so no writer can make the two disagree (the deal service refuses an
    # amount that does not divide into whole fen).
    unit_price = models.GeneratedField(expression=F("price") / F("quantity"),
                                       output_field=models.DecimalField(max_digits=12, decimal_places=2),
                                       db_persist=True, verbose_name=_("unit price (CNY)"))
    units_delivered = models.PositiveIntegerField(_("units delivered"), default=0)
    ordered_at = models.DateField(_("order date"))
    delivered_at = models.DateField(_("delivery date"), null=True, blank=True)
    # What a dealer records at delivery (the base client's vehicle is made from it; baseclients validates the VIN).
    # A fleet order's vehicles are on the buyer's card, one per unit; these are the first unit's.
    vin = models.CharField(_("VIN"), max_length=17, blank=True)
    plate = models.CharField(_("plate"), max_length=10, blank=True)
    trade_in = models.BooleanField(_("trade-in"), default=False)
    financed = models.BooleanField(_("financed"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = ChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        ordering = ["-ordered_at"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="deal_price_not_negative"),
            models.CheckConstraint(
                condition=Q(delivered_at__isnull=True) | Q(delivered_at__gte=F("ordered_at")),
                name="deal_delivered_after_ordered",
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="deal_quantity_at_least_one"),
            models.CheckConstraint(condition=Q(units_delivered__lte=F("quantity")),
                                   name="deal_delivered_within_quantity"),
        ]

    @property
    def is_fully_delivered(self) -> bool:
        return self.units_delivered >= self.quantity

    @property
    def units_to_deliver(self) -> int:
        return max(self.quantity - self.units_delivered, 0)

# The consultant levels and the handoffs of promoted leads live in their own module (imported here so Django finds
# them with the app's models).
from .models_levels import (  # noqa: E402,F401
    ConsultantLevel,
    DealCredit,
    Handoff,
    HandoffMode,
    HandoffStatus,
    LevelMember,
    LevelSettings,
)
