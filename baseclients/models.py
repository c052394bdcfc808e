"""Base clients (基盘客户, DOMAIN.md §5): the people and companies who bought, their vehicles, scored tiers, care plans
and care tasks, do-not-contact choices, referrals and purchases (first and repeat)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from dealercrm.scoping import Role, Scope, ScopedQuerySet
from leads import phones
from leads.vehicles import VehicleUse  # noqa: F401  (the vehicles' use is set at the deal, in leads)

CLIENT_SCOPE = Scope(group="group", store="store", owner="assigned_to")
# Rows hanging off a client are seen by whoever sees the client.
CLIENT_CHILD_SCOPE = Scope(group="client__group", store="client__store", owner="client__assigned_to")


class Tier(models.TextChoices):
    PREMIUM = "premium", _("Premium")
    POTENTIAL = "potential", _("Potential")
    GENERAL = "general", _("General")


TIER_ORDER = ["general", "potential", "premium"]  # bottom to top


class ClientKind(models.TextChoices):
    PERSON = "person", _("Person")
    COMPANY = "company", _("Company")


class TierBasis(models.TextChoices):
    """What decided a client's tier (shown with it: "premium: repeat buyer")."""

    REPEAT_BUYER = "repeat_buyer", _("repeat buyer")
    FLEET = "fleet", _("fleet / wholesale buyer")
    REFERRAL_DEAL = "referral_deal", _("referral deal")
    SCORES = "scores", _("scores")


class TierCause(models.TextChoices):
    """What moved a client's tier. Scoring is care work (a consultant's review); the others move it automatically
    (the tier movement per consultant keeps the two apart)."""

    SCORING = "scoring", _("scoring")
    DEAL = "deal", _("a purchase")
    REFERRAL = "referral", _("a referral lead")
    REFERRAL_DEAL = "referral_deal", _("a referral deal")
    RULE_CHANGE = "rule_change", _("a rule change")
    CARD = "card", _("a card edit (fleet size)")
    INITIAL = "initial", _("tier held when the history began")


AUTOMATIC_CAUSES = [TierCause.DEAL, TierCause.REFERRAL, TierCause.REFERRAL_DEAL, TierCause.RULE_CHANGE, TierCause.CARD]


class Dimension(models.TextChoices):
    LOYALTY = "loyalty", _("Loyalty")
    POWER = "power", _("Economic power & influence")


class Fact(models.TextChoices):
    """Criteria the system scores itself from what it knows."""

    NONE = "", _("Scored by the consultant")
    REFERRALS = "referrals", _("Referrals and referral deals (automatic)")
    FLEET = "fleet", _("Fleet size (automatic)")
    EVENTS = "events", _("Events attended (automatic, from the door attendance)")


