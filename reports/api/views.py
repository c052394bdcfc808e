"""The reports API: the catalogue and each report as JSON, an Excel workbook (``?format=xlsx``) or a PDF
(``?format=pdf``), with the same figures as the pages (one builder, ``reports.selectors``).

Scoped by role like everything else: a report the caller's role may not run is a 403, a store, consultant or series
outside their scope a 404, bad dates a 400 with field messages."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import catalogue, outputs
from ..excel import XLSX
from ..forms import params_from_query

TAGS = ["reports"]


class BinaryRenderer(BaseRenderer):
    """Passes a file's bytes through; the view made them."""

    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class XlsxRenderer(BinaryRenderer):
    media_type = XLSX
    format = "xlsx"


class PdfRenderer(BinaryRenderer):
    media_type = outputs.PDF
    format = "pdf"


class FileOrJsonMixin:
    """Errors are JSON even when a file was asked for (``?format=xlsx``): a client reads the 400's messages."""

    def finalize_response(self, request, response, *args, **kwargs):
        renderer = getattr(request, "accepted_renderer", None)
        if isinstance(renderer, BinaryRenderer) and isinstance(response, Response) and \
                not isinstance(response.data, bytes):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class CatalogueEntrySerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    filters = serializers.ListField(child=serializers.CharField())
    outputs = serializers.ListField(child=serializers.CharField())


class ReportListView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="The report catalogue",
        description="The reports the caller's role may run: each with `name` (the path of "
                    "`/api/v1/reports/<name>/`), `title`, `description`, `filters` and `outputs`.",
        responses={200: CatalogueEntrySerializer(many=True)},
    )
    def get(self, request):
        return Response([r.as_json() for r in catalogue.reports_for(request.user)])


class ReportView(FileOrJsonMixin, APIView):
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, XlsxRenderer, PdfRenderer]

    @extend_schema(
        tags=TAGS,
        summary="One report: JSON, Excel workbook or PDF",
        description=(
            "The report's figures for the filters. JSON: `{name, title, filters, group, stores, generated_at, "
            "sections: [{key, title, tables: [{key, title, columns: [{key, label, kind}], rows, total, note}]}]}`; "
            "`kind` is `text`, `int`, `num`, `pct` (a rate 0..1) or `cny` (a decimal string). `?format=xlsx`: "
            "the same tables as a workbook (a cover sheet, then one sheet per table); `?format=pdf`: the A4 print "
            "as a PDF. Names: `monthly-pack` (one store: `store`, default the caller's; default period the last "
            "month), `store-comparison` (group admins; `store` repeatable, default every store), "
            "`consultant-scorecard`. Dates default to the report's period; at most 400 days."
        ),
        parameters=[
            OpenApiParameter("store", OpenApiTypes.INT, many=True),
            OpenApiParameter("start", OpenApiTypes.DATE),
            OpenApiParameter("end", OpenApiTypes.DATE),
            OpenApiParameter("consultant", OpenApiTypes.INT),
            OpenApiParameter("series", OpenApiTypes.INT),
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "xlsx", "pdf"]),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, XLSX): OpenApiTypes.BINARY,
            (200, outputs.PDF): OpenApiTypes.BINARY,
            400: OpenApiResponse(description="Bad dates: field messages."),
            403: OpenApiResponse(description="The caller's role may not run this report."),
            404: OpenApiResponse(description="No such report, or a store/consultant/series the caller may not see."),
        },
    )
    def get(self, request, name: str):
        report = catalogue.REPORTS.get(name)
        if report is None:
            raise NotFound("No such report.")
        if not report.allowed(request.user):
            raise PermissionDenied("Your role cannot run this report.")
        try:
            params, form = params_from_query(report, request.user, request.query_params)
        except Http404:
            raise NotFound("No such store, consultant or series among those you may see.") from None
        if params is None:
            raise ValidationError({k: [str(e) for e in v] for k, v in form.errors.items()})
        data = report.run(params)
        fmt = getattr(request.accepted_renderer, "format", "json")
        if fmt == "xlsx":
            response = outputs.xlsx_response(data)
        elif fmt == "pdf":
            response = outputs.pdf_response(data, request=request)
        else:
            return Response(data.as_json())
        return response
