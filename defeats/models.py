"""Lost customers (战败, docs/defeats.md): defeat applications and their verdicts, the two-level reason taxonomy, the
three-step talk tracks, and the competitor-customer pool (竞品客源) with its nurture contacts.

The lead itself only changes status (``defeat_pending`` while an application waits, ``defeated`` once confirmed,
``active`` again after a rejection or a win-back); everything else a defeat needs is kept here."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from dealercrm.models import Role
from dealercrm.scoping import Scope, ScopedQuerySet
from leads import phones
from leads.models import Grade

GROUP_SCOPE = Scope(group="group", store="group__stores")


class DefeatSettings(models.Model):
    """Per dealer group: the defeat workflow's numbers (every default is a group setting)."""

    scope = GROUP_SCOPE

    group = models.OneToOneField("dealercrm.DealerGroup", on_delete=models.CASCADE, related_name="defeat_settings",
                                 verbose_name=_("dealer group"))
    second_follow_up_days = models.PositiveSmallIntegerField(
        _("second follow-up after a false defeat (days)"), default=2,
        validators=[MinValueValidator(1), MaxValueValidator(60)])
    pending_alert_days = models.PositiveSmallIntegerField(
        _("flag applications without a verdict after (days)"), default=3,
        validators=[MinValueValidator(1), MaxValueValidator(60)])
    nurture_interval_days = models.PositiveSmallIntegerField(
        _("nurture contact every (days)"), default=90, validators=[MinValueValidator(7), MaxValueValidator(730)])
    replacement_after_years = models.PositiveSmallIntegerField(
        _("replacement re-contact after (years)"), default=3, validators=[MinValueValidator(1), MaxValueValidator(10)])

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("defeat settings")
        verbose_name_plural = _("defeat settings")