def phone_readable_by(user) -> Q:
    """The base clients whose phone ``user`` sees in full (the rule of services.can_work and
    selectors.client_phone_for, as a condition): the client's consultant in the client's store, whoever manages
    the client's store (its manager, its group's admins) and superusers. Anyone else sees it masked."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    if user.role == Role.GROUP_ADMIN and user.dealer_group_id:
        return Q(group_id=user.dealer_group_id)  # a client's group is its store's
    if user.role == Role.MANAGER and user.store_id:
        return Q(store_id=user.store_id)
    if user.role == Role.CONSULTANT and user.store_id:
        return Q(assigned_to_id=user.pk, store_id=user.store_id)
    return Q(pk__in=[])


def phone_search_condition(user, text: str) -> Q:
    """``BaseClientQuerySet.phone_search`` as a condition, to combine with others (a name search)."""
    return phones.phone_search_condition(text, readable=phone_readable_by(user))


class BaseClientQuerySet(ScopedQuerySet):
    def phone_search(self, user, text: str):
        """The clients whose phone matches ``text`` for ``user``: by digits (4 or more) among the phones the user
        sees in full, by the whole number among the rest (leads.phones.phone_search_condition)."""
        return self.filter(phone_search_condition(user, text))


class BaseClient(models.Model):
    """A customer who bought (建卡): one per phone in a dealer group. Owned by a consultant of ``store``; reassigned,
    never lost, when the consultant leaves. ``loyalty_score``/``power_score`` are the sums of the criterion scores
    (ClientScore), kept by the scoring service; ``purchases``/``referral_deals`` are kept by the deal service; the
    tier is computed from them by the group's TierRule (``tier_basis`` says which part of the rule decided it)."""

    scope = CLIENT_SCOPE

    group = models.ForeignKey("dealercrm.DealerGroup", on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("dealer group"), db_index=False)
    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="base_clients",
                              verbose_name=_("store"), db_index=False)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="base_clients", verbose_name=_("consultant"), db_index=False)
    name = models.CharField(_("name"), max_length=60)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    kind = models.CharField(_("person or company"), max_length=10, choices=ClientKind.choices,
                            default=ClientKind.PERSON)
    region = models.CharField(_("region (district/county)"), max_length=60, blank=True)
    industry = models.CharField(_("industry"), max_length=60, blank=True)
    fleet_size = models.PositiveIntegerField(_("fleet size"), default=0)
    # The company account this client buys for: its vehicles count in the company's fleet (selectors.company_fleet).
    company = models.ForeignKey("leads.Company", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="base_clients", verbose_name=_("company"))
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    tier = models.CharField(_("tier"), max_length=20, choices=Tier.choices, default=Tier.GENERAL)
    tier_basis = models.CharField(_("tier decided by"), max_length=20, choices=TierBasis.choices,
                                  default=TierBasis.SCORES)
    tier_since = models.DateTimeField(_("tier held since"), default=timezone.now)
    loyalty_score = models.PositiveIntegerField(_("loyalty score"), default=0)
    power_score = models.PositiveIntegerField(_("economic power score"), default=0)
    purchases = models.PositiveIntegerField(_("purchases"), default=0)
    # Units bought over all purchases (a fleet order of five is one purchase of five units).
    units = models.PositiveIntegerField(_("units bought"), default=0)
    referral_deals = models.PositiveIntegerField(_("referral deals"), default=0)
    # Events (club gatherings, launches, care days, roadshows) the client was marked arrived at, kept by the
    # campaigns app through ``services.events_attended_set``; the automatic "events" criterion scores it.
    events_attended = models.PositiveIntegerField(_("events attended"), default=0)
    # The day the care plan's recurring items count from (the first delivery, or the card's creation).
    care_anchor = models.DateField(_("care counted from"), default=timezone.localdate)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = BaseClientQuerySet.as_manager()

    class Meta:
        verbose_name = _("base client")
        verbose_name_plural = _("base clients")
        ordering = ["-created_at", "-id"]
        constraints = [
            # The phone identifies a client within the dealer group: a second purchase extends the same card.
            models.UniqueConstraint(fields=["group", "phone"], condition=~Q(phone=""),
                                    name="baseclient_unique_phone_in_group"),
        ]
        indexes = [
            models.Index(fields=["store", "-created_at"], include=["tier", "assigned_to"],
                         name="baseclient_store_created"),
            models.Index(fields=["assigned_to", "tier"], condition=Q(assigned_to__isnull=False),
                         name="baseclient_owner_tier"),
            models.Index(fields=["group", "tier"], include=["region", "industry"], name="baseclient_group_tier"),
        ]

    def __str__(self):
        return self.name

    @property
    def masked_phone(self) -> str:
        from leads.phones import phone_mask

        return phone_mask(self.phone)

    @property
    def is_repeat_buyer(self) -> bool:
        return self.purchases > 1

    @property
    def card_code(self) -> str:
        """The code of the client's referral reward card (``baseclients.cards``)."""
        from .cards import card_code

        return card_code(self.pk) if self.pk else ""




# Non-operating uses (非营运): a passenger car of these uses follows the exempt inspection schedule.
NON_OPERATING_USES = frozenset({VehicleUse.PRIVATE, VehicleUse.COMPANY})


