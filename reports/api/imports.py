"""The imports API: upload (``POST /api/v1/imports/``, multipart ``file``, ``kind``, ``store``) → 201 with ``id``;
``GET /api/v1/imports/{id}/`` (status ``parsing`` → ``dry_run_ready`` → ``importing`` → ``done``, or ``failed``;
``progress``; counts ``rows``, ``new``, ``revisits``, ``updated``, ``refused``); ``POST /api/v1/imports/{id}/commit/``;
``POST /api/v1/imports/{id}/cancel/`` (status ``cancelled``: the rows marked done went in, no others will);
``GET /api/v1/imports/{id}/errors/`` (the refused rows as a workbook with an error column);
``GET /api/v1/imports/template/?kind=leads``. Managers import for their store, group admins for any store of the
group; consultants get 403; another store's import is a 404."""

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
from ..services import imports
from ..workbooks import MAX_BYTES
from .views import FileOrJsonMixin, XlsxRenderer

TAGS = ["imports"]


class ImportSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportBatch
        fields = ["id", "kind", "store", "status", "progress", "file_name", "file_size", "sheet", "header_row",
                  "headers", "mapping", "rows", "new", "revisits", "updated", "unchanged", "refused", "done_rows",
                  "error", "created_by", "created_at", "committed_by", "committed_at", "finished_at", "seconds",
                  "cancel_requested_at"]
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

    @extend_schema(request={"multipart/form-data": ImportUploadSerializer},
                   responses={201: ImportSerializer, 400: OpenApiResponse(description="Field messages."),
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
        batch.refresh_from_db()
        return Response(ImportSerializer(batch).data, status=status.HTTP_201_CREATED)

    # The upload is the API's one multipart body (a file); the other actions take none.
    parser_classes = [MultiPartParser]

    @extend_schema(request=None, responses={202: ImportSerializer, 400: OpenApiResponse(description="Not checked yet.")},
                   summary="Import the checked rows (in self-standing batches)")
    @action(detail=True, methods=["post"])
    def commit(self, request, pk=None):
        batch = self.get_object()
        with transaction.atomic():
            batch = imports.import_start_commit(actor=request.user, batch=batch)
            from ..tasks import import_commit_task

            transaction.on_commit(lambda: import_commit_task.delay(batch.pk))
        batch.refresh_from_db()
        return Response(ImportSerializer(batch).data, status=status.HTTP_202_ACCEPTED)

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
