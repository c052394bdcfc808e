"""Company accounts (企业客户): a company that buys (a fleet, a few vans, the boss's car), its people and their part in
the purchase decision, and the qualification of a company's lead (need, ability to pay, willingness, authority).

A lead and a base client may name a company; the fleet it runs is counted from its base clients' vehicles
(``baseclients.selectors.company_fleet``), never typed. Imported by ``leads.models``."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from dealercrm.scoping import Role, Scope, ScopedQuerySet

from . import phones

# GB 32100-2015, the unified social credit code (统一社会信用代码): 18 characters from this set (no I, O, S, V, Z);
# the 18th is a check character over the first 17, with weights 3^i mod 31.
CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17: str) -> str:
    """The check character of a credit code's first 17 characters: 31 − (Σ value × weight mod 31), where 31 is
    written 0. ValueError for a character outside the code's set or a length other than 17."""
    if len(first17) != 17:
        raise ValueError("a credit code's body is 17 characters")
    total = sum(CREDIT_CODE_CHARS.index(ch) * w for ch, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31]


def credit_code_normalize(raw: str | None) -> str:
    """A credit code as typed (spaces, lower case) in its stored form: upper case, no spaces; "" for blank."""
    return "".join((raw or "").split()).upper()


def validate_credit_code(value: str) -> None:
    """Django validator: 18 characters of the code's set whose last is the check character of the first 17."""
    code = credit_code_normalize(value)
    if not code:
        return
    if len(code) != 18:
        raise ValidationError(_("A unified social credit code has 18 characters."), code="credit_code_length")
    bad = sorted({ch for ch in code if ch not in CREDIT_CODE_CHARS})
    if bad:
        raise ValidationError(_("A unified social credit code has no %(chars)s.") % {"chars": " ".join(bad)},
                              code="credit_code_chars")
    if credit_code_check_char(code[:17]) != code[17]:
        raise ValidationError(_("The check character does not match: check the code for a typo."),
                              code="credit_code_check")


class CompanySize(models.TextChoices):
    """Employees, in the bands the national enterprise-size rules use for services."""

    MICRO = "micro", _("Under 20 employees")
    SMALL = "small", _("20–99 employees")
    MEDIUM = "medium", _("100–499 employees")
    LARGE = "large", _("500 employees or more")


class DecisionRole(models.TextChoices):
    """A person's part in the company's purchase decision."""

    DECIDER = "decider", _("Decider")
    INFLUENCER = "influencer", _("Influencer")
    SUPPORTER = "supporter", _("Supporter")
    OPPONENT = "opponent", _("Opponent")


class Answer(models.TextChoices):
    YES = "yes", _("Yes")
    NO = "no", _("No")
    UNKNOWN = "unknown", _("Not known yet")


class CompanyQuerySet(ScopedQuerySet):
    def visible_to(self, user) -> CompanyQuerySet:
        """ScopedQuerySet's rules, with two for consultants: a consultant sees the companies they own or that one of
        their leads names (in their store); the store's fleet sales manager sees every company of the store."""
        if (user is not None and user.is_authenticated and user.is_active and not user.is_superuser
                and getattr(user, "role", None) == Role.CONSULTANT and user.store_id):
            mine = self.filter(store_id=user.store_id)
            if user.fleet_manager:
                return mine
            from .models import Lead  # same app: the lead model imports this module

            of_leads = Lead.objects.filter(assigned_to_id=user.pk, company__isnull=False).values("company_id")
            return mine.filter(Q(owner_id=user.pk) | Q(pk__in=of_leads))
        return super().visible_to(user)