class Vehicle(models.Model):
    """A vehicle the client owns: made from a deal (or entered by hand). VIN and plate are validated by the services
    (``baseclients.vehicles``)."""

    scope = CLIENT_CHILD_SCOPE

    client = models.ForeignKey(BaseClient, on_delete=models.PROTECT, related_name="vehicles",
                               verbose_name=_("base client"))
    # One vehicle per delivered unit of the deal (a fleet order has several).
    deal = models.ForeignKey("leads.Deal", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="vehicles", verbose_name=_("deal"))
    series = models.ForeignKey("dealercrm.VehicleSeries", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+", verbose_name=_("series"), db_index=False)
    use = models.CharField(_("use"), max_length=20, choices=VehicleUse.choices, default=VehicleUse.PRIVATE)
    vin = models.CharField(_("VIN"), max_length=17, blank=True)
    plate = models.CharField(_("plate"), max_length=10, blank=True)
    colour = models.CharField(_("colour"), max_length=30, blank=True)
    ordered_at = models.DateField(_("order date"), null=True, blank=True)
    delivered_at = models.DateField(_("delivery date"), null=True, blank=True)
    registered_at = models.DateField(_("registration date"), null=True, blank=True)
    insurance_renewal_at = models.DateField(_("insurance renewal date"), null=True, blank=True)
    mileage_km = models.PositiveIntegerField(_("mileage (km)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")
        ordering = ["-delivered_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["vin"], condition=~Q(vin=""), name="vehicle_unique_vin"),
        ]
        indexes = [
            models.Index(fields=["plate"], condition=~Q(plate=""), name="vehicle_plate"),
        ]

    def __str__(self):
        return self.plate or self.vin or str(self.series or _("vehicle"))


class Criterion(models.Model):
    """One scoring criterion of a dimension, per dealer group: 0..max_points. Edited by the group admin."""

    scope = Scope(group="group", store="group__stores")

    group = models.ForeignKey("dealercrm.DealerGroup", on_delete=models.CASCADE, related_name="+",
                              verbose_name=_("dealer group"))
    dimension = models.CharField(_("dimension"), max_length=20, choices=Dimension.choices)
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name (Chinese)"), max_length=80)
    name_en = models.CharField(_("name (English)"), max_length=80)
    max_points = models.PositiveSmallIntegerField(_("max points"), validators=[MinValueValidator(1),
                                                                               MaxValueValidator(100)])
    fact = models.CharField(_("scored from"), max_length=20, choices=Fact.choices, blank=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("criterion")
        verbose_name_plural = _("criteria")
        ordering = ["group_id", "dimension", "sort_order", "code"]
        constraints = [models.UniqueConstraint(fields=["group", "code"], name="criterion_unique_code_in_group")]

    def __str__(self):
        return self.label

    @property
    def label(self) -> str:
        return self.name_en if (get_language() or "").startswith("en") else self.name


class TierRule(models.Model):
    """The group's tier rule (DOMAIN §5 defaults): premium when both scores reach ``premium_pct`` % of their maximum,
    or a fact makes the client premium; general when both are under ``general_pct`` %; potential otherwise."""

    scope = Scope(group="group", store="group__stores")

    group = models.OneToOneField("dealercrm.DealerGroup", on_delete=models.CASCADE, related_name="+",
                                 verbose_name=_("dealer group"))
    premium_pct = models.PositiveSmallIntegerField(_("premium from (percent of max, both scores)"), default=70,
                                                   validators=[MinValueValidator(1), MaxValueValidator(100)])
    general_pct = models.PositiveSmallIntegerField(_("general under (percent of max, both scores)"), default=40,
                                                   validators=[MinValueValidator(1), MaxValueValidator(100)])
    repeat_buyer_premium = models.BooleanField(_("repeat buyers are premium"), default=True)
    referral_deal_premium = models.BooleanField(_("referrers with a referral deal are premium"), default=True)
    fleet_min = models.PositiveSmallIntegerField(_("fleet / wholesale buyer from (vehicles)"), default=5,
                                                 help_text=_("0: fleet size does not make a client premium."))
    # Concentration ranks (the method's rule): regions (industries) ranked by count; those making up the first
    # ``important_pct`` % of the clients (the one crossing it included) are important, up to ``ordinary_pct`` %
    # ordinary, the rest weak.
    important_pct = models.PositiveSmallIntegerField(_("important regions/industries: first (percent of clients)"),
                                                     default=60,
                                                     validators=[MinValueValidator(1), MaxValueValidator(100)])
    ordinary_pct = models.PositiveSmallIntegerField(_("ordinary regions/industries: up to (percent of clients)"),
                                                    default=90,
                                                    validators=[MinValueValidator(1), MaxValueValidator(100)])
    # 一拓一: a tier's step is done when its clients average ``one_brings_one_target`` referral leads each over the
    # last ``one_brings_one_months`` months.
    one_brings_one_months = models.PositiveSmallIntegerField(_("one brings one: period (months)"), default=12,
                                                             validators=[MinValueValidator(1),
                                                                         MaxValueValidator(60)])
    # The yearly review: a care task to re-score a client ``review_months`` after its last scoring.
    review_months = models.PositiveSmallIntegerField(_("re-score a client every (months)"), default=12,
                                                     validators=[MinValueValidator(1), MaxValueValidator(60)])
    # The inspection rule (年检, baseclients.inspection): operating vehicles (commercial, rental, and every pickup,
    # light truck and light bus) every ``inspection_operating_months``; a non-operating passenger car is exempt at
    # first, inspected in year ``inspection_exempt_first_year`` and ``inspection_yearly_from_year``, then yearly.
    inspection_operating_months = models.PositiveSmallIntegerField(
        _("operating vehicles, trucks and vans: inspected every (months)"), default=12,
        validators=[MinValueValidator(6), MaxValueValidator(24)])
    inspection_exempt_first_year = models.PositiveSmallIntegerField(
        _("non-operating passenger cars: first inspection in year"), default=6,
        validators=[MinValueValidator(1), MaxValueValidator(15)])
    inspection_yearly_from_year = models.PositiveSmallIntegerField(
        _("non-operating passenger cars: yearly from year"), default=10,
        validators=[MinValueValidator(1), MaxValueValidator(20)])
    # Repurchase reminders: a vehicle this old (years since delivery) or with this mileage gets one replacement
    # reminder in its consultant's care queue (0: that trigger is off).
    repurchase_age_years = models.PositiveSmallIntegerField(_("replacement reminder at vehicle age (years)"),
                                                            default=5, validators=[MaxValueValidator(30)],
                                                            help_text=_("0: vehicle age makes no reminder."))
    repurchase_km = models.PositiveIntegerField(_("replacement reminder at mileage (km)"), default=150000,
                                                validators=[MaxValueValidator(2_000_000)],
                                                help_text=_("0: mileage makes no reminder."))
    version = models.PositiveIntegerField(_("version"), default=1)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # The last day the care job's nightly run has planned the group's clients up to: a re-run the same day skips the
    # group. Whatever changes one client's plan (deal, tier, vehicle, refusal) plans that client directly; an edit of
    # the group's care plan clears it. Kept per group, not per client: marking 90,000 clients a night rewrote them all.
    care_planned_until = models.DateField(_("care planned until"), null=True, blank=True, editable=False)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("tier rule")
        verbose_name_plural = _("tier rules")


class ClientScore(models.Model):
    """A client's current points on one criterion."""

    scope = CLIENT_CHILD_SCOPE

    client = models.ForeignKey(BaseClient, on_delete=models.CASCADE, related_name="scores",
                               verbose_name=_("base client"))
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="+", verbose_name=_("criterion"),
                                  db_index=False)
    points = models.PositiveSmallIntegerField(_("points"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("criterion score")
        verbose_name_plural = _("criterion scores")
        constraints = [models.UniqueConstraint(fields=["client", "criterion"], name="clientscore_once")]


class ScoreRecord(models.Model):
    """Append-only: one scoring of a client (who, when, the criterion scores before and after, the totals and the
    tier that resulted)."""

    scope = CLIENT_CHILD_SCOPE

    client = models.ForeignKey(BaseClient, on_delete=models.PROTECT, related_name="score_records",
                               verbose_name=_("base client"))
    at = models.DateTimeField(_("when"), default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+",
                           verbose_name=_("by"), db_index=False)
    before = models.JSONField(_("scores before"), default=dict)
    after = models.JSONField(_("scores after"), default=dict)
    loyalty_before = models.PositiveIntegerField(_("loyalty before"), default=0)
    loyalty_after = models.PositiveIntegerField(_("loyalty after"), default=0)
    power_before = models.PositiveIntegerField(_("power before"), default=0)
    power_after = models.PositiveIntegerField(_("power after"), default=0)
    tier_after = models.CharField(_("tier after"), max_length=20, choices=Tier.choices)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("score record")
        verbose_name_plural = _("score records")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["client", "at"], name="scorerecord_client_at")]


class TierChange(models.Model):
    """Append-only: every change of a client's tier, by a person (scoring), a deal or the re-tier job; ``cause`` says
    which. The tier a client held at a moment is the ``to_tier`` of its latest row at or before it (a client's first
    row, cause ``initial`` when backfilled, says the tier held since the history began)."""

    scope = CLIENT_CHILD_SCOPE

    client = models.ForeignKey(BaseClient, on_delete=models.PROTECT, related_name="tier_changes",
                               verbose_name=_("base client"), db_constraint=False)
    from_tier = models.CharField(_("from"), max_length=20, choices=Tier.choices, blank=True)
    to_tier = models.CharField(_("to"), max_length=20, choices=Tier.choices)
    basis = models.CharField(_("decided by"), max_length=20, choices=TierBasis.choices)
    cause = models.CharField(_("cause"), max_length=20, choices=TierCause.choices, default=TierCause.SCORING)
    loyalty = models.PositiveIntegerField(_("loyalty"), default=0)
    power = models.PositiveIntegerField(_("economic power"), default=0)
    at = models.DateTimeField(_("when"), default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                           related_name="+", verbose_name=_("by"), db_index=False, db_constraint=False)
    # The consultant holding the client at the time (tier movement per consultant).
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", verbose_name=_("consultant"), db_index=False, db_constraint=False)
    job_run = models.ForeignKey("dealercrm.JobRun", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+", verbose_name=_("job run"), db_index=False, db_constraint=False)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["client", "at"], name="tierchange_client_at"),
                   models.Index(fields=["at"], name="tierchange_at")]

    @property
    def is_up(self) -> bool:
        if not self.from_tier:
            return False
        return TIER_ORDER.index(self.to_tier) > TIER_ORDER.index(self.from_tier)


class CareChannel(models.TextChoices):
    PHONE = "phone", _("Phone call")
    VISIT = "visit", _("Visit")
    WECHAT = "wechat", _("WeChat")
    SMS = "sms", _("SMS")
    MAIL = "mail", _("Letter / mail")


class CareKind(models.TextChoices):
    CALL = "call", _("Care call")
    VISIT = "visit", _("Care visit")
    BIRTHDAY = "birthday", _("Birthday greeting")
    HOLIDAY = "holiday", _("Holiday greeting")
    CLUB_EVENT = "club_event", _("Club-event invitation")
    NEWS = "news", _("Promotion and new-model news")
    OBJECTION = "objection", _("Objection handling")
    DELIVERY_VISIT = "delivery_visit", _("Post-delivery visit")
    FIRST_MAINTENANCE = "first_maintenance", _("First maintenance reminder")
    INSURANCE_RENEWAL = "insurance_renewal", _("Insurance renewal reminder")
    INSPECTION = "inspection", _("Annual inspection reminder")
    REVIEW = "review", _("Yearly review: re-score the client")
    REPURCHASE = "repurchase", _("Replacement reminder (vehicle age or mileage)")
    FLEET_GROWTH = "fleet_growth", _("Fleet growth plan reminder")


# Kinds planned from a vehicle's dates rather than from the calendar.
VEHICLE_KINDS = {CareKind.DELIVERY_VISIT, CareKind.FIRST_MAINTENANCE, CareKind.INSURANCE_RENEWAL, CareKind.INSPECTION}


class CarePlanItem(models.Model):
    """One item of a group's care plan. ``tier`` blank: every tier. Recurring items repeat every ``every_months``
    from the client's care anchor; greetings fall on the birthday or on ``on_month``/``on_day``; vehicle-dated items
    fall ``offset_days`` after the delivery (delivery visit, first maintenance) or before the insurance/registration
    anniversary (every ``every_months``; inspection per vehicle ``use``)."""

    scope = Scope(group="group", store="group__stores")

    group = models.ForeignKey("dealercrm.DealerGroup", on_delete=models.CASCADE, related_name="+",
                              verbose_name=_("dealer group"))
    tier = models.CharField(_("tier"), max_length=20, choices=Tier.choices, blank=True,
                            help_text=_("Blank: every tier."))
    kind = models.CharField(_("kind"), max_length=30, choices=CareKind.choices)
    channel = models.CharField(_("channel"), max_length=20, choices=CareChannel.choices)
    every_months = models.PositiveSmallIntegerField(_("every (months)"), null=True, blank=True,
                                                    validators=[MinValueValidator(1), MaxValueValidator(120)])
    offset_days = models.SmallIntegerField(_("offset (days)"), default=0)
    on_month = models.PositiveSmallIntegerField(_("month"), null=True, blank=True,
                                                validators=[MinValueValidator(1), MaxValueValidator(12)])
    on_day = models.PositiveSmallIntegerField(_("day"), null=True, blank=True,
                                              validators=[MinValueValidator(1), MaxValueValidator(28)])
    vehicle_use = models.CharField(_("vehicle use"), max_length=20, choices=VehicleUse.choices, blank=True,
                                   help_text=_("Inspection reminders: only vehicles of this use (blank: every "
                                               "vehicle). The interval is the group's inspection rule."))
    title = models.CharField(_("title (Chinese)"), max_length=80)
    title_en = models.CharField(_("title (English)"), max_length=80)
    is_active = models.BooleanField(_("in use"), default=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("care plan item")
        verbose_name_plural = _("care plan items")
        ordering = ["group_id", "tier", "kind", "id"]

    def __str__(self):
        return self.label

    @property
    def label(self) -> str:
        return self.title_en if (get_language() or "").startswith("en") else self.title


class CareStatus(models.TextChoices):
    PENDING = "pending", _("To do")
    DONE = "done", _("Done")
    SKIPPED = "skipped", _("Skipped")


class CareOutcome(models.TextChoices):
    REACHED = "reached", _("Reached")
    NO_ANSWER = "no_answer", _("No answer")
    VISITED = "visited", _("Visited")
    DECLINED = "declined", _("Declined")


class CareTaskQuerySet(ScopedQuerySet):
    def pending(self):
        return self.filter(status=CareStatus.PENDING)

    def overdue(self, today=None):
        return self.filter(status=CareStatus.PENDING, due_on__lt=today or timezone.localdate())


class CareTask(models.Model):
    """A planned care contact: one per client, plan item and due date (re-planning creates nothing twice).
    ``store``/``assigned_to`` are the client's, copied so the consultant's queue is one index range."""

    scope = Scope(group="client__group", store="store", owner="assigned_to")

    client = models.ForeignKey(BaseClient, on_delete=models.CASCADE, related_name="care_tasks",
                               verbose_name=_("base client"), db_index=False)
    item = models.ForeignKey(CarePlanItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("plan item"), db_index=False)
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
                                verbose_name=_("vehicle"), db_index=False)
    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+",
                              verbose_name=_("store"), db_index=False)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("consultant"), db_index=False)
    kind = models.CharField(_("kind"), max_length=30, choices=CareKind.choices)
    channel = models.CharField(_("channel"), max_length=20, choices=CareChannel.choices)
    due_on = models.DateField(_("due"))
    status = models.CharField(_("status"), max_length=20, choices=CareStatus.choices, default=CareStatus.PENDING)
    # Set by the overdue job (like a lead's OverdueFlag): the task was still pending after its due day.
    overdue_flagged_at = models.DateTimeField(_("flagged overdue at"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=CareOutcome.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+", verbose_name=_("done by"), db_index=False)
    # The fleet's growth plan heard at this contact ("plans to add N vehicles by <month>"): the care job makes a
    # fleet-growth reminder from it (services.repurchase).
    plan_vehicles = models.PositiveSmallIntegerField(_("plans to add (vehicles)"), null=True, blank=True)
    plan_by = models.DateField(_("by (month)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = CareTaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("care task")
        verbose_name_plural = _("care tasks")
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "item", "due_on"], name="caretask_once_per_item_day"),
            models.CheckConstraint(condition=Q(status="pending") | Q(done_at__isnull=False),
                                   name="caretask_closed_has_time"),
            # Repurchase reminders are made once: one replacement reminder per vehicle, one growth reminder per
            # client and due day (the plan's month).
            models.UniqueConstraint(fields=["vehicle"], condition=Q(kind="repurchase"),
                                    name="caretask_repurchase_once_per_vehicle"),
            models.UniqueConstraint(fields=["client", "due_on"], condition=Q(kind="fleet_growth"),
                                    name="caretask_fleet_growth_once"),
        ]
        indexes = [
            models.Index(fields=["assigned_to", "due_on"], condition=Q(status="pending"),
                         name="caretask_owner_pending"),
            models.Index(fields=["store", "due_on"], include=["status", "assigned_to", "done_at"],
                         name="caretask_store_due"),
            # A store's open care (the manager's workspace and queue): the pending few, not two years of history.
            models.Index(fields=["store", "due_on"], condition=Q(status="pending"), name="caretask_store_pending"),
            # What a consultant did on a day or week (the work plans' record): his done tasks by when, not the
            # store's two years of care.
            models.Index(fields=["done_by", "done_at"], condition=Q(status="done"), name="caretask_done_by_at"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.due_on}"

    @property
    def is_overdue(self) -> bool:
        return self.status == CareStatus.PENDING and self.due_on < timezone.localdate()

    @property
    def on_time(self) -> bool | None:
        if self.status != CareStatus.DONE or self.done_at is None:
            return None
        return timezone.localtime(self.done_at).date() <= self.due_on


class ClientContact(models.Model):
    """A call or visit logged on the client outside the plan (or for it): kept in the care history, and it closes
    the matching pending care task (same channel, due within a week) when there is one (``task``)."""

    scope = CLIENT_CHILD_SCOPE

    client = models.ForeignKey(BaseClient, on_delete=models.CASCADE, related_name="contacts",
                               verbose_name=_("base client"), db_index=False)
    channel = models.CharField(_("method"), max_length=20, choices=CareChannel.choices)
    outcome = models.CharField(_("outcome"), max_length=20, choices=CareOutcome.choices)
    content = models.TextField(_("what was said or done"), blank=True)
    task = models.OneToOneField(CareTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="contact",
                                verbose_name=_("care task closed"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                           verbose_name=_("by"), db_index=False)
    at = models.DateTimeField(_("at"), default=timezone.now)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("client contact")
        verbose_name_plural = _("client contacts")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["client", "-at"], name="clientcontact_client_at")]

    def __str__(self):
        return f"{self.get_channel_display()} {self.at:%Y-%m-%d}"


class DoNotContact(models.Model):
    """The client refused a kind of contact: nothing of that channel is planned for them."""

    scope = CLIENT_CHILD_SCOPE

    client = models.ForeignKey(BaseClient, on_delete=models.CASCADE, related_name="do_not_contact",
                               verbose_name=_("base client"))
    channel = models.CharField(_("channel"), max_length=20, choices=CareChannel.choices)
    reason = models.CharField(_("reason"), max_length=200)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+",
                           verbose_name=_("by"), db_index=False)
    at = models.DateTimeField(_("since"), default=timezone.now)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("do not contact")
        verbose_name_plural = _("do not contact")
        constraints = [models.UniqueConstraint(fields=["client", "channel"], name="donotcontact_once")]


