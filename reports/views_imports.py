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
from .services import imports
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
    from .tasks import import_parse_task

    transaction.on_commit(lambda: import_parse_task.delay(batch.pk))


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
            return redirect("reports:import", pk=batch.pk)
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
                start_parse(batch)
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
            from .tasks import import_commit_task

            transaction.on_commit(lambda: import_commit_task.delay(batch.pk))
    except imports.ImportAlreadyStarted as exc:  # a second click: nothing is queued again
        messages.info(request, str(exc))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
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
