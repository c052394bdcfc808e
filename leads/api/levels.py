"""The API of a store's consultant levels: ``GET/PUT /api/v1/stores/{id}/levels/``.

The store's manager and the group admins of its group read and set them; a consultant of the store gets a 403, anyone
who may not see the store a 404 (another store's manager, another group)."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from dealercrm.models import Role, Store, User

from ..models import GRADE_ORDER
from ..models_levels import DealCredit, HandoffMode
from ..selectors_levels import level_of_members
from ..services import manages_store
from ..services.levels import MAX_CAPACITY, MAX_LEVELS, store_level_settings, store_levels, store_levels_set

GRADES = list(reversed(GRADE_ORDER))


class LevelSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=40, help_text="The level's name as the team says it (一级, 二级, 三级).")
    order = serializers.IntegerField(min_value=1, max_value=MAX_LEVELS,
                                     help_text="Rank: 1 is the top level; a higher level holds higher grades.")
    grades = serializers.ListField(
        child=serializers.ChoiceField(choices=GRADES), min_length=1, max_length=5,
        help_text="The grades whose leads this level's consultants hold. Every grade of the ladder belongs to exactly "
                  "one level (no overlap, none left out), and a level of a smaller rank holds only grades above "
                  "those of every level below it. A lead promoted above its holder's grades is handed to the level "
                  "holding its new grade, when the store's handoff rule says so.")
    capacity = serializers.IntegerField(
        min_value=1, max_value=MAX_CAPACITY,
        help_text="Active leads one consultant of the level can work at once, whatever their grades (one figure per "
                  "level, not per grade). The allocation page compares the leads the level holds with consultants × "
                  "capacity; the staffing planner divides the leads the target needs by it.")
    consultants = serializers.ListField(child=serializers.IntegerField(), read_only=True,
                                        help_text="Ids of the store's consultants at this level.")


class MemberSerializer(serializers.Serializer):
    consultant = serializers.IntegerField(min_value=1, help_text="A consultant of the store.")
    level = serializers.IntegerField(min_value=1, max_value=MAX_LEVELS, allow_null=True,
                                     help_text="The rank of the consultant's level; null: no level.")
    name = serializers.CharField(read_only=True)


class LevelsSerializer(serializers.Serializer):
    store = serializers.IntegerField(read_only=True)
    handoff = serializers.ChoiceField(
        choices=HandoffMode.choices, required=False,
        help_text="What happens to a lead promoted above its holder's level: `off` (default) it stays; "
                  "`round_robin` it goes to the active consultant of the next level holding the fewest active leads "
                  "(ties: the longest-serving), or waits for the manager when that level has nobody; `hold` it waits "
                  "in the allocation page's 'handoffs waiting' list for the manager's pick, staying with its holder "
                  "meanwhile. Every handoff is a row of the lead's assignment history.")
    credit = serializers.ChoiceField(
        choices=DealCredit.choices, required=False,
        help_text="Who a handed-off lead's deal counts for in the consultant scorecard: `closer` (default) the "
                  "consultant holding it when it was won; `both` the closer and each original holder count it once "
                  "(the credits add up to more than the deals); `split` the deal is shared equally between them.")
    levels = LevelSerializer(many=True, help_text="The store's levels; PUT replaces them (matched by rank: a level "
                                                  "keeps its consultants when its rank stays).")
    consultants = MemberSerializer(many=True, required=False,
                                   help_text="PUT: the level of each consultant named (others keep theirs). GET: every "
                                             "active consultant of the store with their level.")


def _store_for(request, pk) -> Store:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    store = Store.objects.visible_to(request.user).filter(pk=pk).first()
    if store is None:
        raise Http404
    if not manages_store(request.user, store):
        raise PermissionDenied(_("Only the store's manager can do this."))
    return store


def _levels_body(store: Store) -> dict:
    levels = store_levels(store)
    settings_row = store_level_settings(store)
    member_level = level_of_members(store=store)
    people = list(User.objects.filter(store=store, role=Role.CONSULTANT, is_active=True)
                  .order_by("display_name", "username"))
    return {
        "store": store.pk,
        "handoff": settings_row.handoff,
        "credit": settings_row.credit,
        "levels": [{"name": lv.name, "order": lv.order, "grades": lv.grade_list, "capacity": lv.capacity,
                    "consultants": [u.pk for u in people if member_level.get(u.pk) == lv]} for lv in levels],
        "consultants": [{"consultant": u.pk, "name": str(u),
                         "level": member_level[u.pk].order if u.pk in member_level else None} for u in people],
    }


class StoreLevelsView(APIView):
    @extend_schema(
        tags=["organisation"], summary="A store's consultant levels",
        description="The store's levels (the method's three until the manager sets them), its handoff and credit "
                    "rules and each active consultant's level. The store's manager and the group's admins; a "
                    "consultant gets 403, a store the caller may not see 404.",
        responses={200: LevelsSerializer, 403: OpenApiResponse(description="A consultant."),
                   404: OpenApiResponse(description="A store the caller may not see.")},
    )
    def get(self, request, pk):
        return Response(_levels_body(_store_for(request, pk)))

    @extend_schema(
        tags=["organisation"], summary="Set a store's consultant levels",
        description="Replaces the levels and sets the rules and the levels of the consultants named, all or nothing. "
                    "400 with field messages: `levels` for the rules between levels (overlapping or missing grades, "
                    "a higher level holding lower grades, a repeated name or rank), `levels.<i>.<field>` for one "
                    "level's field, `consultants` for a consultant of another store or an unknown rank.",
        request=LevelsSerializer,
        responses={200: LevelsSerializer, 400: OpenApiResponse(description="Field messages."),
                   403: OpenApiResponse(description="A consultant."),
                   404: OpenApiResponse(description="A store the caller may not see.")},
    )
    def put(self, request, pk):
        store = _store_for(request, pk)
        body = LevelsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        members = {m["consultant"]: m["level"] for m in data.get("consultants") or []}
        store_levels_set(actor=request.user, store=store, levels=[dict(lv) for lv in data["levels"]],
                         handoff=data.get("handoff"), credit=data.get("credit"), members=members or None)
        return Response(_levels_body(store))