class Company(models.Model):
    """A company account of a store (企业客户). ``credit_code`` is unique in the dealer group when given; ``group`` is
    the store's (kept by the service) so the database can hold that rule."""

    scope = Scope(group="group", store="store", owner="owner")

    group = models.ForeignKey("dealercrm.DealerGroup", on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("dealer group"), db_index=False)
    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="companies",
                              verbose_name=_("store"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="companies",
                              verbose_name=_("owner consultant"))
    name = models.CharField(_("company name"), max_length=100)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True,
                                   validators=[validate_credit_code])
    legal_representative = models.CharField(_("legal representative"), max_length=60, blank=True)
    industry = models.CharField(_("industry"), max_length=60, blank=True)
    size = models.CharField(_("size"), max_length=10, choices=CompanySize.choices, blank=True)
    turnover = models.DecimalField(_("annual turnover (CNY)"), max_digits=16, decimal_places=2, null=True,
                                   blank=True, validators=[MinValueValidator(0)])
    address = models.CharField(_("address"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+",
                                   verbose_name=_("created by"), db_index=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = CompanyQuerySet.as_manager()

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "credit_code"], condition=~Q(credit_code=""),
                                    name="company_unique_credit_code_in_group"),
            models.CheckConstraint(condition=Q(turnover__gte=0) | Q(turnover__isnull=True),
                                   name="company_turnover_not_negative"),
        ]
        indexes = [models.Index(fields=["store", "name"], name="company_store_name")]

    def __str__(self):
        return self.name


class PersonQuerySet(ScopedQuerySet):
    def visible_to(self, user) -> PersonQuerySet:
        """Whoever sees the company sees its people."""
        return self.filter(company__in=Company.objects.visible_to(user).values("pk"))


class CompanyPerson(models.Model):
    """One of the company's people in the purchase: who they are, their phone (masked like every phone), and their
    part in the decision (decider 决定者, influencer 影响者, supporter 支持者, opponent 反对者) with a note."""

    scope = Scope(group="company__group", store="company__store", owner="company__owner")

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="people", verbose_name=_("company"))
    name = models.CharField(_("name"), max_length=60)
    title = models.CharField(_("role or title"), max_length=60, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, help_text=_("E.164, e.g. +8613800138000"))
    decision_role = models.CharField(_("part in the decision"), max_length=12, choices=DecisionRole.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    objects = PersonQuerySet.as_manager()

    class Meta:
        verbose_name = _("company person")
        verbose_name_plural = _("company people")
        ordering = ["company_id", "sort_order", "id"]

    def __str__(self):
        return self.name

    @property
    def masked_phone(self) -> str:
        return phones.phone_mask(self.phone)


QUALIFICATION_POINTS = ("need", "ability", "willingness", "authority")


class Qualification(models.Model):
    """A company lead's qualification: does the company need vehicles (需求), can it pay (购买力), does it want to buy
    from us (意愿), and does the person we talk to decide (决策权)? Each yes, no or not known yet, with a note."""

    scope = Scope(group="lead__store__group", store="lead__store", owner="lead__assigned_to")

    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, related_name="qualification",
                                verbose_name=_("lead"))
    need = models.CharField(_("need"), max_length=10, choices=Answer.choices, default=Answer.UNKNOWN)
    need_note = models.CharField(_("need: note"), max_length=200, blank=True)
    ability = models.CharField(_("ability to pay"), max_length=10, choices=Answer.choices, default=Answer.UNKNOWN)
    ability_note = models.CharField(_("ability to pay: note"), max_length=200, blank=True)
    willingness = models.CharField(_("willingness"), max_length=10, choices=Answer.choices, default=Answer.UNKNOWN)
    willingness_note = models.CharField(_("willingness: note"), max_length=200, blank=True)
    authority = models.CharField(_("authority to decide"), max_length=10, choices=Answer.choices,
                                 default=Answer.UNKNOWN)
    authority_note = models.CharField(_("authority to decide: note"), max_length=200, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+",
                                   verbose_name=_("updated by"), db_index=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("qualification")
        verbose_name_plural = _("qualifications")

    @property
    def points(self) -> list[tuple[str, str, str, str]]:
        """(key, label, answer, note) for each of the four points, in the method's order."""
        return [(key, str(self._meta.get_field(key).verbose_name), getattr(self, key), getattr(self, f"{key}_note"))
                for key in QUALIFICATION_POINTS]
