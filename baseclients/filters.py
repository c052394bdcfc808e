"""One FilterSet for the base-client list page and /api/v1/base-clients/, one for care tasks (page and API)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dealercrm.models import Role, Store, User
from leads.phones import phone_search_digits

from .models import BaseClient, CareKind, CareStatus, CareTask, Tier, Vehicle, phone_search_condition


def search_condition(text: str, *, user) -> Q:
    """Name, phone, plate or VIN (case-insensitive, 4+ characters). The phone by the one rule of base-client phone
    searches (``BaseClientQuerySet.phone_search``): its digits among the phones ``user`` sees in full, the whole
    number elsewhere, so a search never unmasks a phone. Plates and VINs are shown in full to whoever sees the
    client, and match only among the clients the list already holds (its rows are ``visible_to(user)``)."""
    text = (text or "").strip()
    if not text:
        return Q()
    cond = Q(name__icontains=text)
    digits = phone_search_digits(text)
    if len(digits) >= 4 and len(digits) == len(text.replace(" ", "").replace("+86", "").replace("-", "")):
        cond |= phone_search_condition(user, text)
    compact = text.replace(" ", "").replace("·", "").upper()
    if len(compact) >= 4:
        cond |= Exists(Vehicle.objects.filter(client=OuterRef("pk")).filter(
            Q(plate__contains=compact) | Q(vin__contains=compact)))
    return cond


class AnyYesNo(forms.NullBooleanSelect):
    """A yes/no filter whose empty choice reads "Any" (Django's says "Unknown")."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = (("unknown", _("Any")), ("true", _("Yes")), ("false", _("No")))


class BaseClientFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Name, phone, plate or VIN"))
    # distinct=False: a tier IN (…) cannot repeat a row, and DISTINCT over every column sorted the store's clients.
    tier = django_filters.MultipleChoiceFilter(choices=Tier.choices, label=_("Tier"), distinct=False,
                                               widget=forms.CheckboxSelectMultiple)
    region = django_filters.CharFilter(field_name="region", label=_("Region"))
    industry = django_filters.CharFilter(field_name="industry", label=_("Industry"))
    store = django_filters.ModelChoiceFilter(queryset=Store.objects.none(), label=_("Store"))
    assigned_to = django_filters.ModelChoiceFilter(queryset=User.objects.none(), label=_("Consultant"))
    overdue_care = django_filters.BooleanFilter(method="filter_overdue", label=_("Has overdue care"), widget=AnyYesNo)
    birthday_this_month = django_filters.BooleanFilter(method="filter_birthday", label=_("Birthday this month"),
                                                       widget=AnyYesNo)

    class Meta:
        model = BaseClient
        fields = ["q", "tier", "region", "industry", "store", "assigned_to", "overdue_care", "birthday_this_month"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        user = user or getattr(self.request, "user", None)
        self.user = user
        if user is not None:
            self.filters["store"].queryset = Store.objects.visible_to(user)
            self.filters["assigned_to"].queryset = User.objects.visible_to(user).filter(
                role__in=[Role.CONSULTANT, Role.MANAGER])

    def filter_q(self, queryset, name, value):
        return queryset.filter(search_condition(value, user=self.user))

    def filter_overdue(self, queryset, name, value):
        overdue = Exists(CareTask.objects.filter(client=OuterRef("pk"), status=CareStatus.PENDING,
                                                 due_on__lt=timezone.localdate()))
        return queryset.filter(overdue if value else ~overdue)

    def filter_birthday(self, queryset, name, value):
        month = timezone.localdate().month
        return queryset.filter(birthday__month=month) if value else queryset.exclude(birthday__month=month)


def care_search_condition(text: str, *, user) -> Q:
    """A care-queue search (the page's box, posted; ``GET /api/v1/…/care-tasks/?q=``): the client by
    ``search_condition`` (name, phone within the masking rule, plate, VIN) or a series of the client's vehicles
    (either name, case-insensitive)."""
    text = (text or "").strip()
    if not text:
        return Q()
    series = Q(series__name__icontains=text) | Q(series__name_en__icontains=text)
    return (Q(client__in=BaseClient.objects.filter(search_condition(text, user=user)).values("pk"))
            | Exists(Vehicle.objects.filter(series, client=OuterRef("client_id"))))


class CareTaskFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Name, phone or series"))
    base_client = django_filters.NumberFilter(field_name="client_id", label=_("Base client"))
    kind = django_filters.MultipleChoiceFilter(choices=CareKind.choices, label=_("Kind"), distinct=False)
    status = django_filters.ChoiceFilter(choices=CareStatus.choices, label=_("Status"))
    due_before = django_filters.DateFilter(field_name="due_on", lookup_expr="lte", label=_("Due on or before"))
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("Overdue"))
    assigned_to = django_filters.ModelChoiceFilter(queryset=User.objects.none(), label=_("Consultant"))

    class Meta:
        model = CareTask
        fields = ["q", "base_client", "kind", "status", "due_before", "overdue", "assigned_to"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        user = user or getattr(self.request, "user", None)
        self.user = user
        if user is not None:
            self.filters["assigned_to"].queryset = User.objects.visible_to(user).filter(
                role__in=[Role.CONSULTANT, Role.MANAGER])

    def filter_q(self, queryset, name, value):
        return queryset.filter(care_search_condition(value, user=self.user))

    def filter_overdue(self, queryset, name, value):
        cond = Q(status=CareStatus.PENDING, due_on__lt=timezone.localdate())
        return queryset.filter(cond) if value else queryset.exclude(cond)