class ReferralType(models.TextChoices):
    """Typed referral types (first-time / repeat referrer are derived from the referrer's history)."""

    OLD_USER = "old_user", _("Old-user referral")
    SAME_INDUSTRY = "same_industry", _("Same-industry referral")
    SAME_REGION = "same_region", _("Same-region referral")
    FRIENDS_FAMILY = "friends_family", _("Friends/family referral")


class DerivedReferralType(models.TextChoices):
    FIRST_TIME = "first_time", _("First-time referrer")
    REPEAT = "repeat", _("Repeat referrer")


class Referral(models.Model):
    """A lead's referrer: a base client of the lead's group or a member of its staff, with the typed types (at most
    two). ``sequence`` is the referrer's n-th referral (1: first-time referrer, more: repeat referrer)."""

    scope = Scope(group="lead__store__group", store="lead__store", owner="lead__assigned_to")

    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, related_name="referral",
                                verbose_name=_("lead"))
    referrer_client = models.ForeignKey(BaseClient, on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="referrals", verbose_name=_("referring base client"))
    referrer_staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="+", verbose_name=_("referring staff member"), db_index=False)
    types = models.JSONField(_("referral types"), default=list, blank=True)
    sequence = models.PositiveIntegerField(_("referral number"), default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+",
                                   verbose_name=_("by"), db_index=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(referrer_client__isnull=False, referrer_staff__isnull=True)
                           | Q(referrer_client__isnull=True, referrer_staff__isnull=False)),
                name="referral_one_referrer",
            ),
        ]

    @property
    def derived_type(self) -> str:
        return DerivedReferralType.FIRST_TIME if self.sequence <= 1 else DerivedReferralType.REPEAT


