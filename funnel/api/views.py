"""The funnel API: metrics, the ladder, the two planners, targets, market estimates and target progress.

Every figure is scoped by role through the leads' ``visible_to``: a consultant gets their own numbers, a manager
their store's, a group admin the group's. Naming a store or consultant the caller may not see is a 404."""

from django.utils import timezone
from django.utils.text import format_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from dealercrm.models import Store, User
from dealercrm.scoping import ScopedViewSetMixin
from leads import deal_bases

from .. import calc, selectors, services
from ..models import MarketEstimate, Target
from . import serializers as s

TAGS = ["funnel"]
E400 = OpenApiResponse(description="Invalid query or body: an object of field names to messages.")
E404 = OpenApiResponse(description="A store or consultant the caller may not see.")
SLICE_PARAMETERS = [
    OpenApiParameter("store", OpenApiTypes.INT, many=True, description="Repeatable; omitted: every visible store."),
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: the 1st of the current month)."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, inclusive (default: today)."),
    OpenApiParameter("consultant", OpenApiTypes.INT),
    OpenApiParameter("source", OpenApiTypes.STR, enum=["walk_in", "referral", "outbound"]),
    OpenApiParameter("channel", OpenApiTypes.INT),
    OpenApiParameter("series", OpenApiTypes.INT),
]


def slice_from_query(request, serializer_class=s.SliceQuerySerializer) -> tuple[selectors.Slice, dict]:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    user = request.user
    stores = []
    if data.get("store"):
        stores = list(Store.objects.visible_to(user).filter(pk__in=data["store"]))
        if len(stores) != len(set(data["store"])):
            raise NotFound("No such store among those you may see.")
    consultant = None
    if data.get("consultant"):
        consultant = User.objects.visible_to(user).filter(pk=data["consultant"]).first()
        if consultant is None:
            raise NotFound("No such consultant among those you may see.")
    slice_ = selectors.Slice(
        user=user, start=data["start"], end=data["end"], stores=stores, consultant=consultant,
        source=data.get("source"), channel_id=data.get("channel"), series_id=data.get("series"),
    )
    return slice_, data


class MetricsView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Funnel metrics: N, K, P, F, C, M and penetration",
        description=selectors.__doc__,
        parameters=[*SLICE_PARAMETERS, OpenApiParameter("group_by", OpenApiTypes.STR, enum=list(selectors.GROUP_BY))],
        responses={
            200: PolymorphicProxySerializer(
                component_name="MetricsResponse",
                serializers=[s.FiguresSerializer, s.GroupedMetricsSerializer],
                resource_type_field_name=None,
            ),
            400: E400,
            404: E404,
        },
    )
    def get(self, request):
        slice_, data = slice_from_query(request, s.MetricsQuerySerializer)
        return Response(selectors.funnel_metrics(slice_, group_by=data.get("group_by")))


class LadderView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="The grade ladder: counts now and promotion rates over a period",
        description=(
            "`counts`: active leads per grade now (with `by_consultant`). `promotion_rates` over [start, end], from "
            "the grade-change history: for X in E, D, C, B, among the leads that held grade X at some moment of the "
            "period, the share that moved up from X to the next grade by the period's end (E->D, D->C, C->B, B->A); "
            "E->A: among the leads that held E during the period, the share that reached A by the period's end. "
            "`held` and `promoted` give the counts behind each rate. Rates are 0..1, 4 decimals, null when nobody "
            "held the grade."
        ),
        parameters=SLICE_PARAMETERS,
        responses={200: s.LadderSerializer, 400: E400, 404: E404},
    )
    def get(self, request):
        slice_, _data = slice_from_query(request)
        counts = selectors.ladder_counts(slice_)
        rates = selectors.promotion_rates(slice_)
        return Response({
            "counts": {g: counts["counts"][g] for g in "ABCDE"},
            "ungraded": counts["counts"]["ungraded"],
            "promotion_rates": rates["rates"],
            "held": rates["held"],
            "promoted": rates["promoted"],
            "by_consultant": counts["by_consultant"],
        })


