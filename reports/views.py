"""The report pages: the catalogue, each report as a page (with its Excel, print and PDF outputs), the print layout,
and the prepared files (the monthly packs, background exports). The import pages are in ``views_imports``.

Views are thin: figures come from ``reports.selectors`` (which reads the owning apps' selectors), files from
``reports.excel`` / ``reports.outputs``. A report the user's role may not run is a 403; a store, consultant or
series outside their scope a 404."""

from __future__ import annotations


from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.csp import CSP
from django.utils.translation import gettext as _
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET, require_POST

from dealercrm.models import Role, Store, User, VehicleSeries
# Anyone with a role (or a superuser): the funnel pages' rule, one definition.
from funnel.views import role_required as staff_required

from . import catalogue, outputs
from .forms import params_from_query
from .models import ReportFile
from .outputs import attachment
from .selectors import pending_pack_sections
from .services import exports, stalls

PRINT_CSP = {**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.NONCE]}


def _report_or_404(user: User, name: str) -> catalogue.ReportDef:
    report = catalogue.REPORTS.get(name)
    if report is None:
        raise Http404
    if not report.allowed(user):
        raise PermissionDenied(_("Your role cannot run this report."))
    return report


@require_GET
@staff_required
def report_catalogue(request):
    user = request.user
    files = (ReportFile.objects.visible_to(user).filter(expires_at__gt=timezone.now())
             .select_related("store").defer("content")[:20])
    return render(request, "reports/catalogue.html", {
        "reports": catalogue.reports_for(user),
        "pending": catalogue.PENDING,
        "pack_pending": pending_pack_sections(),
        "files": files,
        "can_import": user.is_superuser or user.role in (Role.MANAGER, Role.GROUP_ADMIN),
        "exports": list(exports.EXPORTS.values()),
        "small_rows": exports.SMALL_ROWS,
        "stores": list(Store.objects.visible_to(user).order_by("name")),
        "today": timezone.localdate(),
        "month_start": timezone.localdate().replace(day=1),
    })


def _filter_choices(report, user, params) -> dict:
    stores = list(Store.objects.visible_to(user).order_by("name"))
    consultants = []
    if "consultant" in report.filters and user.role != Role.CONSULTANT:
        consultants = list(User.objects.visible_to(user).filter(
            role=Role.CONSULTANT, store__in=[s.pk for s in (params.stores if params and params.stores else stores)]
        ).order_by("display_name", "username"))
    series = list(VehicleSeries.objects.filter(brand__is_own=True).select_related("brand")) \
        if "series" in report.filters else []
    return {"stores": stores, "consultants": consultants, "series_choices": series}


@require_GET
@staff_required
def report_page(request, name: str):
    """The report as a page; ``?format=xlsx`` / ``?format=pdf`` download the same figures."""
    report = _report_or_404(request.user, name)
    params, form = params_from_query(report, request.user, request.GET)
    data = report.run(params) if params else None
    fmt = request.GET.get("format", "")
    if data is not None and fmt == "xlsx":
        return outputs.xlsx_response(data)
    if data is not None and fmt == "pdf":
        return outputs.pdf_response(data, request=request)
    query = request.GET.copy()
    query.pop("format", None)
    status = 200 if data is not None else 400
    return render(request, "reports/report.html", {
        "report": report, "data": data, "form": form, "params": params, "query": query.urlencode(),
        "pending": pending_pack_sections() if report.name == "monthly-pack" else [],
        **_filter_choices(report, request.user, params),
    }, status=status)


@require_GET
@staff_required
@csp_override(PRINT_CSP)
def report_print(request, name: str):
    """The A4 print layout: no navigation or filters, the header and page numbers in the page margins."""
    report = _report_or_404(request.user, name)
    params, _form = params_from_query(report, request.user, request.GET)
    if params is None:
        raise Http404
    data = report.run(params)
    context = outputs.print_context(data, request=request)
    context["back_url"] = reverse("reports:report", args=[name]) + "?" + request.GET.urlencode()
    return render(request, "reports/print.html", context)


