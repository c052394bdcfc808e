from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from dealercrm.api.dates import date_in_range
from dealercrm.models import Store, User
from leads import deal_bases
from leads.models import Source

from ..models import MarketEstimate, Target
from ..selectors import GROUP_BY

MAX_DAYS = 3 * 366  # a longer range is a mistake or an attack, not a question a manager asks


# --- query input ------------------------------------------------------------------------------------------------


class SliceQuerySerializer(serializers.Serializer):
    """The slice and period of a metrics or ladder query. Defaults: the current month to date."""

    store = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    start = serializers.DateField(required=False, validators=[date_in_range])
    end = serializers.DateField(required=False, validators=[date_in_range])
    consultant = serializers.IntegerField(required=False, min_value=1)
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    channel = serializers.IntegerField(required=False, min_value=1)
    series = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs):
        today = timezone.localdate()
        attrs.setdefault("end", today)
        attrs.setdefault("start", attrs["end"].replace(day=1))
        if attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"start": [_("The start must not be after the end.")]})
        if attrs["end"] - attrs["start"] > timedelta(days=MAX_DAYS):
            raise serializers.ValidationError({"end": [_("Ask for at most three years at a time.")]})
        return attrs


class MetricsQuerySerializer(SliceQuerySerializer):
    group_by = serializers.ChoiceField(choices=GROUP_BY, required=False)


# A planner's rate is 0 or at least 0.0001 (rates are given to 4 decimals): a rate like 1e-320 makes a required value
# no float can hold (infinity is not JSON), and no showroom converts one customer in 10^320.
MIN_RATE = 0.0001
MAX_UNITS = 1_000_000  # a month's unit target (the planner page's bound)
MAX_TRAFFIC = 10_000_000  # N, customers (the planner page's bound)


def rate_value(value: float | None) -> None:
    if value is not None and 0 < value < MIN_RATE:
        raise serializers.ValidationError(_("Give a rate of 0 or at least 0.0001."), code="rate_too_small")


def _planner_rate(**kwargs):
    return serializers.FloatField(min_value=0, max_value=1, validators=[rate_value],
                                  help_text="0, or 0.0001 to 1.", **kwargs)


class LeverPlanInputSerializer(serializers.Serializer):
    target_units = serializers.IntegerField(min_value=0, max_value=MAX_UNITS)
    N = serializers.IntegerField(min_value=0, max_value=MAX_TRAFFIC)
    K = _planner_rate()
    F = _planner_rate()
    C = _planner_rate()


class RungRatesSerializer(serializers.Serializer):
    def get_fields(self):
        return {rung: _planner_rate(required=False, allow_null=True) for rung in ("E->D", "D->C", "C->B", "B->A")}


class LadderPlanInputSerializer(serializers.Serializer):
    target_units = serializers.IntegerField(min_value=0, max_value=MAX_UNITS, required=False)
    target_revenue = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    average_order_value = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    promotion_rates = RungRatesSerializer(required=False)
    store = serializers.IntegerField(min_value=1, required=False)

    def validate(self, attrs):
        if attrs.get("target_units") is None:
            if attrs.get("target_revenue") is None or not attrs.get("average_order_value"):
                raise serializers.ValidationError(
                    {"target_units": [_("Give target_units, or target_revenue with a positive average_order_value.")]}
                )
        return attrs


class ProgressQuerySerializer(serializers.Serializer):
    store = serializers.IntegerField(min_value=1, required=False)
    month = serializers.DateField(required=False, input_formats=["%Y-%m", "%Y-%m-%d"], validators=[date_in_range])


# --- output (documentation of the shapes the selectors return) --------------------------------------------------


def _rate(help_text=""):
    return serializers.FloatField(allow_null=True, min_value=0, max_value=1, help_text=help_text)


class NBySourceSerializer(serializers.Serializer):
    walk_in = serializers.IntegerField()
    referral = serializers.IntegerField()
    outbound = serializers.IntegerField()


class GradeSharesSerializer(serializers.Serializer):
    def get_fields(self):
        return {g: _rate() for g in "ABCDE"}


class FiguresSerializer(serializers.Serializer):
    N = serializers.IntegerField(help_text="Cohort size: leads whose first visit falls in the period.")
    N_by_source = NBySourceSerializer()
    revisits = serializers.IntegerField(help_text="Re-visits in the period (not in N).")
    valid = serializers.IntegerField(help_text="Cohort leads with a phone and a grade (as of the period's end).")
    K = _rate("valid / N")
    P = GradeSharesSerializer(help_text="Each grade's share among the graded valid leads; sums to 1.")
    followed = serializers.IntegerField(help_text="Valid leads with a follow-up after the first visit (or won).")
    F = _rate("followed / valid")
    deals = serializers.IntegerField(help_text=deal_bases.described(deal_bases.COHORT, "Won leads of the cohort."))
    C = _rate("deals / followed")
    M = serializers.IntegerField(allow_null=True, help_text="Market estimate prorated over the period.")
    penetration = _rate("N / M")


class GroupFiguresSerializer(FiguresSerializer):
    key = serializers.CharField(help_text="The group: a date (YYYY-MM-DD, the period's first day) or an id/code.")
    label = serializers.CharField(allow_null=True)


class GroupedMetricsSerializer(serializers.Serializer):
    results = GroupFiguresSerializer(many=True)
    total = FiguresSerializer()


class RungsSerializer(serializers.Serializer):
    def get_fields(self):
        return {rung: _rate() for rung in ("E->D", "D->C", "C->B", "B->A", "E->A")}


class GradeCountsSerializer(serializers.Serializer):
    def get_fields(self):
        return {g: serializers.IntegerField(min_value=0) for g in "ABCDE"}


class RungCountsSerializer(serializers.Serializer):
    def get_fields(self):
        return {rung: serializers.IntegerField(min_value=0) for rung in ("E->D", "D->C", "C->B", "B->A", "E->A")}


class LadderSerializer(serializers.Serializer):
    counts = GradeCountsSerializer(help_text="Active leads per grade now (counts, not rates).")
    ungraded = serializers.IntegerField(min_value=0)
    promotion_rates = RungsSerializer()
    held = RungCountsSerializer(help_text="Leads that held the lower grade during the period.")
    promoted = RungCountsSerializer(help_text="Of those, the leads that moved up.")
    by_consultant = serializers.ListField(child=serializers.DictField())


class LeverPlanSerializer(serializers.Serializer):
    projected_units = serializers.FloatField()
    required = serializers.DictField(child=serializers.FloatField(allow_null=True))
    unreachable = serializers.ListField(child=serializers.CharField())


# --- targets and market estimates -------------------------------------------------------------------------------


class MarketEstimateSerializer(serializers.ModelSerializer):
    store = serializers.PrimaryKeyRelatedField(queryset=Store.objects.none())

    class Meta:
        model = MarketEstimate
        fields = ["id", "store", "month", "estimate", "note", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        validators = []  # one per store and month: the service replaces the existing row

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["store"].queryset = Store.objects.visible_to(request.user)


class TargetSerializer(serializers.ModelSerializer):
    store = serializers.PrimaryKeyRelatedField(queryset=Store.objects.none())
    consultant = serializers.PrimaryKeyRelatedField(queryset=User.objects.none(), required=False, allow_null=True)
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False, default=0)
    average_order_value = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, required=False, allow_null=True
    )

    class Meta:
        model = Target
        fields = ["id", "store", "consultant", "month", "units", "revenue", "average_order_value", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        validators = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["store"].queryset = Store.objects.visible_to(request.user)
            self.fields["consultant"].queryset = User.objects.visible_to(request.user)
