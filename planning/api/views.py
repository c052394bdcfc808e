"""The work plans API (docs/planning.md). Reads are ``WorkPlan.objects.visible_to(request.user)``: a consultant his
own plans, a manager his store's, a group admin his group's; anything else is a 404. Only the consultant himself
drafts (POST) and edits (PATCH) his plans: anyone else gets a 403 on a plan they may read."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from dealercrm.api.pagination import StandardPagination
from dealercrm.api.schema import TruthfulModelSerializer
from dealercrm.scoping import ScopedViewSetMixin

from .. import selectors, services
from ..filters import WorkPlanFilterSet
from ..models import Item, Period, WorkPlan, WorkPlanItem

TAGS = ["work-plans"]
E400 = OpenApiResponse(description="Invalid input: an object of field names to messages.")
E403 = OpenApiResponse(description="Only the consultant himself drafts and edits his plans.")
E404 = OpenApiResponse(description="No such plan, or one the caller may not see.")
E409 = OpenApiResponse(description="`version` is not the plan's current one.")


class WorkPlanItemSerializer(TruthfulModelSerializer):
    item = serializers.ChoiceField(choices=Item.choices, read_only=True, help_text=(
        "follow_ups (follow-ups he writes), new_customers (first visits he logs), care (care tasks he completes), "
        "deals (deals ordered on his leads)."))
    planned = serializers.IntegerField(read_only=True, help_text="What the consultant plans (he may edit it).")
    drafted = serializers.IntegerField(read_only=True, help_text=(
        "The drafted number: deals = his monthly unit targets shared out by days, rounded up; new_customers = the E "
        "rung of each month's ladder decomposition of that target on his own promotion rates, shared out the same "
        "way; follow_ups = his active leads due in the period (plus those overdue when the period holds today); "
        "care = his care tasks due in the period (plus pending overdue ones when it holds today)."))
    basis = serializers.JSONField(read_only=True, help_text="What the draft counted (targets per month, the E rung "
                                                            "per month and the rates, follow-ups due by grade).")

    class Meta:
        model = WorkPlanItem
        fields = ["item", "planned", "drafted", "basis", "note"]
        read_only_fields = fields


class WorkPlanSerializer(TruthfulModelSerializer):
    items = WorkPlanItemSerializer(many=True, read_only=True)
    consultant_name = serializers.StringRelatedField(source="consultant", read_only=True)
    end = serializers.DateField(read_only=True, help_text="The period's last day (inclusive).")

    class Meta:
        model = WorkPlan
        fields = ["id", "store", "consultant", "consultant_name", "period", "start", "end", "notes", "items",
                  "drafted_at", "updated_at", "version"]
        read_only_fields = fields


class WorkPlanItemInputSerializer(serializers.Serializer):
    item = serializers.ChoiceField(choices=Item.choices)
    planned = serializers.IntegerField(min_value=0, max_value=services.MAX_PLANNED, required=False)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class WorkPlanCreateSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=Period.choices)
    start = serializers.DateField(help_text="The period's first day: a Monday for a week, the 1st for a month, "
                                            "1 Jan/Apr/Jul/Oct for a quarter, 1 January for a year.")
    notes = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    items = WorkPlanItemInputSerializer(many=True, required=False, help_text="Numbers or notes to set over the draft.")


class WorkPlanUpdateSerializer(serializers.Serializer):
    notes = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    items = WorkPlanItemInputSerializer(many=True, required=False)
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class WorkPlanProgressItemSerializer(serializers.Serializer):
    item = serializers.ChoiceField(choices=Item.choices)
    label = serializers.CharField(help_text="The item's name in the caller's language.")
    planned = serializers.IntegerField()
    drafted = serializers.IntegerField()
    done = serializers.IntegerField(help_text="Counted from the records of the plan's period, in the database.")
    complete = serializers.BooleanField(help_text="planned > 0 and done >= planned.")
    note = serializers.CharField(allow_blank=True)


class WorkPlanProgressSerializer(serializers.Serializer):
    plan = WorkPlanSerializer()
    items = WorkPlanProgressItemSerializer(many=True)


def _items(data: list) -> dict:
    return {row["item"]: {k: row.get(k) for k in ("planned", "note")} for row in data or []}


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="Work plans", description=(
        "A consultant's own, a manager's store's, a group admin's group's. Filters: `consultant`, `period`, `start`. "
        "A plan is drafted by its consultant's POST (or his first open of the period's page), never by a GET here.")),
    retrieve=extend_schema(tags=TAGS, summary="A work plan"),
)
class WorkPlanViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      viewsets.GenericViewSet):
    queryset = WorkPlan.objects.select_related("consultant").prefetch_related("items")
    serializer_class = WorkPlanSerializer
    filterset_class = WorkPlanFilterSet
    pagination_class = StandardPagination
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_object(self):
        return self.scoped_object()

    def _answer(self, plan, code=status.HTTP_200_OK):
        return Response(WorkPlanSerializer(self.get_queryset().get(pk=plan.pk)).data, status=code)

    @extend_schema(tags=TAGS, summary="Draft (or find) the caller's plan for a period", description=(
        "The consultant himself. Drafts the plan from his target and ladder and the follow-ups and care due (201), "
        "or returns the one he has for that period (200); `items` and `notes` are then set over it. 400: an unknown "
        "period, a `start` that is not the period's first day. 403: not a consultant."),
        request=WorkPlanCreateSerializer, responses={201: WorkPlanSerializer, 200: WorkPlanSerializer, 400: E400,
                                                     403: E403})
    def create(self, request, *args, **kwargs):
        data = WorkPlanCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        plan, created = services.work_plan_draft(actor=request.user, period=d["period"], start=d["start"])
        if d.get("items") or "notes" in d:
            plan = services.work_plan_update(actor=request.user, plan=plan, notes=d.get("notes"),
                                             items=_items(d.get("items")))
        return self._answer(plan, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(tags=TAGS, summary="Edit the plan (its consultant)", request=WorkPlanUpdateSerializer,
                   responses={200: WorkPlanSerializer, 400: E400, 403: E403, 404: E404, 409: E409})
    def partial_update(self, request, *args, **kwargs):
        plan = self.get_object()
        data = WorkPlanUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        try:
            plan = services.work_plan_update(actor=request.user, plan=plan, notes=d.get("notes"),
                                             items=_items(d.get("items")), expected_version=d.get("version"))
        except services.StaleVersion as exc:
            return Response({"detail": _("Someone changed this record since you read it. Reload it and try again."),
                             "version": exc.current_version}, status=status.HTTP_409_CONFLICT)
        return self._answer(plan)

    @extend_schema(tags=TAGS, summary="The plan against what was done", description=(
        "Each item's planned number beside what the records of the plan's period say was done: follow-ups he "
        "wrote, first visits he logged, care tasks he completed, deals ordered on his leads."),
        responses={200: WorkPlanProgressSerializer, 404: E404})
    @action(detail=True, methods=["get"])
    def progress(self, request, pk=None):
        plan = self.get_object()
        rows = selectors.work_plan_progress(plan)
        return Response({"plan": WorkPlanSerializer(plan).data,
                         "items": [{"item": r.item, "label": r.label, "planned": r.planned, "drafted": r.drafted,
                                    "done": r.done, "complete": r.complete, "note": r.note} for r in rows]})
