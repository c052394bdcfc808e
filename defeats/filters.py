"""List filters of the defeats API (and the lead list's "application pending" is ``status=defeat_pending`` there)."""

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import (
    Application,
    ApplicationStatus,
    Kind,
    PoolEntry,
    PoolList,
    PoolStatus,
    PostMortem,
    PostMortemOutcome,
    PostMortemStatus,
    pool_search_condition,
)
from .postmortems import search_condition


class ApplicationFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ApplicationStatus.choices, label=_("Status"))
    kind = django_filters.ChoiceFilter(choices=Kind.choices, label=_("Kind"))
    store = django_filters.NumberFilter(field_name="store_id", label=_("Store"))
    consultant = django_filters.NumberFilter(field_name="consultant_id", label=_("Consultant"))
    lead = django_filters.NumberFilter(field_name="lead_id", label=_("Lead"))
    reason = django_filters.CharFilter(method="filter_reason", label=_("Reason code"))
    competitor_brand = django_filters.NumberFilter(field_name="competitor_brand_id", label=_("Competitor brand"))
    applied_after = django_filters.DateFilter(field_name="applied_at", lookup_expr="date__gte", label=_("Filed from"))
    applied_before = django_filters.DateFilter(field_name="applied_at", lookup_expr="date__lte", label=_("Filed until"))
    ordering = django_filters.OrderingFilter(fields=(("applied_at", "applied_at"), ("decided_at", "decided_at")))

    class Meta:
        model = Application
        fields = ["status", "kind", "store", "consultant", "lead", "reason", "competitor_brand"]

    def filter_reason(self, queryset, name, value):
        return queryset.filter(reasons__code=value).distinct()

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not queryset.query.order_by:
            queryset = queryset.order_by("-applied_at", "-pk")
        return queryset


class PoolFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Name, phone or series"))
    store = django_filters.NumberFilter(field_name="store_id", label=_("Store"))
    competitor_brand = django_filters.NumberFilter(field_name="competitor_brand_id", label=_("Competitor brand"))
    competitor_series = django_filters.NumberFilter(field_name="competitor_series_id", label=_("Competitor series"))
    status = django_filters.ChoiceFilter(choices=PoolStatus.choices, label=_("Status"))
    list = django_filters.ChoiceFilter(choices=PoolList.choices, label=_("List"))
    due = django_filters.BooleanFilter(method="filter_due", label=_("A contact is due"))

    class Meta:
        model = PoolEntry
        fields = ["q", "store", "competitor_brand", "competitor_series", "status", "list"]

    def filter_q(self, queryset, name, value):
        return queryset.filter(pool_search_condition(value, user=getattr(self.request, "user", None)))

    def filter_due(self, queryset, name, value):
        now = timezone.now()
        due = Q(status=PoolStatus.IN_POOL) & (Q(next_contact_at__lte=now)
                                              | Q(replacement_due_on__lte=timezone.localdate(now)))
        return queryset.filter(due) if value else queryset.exclude(due)

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset).order_by("next_contact_at", "pk")


class PostMortemFilterSet(django_filters.FilterSet):
    """The lessons library's filters, for its page and ``GET /api/v1/post-mortems/``."""

    reason = django_filters.NumberFilter(method="filter_reason", label=_("Cause"),
                                         help_text=_("A defeat reason's id: post-mortems with this cause, or with a "
                                                     "cause under it when it is a category."))
    competitor = django_filters.NumberFilter(field_name="competitor_series__brand_id", label=_("Competitor brand"),
                                             help_text=_("A competitor brand's id."))
    series = django_filters.NumberFilter(method="filter_series", label=_("Series"),
                                         help_text=_("A series id: our series or the competitor's."))
    grade = django_filters.ChoiceFilter(field_name="turned_at_grade", choices=[(g, g) for g in "ABCDE"],
                                        label=_("Grade where it turned"), empty_label=_("— any grade —"))
    status = django_filters.ChoiceFilter(choices=PostMortemStatus.choices, label=_("Status"))
    outcome = django_filters.ChoiceFilter(choices=PostMortemOutcome.choices, label=_("Outcome"))
    consultant = django_filters.NumberFilter(field_name="consultant_id", label=_("Consultant"))
    q = django_filters.CharFilter(method="filter_q", label=_("Search the lessons"),
                                  help_text=_("Words in what happened, the lesson or the manager's comment."))

    class Meta:
        model = PostMortem
        fields = ["reason", "competitor", "series", "grade", "status", "outcome", "consultant", "q"]

    def filter_reason(self, queryset, name, value):
        through = PostMortem.reasons.through.objects.filter(Q(reason_id=value) | Q(reason__parent_id=value))
        return queryset.filter(pk__in=through.values("postmortem_id"))

    def filter_series(self, queryset, name, value):
        return queryset.filter(Q(our_series_id=value) | Q(competitor_series_id=value))

    def filter_q(self, queryset, name, value):
        return queryset.filter(search_condition(value))

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset).order_by("-opened_at", "-pk")
