"""The post-mortems API (复盘, docs/defeats.md "Post-mortems"): the lessons library and the write / submit / review
flow. Reads are ``PostMortem.objects.visible_to(request.user)`` (a consultant: his own and his store's approved
ones; a manager: his store's; a group admin: his group's), so anything else is a 404. Writes go through
``defeats.postmortems``: its PermissionDenied is a 403, ValidationError a 400 with field messages, a stale
``version`` a 409."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from dealercrm.api.pagination import StandardPagination
from dealercrm.api.schema import TruthfulModelSerializer
from dealercrm.models import VehicleSeries
from dealercrm.scoping import ScopedViewSetMixin
from leads.models import Grade, Lead
from leads.services import StaleVersion

from .. import postmortems as pm_services
from ..filters import PostMortemFilterSet
from ..models import PostMortem, PostMortemStatus, Reason
from .views import _conflict

TAGS = ["post-mortems"]
E400 = OpenApiResponse(description="Invalid input: an object of field names to messages.")
E403 = OpenApiResponse(description="The caller may see the post-mortem but not do this (a consultant approving, "
                                   "someone else's draft).")
E404 = OpenApiResponse(description="No such post-mortem, or one the caller may not see.")
E409 = OpenApiResponse(description="`version` is not the post-mortem's current one: someone changed it since.")


class PostMortemSerializer(TruthfulModelSerializer):
    reasons = serializers.PrimaryKeyRelatedField(many=True, read_only=True,
                                                 help_text="The causes: ids of the group's defeat reasons.")
    reason_names = serializers.StringRelatedField(source="reasons", many=True, read_only=True,
                                                  help_text="The causes' names in the caller's language.")
    consultant_name = serializers.StringRelatedField(source="consultant", read_only=True)
    our_series_name = serializers.StringRelatedField(source="our_series", read_only=True, allow_null=True)
    competitor_series_name = serializers.StringRelatedField(source="competitor_series", read_only=True,
                                                            allow_null=True)
    competitor_brand = serializers.IntegerField(source="competitor_series.brand_id", read_only=True, allow_null=True,
                                                help_text="The competitor series' brand (the `competitor` filter).")
    status = serializers.ChoiceField(choices=PostMortemStatus.choices, read_only=True,
                                     help_text="draft → submitted → approved (shared with the store's team), or "
                                               "returned (sent back with `manager_comment`, editable again).")
    highest_grade = serializers.CharField(read_only=True, help_text=(
        "The highest grade the lead held (its grade history or its grade), when the post-mortem was opened. A "
        "confirmed defeat of a lead that reached B or A opens one by itself."))

    class Meta:
        model = PostMortem
        fields = ["id", "lead", "store", "consultant", "consultant_name", "application", "outcome", "highest_grade",
                  "turned_at_grade", "reasons", "reason_names", "what_happened", "lessons", "our_series",
                  "our_series_name", "competitor_series", "competitor_series_name", "competitor_brand", "status",
                  "opened_by", "opened_at", "submitted_at", "decided_by", "decided_at", "manager_comment", "version"]
        read_only_fields = fields


class PostMortemOpenSerializer(serializers.Serializer):
    lead = serializers.IntegerField(min_value=1, max_value=2**31 - 1,
                                    help_text="A won or defeated lead the caller may see.")


class PostMortemWriteSerializer(serializers.Serializer):
    turned_at_grade = serializers.ChoiceField(choices=Grade.choices, required=False, allow_blank=True,
                                              help_text="The grade where the case turned (won or lost).")
    reasons = serializers.PrimaryKeyRelatedField(many=True, required=False, queryset=Reason.objects.all(),
                                                 help_text="Ids of the group's defeat reasons (the causes).")
    what_happened = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    lessons = serializers.CharField(required=False, allow_blank=True, max_length=4000,
                                    help_text="What to do differently next time.")
    our_series = serializers.PrimaryKeyRelatedField(required=False, allow_null=True,
                                                    queryset=VehicleSeries.objects.all())
    competitor_series = serializers.PrimaryKeyRelatedField(required=False, allow_null=True,
                                                           queryset=VehicleSeries.objects.all())
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                       help_text="The version read; a changed post-mortem is a 409.")


class PostMortemReviewSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[("approve", "approve"), ("return", "return")], default="approve",
                                       help_text="`approve` (shared with the team) or `return` (sent back; needs "
                                                 "a comment).")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class PostMortemCommentSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=2000, help_text="What the consultant should rework.")
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class PostMortemVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="Post-mortems (the lessons library)", description=(
        "A consultant sees his own post-mortems (drafts included) and every approved one of his store; a manager his "
        "store's; a group admin his group's. Filters: `reason` (a cause, or a category's causes), `competitor` (brand "
        "id), `series` (ours or the competitor's), `grade` (where it turned), `status`, `outcome`, `consultant`, `q` "
        "(words in what happened, the lesson, the manager's comment). Newest first.")),
    retrieve=extend_schema(tags=TAGS, summary="A post-mortem"),
)
class PostMortemViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    queryset = (PostMortem.objects.select_related("consultant", "our_series", "competitor_series")
                .prefetch_related("reasons"))
    serializer_class = PostMortemSerializer
    filterset_class = PostMortemFilterSet
    pagination_class = StandardPagination
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_object(self):
        return self.scoped_object()

    def _answer(self, pm, code=status.HTTP_200_OK):
        return Response(PostMortemSerializer(self.get_queryset().get(pk=pm.pk)).data, status=code)

    @extend_schema(tags=TAGS, summary="Open a post-mortem by hand on a won or lost lead", description=(
        "The lead's consultant or the store's manager opens the review of a won (a fleet order, say) or defeated "
        "lead; the consultant writes it. A lead has one post-mortem: when it has one already, that one is returned "
        "(200). 400: a lead neither won nor lost, or held by nobody. 403: not your lead. 404: a lead you may not "
        "see."), request=PostMortemOpenSerializer,
        responses={201: PostMortemSerializer, 200: PostMortemSerializer, 400: E400, 403: E403, 404: E404})
    def create(self, request, *args, **kwargs):
        data = PostMortemOpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead = Lead.objects.visible_to(request.user).filter(pk=data.validated_data["lead"]).first()
        if lead is None:
            raise NotFound(_("No such lead among those you may see."))
        existed = PostMortem.objects.filter(lead=lead).exists()
        pm = pm_services.post_mortem_open(actor=request.user, lead=lead)
        return self._answer(pm, status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(tags=TAGS, summary="Write the post-mortem (its consultant, while a draft or sent back)",
                   description="Fields left out keep their value. 400: an unknown grade, reasons of another group, "
                               "our series as the competitor's; a post-mortem no longer editable. 403: not the "
                               "consultant of the case.",
                   request=PostMortemWriteSerializer,
                   responses={200: PostMortemSerializer, 400: E400, 403: E403, 404: E404, 409: E409})
    def partial_update(self, request, *args, **kwargs):
        pm = self.get_object()
        data = PostMortemWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        try:
            pm = pm_services.post_mortem_save(
                actor=request.user, post_mortem=pm, turned_at_grade=d.get("turned_at_grade", pm.turned_at_grade),
                reasons=d["reasons"] if "reasons" in d else list(pm.reasons.all()),
                what_happened=d.get("what_happened", pm.what_happened), lessons=d.get("lessons", pm.lessons),
                our_series=d.get("our_series", pm.our_series),
                competitor_series=d.get("competitor_series", pm.competitor_series), expected_version=d.get("version"))
        except StaleVersion as exc:
            return _conflict(exc)
        return self._answer(pm)

    @extend_schema(tags=TAGS, summary="Submit the post-mortem to the store's manager", description=(
        "Its consultant. Needs the grade where it turned, what happened, what to do differently and, for a lost "
        "case, a cause (400 names what is missing). The store's managers are notified."),
        request=PostMortemVersionSerializer, responses={200: PostMortemSerializer, 400: E400, 403: E403, 404: E404, 409: E409})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        pm = self.get_object()
        data = PostMortemVersionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            pm = pm_services.post_mortem_submit(actor=request.user, post_mortem=pm,
                                                expected_version=data.validated_data.get("version"))
        except StaleVersion as exc:
            return _conflict(exc)
        return self._answer(pm)

    @extend_schema(tags=TAGS, summary="Review a submitted post-mortem: approve (share it) or send it back", description=(
        "The store's manager (or the group's admin). `approve`: shared with the store's team (the library, the talk "
        "tracks of its causes). `return`: back to the consultant with the comment (required). The consultant is "
        "notified. 400: not submitted, or a return without a comment. 403: a consultant."),
        request=PostMortemReviewSerializer,
        responses={200: PostMortemSerializer, 400: E400, 403: E403, 404: E404, 409: E409})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        pm = self.get_object()
        data = PostMortemReviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        try:
            if d["decision"] == "return":
                pm = pm_services.post_mortem_return(actor=request.user, post_mortem=pm, comment=d.get("comment", ""),
                                                    expected_version=d.get("version"))
            else:
                pm = pm_services.post_mortem_approve(actor=request.user, post_mortem=pm,
                                                     comment=d.get("comment", ""), expected_version=d.get("version"))
        except StaleVersion as exc:
            return _conflict(exc)
        return self._answer(pm)

    @extend_schema(tags=TAGS, summary="Send a submitted post-mortem back with a comment", description=(
        "The same as `approve` with `decision=return`."), request=PostMortemCommentSerializer,
        responses={200: PostMortemSerializer, 400: E400, 403: E403, 404: E404, 409: E409})
    @action(detail=True, methods=["post"], url_path="return")
    def send_back(self, request, pk=None):
        pm = self.get_object()
        data = PostMortemCommentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            pm = pm_services.post_mortem_return(actor=request.user, post_mortem=pm,
                                                comment=data.validated_data["comment"],
                                                expected_version=data.validated_data.get("version"))
        except StaleVersion as exc:
            return _conflict(exc)
        return self._answer(pm)
