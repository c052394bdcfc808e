"""The prepared files API (background exports, monthly packs): ``GET /api/v1/report-files/`` and ``/{id}/`` (status
``pending`` → ``running`` (``progress``) → ``ready``, or ``failed``/``stalled`` with ``error``), and
``POST /api/v1/report-files/{id}/retry/``: a ``stalled`` export (its worker died) or a ``failed`` one is prepared again
(202), once (409 when it is neither, e.g. retried already); 503 when the job queue is unreachable. The file itself is
downloaded from its page (``/reports/files/{id}/``). Scoped like everything else: another store's file is a 404."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from dealercrm.scoping import ScopedViewSetMixin

from ..models import ReportFile
from ..services import exports, stalls

TAGS = ["reports"]


class ReportFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportFile
        fields = ["id", "report", "format", "store", "status", "progress", "rows", "filename", "size", "error",
                  "period_start", "period_end", "created_by", "created_at", "heartbeat_at", "finished_at",
                  "expires_at"]
        read_only_fields = fields


@extend_schema(tags=TAGS)
class ReportFileViewSet(ScopedViewSetMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin,
                        viewsets.GenericViewSet):
    """Files prepared in the background: their status and progress (list, retrieve), and a retry."""

    queryset = ReportFile.objects.select_related("store").defer("content")
    serializer_class = ReportFileSerializer
    permission_classes = [permissions.IsAuthenticated]
    filterset_fields = ["status", "report", "store"]

    def get_object(self):
        # A dead worker's export reads stalled, even without the sweep.
        return stalls.file_refresh(super().get_object())

    def list(self, request, *args, **kwargs):
        stalls.files_close_stalled()
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=None,
        responses={202: ReportFileSerializer,
                   403: OpenApiResponse(description="Only who requested the file (or a group admin) may retry it."),
                   404: OpenApiResponse(description="No such file among those you may see."),
                   409: OpenApiResponse(description="Not stalled or failed (retried already, running, ready)."),
                   503: OpenApiResponse(ReportFileSerializer, description="The job queue is unreachable: the file "
                                                                          "is failed, the message in `error`.")},
        summary="Prepare a stalled or failed export again: exactly once",
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        from ..views import queue_export

        file = self.get_object()
        try:
            with transaction.atomic():
                file = exports.export_retry(user=request.user, file=file)
                queue_export(file)
        except stalls.NotStalled as exc:
            return Response(exc.message_dict, status=status.HTTP_409_CONFLICT)
        file.refresh_from_db()
        if file.status == ReportFile.Status.FAILED:
            return Response({**ReportFileSerializer(file).data, "detail": file.error},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(ReportFileSerializer(file).data, status=status.HTTP_202_ACCEPTED)