class Recognition(models.Model):
    """The suggested recognition for a referral type, per group (managers may change it)."""

    scope = Scope(group="group", store="group__stores")

    group = models.ForeignKey("dealercrm.DealerGroup", on_delete=models.CASCADE, related_name="+",
                              verbose_name=_("dealer group"))
    referral_type = models.CharField(_("referral type"), max_length=20)
    text = models.CharField(_("recognition (Chinese)"), max_length=200)
    text_en = models.CharField(_("recognition (English)"), max_length=200)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("referral recognition")
        verbose_name_plural = _("referral recognitions")
        constraints = [models.UniqueConstraint(fields=["group", "referral_type"], name="recognition_once")]

    @property
    def label(self) -> str:
        return self.text_en if (get_language() or "").startswith("en") else self.text


class Purchase(models.Model):
    """A deal of a base client: the first makes the card, a later one is a repeat purchase; a deal whose lead
    names a referrer is a referral deal."""

    scope = CLIENT_CHILD_SCOPE

    client = models.ForeignKey(BaseClient, on_delete=models.PROTECT, related_name="purchase_rows",
                               verbose_name=_("base client"))
    deal = models.OneToOneField("leads.Deal", on_delete=models.PROTECT, related_name="purchase",
                                verbose_name=_("deal"))
    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="+", db_index=False,
                              verbose_name=_("store"))
    at = models.DateField(_("order date"))
    is_repeat = models.BooleanField(_("repeat purchase"), default=False)
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                 verbose_name=_("referral"), db_index=False)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["store", "at"], name="purchase_store_at")]


