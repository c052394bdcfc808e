"""The leads REST API: leads (list, create, read, edit), their visits, follow-ups, deal, assignment and timeline, and
the follow-up review queue. Every read is ``visible_to(request.user)`` (ScopedViewSetMixin): a lead the caller may
not see is a 404. Every write goes through ``leads.services``; their PermissionDenied is a 403, their
ValidationError a 400 with field messages (dealercrm.api.exceptions)."""

import re

from django.db import transaction
from django.db.models import BooleanField, Case, Exists, OuterRef, Q, Value, When
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
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from dealercrm.api.pagination import StandardPagination
from dealercrm.models import Store
from dealercrm.scoping import ScopedViewSetMixin

from .. import selectors, services
from ..extensions import lead_select_related
from ..filters import LeadFilterSet
from ..models import FlagEvent, FlagKind, FollowUp, Lead, Status, local_day_start
from .serializers import (
    DealCreateSerializer,
    DealSerializer,
    FollowUpCreateSerializer,
    FollowUpReviewSerializer,
    FollowUpSerializer,
    LeadAssignSerializer,
    LeadCreateSerializer,
    LeadKeepSerializer,
    LeadPoolSerializer,
    LeadSerializer,
    LeadUpdateSerializer,
    VisitCreateSerializer,
    VisitSerializer,
    pop_lead_extras,
    save_lead_extras,
    timeline_data,
    timeline_serializers,
)

# --- schema pieces ----------------------------------------------------------------------------------------------

TAGS = ["leads"]
E400 = OpenApiResponse(description=("Invalid input: an object of field names to messages."))
E403 = OpenApiResponse(description=("The caller may see the lead but not do this (e.g. not a manager)."))
E404 = OpenApiResponse(description=("No such lead, or one the caller may not see."))
DUPLICATE_PHONE = inline_serializer(
    "LeadDuplicatePhone",
    {
        "phone": serializers.ListField(child=serializers.CharField()),
        "existing_lead": serializers.IntegerField(
            allow_null=True, help_text="The existing lead, when the caller may see it; null for anyone else's."),
    },
)
STALE_VERSION = inline_serializer(
    "LeadStaleVersion", {"detail": serializers.CharField(), "version": serializers.IntegerField()}
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=('The ETag of the lead as read, e.g. "3". A lead changed since: 412.'),
)
ETAG = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=("The lead's version, for If-Match."),
    response=[200, 201],
)


def _etag(version: int) -> str:
    return f'"{version}"'


# RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = "!" / %x23-7E (obs-text refused: an ETag
# of ours is ASCII). Our ETags are strong, quoted decimal versions; a version never has more than 18 digits.
_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e]*)"\s*')
_VERSION = re.compile(r"[0-9]{1,18}")


class _BadIfMatch(Exception):
    pass


