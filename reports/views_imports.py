"""The import pages: upload (with the template download), the import's page (progress by htmx polling, the dry run's
counts and rows, the column mapping, commit), the refused rows as a workbook, and the import history.

Managers import for their store, group admins for any store of the group; consultants get a 403. Another store's
import is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dealercrm.forms import add_service_errors

from .excel import XLSX
from .forms import ImportMappingForm, ImportUploadForm
from .import_files import errors_workbook, template_workbook
from .models import ImportBatch, ImportKind, ImportRow, RowAction
from .outputs import attachment
from .services import imports, stalls
from .views import staff_required

ROW_FILTERS = [("", gettext_lazy("All")), *RowAction.choices, ("imported", gettext_lazy("Imported")),
               ("not_imported", gettext_lazy("Not imported"))]

# What a base-client row's action means (the row actions are the leads import's).
CLIENT_ACTIONS = [(RowAction.NEW, gettext_lazy("New base client")),
                  (RowAction.UPDATE, gettext_lazy("Known client: the vehicle is added")),
                  (RowAction.UNCHANGED, gettext_lazy("Already there")), (RowAction.REFUSED, gettext_lazy("Refused"))]


def importer_required(view):
    @staff_required
    def wrapped(request, *args, **kwargs):
        if not imports.can_import(request.user):
            raise PermissionDenied(_("Only managers and group admins can import."))
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def start_parse(batch: ImportBatch) -> None:
    """Queue the reading of ``batch`` once the caller's transaction commits; when the broker cannot be reached the
    import is marked failed with a message (the caller reads it back: ``queue_failed``), never left ``parsing``."""
    from .tasks import import_parse_task, queue_or_fail

    transaction.on_commit(lambda: queue_or_fail(lambda: import_parse_task.delay(batch.pk),
                                                lambda: stalls.import_queue_failed(batch.pk)))


def start_commit(batch: ImportBatch) -> None:
    """Queue the commit of ``batch`` (after the caller's transaction), or mark it failed when the queue is down."""
    from .tasks import import_commit_task, queue_or_fail

    transaction.on_commit(lambda: queue_or_fail(lambda: import_commit_task.delay(batch.pk),
                                                lambda: stalls.import_queue_failed(batch.pk)))


def queue_failed(batch: ImportBatch) -> bool:
    """Whether the task just queued for ``batch`` could not be sent (``start_parse``/``start_commit`` marked it)."""
    batch.refresh_from_db(fields=["status", "error"])
    return batch.status == ImportBatch.Status.FAILED and batch.error == stalls.queue_unreachable_message()


@require_http_methods(["GET", "POST"])
@importer_required
def import_list(request):
    """Upload a file; the history of the imports the user may see."""
    form = ImportUploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            with transaction.atomic():
                batch = imports.import_create(actor=request.user, store=form.cleaned_data["store"],
                                              kind=form.cleaned_data["kind"], file_name=upload.name,
                                              content=upload.read(imports_max() + 1))
                start_parse(batch)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if queue_failed(batch):  # kept, and failed with the message the import's page shows
                messages.error(request, batch.error)
            return redirect("reports:import", pk=batch.pk)
    stalls.imports_close_stalled()  # the history shows a dead worker's import as stalled, even without the sweep
    history = Paginator(ImportBatch.objects.visible_to(request.user).select_related("store", "created_by")
                        .defer("content").order_by("-created_at"), 20).get_page(request.GET.get("page"))
    return render(request, "reports/imports.html", {"form": form, "history": history,
                                                    "kinds": ImportKind.choices}, status=400 if form.errors else 200)


def imports_max() -> int:
    from .workbooks import MAX_BYTES

    return MAX_BYTES


@require_GET
@importer_required
def import_template(request):
    """An empty workbook with the columns in the user's language (and a sheet explaining them)."""
    kind = request.GET.get("kind", ImportKind.LEADS)
    if kind not in ImportKind.values:
        from django.http import Http404

        raise Http404
    return attachment(template_workbook(kind), filename=f"dealercrm-{kind.replace('_', '-')}-import.xlsx",
                      content_type=XLSX)


@require_http_methods(["GET", "POST"])
@importer_required
def import_detail(request, pk: int):
    """The import: progress while it is read or imported (htmx polls the status part), then the dry run: counts,
    the mapping the user may fix, the rows (filtered by action), and the commit button."""
    batch = get_object_or_404(ImportBatch.objects.visible_to(request.user).select_related("store", "created_by")
                              .defer("content"), pk=pk)
    stalls.import_refresh(batch)  # a dead worker's import reads stalled, even without the sweep
    status = 200
    if request.method == "POST":
        form = ImportMappingForm(request.POST, columns=len(batch.headers or []))
        if form.is_valid():
            try:
                imports.import_set_mapping(actor=request.user, batch=batch, mapping=form.mapping())
            except ValidationError as exc:
                for message in exc.messages:
                    messages.error(request, message)
            else:
                with transaction.atomic():
                    start_parse(batch)
                if queue_failed(batch):
                    messages.error(request, batch.error)
                else:
                    messages.success(request, _("The rows are checked again with your mapping."))
            return redirect("reports:import", pk=batch.pk)
        # A column the file does not have: the page again, with the message, as a 400.
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
        status = 400
    action = request.GET.get("action", "")
    rows = ImportRow.objects.filter(batch=batch).order_by("number")
    if action in RowAction.values:
        rows = rows.filter(action=action)
    elif action == "imported":  # exactly the rows that went in (a cancelled or stopped import: the others did not)
        rows = rows.filter(done=True).exclude(action=RowAction.REFUSED)
    elif action == "not_imported":
        rows = rows.exclude(done=True, action__in=[a for a in RowAction.values if a != RowAction.REFUSED])
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    labels = dict(CLIENT_ACTIONS if batch.kind == ImportKind.BASE_CLIENTS else RowAction.choices)
    for row in page:
        row.label = labels.get(row.action, row.get_action_display())
    row_filters = [(value, labels.get(value, label)) for value, label in ROW_FILTERS
                   if not (batch.kind == ImportKind.BASE_CLIENTS and value == RowAction.REVISIT)]
    context = {"batch": batch, "page": page, "action": action, "row_filters": row_filters,
               "fields": [(key, label) for key, (label, _aliases) in imports.fields_for(batch.kind).items()],
               "columns": list(enumerate(batch.headers))}
    if request.htmx and request.GET.get("part") == "status":
        return render(request, "reports/partials/_import_status.html", context)
    return render(request, "reports/import.html", context, status=status)


@require_POST
@importer_required
def import_commit(request, pk: int):
    batch = get_object_or_404(ImportBatch.objects.visible_to(request.user).defer("content"), pk=pk)
    try:
        with transaction.atomic():
            batch = imports.import_start_commit(actor=request.user, batch=batch)
            start_commit(batch)
    except imports.ImportAlreadyStarted as exc:  # a second click: nothing is queued again
        messages.info(request, str(exc))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        if queue_failed(batch):
            messages.error(request, batch.error)
    return redirect("reports:import", pk=pk)


@require_POST
@importer_required
def import_resume(request, pk: int):
    """Resume a stalled import (its worker died): the commit continues with the rows not done, a reading starts over.
    A second click, or a resume someone else made first, says so and changes nothing."""
    batch = get_object_or_404(ImportBatch.objects.visible_to(request.user).defer("content"), pk=pk)
    try:
        with transaction.atomic():
            batch = imports.import_resume(actor=request.user, batch=batch)
            committing = batch.status == ImportBatch.Status.IMPORTING
            (start_commit if committing else start_parse)(batch)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        if queue_failed(batch):
            messages.error(request, batch.error)
        elif committing:
            messages.success(request, _("Resumed: the rows already imported stay; the others follow."))
        else:
            messages.success(request, _("The file is read again."))
    return redirect("reports:import", pk=pk)


@require_POST
@importer_required
def import_cancel(request, pk: int):
    """Cancel the import (htmx: the status card comes back in place; without htmx, back to the import page)."""
    batch = get_object_or_404(ImportBatch.objects.visible_to(request.user).defer("content"), pk=pk)
    try:
        batch = imports.import_cancel(actor=request.user, batch=batch)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    if request.htmx:
        batch = ImportBatch.objects.select_related("store").defer("content").get(pk=batch.pk)
        return render(request, "reports/partials/_import_status.html", {"batch": batch})
    return redirect("reports:import", pk=pk)


@require_GET
@importer_required
def import_errors(request, pk: int):
    """The refused rows as a workbook: the original columns and an error column."""
    batch = get_object_or_404(ImportBatch.objects.visible_to(request.user).defer("content"), pk=pk)
    return attachment(errors_workbook(batch), filename=f"import-{batch.pk}-refused.xlsx", content_type=XLSX)