class ClientLead(models.Model):
    """A lead of a known base client: a returning buyer's new lead (a repeat purchase in the making) or the lead
    whose deal made the card."""

    scope = Scope(group="lead__store__group", store="lead__store", owner="lead__assigned_to")

    client = models.ForeignKey(BaseClient, on_delete=models.CASCADE, related_name="client_leads",
                               verbose_name=_("base client"))
    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, related_name="base_client_link",
                                verbose_name=_("lead"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("base client's lead")
        verbose_name_plural = _("base clients' leads")


class ListKind(models.TextChoices):
    REGION = "region", _("Region (district/county)")
    INDUSTRY = "industry", _("Industry")


class ListEntry(models.Model):
    """One entry of a group's list of regions or of industries: the name cards carry, and the other spellings
    (``aliases``) that mean it, so one district is counted once in the concentration tables. Kept by the group admin;
    a deal's lead with a spelling not on the list adds it as an entry, to be merged into the right one."""

    scope = Scope(group="group", store="group__stores")

    group = models.ForeignKey("dealercrm.DealerGroup", on_delete=models.CASCADE, related_name="+",
                              verbose_name=_("dealer group"))
    kind = models.CharField(_("list"), max_length=20, choices=ListKind.choices)
    name = models.CharField(_("name"), max_length=60)
    aliases = models.JSONField(_("other spellings"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("region or industry")
        verbose_name_plural = _("regions and industries")
        ordering = ["group_id", "kind", "name"]
        constraints = [models.UniqueConstraint(fields=["group", "kind", "name"], name="listentry_unique_name")]

    def __str__(self):
        return self.name