@require_GET
@staff_required
def report_file(request, pk: int):
    """A prepared file (a monthly pack, a background export), for a day after it was made."""
    file = get_object_or_404(ReportFile.objects.visible_to(request.user), pk=pk)
    if file.status != ReportFile.Status.READY or not file.content:
        raise Http404
    if file.expires_at and file.expires_at < timezone.now():
        raise Http404
    return attachment(bytes(file.content), filename=file.filename,
                      content_type=outputs.PDF if file.format == "pdf" else outputs.XLSX)


@require_GET
@staff_required
def report_file_status(request, pk: int):
    """The progress of a background export (htmx polls it until the file is ready)."""
    file = get_object_or_404(ReportFile.objects.visible_to(request.user).defer("content"), pk=pk)
    stalls.file_refresh(file)  # a dead worker's export reads stalled, even without the sweep
    return render(request, "reports/partials/_file_status.html", {"file": file, "retryable": list(exports.EXPORTS)})


@require_GET
@staff_required
def export(request, name: str):
    """A list as a workbook: at once when small, else prepared in the background (the page shows the progress and
    the file is kept for a day)."""
    from django.db import transaction
    from django.shortcuts import redirect

    from .excel import XLSX
    from .forms import ReportFilterForm

    definition = exports.EXPORTS.get(name)
    if definition is None:
        raise Http404
    form = ReportFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "reports/export.html", {"form": form, "export": definition}, status=400)
    today = timezone.localdate()
    start = form.cleaned_data.get("start") or today.replace(day=1)
    end = form.cleaned_data.get("end") or today
    if start > end:
        form.add_error("end", _("The end date is before the start date."))
        return render(request, "reports/export.html", {"form": form, "export": definition}, status=400)
    from .forms import ids_from_query

    ids = ids_from_query(request.GET.getlist("store"))
    stores = list(Store.objects.visible_to(request.user).filter(pk__in=ids))
    if len(stores) != len(set(ids)):
        raise Http404
    count = exports.export_count(definition, user=request.user, stores=stores, start=start, end=end)
    if count <= exports.SMALL_ROWS:
        content, _rows = exports.export_write(definition, user=request.user, stores=stores, start=start, end=end)
        return attachment(content, filename=f"{name}_{start:%Y%m%d}-{end:%Y%m%d}.xlsx", content_type=XLSX)
    with transaction.atomic():
        file = exports.export_request(definition, user=request.user, stores=stores, start=start, end=end)
        queue_export(file)
    return redirect("reports:file_wait", pk=file.pk)


def queue_export(file: ReportFile) -> None:
    """Queue the writing of ``file`` after the caller's transaction; when the broker cannot be reached the file is
    marked failed with a message (its page offers to prepare it again), never left waiting for ever."""
    from django.db import transaction

    from .tasks import export_run_task, queue_or_fail

    transaction.on_commit(lambda: queue_or_fail(lambda: export_run_task.delay(file.pk),
                                                lambda: stalls.file_queue_failed(file.pk)))


@require_GET
@staff_required
def report_file_wait(request, pk: int):
    """A background export's page: its progress (htmx polling) and, when ready, the download."""
    file = get_object_or_404(ReportFile.objects.visible_to(request.user).defer("content"), pk=pk)
    stalls.file_refresh(file)
    return render(request, "reports/export.html", {"file": file, "retryable": list(exports.EXPORTS)})


@require_POST
@staff_required
def report_file_retry(request, pk: int):
    """Prepare a stalled or failed export again (once: a second click, or someone else's retry first, says so)."""
    from django.contrib import messages
    from django.core.exceptions import ValidationError
    from django.db import transaction
    from django.shortcuts import redirect

    file = get_object_or_404(ReportFile.objects.visible_to(request.user).defer("content"), pk=pk)
    try:
        with transaction.atomic():
            file = exports.export_retry(user=request.user, file=file)
            queue_export(file)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        file.refresh_from_db(fields=["status", "error"])
        if file.status == ReportFile.Status.FAILED:
            messages.error(request, file.error)
    return redirect("reports:file_wait", pk=pk)
