"""The time-in-stage API: ``GET /api/v1/funnel/stage-times/`` (per grade, days to each grade, optionally per group) and
``GET /api/v1/funnel/stage-times/trend/`` (the 12-month trend). The slice and period are the funnel's own
(``views.slice_from_query``): a consultant gets his own leads, and naming a store or consultant the caller may not see
is a 404."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from dealercrm.api.schema import GroupKeyField

from .. import stage_times
from . import serializers as s
from .views import E400, E404, SLICE_PARAMETERS, TAGS, slice_from_query

_DAYS = "Whole local days (Asia/Shanghai): the end's day minus the start's day."
_PCT = ("linear interpolation between the closest ranks, as PostgreSQL's percentile_cont: for the sorted lengths "
        "v1..vn the p-th percentile sits at rank 1 + p(n - 1). Null when n is 0.")


class StageTimesQuerySerializer(s.SliceQuerySerializer):
    group_by = serializers.ChoiceField(choices=stage_times.GROUP_BY, required=False)


def _days(help_text: str, **kwargs):
    return serializers.FloatField(allow_null=True, help_text=help_text, **kwargs)


class GradeStaySerializer(serializers.Serializer):
    grade = serializers.CharField()
    n = serializers.IntegerField(help_text=(
        "Stays at this grade that ended in the period (the end's day in [start, end]). A stay starts with a grade "
        "change to the grade (the first one at the first visit when graded there) and ends with the lead's next "
        "event: the next grade change, a confirmed defeat or quasi-defeat (at its filing) or the deal (its order "
        "day). " + _DAYS))
    median_days = _days("Median length of the ended stays, in days: " + _PCT)
    p80_days = _days("80th percentile of the ended stays' length, in days: " + _PCT)
    promoted = serializers.IntegerField(help_text="Of the ended stays: left up the ladder.")
    demoted = serializers.IntegerField(help_text="Of the ended stays: left down the ladder.")
    lost = serializers.IntegerField(help_text="Of the ended stays: ended by a defeat or quasi-defeat filed (and "
                                              "confirmed).")
    deal = serializers.IntegerField(help_text="Of the ended stays: ended by the deal.")
    open = serializers.IntegerField(help_text=(
        "Stays not ended: leads active at this grade now, whatever the period. Not in the percentiles. A lead "
        "awaiting a defeat verdict is frozen: neither open nor ended."))
    open_median_days = _days("Median current age of the open stays (today minus the day the grade was set).")
    open_p80_days = _days("80th percentile of the open stays' current age.")
    open_over_max_dwell = serializers.IntegerField(help_text="Open stays older than the grade's max dwell.")
    max_dwell_days = serializers.IntegerField(allow_null=True, help_text=(
        "The grade's max dwell in the dealer group's grade rules (the defaults across several groups)."))
    recent_median_days = _days(
        "Median of the stays that ended in the last 3 of the trend's 12 months (only on the totals).",
        required=False)
    prior_median_days = _days("Median of the stays that ended in the 9 months before those (only on the totals).",
                              required=False)
    rising = serializers.BooleanField(required=False, help_text=(
        f"Only on the totals: the recent median is at least {stage_times.RISING_RATIO:g} x the prior one (20 % "
        f"longer) and at least {stage_times.RISING_MIN_DAYS} days longer, with at least {stage_times.RISING_MIN_N} ended stays on each side: customers are slowing down "
        f"at this grade before they turn stale."))


class DaysToSerializer(serializers.Serializer):
    stage = serializers.CharField(help_text="A grade (E, D, C, B, A) or `deal`.")
    n = serializers.IntegerField(help_text=(
        "A grade: leads that first reached it (their first change to it) in the period. `deal`: deals ordered in "
        "the period."))
    median_days = _days("Median days from the lead's first visit to that day (the order day for the deal).")
    p80_days = _days("80th percentile of the same.")


class StageGroupSerializer(serializers.Serializer):
    key = GroupKeyField(help_text="The group: a consultant's, channel's or series' id, or a source's code; null for "
                                  "leads without one.")
    label = serializers.CharField()
    grades = GradeStaySerializer(many=True)
    days_to = DaysToSerializer(many=True)


class StageTimesSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    grades = GradeStaySerializer(many=True, help_text="A to E, for the whole slice.")
    days_to = DaysToSerializer(many=True, help_text="E, D, C, B, A, then the deal.")
    results = StageGroupSerializer(many=True, required=False, help_text=(
        "With group_by: the same per group (consultant: who holds the lead now; source, channel, series: the "
        "lead's)."))


class TrendPointSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM: the month the stays ended.")
    n = serializers.IntegerField()
    median_days = _days("Median length of the stays that ended in the month.")


class StageTrendSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    months = serializers.ListField(child=serializers.CharField(), help_text=(
        "The 12 months up to the month of `end`, oldest first."))
    grades = serializers.DictField(child=TrendPointSerializer(many=True), help_text="Per grade, one point a month.")
    rising = serializers.ListField(child=serializers.CharField(), help_text="The grades flagged as rising.")


class StageTimesView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Time in stage: days at each grade, open stays, days to each grade and to the deal",
        description=stage_times.__doc__,
        parameters=[*SLICE_PARAMETERS,
                    OpenApiParameter("group_by", OpenApiTypes.STR, enum=list(stage_times.GROUP_BY))],
        responses={200: StageTimesSerializer, 400: E400, 404: E404},
    )
    def get(self, request):
        slice_, data = slice_from_query(request, StageTimesQuerySerializer)
        figures = stage_times.stage_times(slice_, group_by=data.get("group_by"))
        figures.pop("trend")
        return Response(StageTimesSerializer(figures).data)


class StageTimesTrendView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Time in stage by month: the 12-month trend and the rising flag",
        description=("Per grade, the count and median length of the stays that ended in each of the 12 months up "
                     "to the month of `end` (by the month the stay ended), and the grades flagged as rising. The "
                     "period's `start` does not narrow the months."),
        parameters=SLICE_PARAMETERS,
        responses={200: StageTrendSerializer, 400: E400, 404: E404},
    )
    def get(self, request):
        slice_, _data = slice_from_query(request)
        figures = stage_times.stage_times(slice_, trend_only=True)
        return Response(StageTrendSerializer({
            "start": figures["start"], "end": figures["end"], **figures["trend"],
            "rising": [row["grade"] for row in figures["grades"] if row["rising"]],
        }).data)
