"""The base-client REST API: base clients (list, read, edit, score, vehicles, do-not-contact), the group's criteria,
the analyses, and care tasks (list, read, done, skip). Every read is ``visible_to(request.user)``: another scope's
client is a 404. Every write goes through ``baseclients.services`` (PermissionDenied: 403, ValidationError: 400 with
field messages). Edits take ``If-Match: "<version>"`` (412 when the row changed since) and answer with an ETag."""

from __future__ import annotations

from datetime import date

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from dealercrm.api.pagination import StandardPagination
from dealercrm.models import Store, User
from dealercrm.scoping import ScopedViewSetMixin
from leads.api.serializers import DealSerializer
from leads.models import Deal

from .. import selectors, services
from .analytics import ANALYSIS_RESPONSE
from ..filters import BaseClientFilterSet, CareTaskFilterSet
from ..models import BaseClient, CareTask, Vehicle
from ..services.settings import dimension_max
from .serializers import (
    BaseClientListSerializer,
    BaseClientSerializer,
    BaseClientUpdateSerializer,
    CareDoneSerializer,
    CareSkipSerializer,
    CareTaskSerializer,
    ClientContactSerializer,
    ContactLogSerializer,
    CriterionSerializer,
    DoNotContactSerializer,
    ScoreRecordSerializer,
    ScoresSerializer,
    TierChangeSerializer,
    VehicleCreateSerializer,
    VehicleSerializer,
    DealDeliverSerializer,
)

TAGS = ["base clients"]
E400 = OpenApiResponse(description="Invalid input: an object of field names to messages.")
E403 = OpenApiResponse(description="The caller may see the client but not do this.")
E404 = OpenApiResponse(description="No such record, or one the caller may not see.")
STALE = inline_serializer("BaseClientStaleVersion", {"detail": serializers.CharField(),
                                                     "version": serializers.IntegerField()})
IF_MATCH = OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
                            description='The ETag as read, e.g. "3". Changed since: 412.')
ETAG = OpenApiParameter("ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, description="The row's version.",
                        response=[200, 201])


