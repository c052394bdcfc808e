"""A built report in each output: the print layout's HTML (the browser's print and the PDF share it), the PDF
(WeasyPrint, server-side, with the Noto CJK fonts the Dockerfile and .ci/run install) and the HTTP responses the
pages and the API send."""

from __future__ import annotations

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from .excel import XLSX, cover_lines, report_filename, report_xlsx
from .selectors import ReportData
from .tables import cell_text

PDF = "application/pdf"


def css_string(text: str) -> str:
    """``text`` as a CSS string literal, safe inside a <style> element (no quote, backslash or '<' survives)."""
    escaped = "".join(
        ch if ch.isalnum() or ch in " -_.:/·,()、" or ord(ch) > 0x2E80 else f"\\{ord(ch):x} " for ch in str(text)
    )
    return mark_safe(f'"{escaped}"')


def print_context(data: ReportData, *, request=None, pdf: bool = False) -> dict:
    p = data.params
    period = f"{p.start:%Y-%m-%d} – {p.end:%Y-%m-%d}"
    printed = timezone.localtime(data.generated_at).strftime("%Y-%m-%d %H:%M")
    return {
        "data": data,
        "lines": cover_lines(data),
        "pdf": pdf,
        "request": request,
        "head_left": css_string(" · ".join(x for x in (data.group_name, data.store_names) if x)),
        "head_right": css_string(f"{data.title} · {period}"),
        "foot_left": css_string(printed),
        "bars": funnel_bars(data),
        "pending": pending_sections(data),
    }


def funnel_bars(data: ReportData) -> list[dict]:
    """The print's funnel chart (N → valid → followed → deals) from the report's own funnel table: widths are the
    table's counts as a share of N, drawn as CSS bars (no script: it prints and renders in the PDF alike)."""
    table = next((t for t in data.tables if t.key == "funnel"), None)
    if table is None or not table.rows or not table.rows[0].get("N"):
        return []
    row = table.rows[0]
    labels = {c.key: c.label for c in table.columns}
    return [{"label": labels[k], "text": cell_text(row[k], "int"), "width": round(100 * row[k] / row["N"], 1)}
            for k in ("N", "valid", "followed", "deals")]


def pending_sections(data: ReportData) -> list:
    from .selectors import pending_pack_sections

    return pending_pack_sections() if data.name == "monthly-pack" else []


def print_html(data: ReportData, *, request=None, pdf: bool = False) -> str:
    return render_to_string("reports/print.html", print_context(data, request=request, pdf=pdf), request=request)


def report_pdf(data: ReportData, *, request=None) -> bytes:
    from weasyprint import HTML  # imported here: it loads Pango, which the rest of the app does not need

    return HTML(string=print_html(data, request=request, pdf=True)).write_pdf()


def attachment(content: bytes, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def xlsx_response(data: ReportData) -> HttpResponse:
    return attachment(report_xlsx(data), filename=report_filename(data, "xlsx"), content_type=XLSX)


def pdf_response(data: ReportData, *, request=None) -> HttpResponse:
    return attachment(report_pdf(data, request=request), filename=report_filename(data, "pdf"), content_type=PDF)
