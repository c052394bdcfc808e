"""``GET /api/v1/funnel/staffing/``: the staffing planner (funnel.staffing) as JSON."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from dealercrm.models import Role, Store

from .. import staffing


class StaffingQuerySerializer(serializers.Serializer):
    store = serializers.IntegerField(min_value=1, required=False)
    year = serializers.IntegerField(min_value=2000, max_value=2099, required=False)
    month = serializers.IntegerField(min_value=1, max_value=12, required=False)


class StaffingLevelSerializer(serializers.Serializer):
    order = serializers.IntegerField(help_text="The level's rank (1: the top level).")
    name = serializers.CharField(help_text="The level's name.")
    grades = serializers.ListField(child=serializers.CharField(), help_text="The grades the level holds, top first.")
    capacity = serializers.IntegerField(help_text="Active leads one consultant of the level works at once.")
    leads_needed = serializers.IntegerField(
        allow_null=True, help_text="Leads the period's target needs at the level's grades: the sum of the ladder's "
                                   "needs (`needed`) over those grades. Null when a rate below is zero or unknown.")
    monthly_load = serializers.IntegerField(
        allow_null=True, help_text="leads_needed ÷ the months with a target (1 for a month), rounded up: the leads "
                                   "the level carries in an average month.")
    consultants_needed = serializers.IntegerField(
        allow_null=True, help_text="ceil(monthly_load × 1.10 ÷ capacity): the method's 110 % staffing, so a leaver "
                                   "is replaced without losing the level's work.")
    consultants = serializers.IntegerField(help_text="Active consultants of the store at this level now.")
    missing = serializers.IntegerField(allow_null=True, help_text="consultants_needed − consultants, 0 when none "
                                                                  "are missing.")
    uncovered = serializers.IntegerField(
        allow_null=True, help_text="Leads of the month the present team cannot hold: monthly_load − consultants × "
                                   "capacity, 0 when they can (no 110 % here: the buffer is for leavers).")
    units_lost = serializers.DecimalField(
        max_digits=12, decimal_places=1, allow_null=True,
        help_text="Units per month the uncovered leads would have brought at the measured rates: uncovered × "
                  "(units ÷ months) ÷ monthly_load, one decimal.")


class StaffingSerializer(serializers.Serializer):
    store = serializers.IntegerField(help_text="The store.")
    year = serializers.IntegerField()
    month = serializers.IntegerField(allow_null=True, help_text="The month, or null for the whole year.")
    units = serializers.IntegerField(
        allow_null=True, help_text="The store's unit target (its own, not the consultants') of the month, or the sum "
                                   "of the year's monthly targets. Null: no target set for the period.")
    months = serializers.IntegerField(help_text="Months of the period that have a target.")
    promotion_rates = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="The store's measured promotion rates of the last 12 months (E->D, D->C, C->B, B->A; E->A), 0..1.")
    needed = serializers.DictField(
        child=serializers.IntegerField(allow_null=True),
        help_text="Leads needed at each grade for the units: A = units, then needed(lower) = ceil(needed(higher) ÷ "
                  "rate(lower→higher)), ceil at every rung.")
    levels = StaffingLevelSerializer(many=True)
    consultants_needed = serializers.IntegerField(allow_null=True, help_text="The levels' consultants_needed summed.")
    consultants = serializers.IntegerField(help_text="Active consultants with a level, summed over the levels.")
    missing = serializers.IntegerField(allow_null=True, help_text="The levels' missing consultants summed.")
    consultants_without_level = serializers.IntegerField(
        help_text="Active consultants of the store with no level: they count in no level's team.")
    units_lost = serializers.DecimalField(
        max_digits=12, decimal_places=1, allow_null=True,
        help_text="What the gap costs per month: the largest units_lost of the levels. A customer lost on a lower rung "
                  "never reaches the higher ones, so the tightest level sets the store's cost (not the sum).")
    tightest_level = serializers.IntegerField(allow_null=True, help_text="The rank of the level that sets units_lost.")


def staffing_json(plan: dict) -> dict:
    return {
        "store": plan["store"].pk, "year": plan["year"], "month": plan["month"], "units": plan["units"],
        "months": plan["months"], "promotion_rates": plan["rates"], "needed": plan["needed"],
        "levels": [{"order": r["level"].order, "name": r["level"].name, "grades": r["level"].grade_list,
                    "capacity": r["level"].capacity, "leads_needed": r["plan"].leads_needed,
                    "monthly_load": r["plan"].monthly_load, "consultants_needed": r["plan"].consultants_needed,
                    "consultants": r["plan"].consultants, "missing": r["plan"].missing,
                    "uncovered": r["plan"].uncovered, "units_lost": r["plan"].units_lost} for r in plan["levels"]],
        "consultants_needed": plan["consultants_needed"], "consultants": plan["consultants"],
        "missing": plan["missing"],
        "consultants_without_level": plan["consultants_without_level"], "units_lost": plan["units_lost"],
        "tightest_level": plan["tightest"].order if plan["tightest"] else None,
    }


class StaffingView(APIView):
    @extend_schema(
        tags=["funnel"], summary="The staffing planner: consultants per level for a target",
        description="From the store's unit target of the year (or `month`), decomposed onto the ladder at the "
                    "store's measured promotion rates, and each level's capacity: the consultants each level needs at "
                    "the method's 110 % staffing, beside the team the store has, and what the gap costs in units. "
                    "Managers (their store) and group admins (any store of the group; `store` default: the first); "
                    "a consultant gets 403, a store the caller may not see 404.",
        parameters=[OpenApiParameter("store", OpenApiTypes.INT), OpenApiParameter("year", OpenApiTypes.INT),
                    OpenApiParameter("month", OpenApiTypes.INT, description="1–12; omitted: the whole year.")],
        responses={200: StaffingSerializer, 400: OpenApiResponse(description="Field messages."),
                   403: OpenApiResponse(description="A consultant."),
                   404: OpenApiResponse(description="A store the caller may not see.")},
    )
    def get(self, request):
        user = request.user
        if not (user.is_superuser or user.role in (Role.MANAGER, Role.GROUP_ADMIN)):
            raise PermissionDenied(_("Only managers can open this page."))
        query = StaffingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        stores = Store.objects.visible_to(user)
        store = stores.filter(pk=data["store"]).first() if data.get("store") else (
            stores.filter(pk=user.store_id).first() or stores.order_by("name").first())
        if store is None:
            raise NotFound("No such store among those you may see.")
        plan = staffing.staffing_plan(user=user, store=store, year=data.get("year") or timezone.localdate().year,
                                      month=data.get("month"))
        return Response(StaffingSerializer(staffing_json(plan)).data)