def _if_match(request) -> list[int] | None:
    """The versions an If-Match header accepts; None when there is no header (or ``*``). Weak tags never match
    (RFC 9110 compares If-Match strongly), nor does a well-formed tag that is not one of ours (412). A header that
    is not a list of entity-tags, or a tag that claims to be a version but cannot be one (non-ASCII digits, more
    digits than a version has), is malformed: :class:`_BadIfMatch` (400)."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    versions = []
    for tag in header.split(","):
        match = _ENTITY_TAG.fullmatch(tag)
        if match is None:
            raise _BadIfMatch
        weak, opaque = match.groups()
        if opaque.isdigit() and not _VERSION.fullmatch(opaque):
            raise _BadIfMatch
        if not weak and _VERSION.fullmatch(opaque):
            versions.append(int(opaque))
    return versions


def _bad_if_match_response() -> Response:
    return Response(
        {"If-Match": [_('If-Match must be "*" or the ETag the lead was read with, e.g. "3".')]},
        status=status.HTTP_400_BAD_REQUEST,
    )


class _Stale(Exception):
    def __init__(self, current: int, status_code: int):
        self.current, self.status_code = current, status_code


def _stale_response(exc: _Stale) -> Response:
    response = Response(
        {"detail": _("Someone changed this lead since you read it. Reload it and try again."), "version": exc.current},
        status=exc.status_code,
    )
    response["ETag"] = _etag(exc.current)
    return response


ALREADY_CLAIMED = inline_serializer("LeadAlreadyClaimed", {"lead": serializers.ListField(child=serializers.CharField())})


def _duplicate_response(exc: services.DuplicatePhone, user) -> Response:
    """409 naming the existing lead when the caller may see it; for anyone else's (a colleague's customer) only that
    the phone is taken in the store: the answer must not tell who holds a phone."""
    visible = Lead.objects.visible_to(user).filter(pk=exc.lead_id).exists()
    return Response({"phone": [exc.message_for(visible=visible)], "existing_lead": exc.lead_id if visible else None},
                    status=status.HTTP_409_CONFLICT)


# --- leads ------------------------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        tags=TAGS,
        summary=("Leads the caller may see"),
        description=(
            "A consultant sees their own leads, a manager the store's, a group admin the group's. Merged leads are "
            "left out. Filters are those of the /leads/ page; `grade` may be repeated."
        ),
    ),
)
class LeadViewSet(ScopedViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Leads. Pagination is the project's StandardPagination rather than a cursor: the list is ordered by the
    FilterSet's ``ordering`` choices (grade, name, due date...), which a cursor cannot follow (it imposes its own
    fixed ordering); clients and the org API already speak ``page``/``page_size``/``count``; and the page sizes a
    store's lead list needs keep OFFSET cheap. A unique tie-breaker keeps pages stable under any ordering."""

    # The same rows and joins as selectors.lead_list; visible_to is applied by ScopedViewSetMixin.
    queryset = Lead.objects.not_merged().select_related(
        "assigned_to", "channel", "series__brand", "store", "stale_flag", "overdue_flag")
    serializer_class = LeadSerializer
    filterset_class = LeadFilterSet
    pagination_class = StandardPagination

    def get_queryset(self):
        # Same rule as LeadQuerySet.overdue(), computed in SQL so a page costs one query whatever its size.
        overdue = Q(status=Status.ACTIVE, next_follow_up_at__lt=local_day_start())
        is_overdue = Case(When(overdue, then=Value(True)), default=Value(False), output_field=BooleanField())
        # The relations the other apps' fields read (baseclients: the referral), joined here too.
        return super().get_queryset().select_related(*lead_select_related()).annotate(is_overdue=is_overdue)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        order = list(queryset.query.order_by)
        if order and not {"pk", "-pk", "id", "-id"} & {o for o in order if isinstance(o, str)}:
            queryset = queryset.order_by(*order, "-pk")
        return queryset

    def get_object(self) -> Lead:
        # Detail routes look the lead up in the scoped queryset only: the list's filters (status, due...) in a query
        # string must not turn a visible lead into a 404, nor a stray parameter on a POST into a 400.
        return self.scoped_object()

    def _answer(self, lead_pk: int, status_code: int = status.HTTP_200_OK) -> Response:
        lead = self.get_queryset().get(pk=lead_pk)
        response = Response(LeadSerializer(lead, context=self.get_serializer_context()).data, status=status_code)
        response["ETag"] = _etag(lead.version)
        return response

    @extend_schema(
        tags=TAGS,
        summary=("Retrieve a lead"),
        description=("The ETag header carries the lead's version, for If-Match on PATCH."),
        parameters=[ETAG],
        responses={200: LeadSerializer, 404: E404},
    )
    def retrieve(self, request, *args, **kwargs):
        lead = self.get_object()
        response = Response(self.get_serializer(lead).data)
        response["ETag"] = _etag(lead.version)
        return response

    @extend_schema(
        tags=TAGS,
        summary=("Create a lead with its first visit (now)"),
        description=(
            "A consultant creates leads for themself in their store. A manager may name a consultant of the store "
            "in `assigned_to` or leave it to round-robin. Group admins and superusers name the `store`. "
            "400: invalid input (phone, grade, source, blank name...). 403: the caller may not create leads for "
            "that store or consultant. 409: a customer with this phone already exists in the store; "
            "`existing_lead` names that lead when the caller may see it (log a re-visit on it instead); for a "
            "colleague's customer it is null and the message says only that the phone is taken in the store."
        ),
        request=LeadCreateSerializer,
        parameters=[ETAG],
        responses={
            201: LeadSerializer,
            400: E400,
            403: E403,
            409: OpenApiResponse(DUPLICATE_PHONE, description=("The phone is already a lead's.")),
        },
    )
    def create(self, request, *args, **kwargs):
        data = LeadCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        extras = pop_lead_extras(data.validated_data)
        try:
            with transaction.atomic():
                lead = services.lead_create(actor=request.user, **data.validated_data)
                save_lead_extras(actor=request.user, lead=lead, taken=extras)
        except services.DuplicatePhone as exc:
            return _duplicate_response(exc, request.user)
        return self._answer(lead.pk, status.HTTP_201_CREATED)

    @extend_schema(
        tags=TAGS,
        summary=("Edit a lead"),
        description=(
            "Customer fields, `grade` (recorded in the grade history) and `assigned_to` (managers only; recorded in "
            "the assignment history), all or nothing. `store` and `status` cannot change here (400). Send the "
            "version read as `If-Match: \"<version>\"` (412 when the lead changed since) or as `version` in the "
            "body (409). 403: not allowed (e.g. a consultant reassigning). 409 also: the new phone is another "
            "lead's (`existing_lead`)."
        ),
        request=LeadUpdateSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={
            200: LeadSerializer,
            400: E400,
            403: E403,
            404: E404,
            409: OpenApiResponse(
                PolymorphicProxySerializer(
                    "LeadUpdateConflict", serializers=[STALE_VERSION, DUPLICATE_PHONE], resource_type_field_name=None
                ),
                description=("Body `version` is not the current one, or the phone is another lead's."),
            ),
            412: OpenApiResponse(
                STALE_VERSION, description=("If-Match does not match the current version.")
            ),
        },
    )
    def partial_update(self, request, *args, **kwargs):
        lead = self.get_object()
        data = LeadUpdateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        errors = {}
        if "store" in changes and changes.pop("store") != lead.store_id:
            errors["store"] = [_("A lead cannot move to another store.")]
        if "status" in changes and changes.pop("status") != lead.status:
            errors["status"] = [_("The status changes with a deal or a merge, not here.")]
        if errors:
            raise serializers.ValidationError(errors)
        try:
            if_match = _if_match(request)
        except _BadIfMatch:
            return _bad_if_match_response()
        body_version = changes.pop("version", None)
        grade = changes.pop("grade", None)
        reassign = "assigned_to" in changes
        assignee = changes.pop("assigned_to", None)
        try:
            with transaction.atomic():
                # Hold the row from the version check to the last write, so no one can slip a change in between.
                locked = Lead.objects.select_for_update().filter(pk=lead.pk)
                current, holder = locked.values_list("version", "assigned_to_id").get()
                if if_match is not None and current not in if_match:
                    raise _Stale(current, status.HTTP_412_PRECONDITION_FAILED)
                if body_version is not None and body_version != current:
                    raise _Stale(current, status.HTTP_409_CONFLICT)
                extras = pop_lead_extras(changes)
                if changes:
                    lead = services.lead_update(actor=request.user, lead=lead, **changes)
                save_lead_extras(actor=request.user, lead=lead, taken=extras)
                if grade is not None:
                    lead = services.lead_grade_change(actor=request.user, lead=lead, to_grade=grade)
                # Sending back the current holder is not a reassignment (nor a 403 for the consultant holding it).
                if reassign and holder != (assignee.pk if assignee else None):
                    lead = services.lead_assign(actor=request.user, lead=lead, to_user=assignee)
        except _Stale as exc:
            return _stale_response(exc)
        except services.DuplicatePhone as exc:
            return _duplicate_response(exc, request.user)
        return self._answer(lead.pk)

    @extend_schema(
        tags=TAGS,
        summary=("Log a re-visit"),
        description=(
            "A later showroom visit of a known customer (not counted in N). 400: invalid input (e.g. leaving before "
            "arriving, unknown step). 403: not the lead's consultant or manager."
        ),
        request=VisitCreateSerializer,
        responses={201: VisitSerializer, 400: E400, 403: E403, 404: E404},
    )
    @action(detail=True, methods=["post"])
    def visits(self, request, pk=None):
        lead = self.get_object()
        data = VisitCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        visit = services.visit_add(actor=request.user, lead=lead, **data.validated_data)
        return Response(VisitSerializer(visit).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        tags=TAGS,
        summary=("The lead's follow-ups"),
        description=("Newest first, paginated."),
        filters=False,
        responses={200: FollowUpSerializer(many=True), 404: E404},
    )
    @extend_schema(
        methods=["POST"],
        tags=TAGS,
        summary=("Log a follow-up"),
        description=(
            "A `grade_after` different from the lead's grade changes the grade (recorded in the grade history). "
            "Without `next_follow_up_at` the next follow-up falls due after the (new) grade's interval. The record "
            "waits for the manager's review. 400: invalid input, a time in the future or before the first visit, "
            "or a lead that is won or merged. 403: not the lead's consultant or manager."
        ),
        request=FollowUpCreateSerializer,
        responses={201: FollowUpSerializer, 400: E400, 403: E403, 404: E404},
    )
    @action(detail=True, methods=["get", "post"], url_path="follow-ups")
    def follow_ups(self, request, pk=None):
        lead = self.get_object()
        if request.method == "GET":
            queryset = (
                FollowUp.objects.visible_to(request.user)
                .filter(lead=lead)
                .select_related("lead", "created_by", "reviewed_by")
                .order_by("-occurred_at", "-pk")
            )
            page = self.paginate_queryset(queryset)
            return self.get_paginated_response(FollowUpSerializer(page, many=True).data)
        data = FollowUpCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        follow_up = services.follow_up_log(actor=request.user, lead=lead, **data.validated_data)
        return Response(FollowUpSerializer(follow_up).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=TAGS,
        summary=("Record the deal"),
        description=(
            "Records the sale (price in CNY as a decimal string, kept exact) and makes the lead won. A fleet order "
            "(批售) is one deal of `quantity` units: `price` is the order's amount, `unit_price` a unit's (give "
            "either); `vehicles` are the units delivered now, the rest are delivered later with "
            "`POST /api/v1/deals/{id}/vehicles/`. The buyer's base client gets ONE purchase (not one per unit) and "
            "the units. 400: invalid input, a negative price, more vehicles than the quantity, a VIN given twice, "
            "delivery before the order, or a lead already won or merged. 403: not the lead's consultant or manager."
        ),
        request=DealCreateSerializer,
        responses={201: DealSerializer, 400: E400, 403: E403, 404: E404},
    )
    @action(detail=True, methods=["post"])
    def deal(self, request, pk=None):
        lead = self.get_object()
        data = DealCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deal = services.deal_record(actor=request.user, lead=lead, **data.validated_data)
        return Response(DealSerializer(deal).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=TAGS,
        summary=("Assign the lead to a consultant"),
        description=(
            "Managers only (403 for anyone else). `assigned_to: null` puts the lead in the reclaim pool. 400: not an "
            "active consultant of the lead's store."
        ),
        request=LeadAssignSerializer,
        parameters=[ETAG],
        responses={200: LeadSerializer, 400: E400, 403: E403, 404: E404},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        lead = self.get_object()
        data = LeadAssignSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        lead = services.lead_assign(actor=request.user, lead=lead, to_user=data.validated_data["assigned_to"],
                                    reason=data.validated_data["reason"])
        return self._answer(lead.pk)

    # --- the store's pool (公海) and the stale flag -------------------------------------------------------------
    # A pool lead is held by nobody, so the scoped queryset hides it from consultants (they see only their own
    # leads). The pool is the one deliberate exception: the consultants of the lead's store see it and may claim it;
    # anyone else sees what visible_to gives them. The store test is Store.objects.visible_to(user): a consultant's
    # or manager's own store, a group admin's group; a consultant of another store gets 404.

    def _pool_queryset(self):
        stores = Store.objects.visible_to(self.request.user)
        return Lead.objects.in_pool().filter(store__in=stores)

    @extend_schema(
        tags=TAGS,
        summary=("The store's pool (公海)"),
        description=(
            "Active leads nobody holds that the reclaim job or a manager put back, longest waiting first. A "
            "consultant or manager sees their store's pool, a group admin their group's (filter with `store`). "
            "Phones are masked for consultants until they claim the lead. The list filters apply."
        ),
        responses={200: LeadSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], url_path="pool")
    def pool_list(self, request):
        overdue = Q(status=Status.ACTIVE, next_follow_up_at__lt=local_day_start())
        queryset = (
            self._pool_queryset()
            .select_related("assigned_to", "channel", "series__brand", "store", "stale_flag", "overdue_flag",
                            *lead_select_related())
            .annotate(is_overdue=Case(When(overdue, then=Value(True)), default=Value(False),
                                      output_field=BooleanField()))
            .order_by("pooled_at", "pk")
        )
        queryset = self.filter_queryset(queryset)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        summary=("Claim a lead from the pool"),
        description=(
            "A consultant of the lead's store takes it: it is assigned to them (assignment history), its pool and "
            "overdue flags are cleared and it falls due today. First come first served: 409 when someone else has "
            "just claimed it. 403: not a consultant of the store (managers assign from the pool with `assign/`). "
            "404: not a lead of the caller's store's pool."
        ),
        request=None,
        responses={200: LeadSerializer, 403: E403, 404: E404,
                   409: OpenApiResponse(ALREADY_CLAIMED, description=("Someone else claimed it first."))},
    )
    @action(detail=True, methods=["post"])
    def claim(self, request, pk=None):
        # The caller's store's leads that are, or were, in the pool: a lead claimed a moment ago by a colleague is
        # a 409, not a 404; any other lead the caller cannot see stays a 404.
        was_pooled = Exists(FlagEvent.objects.filter(lead=OuterRef("pk"), kind=FlagKind.POOL))
        candidates = Lead.objects.filter(store__in=Store.objects.visible_to(request.user)).filter(
            Q(pooled_at__isnull=False) | was_pooled | Q(pk__in=self.get_queryset().values("pk"))
        )
        lead = get_object_or_404(candidates, pk=pk)
        try:
            lead = services.lead_claim(actor=request.user, lead=lead)
        except services.AlreadyClaimed as exc:
            return Response(exc.message_dict, status=status.HTTP_409_CONFLICT)
        return self._answer(lead.pk)

    @extend_schema(
        tags=TAGS,
        summary=("Keep a stale lead in its grade"),
        description=(
            "The store's manager keeps a lead flagged stale, saying why (`reason`, required): the flag is cleared "
            "and the dwell clock restarts now. 400: no reason, or the lead is not stale. 403: not the store's manager."
        ),
        request=LeadKeepSerializer,
        responses={200: LeadSerializer, 400: E400, 403: E403, 404: E404},
    )
    @action(detail=True, methods=["post"])
    def keep(self, request, pk=None):
        lead = self.get_object()
        data = LeadKeepSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead = services.lead_keep(actor=request.user, lead=lead, reason=data.validated_data["reason"])
        return self._answer(lead.pk)

    @extend_schema(
        tags=TAGS,
        summary=("Move a lead to the store's pool"),
        description=(
            "The store's manager puts the lead back in the pool, unassigned (assignment history; optional "
            "`reason`), for any consultant of the store to claim. 400: the lead is won or merged. 403: not the "
            "store's manager."
        ),
        request=LeadPoolSerializer,
        responses={200: LeadSerializer, 400: E400, 403: E403, 404: E404},
    )
    @action(detail=True, methods=["post"], url_path="pool")
    def move_to_pool(self, request, pk=None):
        lead = self.get_object()
        data = LeadPoolSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead = services.lead_move_to_pool(actor=request.user, lead=lead, reason=data.validated_data["reason"])
        return self._answer(lead.pk)

    @extend_schema(
        tags=TAGS,
        summary=("The lead's timeline"),
        description=(
            "Visits, follow-ups, grade changes, assignment changes, the deal and the defeat workflow's steps "
            "(kind `defeat`: application filed, verdict, nurture contact, win-back), newest first. Each entry is "
            "`{kind, at, ...}` with the fields of its kind."
        ),
        filters=False,
        responses={
            200: PolymorphicProxySerializer(
                "LeadTimelineEntry",
                serializers=timeline_serializers,  # called when the schema is built: the other apps' kinds too
                resource_type_field_name="kind",
                many=True,
            ),
            404: E404,
        },
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def timeline(self, request, pk=None):
        return Response(timeline_data(selectors.lead_timeline(lead=self.get_object())))


# --- follow-up review -------------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        tags=TAGS,
        summary=("Follow-ups the caller may see"),
        description=("`review_status=pending` gives a manager's review queue."),
    ),
    retrieve=extend_schema(tags=TAGS, summary=("Retrieve a follow-up"), responses={200: FollowUpSerializer,
                                                                                                 404: E404}),
)
class FollowUpViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Follow-up records, scoped through their lead. Written through /leads/{id}/follow-ups/, reviewed here."""

    queryset = FollowUp.objects.select_related("lead", "created_by", "reviewed_by").order_by("-occurred_at", "-pk")
    serializer_class = FollowUpSerializer
    filterset_fields = ["review_status", "method"]

    @extend_schema(
        tags=TAGS,
        summary=("Approve or reject a follow-up"),
        description=(
            "The store's manager approves the record or rejects it with a comment saying what to fix. 400: a "
            "rejection without a comment, or a record already reviewed. 403: not the store's manager."
        ),
        request=FollowUpReviewSerializer,
        responses={200: FollowUpSerializer, 400: E400, 403: E403, 404: E404},
    )
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        follow_up = self.get_object()
        data = FollowUpReviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        follow_up = services.follow_up_review(actor=request.user, follow_up=follow_up, **data.validated_data)
        return Response(FollowUpSerializer(follow_up).data)
