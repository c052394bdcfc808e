"""What the reports app keeps: prepared report files (the monthly packs, background exports) and imports.

Files are kept in the database (``BinaryField``), not on a disk: the web process that serves a file and the worker
that made it (or that parses an upload) need not share a filesystem (docker compose runs them in separate containers).
A prepared export is kept for a day (``expires_at``); uploaded workbooks are capped at ``IMPORT_MAX_BYTES``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from dealercrm.scoping import Scope, ScopedQuerySet


class ReportFile(models.Model):
    """A report rendered to a file by a background job: the 1st-of-month packs and large exports. ``store`` is
    None for a group-wide file (store comparison, the group's lists): managers then do not see it. ``dedupe_key``
    makes the monthly job idempotent (one pack per store and month)."""

    scope = Scope(group="group", store="store", owner="created_by")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Being prepared")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        # No sign of life from the worker for IMPORT_STALL_SECONDS (reports.services.stalls): retry it.
        STALLED = "stalled", _("Stalled")

    report = models.CharField(_("report"), max_length=40)
    format = models.CharField(_("format"), max_length=10, default="xlsx")
    group = models.ForeignKey("dealercrm.DealerGroup", on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("dealer group"))
    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              verbose_name=_("store"))
    params = models.JSONField(_("filters"), default=dict)
    period_start = models.DateField(_("from"), null=True, blank=True)
    period_end = models.DateField(_("to"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    filename = models.CharField(_("file name"), max_length=200, blank=True)
    content = models.BinaryField(_("content"), null=True, blank=True, editable=False)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    error = models.TextField(_("error"), blank=True)
    dedupe_key = models.CharField(_("deduplication key"), max_length=100, blank=True)
    # The requester's language: a background job writes the file's headers in it.
    language = models.CharField(_("language"), max_length=10, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("requested by"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    expires_at = models.DateTimeField(_("kept until"), null=True, blank=True)
    # The writer's sign of life (every PROGRESS_EVERY rows); a run without one for IMPORT_STALL_SECONDS is stalled.
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("report file")
        verbose_name_plural = _("report files")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], condition=~Q(dedupe_key=""), name="reportfile_once_per_key"),
        ]
        indexes = [models.Index(fields=["group", "-created_at"], name="reportfile_group_created")]

    def __str__(self):
        return f"{self.report} {self.filename}"


class ImportKind(models.TextChoices):
    LEADS = "leads", _("Leads")
    BASE_CLIENTS = "base_clients", _("Base clients")


class ImportBatch(models.Model):
    """One uploaded workbook: parsed and checked row by row (the dry run), then committed in batches.

    Managers import for their store, group admins for any store of their group; consultants cannot import (and, as
    the owner of nothing here, see no imports). Counts: ``rows`` read, and what the dry run expects or the commit did:
    ``new`` leads, ``revisits`` of known phones, ``updated`` leads (empty fields filled), ``unchanged`` (already
    imported: a second import of the same file creates nothing), ``refused`` (with the reason per row)."""

    scope = Scope(group="store__group", store="store", owner="created_by")

    class Status(models.TextChoices):
        PARSING = "parsing", _("Reading the file")
        DRY_RUN_READY = "dry_run_ready", _("Checked, ready to import")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        # Reading or importing without a sign of life for IMPORT_STALL_SECONDS: its worker died. Resume it.
        STALLED = "stalled", _("Stalled")

    kind = models.CharField(_("kind"), max_length=20, choices=ImportKind.choices, default=ImportKind.LEADS)
    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="+", verbose_name=_("store"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PARSING)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    file_name = models.CharField(_("file name"), max_length=200)
    file_size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    content = models.BinaryField(_("content"), null=True, blank=True, editable=False)
    sheet = models.CharField(_("sheet"), max_length=100, blank=True)
    header_row = models.PositiveIntegerField(_("header row"), default=1)
    headers = models.JSONField(_("headers"), default=list, blank=True)
    # Column index (as a string, JSON keys are strings) -> field name; the user may fix it before committing.
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    new = models.PositiveIntegerField(_("new"), default=0)
    revisits = models.PositiveIntegerField(_("re-visits"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("already there"), default=0)
    refused = models.PositiveIntegerField(_("refused"), default=0)
    done_rows = models.PositiveIntegerField(_("rows imported"), default=0)
    error = models.TextField(_("error"), blank=True)
    # The uploader's language: the task writes each row's reason in it.
    language = models.CharField(_("language"), max_length=10, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("uploaded by"))
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    committed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("imported by"))
    committed_at = models.DateTimeField(_("import started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    seconds = models.FloatField(_("seconds"), null=True, blank=True)
    # Set by a cancel during the commit: the commit loop stops before its next batch and marks the import cancelled.
    cancel_requested_at = models.DateTimeField(_("cancel requested"), null=True, blank=True)
    # The task's sign of life: each chunk read and each batch committed beats (reports.services.stalls).
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    # How often the import was found stalled: the sweep sends a stalled reading again only the first time.
    stalls = models.PositiveSmallIntegerField(_("stalls"), default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["store", "-created_at"], name="importbatch_store_created")]

    def __str__(self):
        return self.file_name


class RowAction(models.TextChoices):
    NEW = "new", _("New lead")
    REVISIT = "revisit", _("Re-visit of a known phone")
    UPDATE = "update", _("Update")
    UNCHANGED = "unchanged", _("Already there")
    REFUSED = "refused", _("Refused")


class ImportRow(models.Model):
    """One data row of an import: its values as read (``data``, by field name), what the dry run said would happen
    (``action``; ``error`` when refused), and after the commit whether it went in (``done``) and the lead it made or
    touched. The rows with ``done`` are exactly the rows that went in."""

    scope = Scope(group="batch__store__group", store="batch__store", owner="batch__created_by")

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="row_set", verbose_name=_("import"))
    number = models.PositiveIntegerField(_("row"))  # the row number in the sheet, as Excel shows it
    data = models.JSONField(_("values"), default=dict)
    raw = models.JSONField(_("cells"), default=list)  # the cells as read, for the refused-rows workbook
    action = models.CharField(_("action"), max_length=20, choices=RowAction.choices)
    error = models.TextField(_("error"), blank=True)
    done = models.BooleanField(_("imported"), default=False)
    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             db_constraint=False, db_index=False, verbose_name=_("lead"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("import row")
        verbose_name_plural = _("import rows")
        ordering = ["batch", "number"]
        constraints = [models.UniqueConstraint(fields=["batch", "number"], name="importrow_unique_number")]