class PoolOwner(models.Model):
    """The store's designated owner of its competitor-customer pool (the seed: the fleet/wholesale manager). Without
    a row, the store's manager."""

    scope = Scope(group="store__group", store="store")

    store = models.OneToOneField("dealercrm.Store", on_delete=models.CASCADE, related_name="defeat_pool_owner",
                                 verbose_name=_("store"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("pool owner"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("competitor pool owner")
        verbose_name_plural = _("competitor pool owners")


class Reason(models.Model):
    """A defeat reason of a group's two-level taxonomy: a top-level category (no parent) or a reason under one.
    Reasons are deactivated, never deleted once an application uses them (PROTECT)."""

    scope = GROUP_SCOPE

    group = models.ForeignKey("dealercrm.DealerGroup", on_delete=models.CASCADE, related_name="defeat_reasons",
                              verbose_name=_("dealer group"))
    code = models.SlugField(_("code"), max_length=40)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children",
                               verbose_name=_("category"))
    name = models.CharField(_("name (Chinese)"), max_length=80)
    name_en = models.CharField(_("name (English)"), max_length=120)
    requires_note = models.BooleanField(_("requires a note"), default=False)
    requires_competitor = models.BooleanField(_("requires the competitor's series"), default=False)
    is_active = models.BooleanField(_("in use"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("defeat reason")
        verbose_name_plural = _("defeat reasons")
        ordering = ["group_id", "sort_order", "code"]
        constraints = [models.UniqueConstraint(fields=["group", "code"], name="defeatreason_unique_code_in_group")]

    @property
    def label(self) -> str:
        return self.name_en if (get_language() or "").startswith("en") else self.name

    def __str__(self):
        return self.label


class TalkTrack(models.Model):
    """The three-step purchase-criteria talk (设定购买标准三步法) against a reason, optionally for one of our series:
    said top-down (fact, problem, viewpoint), designed bottom-up."""

    scope = GROUP_SCOPE

    group = models.ForeignKey("dealercrm.DealerGroup", on_delete=models.CASCADE, related_name="defeat_talk_tracks",
                              verbose_name=_("dealer group"))
    reason = models.ForeignKey(Reason, on_delete=models.CASCADE, related_name="talk_tracks", verbose_name=_("reason"))
    series = models.ForeignKey("dealercrm.VehicleSeries", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+", verbose_name=_("our series"))
    fact = models.TextField(_("1. fact statement"))
    problem = models.TextField(_("2. problem focus"))
    viewpoint = models.TextField(_("3. viewpoint"))
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+",
                                   verbose_name=_("written by"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("talk track")
        verbose_name_plural = _("talk tracks")
        ordering = ["reason__sort_order", "series_id", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["reason", "series"], name="talktrack_one_per_reason_series",
                                    condition=Q(series__isnull=False)),
            models.UniqueConstraint(fields=["reason"], name="talktrack_one_per_reason_any_series",
                                    condition=Q(series__isnull=True)),
        ]


class Kind(models.TextChoices):
    QUASI = "quasi", _("Quasi-defeat")
    DEFEAT = "defeat", _("Defeat")


class PriceCause(models.TextChoices):
    """Why the price was "too high" (价格高), a countable choice: really high for our positioning, or only apparently
    high for one of five causes."""

    REALLY_HIGH = "really_high", _("Really high for its positioning")
    MARK_UP = "mark_up", _("Dealer mark-up")
    PRICE_WAR = "price_war", _("Price war between dealers")
    PROMOTIONS = "promotions", _("Promotions that disagree with the maker's")
    EXCUSE = "excuse", _("The customer's excuse")
    NEEDS_MISREAD = "needs_misread", _("Needs misread")


class ApplicationStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting verdict")
    CONFIRMED = "confirmed", _("Confirmed defeat")
    REJECTED = "rejected", _("Rejected: false defeat")


class Verdict(models.TextChoices):
    CONFIRM = "confirm", _("Confirm the defeat")
    REJECT = "reject", _("Reject: false defeat")


class Application(models.Model):
    """A defeat application (战败申请) on a lead and, once decided, its verdict. At most one is pending per lead (a
    partial unique constraint). ``store``, ``consultant`` and ``our_series`` are copied from the lead when filed, so
    the analyses group on this table alone and keep the consultant who gave up even after a reassignment."""

    scope = Scope(group="store__group", store="store", owner="consultant")

    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, related_name="defeat_applications",
                             verbose_name=_("lead"))
    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="+", db_index=False,
                              verbose_name=_("store"))
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("consultant"))
    our_series = models.ForeignKey("dealercrm.VehicleSeries", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("our series"))
    source = models.CharField(_("source"), max_length=20, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    reasons = models.ManyToManyField(Reason, through="ApplicationReason", through_fields=("application", "reason"),
                                     related_name="applications",
                                     verbose_name=_("reasons"))
    competitor_series = models.ForeignKey("dealercrm.VehicleSeries", on_delete=models.PROTECT, null=True, blank=True,
                                          related_name="+", verbose_name=_("competitor series"))
    competitor_brand = models.ForeignKey("dealercrm.VehicleBrand", on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="+", verbose_name=_("competitor brand"))
    price_gap = models.DecimalField(_("price gap (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True)
    # With the reason "price high" (价格高): which cause. Blank otherwise (and for applications migrated from the
    # former "apparently too high" reason, whose cause was never recorded).
    price_cause = models.CharField(_("price: the cause"), max_length=20, choices=PriceCause.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    status = models.CharField(_("status"), max_length=20, choices=ApplicationStatus.choices,
                              default=ApplicationStatus.PENDING)
    applied_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("filed by"))
    applied_at = models.DateTimeField(_("filed at"))
    # The lead's status before it was frozen (always active today; kept for the record).
    from_status = models.CharField(_("status before"), max_length=20)
    # Where on the ladder the customer was lost (loss by stage, defeats.stages), recorded when filed so that no
    # analysis recomputes it from the grade history: the lead's grade then, and the highest grade it had reached
    # by then (its grade changes up to the filing). Null for a lead never graded.
    grade_at_filing = models.CharField(_("grade when filed"), max_length=1, choices=Grade.choices, null=True,
                                       blank=True)
    highest_grade = models.CharField(_("highest grade reached"), max_length=1, choices=Grade.choices, null=True,
                                     blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    comment = models.TextField(_("verdict comment"), blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("defeat application")
        verbose_name_plural = _("defeat applications")
        ordering = ["-applied_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lead"], condition=Q(status="pending"),
                                    name="defeatapplication_one_pending_per_lead"),
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True) | (~Q(status="pending")
                                                                           & Q(decided_at__isnull=False)),
                name="defeatapplication_decided_has_time"),
        ]
        indexes = [
            # The verification queue (oldest first) and the pending counts.
            models.Index(fields=["store", "applied_at"], condition=Q(status="pending"),
                         name="defeatapp_store_pending"),
            # The metrics: a store's decisions in a period, and its filings (one BitmapOr for a period's figures).
            models.Index(fields=["store", "decided_at"], include=["status", "consultant", "kind"],
                         name="defeatapp_store_decided"),
            models.Index(fields=["store", "applied_at"], include=["status"], name="defeatapp_store_applied"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()} ({self.get_status_display()})"

    @property
    def is_pending(self) -> bool:
        return self.status == ApplicationStatus.PENDING


class ApplicationReason(models.Model):
    """One reason of an application; ``parent`` is the reason's category, copied so the analyses group on both
    levels without a self-join."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="reason_rows")
    reason = models.ForeignKey(Reason, on_delete=models.PROTECT, related_name="+")
    parent = models.ForeignKey(Reason, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["application", "reason"], name="defeatappreason_unique")]


class EventKind(models.TextChoices):
    APPLIED = "applied", _("Defeat application filed")
    CONFIRMED = "confirmed", _("Defeat confirmed")
    REJECTED = "rejected", _("Rejected as a false defeat")
    NURTURED = "nurtured", _("Nurture contact")
    WON_BACK = "won_back", _("Won back")
    # The pool entry went to another owner: the pool owner handing customers out, or the store's pool owner changing.
    REASSIGNED = "reassigned", _("Pool customer handed over")


class DefeatEvent(models.Model):
    """Append-only: every step of the workflow on a lead (who, when, what, the comment, the lead's status before and
    after). The lead's panel shows them as its defeat timeline."""

    scope = Scope(group="lead__store__group", store="lead__store", owner="lead__assigned_to")

    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, related_name="defeat_events",
                             verbose_name=_("lead"))
    application = models.ForeignKey(Application, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="events", verbose_name=_("application"))
    kind = models.CharField(_("step"), max_length=20, choices=EventKind.choices)
    at = models.DateTimeField(_("when"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by"))
    comment = models.TextField(_("comment"), blank=True)
    from_status = models.CharField(_("status before"), max_length=20, blank=True)
    to_status = models.CharField(_("status after"), max_length=20, blank=True)
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+", verbose_name=_("handed to"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("defeat event")
        verbose_name_plural = _("defeat events")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["lead", "at"], name="defeatevent_lead_at"),
            # The win-backs of a period (the metrics).
            models.Index(fields=["at"], include=["application"], condition=Q(kind="won_back"),
                         name="defeatevent_wonback_at"),
        ]


class PoolList(models.TextChoices):
    """Where a confirmed application goes: a defeat (bought a competitor's car, lost contact) to the competitor pool,
    a quasi-defeat (has not bought another brand, intention unclear) to the nurture list."""

    COMPETITOR = "competitor", _("Competitor pool")
    NURTURE = "nurture", _("Nurture list")


class PoolStatus(models.TextChoices):
    IN_POOL = "in_pool", _("In the pool")
    WON_BACK = "won_back", _("Won back")


def pool_phone_readable_by(user) -> Q:
    """The pool entries whose lead's phone ``user`` sees in full on the pool page (the rule of views.pool, as a
    condition): the entry's owner or whoever manages its store, who also reads the lead's phone (the lead's
    consultant, whoever manages the lead's store: leads.selectors.lead_phone_for). Anyone else sees it masked."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()

    def manages(prefix: str) -> Q:
        if user.role == Role.MANAGER and user.store_id:
            return Q(**{f"{prefix}store_id": user.store_id})
        if user.role == Role.GROUP_ADMIN and user.dealer_group_id:
            return Q(**{f"{prefix}store__group_id": user.dealer_group_id})
        return Q(pk__in=[])

    return (Q(owner_id=user.pk) | manages("")) & (Q(lead__assigned_to_id=user.pk) | manages("lead__"))


def pool_search_condition(text: str, *, user) -> Q:
    """A pool search (the page's box and ``GET /api/v1/defeats/pool/?q=``): the customer's name, the competitor
    series or brand, our series (either name, case-insensitive), or the phone by the one rule of phone searches
    (leads.phones.phone_search_condition): its digits only among the phones ``user`` sees in full, and a masked
    phone matches nothing, not even its whole number (as on the lead list)."""
    text = (text or "").strip()
    if not text:
        return Q()
    cond = Q(lead__name__icontains=text)
    for path in ("competitor_series", "competitor_brand", "application__our_series"):
        cond |= Q(**{f"{path}__name__icontains": text}) | Q(**{f"{path}__name_en__icontains": text})
    return cond | phones.phone_search_condition(text, readable=pool_phone_readable_by(user), whole_number=False,
                                                field="lead__phone")


class PoolEntry(models.Model):
    """A confirmed application on one of the store's two lists (``list``): a **defeat** in the competitor-customer
    pool (竞品客源), with a replacement re-contact ``replacement_after_years`` after the competitor purchase
    (``purchased_on``: the day the defeat was filed, the best date the store has); or a **quasi-defeat** on the
    nurture list (no purchase, no replacement date). Both have an owner and a re-contact every
    ``nurture_interval_days``; a customer whose intention returns is an active lead again (a win-back)."""

    scope = Scope(group="store__group", store="store", owner="owner")

    lead = models.OneToOneField("leads.Lead", on_delete=models.PROTECT, related_name="defeat_pool_entry",
                                verbose_name=_("lead"))
    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="+", db_index=False,
                              verbose_name=_("store"))
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="pool_entries",
                                    verbose_name=_("application"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("owner"))
    list = models.CharField(_("list"), max_length=12, choices=PoolList.choices, default=PoolList.COMPETITOR)
    competitor_brand = models.ForeignKey("dealercrm.VehicleBrand", on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="+", verbose_name=_("competitor brand"))
    competitor_series = models.ForeignKey("dealercrm.VehicleSeries", on_delete=models.PROTECT, null=True, blank=True,
                                          related_name="+", verbose_name=_("competitor series"))
    purchased_on = models.DateField(_("competitor purchase (about)"), null=True, blank=True)
    joined_at = models.DateTimeField(_("in the pool since"))
    last_contact_at = models.DateTimeField(_("last contact"), null=True, blank=True)
    next_contact_at = models.DateTimeField(_("next contact due"), null=True, blank=True)
    replacement_due_on = models.DateField(_("replacement re-contact"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=PoolStatus.choices, default=PoolStatus.IN_POOL)
    won_back_at = models.DateTimeField(_("won back at"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("competitor pool entry")
        verbose_name_plural = _("competitor pool")
        ordering = ["next_contact_at", "pk"]
        indexes = [
            models.Index(fields=["store", "next_contact_at"], condition=Q(status="in_pool"),
                         name="defeatpool_store_due"),
            models.Index(fields=["store", "won_back_at"], condition=Q(status="won_back"),
                         name="defeatpool_store_wonback"),
        ]


class NurtureContact(models.Model):
    """A contact with a pooled customer, logged like a follow-up."""

    scope = Scope(group="entry__store__group", store="entry__store", owner="entry__owner")

    entry = models.ForeignKey(PoolEntry, on_delete=models.PROTECT, related_name="contacts", verbose_name=_("entry"))
    occurred_at = models.DateTimeField(_("when"))
    method = models.CharField(_("method"), max_length=20)
    content = models.TextField(_("content"))
    came_back = models.BooleanField(_("the customer is coming back"), default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("by"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("nurture contact")
        verbose_name_plural = _("nurture contacts")
        ordering = ["-occurred_at", "-pk"]


class DefeatTarget(models.Model):
    """A store's defeat-rate target for a year (the method's example: from 70 % to 65 %): the rate, 0..1, that the
    store's defeat rate (defeats / (deals + defeats), calendar basis) should not exceed over the year."""

    scope = Scope(group="store__group", store="store")

    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="defeat_targets",
                              verbose_name=_("store"))
    year = models.PositiveSmallIntegerField(_("year"), validators=[MinValueValidator(2000), MaxValueValidator(2100)])
    rate = models.DecimalField(_("target defeat rate"), max_digits=5, decimal_places=4,
                               validators=[MinValueValidator(0), MaxValueValidator(1)],
                               help_text=_("0..1, e.g. 0.65 for 65 %."))
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+",
                                   verbose_name=_("set by"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("defeat-rate target")
        verbose_name_plural = _("defeat-rate targets")
        ordering = ["store_id", "-year"]
        constraints = [models.UniqueConstraint(fields=["store", "year"], name="defeattarget_one_per_store_year")]


# --- post-mortems (复盘) --------------------------------------------------------------------------------------------


class PostMortemStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Waiting for the manager")
    RETURNED = "returned", _("Sent back")
    APPROVED = "approved", _("Approved and shared")


class PostMortemOutcome(models.TextChoices):
    LOST = "lost", _("Lost")
    WON = "won", _("Won")


class PostMortemQuerySet(ScopedQuerySet):
    def visible_to(self, user):
        """The scoping rule, widened for consultants: besides their own post-mortems (drafts included), every
        approved one of their store, the shared lessons."""
        if (user is not None and user.is_authenticated and user.is_active and not user.is_superuser
                and getattr(user, "role", None) == Role.CONSULTANT and user.store_id):
            return self.filter(Q(consultant_id=user.pk) | Q(status=PostMortemStatus.APPROVED),
                               store_id=user.store_id)
        return super().visible_to(user)

    def approved(self):
        return self.filter(status=PostMortemStatus.APPROVED)


class PostMortem(models.Model):
    """A short review (复盘) of an important case, one per lead: opened automatically when the defeat of a lead that
    reached B or A is confirmed, or by hand on a won or lost lead. Its consultant writes it (the grade where the case
    turned, the reasons from the group's taxonomy, what happened and what to do differently), the store's manager
    approves it or sends it back with a comment; once approved it is shared with the store's team (the lessons
    library, the talk tracks of its reasons)."""

    scope = Scope(group="store__group", store="store", owner="consultant")

    lead = models.OneToOneField("leads.Lead", on_delete=models.PROTECT, related_name="post_mortem",
                                verbose_name=_("lead"))
    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("store"))
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("consultant"))
    application = models.ForeignKey(Application, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                    verbose_name=_("defeat application"))
    outcome = models.CharField(_("outcome"), max_length=10, choices=PostMortemOutcome.choices)
    highest_grade = models.CharField(_("highest grade reached"), max_length=1, blank=True,
                                     help_text=_("From the lead's grade history when the review was opened."))
    turned_at_grade = models.CharField(_("grade where it turned"), max_length=1, blank=True)
    reasons = models.ManyToManyField(Reason, blank=True, related_name="post_mortems", verbose_name=_("causes"))
    what_happened = models.TextField(_("what happened"), blank=True)
    lessons = models.TextField(_("what to do differently"), blank=True)
    our_series = models.ForeignKey("dealercrm.VehicleSeries", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("our series"))
    competitor_series = models.ForeignKey("dealercrm.VehicleSeries", on_delete=models.PROTECT, null=True,
                                          blank=True, related_name="+", verbose_name=_("competitor series"))
    status = models.CharField(_("status"), max_length=12, choices=PostMortemStatus.choices,
                              default=PostMortemStatus.DRAFT)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("opened by"))
    opened_at = models.DateTimeField(_("opened at"))
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("reviewed by"))
    decided_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    manager_comment = models.TextField(_("manager's comment"), blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = PostMortemQuerySet.as_manager()

    class Meta:
        verbose_name = _("post-mortem")
        verbose_name_plural = _("post-mortems")
        ordering = ["-opened_at", "-pk"]
        indexes = [models.Index(fields=["store", "status", "decided_at"], name="postmortem_store_status")]

    def __str__(self):
        return f"#{self.pk} {self.get_status_display()}"

    @property
    def editable(self) -> bool:
        return self.status in (PostMortemStatus.DRAFT, PostMortemStatus.RETURNED)
