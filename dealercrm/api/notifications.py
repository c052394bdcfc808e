"""The notifications API (the caller's own in-app notifications) and the job-run log (group admins, superusers)."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from ..models import JobRun, Notification, Role
from ..notifications import notification_label, notification_text, notifications_mark_read, unread_count
from ..scoping import ScopedViewSetMixin

E404 = OpenApiResponse(description="No such notification, or someone else's.")


class NotificationSerializer(serializers.ModelSerializer):
    """A notification; ``text`` is rendered in the caller's language from ``kind`` and ``params`` (no query)."""

    # An open set: apps add kinds in their AppConfig.ready() (dealercrm.notifications.register_kind) without a
    # migration here, so the model's choices are not all the kinds there are; documented as a string.
    kind = serializers.CharField(read_only=True, help_text=(
        "digest, store_summary, assigned, review_rejected, reclaimed, or a kind another part of the application "
        "adds (e.g. defeat_confirmed, defeat_rejected): an open set; `label` names it, `text` is the message."))
    label = serializers.SerializerMethodField(help_text="The kind's name in the caller's language.")
    text = serializers.SerializerMethodField()
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "label", "text", "params", "url", "created_at", "read_at", "is_read"]
        read_only_fields = fields

    def get_label(self, notification: Notification) -> str:
        return notification_label(notification)

    def get_text(self, notification: Notification) -> str:
        return notification_text(notification)

    def get_is_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField(help_text="The caller's unread notifications.")


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications changed from unread to read.")
    unread = serializers.IntegerField(help_text="The caller's unread notifications left.")


@extend_schema_view(
    list=extend_schema(
        tags=["notifications"],
        summary="The caller's notifications",
        description=(
            "Newest first: daily digests, store summaries, assignments, rejected follow-ups, leads reclaimed to the "
            "pool. Everyone, managers and admins included, sees only their own. `unread=true` for the unread ones."
        ),
        parameters=[OpenApiParameter("unread", bool, description="true: unread only; false: read only.")],
    ),
    retrieve=extend_schema(tags=["notifications"], summary="Retrieve a notification", responses={
        200: NotificationSerializer, 404: E404}),
)
class NotificationViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          viewsets.GenericViewSet):
    # Personal rows: NotificationQuerySet.visible_to(user) gives the caller's own, whatever their role, so another
    # person's notification is a 404. Not a ScopedQuerySet (no group/store/owner ladder), hence the exemption from
    # the route test's type check; ScopedViewSetMixin still applies visible_to.
    scoping_exempt = "personal rows: NotificationQuerySet.visible_to gives the caller's own only"
    queryset = Notification.objects.order_by("-created_at", "-pk")
    serializer_class = NotificationSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        unread = self.request.query_params.get("unread")
        if self.action == "list" and unread is not None:
            value = unread.strip().lower()
            if value not in ("true", "false", "1", "0"):
                raise serializers.ValidationError({"unread": [_("Enter true or false.")]})
            queryset = queryset.filter(read_at__isnull=value in ("true", "1"))
        return queryset

    @extend_schema(tags=["notifications"], summary="Mark a notification read", request=None,
                   responses={200: NotificationSerializer, 404: E404})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = self.get_object()
        notifications_mark_read(user=request.user, ids=[notification.pk])
        notification.refresh_from_db()
        return Response(self.get_serializer(notification).data)

    @extend_schema(tags=["notifications"], summary="Mark all the caller's notifications read", request=None,
                   responses={200: MarkedSerializer})
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        marked = notifications_mark_read(user=request.user)
        return Response({"marked": marked, "unread": unread_count(request.user)})

    @extend_schema(tags=["notifications"], summary="The caller's unread count (the bell)",
                   responses={200: UnreadCountSerializer})
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        return Response({"unread": unread_count(request.user)})


class JobRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobRun
        fields = ["id", "job", "task_id", "status", "started_at", "finished_at", "flagged", "cleared", "notified",
                  "error"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        tags=["jobs"],
        summary="Runs of the background jobs",
        description=(
            "Newest first: each run of flag_stale_leads, flag_overdue_follow_ups, reclaim_overdue_leads and "
            "send_daily_digests with its start, end, status, counts and error. Group admins and superusers only "
            "(403 for anyone else). A run covers every dealer group of the installation, so its counts are "
            "installation-wide."
        ),
    ),
    retrieve=extend_schema(tags=["jobs"], summary="Retrieve a job run"),
)
class JobRunViewSet(viewsets.ReadOnlyModelViewSet):
    scoping_exempt = "job runs are installation-wide operational records, readable by group admins and superusers"
    queryset = JobRun.objects.order_by("-started_at", "-pk")
    serializer_class = JobRunSerializer
    filterset_fields = ["job", "status"]

    def check_permissions(self, request):
        super().check_permissions(request)
        user = request.user
        if not (user.is_superuser or (user.is_active and user.role == Role.GROUP_ADMIN)):
            raise PermissionDenied(_("Only group admins see the job runs."))
