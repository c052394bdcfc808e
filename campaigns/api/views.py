"""The events API: events (list, read, create), their target list (preview, invite), invitations and answers, the
door attendance, the results and the results per kind. Every read is ``visible_to(request.user)``: another store's
event is a 404 for its staff, another group's for everyone. Writes go through ``campaigns.services``
(PermissionDenied: 403, ValidationError: 400 with field messages)."""

from __future__ import annotations

from datetime import date

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from dealercrm.api.pagination import StandardPagination
from dealercrm.models import Store
from dealercrm.scoping import ScopedViewSetMixin

from .. import selectors, services
from ..models import Event, Invitation
from .serializers import (
    AnswerSerializer,
    AttendanceSerializer,
    ByKindSerializer,
    EventCreateSerializer,
    EventSerializer,
    InvitationSerializer,
    InviteResultSerializer,
    InviteSerializer,
    ResultsSerializer,
    TargetCountSerializer,
)

TAGS = ["events"]
E400 = OpenApiResponse(description="Invalid input: an object of field names to messages.")
E403 = OpenApiResponse(description="The caller may see the event but not do this.")
E404 = OpenApiResponse(description="No such record, or one the caller may not see.")


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="Events the caller may see",
                       description="A store's staff (consultants included) see their store's events, a group admin "
                                   "the group's; newest first. `year` narrows to the events held that year."),
    retrieve=extend_schema(tags=TAGS, summary="Retrieve an event", responses={200: EventSerializer, 404: E404}),
)
class EventViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Event.objects.select_related("store").order_by("-held_on", "-pk")
    serializer_class = EventSerializer
    pagination_class = StandardPagination

    def get_object(self) -> Event:
        return self.scoped_object()

    def filter_queryset(self, queryset):
        if self.action == "list" and (year := self.request.query_params.get("year")):
            queryset = queryset.filter(held_on__year=_year(year))
        return queryset

    @extend_schema(parameters=[OpenApiParameter("year", OpenApiTypes.INT)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(tags=TAGS, summary="Create an event",
                   description="The store's manager (for their store; `store` may be left out) or a group admin "
                               "(any store of the group). Consultants: 403.",
                   request=EventCreateSerializer, responses={201: EventSerializer, 400: E400, 403: E403})
    def create(self, request, *args, **kwargs):
        data = EventCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        store_id = values.pop("store", None) or request.user.store_id
        store = Store.objects.visible_to(request.user).filter(pk=store_id).first() if store_id else None
        if store is None:
            raise ValidationError({"store": [_("Choose one of your stores.")]})
        event = services.event_create(actor=request.user, store=store, **values)
        return Response(EventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], tags=TAGS, summary="The event's guests",
                   description="Every guest on the list and every walk-in, by name, with the answer and the "
                               "attendance. Phones in full for the guest's consultant and the store's managers, "
                               "masked for anyone else.",
                   parameters=[OpenApiParameter("mine", OpenApiTypes.BOOL,
                                                description="Only the guests the caller follows up.")],
                   responses={200: InvitationSerializer(many=True), 404: E404})
    @extend_schema(methods=["POST"], tags=TAGS, summary="Invite from the target list",
                   description="The base clients of the event's store picked by `tiers`, `regions`, `industries` "
                               "(tiers: any of them; regions and industries, when given, narrow) and `client_ids`, "
                               "and the store's pool customers of `pool_lists` and `pool_entry_ids`. Idempotent: "
                               "someone on the list already stays as they are. The store's manager or a group "
                               "admin; consultants: 403. Ids outside the store: 400.",
                   request=InviteSerializer, responses={200: InviteResultSerializer, 400: E400, 403: E403,
                                                        404: E404})
    @action(detail=True, methods=["get", "post"])
    def invitations(self, request, pk=None):
        event = self.get_object()
        if request.method == "GET":
            rows = (Invitation.objects.visible_to(request.user).filter(event=event).order_by("name", "pk"))
            if request.query_params.get("mine") in ("1", "true"):
                rows = rows.filter(consultant=request.user)
            page = selectors.with_phones(request.user, list(self.paginate_queryset(rows)))
            return self.get_paginated_response(InvitationSerializer(page, many=True).data)
        data = InviteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.invite(actor=request.user, event=event, **data.validated_data))

    @extend_schema(tags=TAGS, summary="Preview the target list",
                   description="How many the filters of `POST invitations` (same fields, as JSON) pick, and how "
                               "many of them are not on the list yet. Writes nothing. The store's manager or a "
                               "group admin; consultants: 403.",
                   request=InviteSerializer, responses={200: TargetCountSerializer, 400: E400, 403: E403,
                                                        404: E404})
    @action(detail=True, methods=["post"], url_path="target-count")
    def target_count(self, request, pk=None):
        event = self.get_object()
        services.require_manager(request.user, event.store)
        data = InviteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(selectors.target_counts(event, **data.validated_data))

    @extend_schema(tags=TAGS, summary="Record a guest's answer",
                   description="The guest's consultant or the store's manager; another consultant: 403.",
                   request=AnswerSerializer, responses={200: InvitationSerializer, 400: E400, 403: E403, 404: E404})
    @action(detail=True, methods=["post"])
    def answers(self, request, pk=None):
        event = self.get_object()
        data = AnswerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = self._invitation(event, data.validated_data["invitation"])
        invitation = services.answer_set(actor=request.user, invitation=invitation,
                                         answer=data.validated_data["answer"])
        return Response(InvitationSerializer(selectors.with_phones(request.user, [invitation])[0]).data)

    @extend_schema(tags=TAGS, summary="Take the attendance at the door",
                   description="`invitation` (and `arrived`, default true): a guest on the list arrived (false: "
                               "take it back). Or `name` (and `phone`): a walk-in guest not on the list, recorded "
                               "as arrived. Any staff of the event's store. A base client's events criterion is "
                               "re-scored from the attendance.",
                   request=AttendanceSerializer, responses={200: InvitationSerializer, 400: E400, 403: E403,
                                                            404: E404})
    @action(detail=True, methods=["post"])
    def attendance(self, request, pk=None):
        event = self.get_object()
        data = AttendanceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if "invitation" in v:
            invitation = services.attendance_set(actor=request.user,
                                                 invitation=self._invitation(event, v["invitation"]),
                                                 arrived=v["arrived"])
        else:
            invitation = services.walk_in_add(actor=request.user, event=event, name=v["name"],
                                              phone=v.get("phone", ""))
        return Response(InvitationSerializer(selectors.with_phones(request.user, [invitation])[0]).data)

    @extend_schema(tags=TAGS, summary="What the event brought", responses={200: ResultsSerializer, 404: E404})
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        return Response(selectors.event_results(self.get_object()))

    @extend_schema(tags=TAGS, summary="Results per kind of event",
                   description="For each kind, the events held in `year` (default this year) that the caller "
                               "sees, and the sums of their results.",
                   parameters=[OpenApiParameter("year", OpenApiTypes.INT)],
                   responses={200: ByKindSerializer, 400: E400})
    @action(detail=False, methods=["get"], url_path="results-by-kind", pagination_class=None)
    def results_by_kind(self, request):
        year = _year(request.query_params.get("year") or timezone.localdate().year)
        figures = selectors.results_by_kind(user=request.user, start=date(year, 1, 1), end=date(year, 12, 31))
        return Response({"year": year, "kinds": figures["rows"], "total": figures["total"]})

    def _invitation(self, event: Event, pk: int) -> Invitation:
        return get_object_or_404(Invitation.objects.visible_to(self.request.user).select_related("event__store"),
                                 event=event, pk=pk)


def _year(raw) -> int:
    try:
        year = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({"year": [_("A year, e.g. 2026.")]}) from None
    if not 2000 <= year <= 2100:
        raise ValidationError({"year": [_("A year between 2000 and 2100.")]})
    return year
