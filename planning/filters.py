"""The work plans' list filters (``GET /api/v1/work-plans/``)."""

import django_filters
from django.utils.translation import gettext_lazy as _

from .models import Period, WorkPlan


class WorkPlanFilterSet(django_filters.FilterSet):
    consultant = django_filters.NumberFilter(field_name="consultant_id", label=_("Consultant"))
    period = django_filters.ChoiceFilter(choices=Period.choices, label=_("Period"))
    start = django_filters.DateFilter(field_name="start", label=_("First day"))

    class Meta:
        model = WorkPlan
        fields = ["consultant", "period", "start"]

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset).order_by("-start", "consultant_id", "period", "pk")
