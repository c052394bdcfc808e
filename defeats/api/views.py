"""The defeats REST API (docs/defeats.md): reasons, talk tracks, applications (file, list, verdict, bulk verdict), the
competitor pool (list, nurture contacts, win-backs) and the figures. Every read is ``visible_to(request.user)``
(ScopedViewSetMixin): another store's application is a 404. Writes go through ``defeats.services``: their
PermissionDenied is a 403, ValidationError a 400 with field messages, a conflict (already decided, already pending,
stale version) a 409."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from dealercrm.api.pagination import StandardPagination
from dealercrm.models import Store, User
from dealercrm.scoping import ScopedViewSetMixin
from leads.models import Lead
from leads.services import StaleVersion

from .. import selectors, services
from ..filters import ApplicationFilterSet, PoolFilterSet
from ..models import Application, DefeatTarget, PoolEntry, PoolOwner, PoolStatus, Reason, TalkTrack
from . import serializers as s

TAGS = ["defeats"]
E400 = OpenApiResponse(description="Invalid input: an object of field names to messages.")
E403 = OpenApiResponse(description="The caller may see the record but not do this (e.g. a consultant's verdict).")
E404 = OpenApiResponse(description="No such record, or one the caller may not see.")
CONFLICT = inline_serializer("DefeatConflict", {
    "detail": serializers.CharField(required=False),
    "verdict": serializers.ListField(child=serializers.CharField(), required=False),
    "lead": serializers.ListField(child=serializers.CharField(), required=False),
    "decided": serializers.ListField(child=serializers.IntegerField(), required=False),
    "version": serializers.IntegerField(required=False),
})
E409 = OpenApiResponse(CONFLICT, description=(
    "Someone else was first: the application is already decided (`decided` lists the ids), the lead already has a "
    "pending application, or the version sent is not the current one (`version`)."))


def _conflict(exc) -> Response:
    if isinstance(exc, StaleVersion):
        return Response({"detail": _("Someone changed this record since you read it. Reload it and try again."),
                         "version": exc.current_version}, status=status.HTTP_409_CONFLICT)
    body = dict(exc.message_dict)
    if isinstance(exc, services.AlreadyDecided):
        body["decided"] = exc.ids
    return Response(body, status=status.HTTP_409_CONFLICT)


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="The defeat reasons of the caller's group",
                       description="The two-level taxonomy: categories (`parent` null) and the reasons under them, "
                                   "with `requires_note` and `requires_competitor`. `?active=true` for those in use."),
    retrieve=extend_schema(tags=TAGS, summary="A defeat reason"),
)
class ReasonViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Reason.objects.select_related("parent").order_by("group_id", "sort_order", "code")
    serializer_class = s.ReasonSerializer
    pagination_class = None

    def get_queryset(self):
        user = self.request.user
        group_id = user.dealer_group_id or (user.store.group_id if user.store_id else None)
        if group_id:
            services.reasons_for(group_id)
        qs = super().get_queryset()
        if self.request.query_params.get("active") in ("1", "true"):
            qs = qs.filter(is_active=True)
        return qs


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="Talk tracks (设定购买标准三步法)",
                       description="Per reason (and optionally one of our series): fact, problem, viewpoint."),
    retrieve=extend_schema(tags=TAGS, summary="A talk track"),
    create=extend_schema(tags=TAGS, summary="Write a talk track (managers, group admins)",
                         responses={201: s.TalkTrackSerializer, 400: E400, 403: E403}),
    partial_update=extend_schema(tags=TAGS, summary="Edit a talk track",
                                 responses={200: s.TalkTrackSerializer, 400: E400, 403: E403, 404: E404}),
)
class TalkTrackViewSet(ScopedViewSetMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
                       viewsets.ReadOnlyModelViewSet):
    queryset = TalkTrack.objects.select_related("reason", "series").order_by("reason__sort_order", "pk")
    serializer_class = s.TalkTrackSerializer
    pagination_class = None
    http_method_names = ["get", "post", "patch", "head", "options"]

    def perform_create(self, serializer):
        d = serializer.validated_data
        serializer.instance = services.talk_track_save(actor=self.request.user, reason=d["reason"],
                                                       series=d.get("series"), fact=d["fact"], problem=d["problem"],
                                                       viewpoint=d["viewpoint"])

    def perform_update(self, serializer):
        track = serializer.instance
        d = serializer.validated_data
        serializer.instance = services.talk_track_save(
            actor=self.request.user, reason=d.get("reason", track.reason), series=d.get("series", track.series),
            fact=d.get("fact", track.fact), problem=d.get("problem", track.problem),
            viewpoint=d.get("viewpoint", track.viewpoint), track=track)


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="Defeat applications the caller may see",
                       description="A consultant sees those of the leads they held when filing, a manager the "
                                   "store's, a group admin the group's. Newest first; `status=pending&ordering="
                                   "applied_at` is the verification queue."),
    retrieve=extend_schema(tags=TAGS, summary="A defeat application"),
)
class ApplicationViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                         viewsets.GenericViewSet):
    queryset = (Application.objects.select_related("lead", "consultant", "competitor_series", "competitor_brand")
                .prefetch_related("reasons"))
    serializer_class = s.ApplicationSerializer
    filterset_class = ApplicationFilterSet
    pagination_class = StandardPagination

    def get_object(self):
        return self.scoped_object()

    def _answer(self, pk, code=status.HTTP_200_OK):
        return Response(s.ApplicationSerializer(self.get_queryset().get(pk=pk)).data, status=code)

    @extend_schema(
        tags=TAGS, summary="File a defeat application",
        description=("The lead's consultant or the store's manager files it. The lead becomes `defeat_pending`: "
                     "frozen (nothing falls due, no queue, no job) but still its consultant's. 400: unknown reason "
                     "or series, a reason requiring a note without one, a reason requiring the competitor's series "
                     "without it, our own series as the competitor, a lead won/merged/defeated. 403: not your lead. "
                     "404: a lead you may not see. 409: the lead already has a pending application, or `version` "
                     "is not the lead's current one."),
        request=s.ApplicationCreateSerializer,
        responses={201: s.ApplicationSerializer, 400: E400, 403: E403, 404: E404, 409: E409},
    )
    def create(self, request, *args, **kwargs):
        data = s.ApplicationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        lead = Lead.objects.visible_to(request.user).filter(pk=d["lead"]).first()
        if lead is None:
            raise NotFound(_("No such lead among those you may see."))
        try:
            app = services.application_file(actor=request.user, lead=lead, kind=d["kind"], reasons=d["reasons"],
                                            competitor_series=d.get("competitor_series"),
                                            price_gap=d.get("price_gap"), price_cause=d.get("price_cause", ""),
                                            note=d.get("note", ""),
                                            expected_version=d.get("version"))
        except (services.Conflict, StaleVersion) as exc:
            return _conflict(exc)
        return self._answer(app.pk, status.HTTP_201_CREATED)

    @extend_schema(
        tags=TAGS, summary="Decide an application: confirm or reject (false defeat)",
        description=("The store's manager (or a group admin). `confirm`: the lead becomes `defeated` (closed) and "
                     "stays with its consultant; a defeat joins the competitor pool, worked by the store's pool "
                     "owner, a quasi-defeat the nurture list (`list=nurture`), worked by its consultant. `reject`: a false defeat: the lead is "
                     "`active` again with `grade` (default: its grade), held by `assign_to` (default: its "
                     "consultant), a second follow-up due within the group's days (default 2); both consultants are "
                     "notified. 400: bad verdict, no comment, an assignee outside the store. 403: not the store's "
                     "manager. 409: already decided (by someone else a moment earlier), or a stale `version`."),
        request=s.VerdictSerializer,
        responses={200: s.ApplicationSerializer, 400: E400, 403: E403, 404: E404, 409: E409},
    )
    @action(detail=True, methods=["post"])
    def verdict(self, request, pk=None):
        app = self.get_object()
        data = s.VerdictSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        try:
            services.application_decide(actor=request.user, application=app, verdict=d["verdict"],
                                        comment=d["comment"], assign_to=d.get("assign_to"), grade=d.get("grade"),
                                        expected_version=d.get("version"))
        except (services.Conflict, StaleVersion) as exc:
            return _conflict(exc)
        return self._answer(app.pk)

    @extend_schema(
        tags=TAGS, summary="Decide many applications with one verdict and comment",
        description=("All or nothing. A bulk rejection keeps each lead with its consultant and grade. 404: an id "
                     "you may not see. 403: an application of a store you do not manage. 409: some are already "
                     "decided (`decided` lists them); nothing was written."),
        request=s.BulkVerdictSerializer,
        responses={200: s.ApplicationSerializer(many=True), 400: E400, 403: E403, 404: E404, 409: E409},
    )
    @action(detail=False, methods=["post"], url_path="bulk-verdict")
    def bulk_verdict(self, request):
        data = s.BulkVerdictSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        ids = set(d["ids"])
        if super().get_queryset().filter(pk__in=ids).count() != len(ids):
            raise NotFound(_("No such application among those you may see."))
        try:
            done = services.applications_bulk_decide(actor=request.user, ids=ids, verdict=d["verdict"],
                                                     comment=d["comment"])
        except services.Conflict as exc:
            return _conflict(exc)
        rows = self.get_queryset().filter(pk__in=[a.pk for a in done]).order_by("pk")
        return Response(s.ApplicationSerializer(rows, many=True).data)


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="The competitor-customer pool (竞品客源)",
                       description="Confirmed defeats by competitor brand and series, next contact first. The pool "
                                   "owner sees their customers, a manager the store's. `due=true`: a nurture or "
                                   "replacement contact is due."),
    retrieve=extend_schema(tags=TAGS, summary="A pool customer"),
)
class PoolViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = PoolEntry.objects.select_related("lead", "store", "owner", "competitor_brand", "competitor_series")
    serializer_class = s.PoolEntrySerializer
    filterset_class = PoolFilterSet
    pagination_class = StandardPagination

    @extend_schema(
        tags=TAGS, summary="Log a nurture contact (or a win-back)",
        description=("Logged like a follow-up; the next contact falls due after the group's interval (default 90 "
                     "days). `came_back=true` with a `grade`: the customer is an active lead again (the history "
                     "stays), held by `assign_to` or the pool owner, due today: a win-back. 403: not the owner or "
                     "the store's manager. 409: already won back."),
        request=s.NurtureContactSerializer,
        responses={201: s.PoolEntrySerializer, 400: E400, 403: E403, 404: E404, 409: E409},
    )
    @action(detail=True, methods=["post"])
    def contacts(self, request, pk=None):
        entry = self.get_object()
        data = s.NurtureContactSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        try:
            services.nurture_contact_log(actor=request.user, entry=entry, method=d["method"], content=d["content"],
                                         came_back=d["came_back"], grade=d.get("grade"), assign_to=d.get("assign_to"))
        except services.Conflict as exc:
            return _conflict(exc)
        entry = PoolEntry.objects.select_related("lead").get(pk=entry.pk)
        return Response(s.PoolEntrySerializer(entry, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)


    @extend_schema(
        tags=TAGS, summary="Hand a pool customer to a consultant",
        description=("The store's pool owner (the fleet sales manager, for the customers he holds) or its manager "
                     "hands the customer to an active consultant of the store; a `reassigned` step is recorded on "
                     "the lead. 403: anyone else who sees the customer (a consultant). 409: already won back."),
        request=s.PoolReassignSerializer,
        responses={200: s.PoolEntrySerializer, 400: E400, 403: E403, 404: E404, 409: E409},
    )
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        entry = self.get_object()
        data = s.PoolReassignSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        try:
            services.pool_entries_reassign(actor=request.user, entries=[entry], to_user=data.validated_data["to_user"],
                                           comment=data.validated_data["comment"])
        except services.Conflict as exc:
            return _conflict(exc)
        entry = PoolEntry.objects.select_related("lead", "store", "owner").get(pk=entry.pk)
        return Response(s.PoolEntrySerializer(entry, context=self.get_serializer_context()).data)

    @extend_schema(
        tags=TAGS, summary="Hand several pool customers to a consultant",
        description=("As the single hand-over, all or nothing. 404: an id the caller may not see (another store's "
                     "pool); 403: not the pool owner or a manager of the store; 409: some were won back."),
        request=s.PoolBulkReassignSerializer,
        responses={200: s.PoolEntrySerializer(many=True), 400: E400, 403: E403, 404: E404, 409: E409},
    )
    @action(detail=False, methods=["post"], url_path="bulk-reassign")
    def bulk_reassign(self, request):
        data = s.PoolBulkReassignSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        ids = set(data.validated_data["ids"])
        entries = list(super().get_queryset().filter(pk__in=ids))
        if len(entries) != len(ids):
            raise NotFound(_("No such pool customer among those you may see."))
        try:
            services.pool_entries_reassign(actor=request.user, entries=entries, to_user=data.validated_data["to_user"],
                                           comment=data.validated_data["comment"])
        except services.Conflict as exc:
            return _conflict(exc)
        rows = PoolEntry.objects.select_related("lead", "store", "owner").filter(pk__in=ids).order_by("pk")
        return Response(s.PoolEntrySerializer(rows, many=True, context=self.get_serializer_context()).data)


class PoolOwnerView(APIView):
    """``/api/v1/stores/{id}/pool-owner/``: who owns the store's competitor pool (GET: anyone who sees the store);
    PUT changes it (its manager or the group's admin) and moves the open entries the previous owner held."""

    def _store(self, request, pk) -> Store:
        store = Store.objects.visible_to(request.user).filter(pk=pk).first()
        if store is None:
            raise NotFound(_("No such store among those you may see."))
        return store

    def _body(self, store: Store, moved: int | None = None) -> dict:
        row = PoolOwner.objects.filter(store=store).first()
        owner = services.pool_owner_for(store)
        body = {"store": store.pk, "user": row.user_id if row else None, "owner": owner.pk if owner else None,
                "owner_name": str(owner) if owner else None,
                "fleet_manager": bool(owner and owner.is_fleet_manager),
                "open_entries": PoolEntry.objects.filter(store=store, owner=owner, status=PoolStatus.IN_POOL).count()
                if owner else 0}
        if moved is not None:
            body["moved"] = moved
        return body

    @extend_schema(tags=TAGS, summary="The store's competitor-pool owner",
                   responses={200: s.PoolOwnerSerializer, 404: E404})
    def get(self, request, pk: int):
        return Response(self._body(self._store(request, pk)))

    @extend_schema(tags=TAGS, summary="Change the store's competitor-pool owner",
                   description=("The store's manager or the group's admin. A consultant named here becomes the "
                                "store's fleet sales manager (批售经理). The open pool entries the previous owner "
                                "held move to the new owner, each with a `reassigned` step on its lead (`moved` "
                                "counts them). 403: a consultant; 404: a store the caller may not see."),
                   request=s.PoolOwnerWriteSerializer,
                   responses={200: s.PoolOwnerSerializer, 400: E400, 403: E403, 404: E404})
    def put(self, request, pk: int):
        store = self._store(request, pk)
        data = s.PoolOwnerWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        moved = services.pool_owner_set(actor=request.user, store=store, user=data.validated_data["user"],
                                        comment=data.validated_data["comment"])
        return Response(self._body(store, moved))


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="Defeat-rate targets (per store and year)",
                       parameters=[OpenApiParameter("year", OpenApiTypes.INT), OpenApiParameter("store", OpenApiTypes.INT)],
                       description="The targets of the stores the caller may see. `?year=` and `?store=` filter."),
    retrieve=extend_schema(tags=TAGS, summary="A defeat-rate target"),
    create=extend_schema(tags=TAGS, summary="Set a store's defeat-rate target for a year",
                         description=("The store's manager or the group's admin; a second POST for the same store and "
                                      "year replaces the rate. 403: anyone else who may see the store; 404: a store "
                                      "the caller may not see."),
                         responses={201: s.DefeatTargetSerializer, 400: E400, 403: E403, 404: E404}),
)
class DefeatTargetViewSet(ScopedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = DefeatTarget.objects.order_by("store_id", "-year")
    serializer_class = s.DefeatTargetSerializer
    pagination_class = None

    def get_queryset(self):
        qs = super().get_queryset()
        for param in ("year", "store"):
            value = self.request.query_params.get(param, "")
            if value:
                if not value.isdigit():
                    raise serializers.ValidationError({param: [_("A whole number.")]})
                qs = qs.filter(**{param: int(value)})
        return qs

    def perform_create(self, serializer):
        d = serializer.validated_data
        store = Store.objects.visible_to(self.request.user).filter(pk=d["store"].pk).first()
        if store is None:
            raise NotFound(_("No such store among those you may see."))
        serializer.instance = services.defeat_target_set(actor=self.request.user, store=store, year=d["year"],
                                                         rate=d["rate"])

    @extend_schema(tags=TAGS, summary="The defeat rate against its target and last year",
                   description=selectors.target_progress.__doc__,
                   parameters=[OpenApiParameter("year", OpenApiTypes.INT, description="Default: this year.")],
                   responses={200: OpenApiTypes.OBJECT, 400: E400})
    @action(detail=False, methods=["get"])
    def progress(self, request):
        value = request.query_params.get("year", "")
        if value and not (value.isdigit() and 2000 <= int(value) <= 2100):
            raise serializers.ValidationError({"year": [_("Ask about a year from 2000 to 2100.")]})
        from django.utils import timezone

        year = int(value) if value else timezone.localdate().year
        return Response(selectors.target_progress(user=request.user, year=year))


class MetricsView(APIView):
    @extend_schema(
        tags=TAGS, summary="Defeat figures: defeat rate, false-defeat rate, win-backs",
        description=selectors.__doc__,
        parameters=[
            OpenApiParameter("store", OpenApiTypes.INT, many=True, description="Repeatable; omitted: every visible "
                                                                                 "store."),
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: the 1st of this month)."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, inclusive (default: today)."),
            OpenApiParameter("consultant", OpenApiTypes.INT),
            OpenApiParameter("group_by", OpenApiTypes.STR, enum=list(selectors.GROUP_BY)),
            OpenApiParameter("compare", OpenApiTypes.BOOL, description="Add `previous`: a year earlier (YoY)."),
        ],
        responses={
            200: PolymorphicProxySerializer(component_name="DefeatMetricsResponse",
                                            serializers=[s.MetricsSerializer, s.GroupedMetricsSerializer],
                                            resource_type_field_name=None),
            400: E400, 404: E404,
        },
    )
    def get(self, request):
        query = s.MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        d = query.validated_data
        user = request.user
        stores = None
        if d.get("store"):
            stores = list(Store.objects.visible_to(user).filter(pk__in=d["store"]))
            if len(stores) != len(set(d["store"])):
                raise NotFound("No such store among those you may see.")
        consultant = None
        if d.get("consultant"):
            consultant = User.objects.visible_to(user).filter(pk=d["consultant"]).first()
            if consultant is None:
                raise NotFound("No such consultant among those you may see.")
        period = selectors.Period(d["start"], d["end"])
        answer = selectors.defeat_metrics(user=user, period=period, stores=stores, consultant=consultant,
                                          group_by=d.get("group_by"))
        if d["compare"]:
            answer["previous"] = selectors.defeat_metrics(user=user, period=period.year_before(), stores=stores,
                                                          consultant=consultant, group_by=d.get("group_by"),
                                                          with_reasons=False)
        answer["start"], answer["end"] = d["start"], d["end"]
        return Response(answer)