class PlanView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="What-if planner: the four levers N, K, F, C",
        description=(
            "Projected units N·K·F·C and, for each lever with the other three held, the value it needs to reach "
            "`target_units` (N: customers, rounded up; K, F, C: rates). A required rate above 1 is listed in "
            "`unreachable`, as is a lever whose partners multiply to 0 (its value is null)."
        ),
        request=s.LeverPlanInputSerializer,
        responses={200: s.LeverPlanSerializer, 400: E400},
    )
    def post(self, request):
        body = s.LeverPlanInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        plan = calc.plan_levers(**body.validated_data)
        return Response({"projected_units": plan.projected_units, "required": plan.required,
                         "unreachable": plan.unreachable})


class LadderPlanView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Target decomposition on the ladder",
        description=(
            "Customers needed on each rung (DOMAIN §3): A = target_units, or ceil(target_revenue / "
            "average_order_value); then needed(lower) = ceil(needed(higher) / rate(lower->higher)), ceil at every "
            "step. Without `promotion_rates` (or for a rung left out) the measured rates of the last 12 months are "
            "used, for `store` or everything the caller sees. A rung below a zero or unknown rate is null."
        ),
        request=s.LadderPlanInputSerializer,
        responses={200: OpenApiResponse(s.LADDER_PLAN), 400: E400, 404: E404},
    )
    def post(self, request):
        body = s.LadderPlanInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        store = None
        if data.get("store"):
            store = Store.objects.visible_to(request.user).filter(pk=data["store"]).first()
            if store is None:
                raise NotFound("No such store among those you may see.")
        given = {k: v for k, v in (data.get("promotion_rates") or {}).items() if v is not None}
        rates = given
        if len(given) < 4:
            measured = selectors.measured_promotion_rates(user=request.user, store=store)
            rates = {rung: given.get(rung, measured.get(rung)) for rung in calc.RUNGS}
        a = calc.a_needed(target_units=data.get("target_units"), target_revenue=data.get("target_revenue"),
                          average_order_value=data.get("average_order_value"))
        return Response({**calc.plan_ladder(a=a, promotion_rates=rates), "promotion_rates": rates})


class ProgressView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Target progress for a store and month",
        description=format_lazy(
            "Deals ordered in the month (units, revenue in CNY) against the store's and each consultant's target, "
            "with a run-rate projection to month end. `month` as YYYY-MM (default: this month). `units` is {}: {} "
            "`orders` is {}",
            deal_bases.UNITS_CALENDAR, deal_bases.UNITS_CALENDAR_HELP, deal_bases.described(deal_bases.CALENDAR)),
        parameters=[OpenApiParameter("store", OpenApiTypes.INT), OpenApiParameter("month", OpenApiTypes.STR)],
        responses={200: s.ProgressSerializer, 400: E400, 404: E404},
    )
    def get(self, request):
        query = s.ProgressQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        stores = Store.objects.visible_to(request.user)
        store = stores.filter(pk=data["store"]).first() if data.get("store") else (
            stores.filter(pk=request.user.store_id).first() or stores.order_by("name").first()
        )
        if store is None:
            raise NotFound("No such store among those you may see.")
        month = (data.get("month") or timezone.localdate()).replace(day=1)
        return Response({"store_id": store.pk, **selectors.target_progress(user=request.user, store=store,
                                                                            month=month)})


@extend_schema(tags=TAGS)
class MarketEstimateViewSet(ScopedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """M per store and month. POST sets it (replacing an existing one for that store and month); managers of the
    store and group admins only."""

    queryset = MarketEstimate.objects.select_related("store")
    serializer_class = s.MarketEstimateSerializer
    filterset_fields = ["store", "month"]

    def perform_create(self, serializer):
        v = serializer.validated_data
        serializer.instance = services.market_estimate_set(
            actor=self.request.user, store=v["store"], month=v["month"], estimate=v["estimate"], note=v.get("note", "")
        )


@extend_schema(tags=TAGS)
class TargetViewSet(ScopedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Monthly unit and revenue targets per store (no consultant) and per consultant. POST sets one (replacing the
    existing target of that store, consultant and month); managers of the store and group admins only."""

    queryset = Target.objects.select_related("store", "consultant")
    serializer_class = s.TargetSerializer
    filterset_fields = ["store", "consultant", "month"]

    def perform_create(self, serializer):
        v = serializer.validated_data
        serializer.instance = services.target_set(
            actor=self.request.user, store=v["store"], month=v["month"], units=v["units"],
            revenue=v.get("revenue") or 0, average_order_value=v.get("average_order_value"),
            consultant=v.get("consultant"),
        )
