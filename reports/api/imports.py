"""The imports API: upload (``POST /api/v1/imports/``, multipart ``file``, ``kind``, ``store``) → 201 with ``id``;
``GET /api/v1/imports/{id}/`` (status ``parsing`` → ``dry_run_ready`` → ``importing`` → ``done``, or ``failed``;
``progress``; counts ``rows``, ``new``, ``revisits``, ``updated``, ``refused``); ``POST /api/v1/imports/{id}/commit/``
(started once: 409 with the import as it is when it is already importing or done);
``POST /api/v1/imports/{id}/cancel/`` (status ``cancelled``: the rows marked done went in, no others will);
``POST /api/v1/imports/{id}/resume/`` (a ``stalled`` import, whose worker died: 202, the commit continues with the
rows not done, or the reading starts over; 409 when it is not stalled, e.g. resumed already);
``GET /api/v1/imports/{id}/errors/`` (the refused rows as a workbook with an error column);
``GET /api/v1/imports/template/?kind=leads``. Managers import for their store, group admins for any store of the
group; consultants get 403; another store's import is a 404. When the job queue cannot be reached, an upload, a
commit or a resume answers 503 with the import, marked ``failed`` with the message in ``error``."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from dealercrm.models import Store
from dealercrm.scoping import ScopedViewSetMixin

from ..excel import XLSX
from ..import_files import errors_workbook, template_workbook
from ..models import ImportBatch, ImportKind
from ..outputs import attachment
from ..services import imports, stalls
from ..workbooks import MAX_BYTES
from .views import FileOrJsonMixin, XlsxRenderer

TAGS = ["imports"]
QUEUE_DOWN = "The job queue is unreachable: the import is failed, with the message in `error` and `detail`."


class ImportSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportBatch
        fields = ["id", "kind", "store", "status", "progress", "file_name", "file_size", "sheet", "header_row",
                  "headers", "mapping", "rows", "new", "revisits", "updated", "unchanged", "refused", "done_rows",
                  "error", "created_by", "created_at", "committed_by", "committed_at", "finished_at", "seconds",
                  "cancel_requested_at", "heartbeat_at"]
        read_only_fields = fields


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    kind = serializers.ChoiceField(choices=ImportKind.choices, default=ImportKind.LEADS)
    store = serializers.IntegerField(min_value=1, max_value=2**31 - 1)


class CanImport(permissions.BasePermission):
    message = "Only managers and group admins can import."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and imports.can_import(request.user))


@extend_schema(tags=TAGS)
class ImportViewSet(FileOrJsonMixin, ScopedViewSetMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin,
                    viewsets.GenericViewSet):
    """Imports of leads from .xlsx or .csv files: the history (list), one import's status and counts (retrieve)."""

    queryset = ImportBatch.objects.select_related("store").defer("content")
    serializer_class = ImportSerializer
    permission_classes = [permissions.IsAuthenticated, CanImport]
    filterset_fields = ["store", "status", "kind"]

    def get_object(self):
        # A dead worker's import reads stalled, even without the sweep.
        return stalls.import_refresh(super().get_object())

    def list(self, request, *args, **kwargs):
        stalls.imports_close_stalled()
        return super().list(request, *args, **kwargs)

    def _queued(self, batch: ImportBatch, ok: int) -> Response:
        """The import with ``ok``, or 503 when its task could not be queued (the import is failed, ``error`` says)."""
        from ..views_imports import queue_failed

        if queue_failed(batch):
            batch.refresh_from_db()
            return Response({**ImportSerializer(batch).data, "detail": batch.error},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE)
        batch.refresh_from_db()
        return Response(ImportSerializer(batch).data, status=ok)

    @extend_schema(request={"multipart/form-data": ImportUploadSerializer},
                   responses={201: ImportSerializer, 400: OpenApiResponse(description="Field messages."),
                              503: OpenApiResponse(ImportSerializer, description=QUEUE_DOWN),
                              403: OpenApiResponse(description="Consultants cannot import."),
                              404: OpenApiResponse(description="A store the caller may not see.")},
                   summary="Upload a workbook: the dry run starts at once")
    def create(self, request):
        body = ImportUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        store = Store.objects.visible_to(request.user).filter(pk=body.validated_data["store"]).first()
        if store is None:
            raise NotFound("No such store among those you may see.")
        upload = body.validated_data["file"]
        if upload.size > MAX_BYTES:
            raise serializers.ValidationError({"file": [f"The file is larger than {MAX_BYTES // 2**20} MB."]})
        with transaction.atomic():
            batch = imports.import_create(actor=request.user, store=store, kind=body.validated_data["kind"],
                                          file_name=upload.name, content=upload.read())
            from ..views_imports import start_parse

            start_parse(batch)
        return self._queued(batch, status.HTTP_201_CREATED)

    # The upload is the API's one multipart body (a file); the other actions take none.
    parser_classes = [MultiPartParser]

    @extend_schema(request=None,
                   responses={202: ImportSerializer, 400: OpenApiResponse(description="Not checked yet."),
                              409: OpenApiResponse(description="Already importing or done: ``detail`` says which, "
                                                               "``import`` is the import as it is."),
                              503: OpenApiResponse(ImportSerializer, description=QUEUE_DOWN)},
                   summary="Import the checked rows (in self-standing batches), started exactly once")
    @action(detail=True, methods=["post"])
    def commit(self, request, pk=None):
        from ..views_imports import start_commit

        batch = self.get_object()
        try:
            with transaction.atomic():
                batch = imports.import_start_commit(actor=request.user, batch=batch)
                start_commit(batch)
        except imports.ImportAlreadyStarted as exc:
            return Response({"detail": str(exc), "import": ImportSerializer(exc.batch).data},
                            status=status.HTTP_409_CONFLICT)
        return self._queued(batch, status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None,
        responses={202: ImportSerializer,
                   404: OpenApiResponse(description="No such import among those you may see."),
                   409: OpenApiResponse(description="Not stalled (resumed already, running, done): nothing changed."),
                   503: OpenApiResponse(ImportSerializer, description=QUEUE_DOWN)},
        summary="Resume a stalled import (its worker died): exactly once",
        description="A `stalled` import's commit continues with the rows not done (status `importing`; the rows "
                    "already imported are never imported twice), a stalled reading starts over (status `parsing`). "
                    "Of two resumes, one wins; the other is a 409.")
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        from ..views_imports import start_commit, start_parse

        batch = self.get_object()
        try:
            with transaction.atomic():
                batch = imports.import_resume(actor=request.user, batch=batch)
                (start_commit if batch.status == ImportBatch.Status.IMPORTING else start_parse)(batch)
        except stalls.NotStalled as exc:
            return Response(exc.message_dict, status=status.HTTP_409_CONFLICT)
        return self._queued(batch, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None,
                   responses={202: ImportSerializer,
                              400: OpenApiResponse(description="Done already: nothing to cancel.")},
                   summary="Cancel: a running import stops before its next batch (status cancelled)")
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        batch = imports.import_cancel(actor=request.user, batch=self.get_object())
        return Response(ImportSerializer(batch).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, XLSX): OpenApiTypes.BINARY}, summary="The refused rows as a workbook")
    @action(detail=True, methods=["get"], renderer_classes=[XlsxRenderer])
    def errors(self, request, pk=None):
        batch = self.get_object()
        return attachment(errors_workbook(batch), filename=f"import-{batch.pk}-refused.xlsx", content_type=XLSX)

    @extend_schema(parameters=[OpenApiParameter("kind", OpenApiTypes.STR, enum=ImportKind.values)],
                   responses={(200, XLSX): OpenApiTypes.BINARY}, summary="The import template")
    @action(detail=False, methods=["get"], renderer_classes=[XlsxRenderer])
    def template(self, request):
        kind = request.query_params.get("kind", ImportKind.LEADS)
        if kind not in ImportKind.values:
            raise NotFound("No such kind of import: leads or base_clients.")
        return attachment(template_workbook(kind), filename=f"dealercrm-{kind.replace('_', '-')}-import.xlsx",
                          content_type=XLSX)
