"""One FilterSet for the /leads/ page and /api/v1/leads/ (STYLE: one filter, two interfaces)."""

from datetime import datetime, time, timedelta

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dealercrm.api.dates import date_in_range
from dealercrm.models import Role, Store, User, VehicleSeries

from .models import Channel, Grade, Lead, Source, Status, local_day_start, phone_readable_by, phone_search_condition

__all__ = ["LeadFilterSet", "phone_readable_by"]


def _day_start(value) -> datetime:
    return timezone.make_aware(datetime.combine(value, time.min))


def _holder_label(user: User) -> str:
    if user.role == Role.MANAGER:
        return _("%(name)s (manager)") % {"name": user}
    return str(user)


class LeadOrdering(django_filters.OrderingFilter):
    """The sort menu in the page's language: django-filter builds "<field> (descending)" from its own catalogue,
    which has no zh-hans, and labels fields by their code names ("Next follow up")."""

    def build_choices(self, fields, labels):
        return [
            ("-first_visit", _("Newest first visit first")),
            ("first_visit", _("Oldest first visit first")),
            ("next_follow_up", _("Next follow-up: soonest first")),
            ("-next_follow_up", _("Next follow-up: latest first")),
            ("grade", _("Grade: A to E")),
            ("-grade", _("Grade: E to A")),
            ("name", _("Name: A to Z")),
            ("-name", _("Name: Z to A")),
        ]


class LeadFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Name or phone"))
    # One row per lead whatever grades are picked (grade is a column of the lead): no DISTINCT over every column.
    grade = django_filters.MultipleChoiceFilter(choices=Grade.choices, label=_("Grade"), distinct=False)
    ungraded = django_filters.BooleanFilter(field_name="grade", lookup_expr="isnull", label=_("Ungraded"))
    store = django_filters.ModelChoiceFilter(queryset=Store.objects.none(), label=_("Store"))
    status = django_filters.ChoiceFilter(choices=Status.choices, label=_("Status"))
    source = django_filters.ChoiceFilter(choices=Source.choices, label=_("Source"))
    channel = django_filters.ModelChoiceFilter(queryset=Channel.objects.filter(is_active=True), label=_("Channel"))
    series = django_filters.ModelChoiceFilter(
        queryset=VehicleSeries.objects.filter(brand__is_own=True).select_related("brand"), label=_("Series")
    )
    assigned_to = django_filters.ModelChoiceFilter(queryset=User.objects.none(), label=_("Consultant"))
    due = django_filters.ChoiceFilter(
        method="filter_due",
        choices=[("today", _("Due today")), ("week", _("Due within 7 days"))],
        label=_("Follow-up due"),
    )
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("Overdue"))
    stale = django_filters.BooleanFilter(method="filter_stale", label=_("Stale"))
    # Bounded (dealercrm.api.dates): 9999-12-31 "to" overflowed the day after; 0001-01-01 in Asia/Shanghai is before
    # year 1 in UTC. Out of range is a form error (page) or a 400 (API), never a server error.
    first_visit_after = django_filters.DateFilter(method="filter_first_visit_after", label=_("First visit from"),
                                                  validators=[date_in_range])
    first_visit_before = django_filters.DateFilter(method="filter_first_visit_before", label=_("First visit to"),
                                                   validators=[date_in_range])
    ordering = LeadOrdering(
        fields=(("first_visit_at", "first_visit"), ("next_follow_up_at", "next_follow_up"), ("grade", "grade"),
                ("name", "name")),
        label=_("Order by"),
    )

    class Meta:
        model = Lead
        fields = ["q", "grade", "ungraded", "status", "source", "channel", "series", "assigned_to", "store"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # Consultants the caller may see: a manager's store, a group admin's group; a consultant only themself.
            # Managers hold leads too (a defeated customer goes to the store's pool owner, by default its manager),
            # so they stay in the list, marked as what they are.
            self.filters["assigned_to"].queryset = User.objects.visible_to(user).filter(role__in=["consultant", "manager"])
            self.filters["assigned_to"].field.label_from_instance = _holder_label
            self.filters["store"].queryset = Store.objects.visible_to(user)

    def filter_queryset(self, queryset):
        # A unique tie-breaker, so page-number pagination is stable whatever the chosen order.
        queryset = super().filter_queryset(queryset)
        order = queryset.query.order_by or Lead._meta.ordering
        return queryset.order_by(*order, "-pk") if "-pk" not in order and "pk" not in order else queryset

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # A masked phone (138****8000) must not be recoverable by narrowing a search on its hidden digits: digits
        # match only among the phones the caller sees in full (LeadQuerySet.phone_search's rule).
        condition = Q(name__icontains=value) | phone_search_condition(getattr(self.request, "user", None), value)
        return queryset.filter(condition)

    def filter_due(self, queryset, name, value):
        start = local_day_start()
        days = 1 if value == "today" else 7
        return queryset.filter(status=Status.ACTIVE, next_follow_up_at__gte=start,
                               next_follow_up_at__lt=start + timedelta(days=days))

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        overdue = queryset.overdue()
        # Most days overdue first (a sort the user picks still wins: the ordering filter runs after this one).
        return overdue.order_by("next_follow_up_at") if value else queryset.exclude(pk__in=overdue.values("pk"))

    def filter_stale(self, queryset, name, value):
        """Flagged stale by the job (past its grade's max dwell, not kept); ``false``: not flagged."""
        if value is None:
            return queryset
        return queryset.filter(stale_flag__isnull=not value, **({"status": Status.ACTIVE} if value else {}))

    def filter_first_visit_after(self, queryset, name, value):
        return queryset.filter(first_visit_at__gte=_day_start(value))

    def filter_first_visit_before(self, queryset, name, value):
        return queryset.filter(first_visit_at__lt=_day_start(value) + timedelta(days=1))