def _if_match(request) -> int | None:
    """The one version If-Match names; None without the header (or ``*``); -1 for anything else (never matches)."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    tag = header.strip()
    if len(tag) > 2 and tag[0] == tag[-1] == '"' and tag[1:-1].isdigit():
        return int(tag[1:-1])
    return -1


def _with_etag(response: Response, version: int) -> Response:
    response["ETag"] = f'"{version}"'
    return response


def _stale(exc: services.StaleVersion) -> Response:
    return _with_etag(Response({"detail": _("Someone changed this since you read it. Reload it and try again."),
                                "version": exc.current_version}, status=status.HTTP_412_PRECONDITION_FAILED),
                      exc.current_version)


def _maxes(group_id: int) -> tuple[int, int]:
    m = dimension_max(services.criteria_for(group_id))
    return m["loyalty"], m["power"]


ANALYSES = ("region", "industry", "industry-segment", "monthly", "referrals", "tier-movement", "care-completion", "one-brings-one")


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="Base clients the caller may see",
                       description="A consultant sees their own, a manager the store's, a group admin the group's. "
                                   "`q` matches the name, phone, plate or VIN; send it in the query string of API "
                                   "calls only (pages search by POST, so it never lands in a URL history)."),
)
class BaseClientViewSet(ScopedViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = BaseClient.objects.select_related("assigned_to", "store").order_by("-created_at", "-pk")
    serializer_class = BaseClientListSerializer
    filterset_class = BaseClientFilterSet
    pagination_class = StandardPagination

    def get_object(self) -> BaseClient:
        return self.scoped_object()

    def _answer(self, client_pk: int, code=status.HTTP_200_OK) -> Response:
        client = self.get_queryset().get(pk=client_pk)
        context = {**self.get_serializer_context(), "maxes": _maxes(client.group_id)}
        return _with_etag(Response(BaseClientSerializer(client, context=context).data, status=code), client.version)

    @extend_schema(tags=TAGS, summary="Retrieve a base client", parameters=[ETAG],
                   responses={200: BaseClientSerializer, 404: E404})
    def retrieve(self, request, *args, **kwargs):
        return self._answer(self.get_object().pk)

    @extend_schema(tags=TAGS, summary="Edit the card",
                   description="Card fields, all or nothing. If-Match: 412 when the card changed since.",
                   request=BaseClientUpdateSerializer, parameters=[IF_MATCH, ETAG],
                   responses={200: BaseClientSerializer, 400: E400, 403: E403, 404: E404,
                              412: OpenApiResponse(STALE)})
    def partial_update(self, request, *args, **kwargs):
        client = self.get_object()
        data = BaseClientUpdateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        try:
            services.client_update(actor=request.user, client=client, expected_version=_if_match(request),
                                   **data.validated_data)
        except services.StaleVersion as exc:
            return _stale(exc)
        return self._answer(client.pk)

    @extend_schema(tags=TAGS, summary="Score the client",
                   description='`{"scores": {criterion_code: points}}`: each 0..the criterion\'s max; automatic '
                               "criteria are scored by the system. The totals and the tier follow, with the rule "
                               "that decided it (`tier_label`). 400 names each wrong criterion, nothing is written.",
                   request=ScoresSerializer, parameters=[IF_MATCH, ETAG],
                   responses={200: BaseClientSerializer, 400: E400, 403: E403, 404: E404,
                              412: OpenApiResponse(STALE)})
    @action(detail=True, methods=["post"])
    def scores(self, request, pk=None):
        client = self.get_object()
        data = ScoresSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.client_score(actor=request.user, client=client, scores=data.validated_data["scores"],
                                  expected_version=_if_match(request))
        except services.StaleVersion as exc:
            return _stale(exc)
        return self._answer(client.pk)

    @extend_schema(tags=TAGS, summary="The client's score and tier history", filters=False,
                   responses={200: inline_serializer("BaseClientHistory", {
                       "scores": ScoreRecordSerializer(many=True), "tiers": TierChangeSerializer(many=True)})})
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        client = self.get_object()
        return Response({
            "scores": ScoreRecordSerializer(client.score_records.select_related("by")[:100], many=True).data,
            "tiers": TierChangeSerializer(client.tier_changes.all()[:100], many=True).data,
        })

    @extend_schema(tags=TAGS, summary="Add a vehicle", request=VehicleCreateSerializer,
                   responses={201: VehicleSerializer, 400: E400, 403: E403, 404: E404})
    @action(detail=True, methods=["post"])
    def vehicles(self, request, pk=None):
        client = self.get_object()
        data = VehicleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        vehicle = services.vehicle_add(actor=request.user, client=client, **data.validated_data)
        return Response(VehicleSerializer(vehicle).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=TAGS, summary="The client refuses a kind of contact",
                   description="No care task of that channel is planned for them; pending ones are dropped.",
                   request=DoNotContactSerializer, responses={200: BaseClientSerializer, 400: E400, 403: E403})
    @action(detail=True, methods=["post"], url_path="do-not-contact")
    def do_not_contact(self, request, pk=None):
        client = self.get_object()
        data = DoNotContactSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.do_not_contact_set(actor=request.user, client=client, **data.validated_data)
        return self._answer(client.pk)

    @extend_schema(methods=["GET"], tags=TAGS, summary="Calls and visits logged on the client, newest first",
                   filters=False,
                   responses={200: ClientContactSerializer(many=True), 404: E404})
    @extend_schema(methods=["POST"], tags=TAGS, summary="Log a call or visit on the client",
                   description="Kept in the care history; it closes the earliest pending care task of that method "
                               "due within a week of now, with the outcome and the content as its note. The answer's "
                               "`closed_task` is that task, or null when none was due.",
                   request=ContactLogSerializer,
                   responses={201: ClientContactSerializer, 400: E400, 403: E403, 404: E404})
    @action(detail=True, methods=["get", "post"])
    def contacts(self, request, pk=None):
        client = self.get_object()
        if request.method == "GET":
            # Paginated like every other list (the schema says so, and a client's history has no upper bound).
            rows = client.contacts.select_related("by", "task__item", "task__client").order_by("-at", "-pk")
            return self.get_paginated_response(ClientContactSerializer(self.paginate_queryset(rows), many=True).data)
        data = ContactLogSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        contact = services.care_contact_log(actor=request.user, client=client, channel=data.validated_data["method"],
                                            content=data.validated_data["content"],
                                            outcome=data.validated_data["outcome"])
        return Response(ClientContactSerializer(contact).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=TAGS, summary="The scoring criteria of the caller's group", filters=False,
                   responses={200: CriterionSerializer(many=True)})
    @action(detail=False, methods=["get"], pagination_class=None)
    def criteria(self, request):
        group_id = request.user.dealer_group_id or (request.user.store.group_id if request.user.store_id else None)
        if group_id is None:
            return Response([])
        return Response(CriterionSerializer(services.criteria_for(group_id), many=True).data)

    @extend_schema(
        tags=TAGS, summary="Analyses", filters=False,
        description="`region` / `industry`: clients per value × tier, this year and last, shares and rank; "
                    "`industry-segment`: the industry concentration per vehicle segment of the clients' vehicles; "
                    "`monthly`: referrals and repeat purchases per month and tier (the tier held at the time); "
                    "`referrals`: referral structure per month (referral leads = new leads of source referral, by "
                    "type, deals, share of N, close rate) with the year's total and shares; `tier-movement` (scored "
                    "and automatic moves) and `care-completion`: per consultant over `since`..`until` (`since` "
                    "defaults to 1 January of `until`'s year); `one-brings-one`: 一拓一 per tier over the group's "
                    "period ending on `until`, and the roll-out step. Scoped by role; `store`, `year`, "
                    "`consultant`, `since`, `until` narrow it.",
        parameters=[OpenApiParameter("kind", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(ANALYSES)),
                    OpenApiParameter("store", OpenApiTypes.INT), OpenApiParameter("year", OpenApiTypes.INT),
                    OpenApiParameter("consultant", OpenApiTypes.INT), OpenApiParameter("since", OpenApiTypes.DATE),
                    OpenApiParameter("until", OpenApiTypes.DATE)],
        responses={200: ANALYSIS_RESPONSE, 400: E400, 404: E404},
    )
    @action(detail=False, methods=["get"], url_path=r"analytics/(?P<kind>[a-z-]+)")
    def analytics(self, request, kind=None):
        if kind not in ANALYSES:
            return Response({"detail": _("Unknown analysis.")}, status=status.HTTP_404_NOT_FOUND)
        return Response(run_analysis(request.user, kind, request.query_params))


def _int(params, name):
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise serializers.ValidationError({name: [_("A whole number.")]}) from None


def _date(params, name, default):
    raw = params.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise serializers.ValidationError({name: [_("A date as YYYY-MM-DD.")]}) from None


def run_analysis(user, kind: str, params) -> dict:
    """One analysis for ``user`` (pages and API share it). Unknown store/consultant ids are 404s."""
    store = consultant = None
    if (sid := _int(params, "store")) is not None:
        store = get_object_or_404(Store.objects.visible_to(user), pk=sid)
    if (cid := _int(params, "consultant")) is not None:
        consultant = get_object_or_404(User.objects.visible_to(user), pk=cid)
    today = timezone.localdate()
    year = _int(params, "year") or today.year
    if not 2000 <= year <= today.year + 1:
        raise serializers.ValidationError({"year": [_("A year between 2000 and next year.")]})
    until = _date(params, "until", today)
    since = _date(params, "since", date(until.year, 1, 1))
    if until < since:
        raise serializers.ValidationError({"until": [_("The end cannot precede the start.")]})
    if kind in ("region", "industry"):
        rows = selectors.concentration(user=user, by=kind, year=year, store=store, consultant=consultant)
        return {"kind": kind, "year": year, "rows": rows}
    if kind == "industry-segment":
        return {"kind": kind, "year": year, "segments": selectors.industry_by_segment(
            user=user, year=year, store=store, consultant=consultant)}
    if kind == "monthly":
        return {"kind": kind, "year": year,
                "rows": selectors.monthly_effect(user=user, year=year, store=store, consultant=consultant)}
    if kind == "referrals":
        return {"kind": kind, "year": year,
                **selectors.referral_structure(user=user, year=year, store=store, consultant=consultant)}
    if kind == "tier-movement":
        return {"kind": kind, "since": since, "until": until,
                "rows": selectors.tier_movement(user=user, since=since, until=until, store=store)}
    if kind == "care-completion":
        by = "region" if params.get("by") == "region" else "consultant"
        return {"kind": kind, "since": since, "until": until, "by": by,
                "rows": selectors.care_completion(user=user, since=since, until=until, store=store, by=by)}
    rows = selectors.one_brings_one(user=user, store=store, until=_date(params, "until", None))
    return {"kind": kind, "since": rows[0]["since"], "until": rows[0]["until"], "rows": rows,
            "phase": selectors.phase(rows)}


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="Care tasks the caller may see",
                       description="Filters: `base_client`, `kind` (e.g. `delivery_visit`), `status`, `due_before`, "
                                   "`overdue`, `assigned_to`. Soonest first."),
    retrieve=extend_schema(tags=TAGS, summary="Retrieve a care task", responses={200: CareTaskSerializer, 404: E404}),
)
class CareTaskViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = CareTask.objects.select_related("client", "item").order_by("due_on", "pk")
    serializer_class = CareTaskSerializer
    filterset_class = CareTaskFilterSet
    pagination_class = StandardPagination

    def get_object(self) -> CareTask:
        return self.scoped_object()

    def _answer(self, pk: int) -> Response:
        task = self.get_object()
        return _with_etag(Response(CareTaskSerializer(task).data), task.version)

    @extend_schema(tags=TAGS, summary="Mark a care task done",
                   description="With its outcome (reached / no_answer / visited / declined) and a note. A task "
                               "already done or skipped: 400.",
                   request=CareDoneSerializer, parameters=[IF_MATCH, ETAG],
                   responses={200: CareTaskSerializer, 400: E400, 403: E403, 404: E404, 412: OpenApiResponse(STALE)})
    @action(detail=True, methods=["post"])
    def done(self, request, pk=None):
        task = self.get_object()
        data = CareDoneSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.care_task_done(actor=request.user, task=task, expected_version=_if_match(request),
                                    **data.validated_data)
        except services.StaleVersion as exc:
            return _stale(exc)
        return self._answer(task.pk)

    @extend_schema(tags=TAGS, summary="Skip a care task, with the reason", request=CareSkipSerializer,
                   parameters=[IF_MATCH, ETAG],
                   responses={200: CareTaskSerializer, 400: E400, 403: E403, 404: E404, 412: OpenApiResponse(STALE)})
    @action(detail=True, methods=["post"])
    def skip(self, request, pk=None):
        task = self.get_object()
        data = CareSkipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.care_task_skip(actor=request.user, task=task, expected_version=_if_match(request),
                                    reason=data.validated_data["reason"])
        except services.StaleVersion as exc:
            return _stale(exc)
        return self._answer(task.pk)


class DealUnitsSerializer(DealSerializer):
    vehicles = VehicleSerializer(many=True, read_only=True, help_text=_(
        "The order's units on the buyer's card, one vehicle each, with its own delivery date."))

    class Meta(DealSerializer.Meta):
        fields = [*DealSerializer.Meta.fields, "vehicles"]
        read_only_fields = fields


@extend_schema_view(retrieve=extend_schema(tags=["leads"], summary="Retrieve a deal with its delivered units",
                                           responses={200: DealUnitsSerializer, 404: E404}))
class DealViewSet(ScopedViewSetMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A lead's deal (one order of ``quantity`` units) and its deliveries: seen by whoever sees the lead."""

    queryset = (Deal.objects.select_related("series__brand", "created_by", "purchase")
                .prefetch_related(Prefetch("vehicles", Vehicle.objects.select_related("series__brand")
                                           .order_by("delivered_at", "pk"))))
    serializer_class = DealUnitsSerializer

    def get_object(self) -> Deal:
        return self.scoped_object()

    @extend_schema(tags=["leads"], summary="Deliver more units of the order",
                   description="One vehicle per unit delivered (VIN, plate, use), on `delivered_at` (default today), "
                               "onto the buyer's base-client card; the order stays one purchase. Whoever may work "
                               "the deal's lead may deliver. 400: no vehicles, more than the units left to deliver "
                               "(`quantity` − `units_delivered`), a VIN given twice or on another card, a bad "
                               "plate, a delivery before the order or in the future. 403: may see the lead but not "
                               "work it. 404: a deal the caller may not see.",
                   request=DealDeliverSerializer,
                   responses={201: DealUnitsSerializer, 400: E400, 403: E403, 404: E404})
    @action(detail=True, methods=["post"])
    def vehicles(self, request, pk=None):
        deal = self.get_object()
        data = DealDeliverSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.deal_deliver(actor=request.user, deal=deal, vehicles=data.validated_data["vehicles"],
                              delivered_at=data.validated_data.get("delivered_at"))
        return Response(DealUnitsSerializer(self.get_queryset().get(pk=deal.pk)).data, status=status.HTTP_201_CREATED)
