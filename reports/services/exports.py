"""List exports as workbooks: the lead list and the follow-ups, for a period and the stores the user sees.

A small export (at most ``SMALL_ROWS`` rows) is written at once and downloaded; a large one (the group's lists, a year
of follow-ups) becomes a ``ReportFile`` that a background task writes (``export_run``) while the page shows its
progress (htmx polling); the file is kept for a day. Rows are streamed from the database (``iterator``) into a
``constant_memory`` workbook on a temporary file: memory stays flat whatever the row count.

Phones are personal data: masked for a consultant and for a store the user does not manage (as the CSV export)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dealercrm.models import Role, Store, User
from dealercrm.text import join_list
from leads.models import FollowUp, Lead
from leads.phones import phone_display, phone_mask
from leads.selectors import lead_list
from leads.services import manages_store

from ..excel import Formats, workbook, write_cover, write_value
from ..models import ReportFile
from ..tables import Column

SMALL_ROWS = 5000
PROGRESS_EVERY = 5000
KEEP = timedelta(days=1)


@dataclass(frozen=True)
class ExportDef:
    name: str
    title: str
    columns: list[Column]
    rows: Callable  # (user, queryset) -> iterator of lists
    queryset: Callable  # (user, stores, start, end) -> QuerySet


def _local(dt):
    return timezone.localtime(dt).replace(tzinfo=None) if dt else None


def _phone(user: User, lead: Lead, managed: dict) -> str:
    if lead.store_id not in managed:
        managed[lead.store_id] = user.role != Role.CONSULTANT and manages_store(user, lead.store)
    return phone_display(lead.phone) if managed[lead.store_id] else phone_mask(lead.phone)


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (timezone.make_aware(datetime.combine(start, time.min)),
            timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min)))


def _leads(user: User, stores: list[Store], start: date, end: date) -> QuerySet:
    first, last = _bounds(start, end)
    qs = lead_list(user=user).filter(first_visit_at__gte=first, first_visit_at__lt=last)
    if stores:
        qs = qs.filter(store__in=[s.pk for s in stores])
    return qs.order_by("first_visit_at", "pk")


def _lead_rows(user: User, qs: QuerySet) -> Iterator[list]:
    managed: dict = {}
    for lead in qs.iterator(chunk_size=2000):
        yield [lead.pk, lead.name, _phone(user, lead, managed), lead.grade or "", lead.get_status_display(),
               lead.get_source_display(), str(lead.channel or ""), str(lead.series or ""),
               str(lead.assigned_to or ""), lead.store.name, _local(lead.first_visit_at), _local(lead.last_contact_at),
               _local(lead.next_follow_up_at), lead.district, lead.industry]


def _follow_ups(user: User, stores: list[Store], start: date, end: date) -> QuerySet:
    first, last = _bounds(start, end)
    qs = FollowUp.objects.visible_to(user).filter(occurred_at__gte=first, occurred_at__lt=last)
    if stores:
        qs = qs.filter(lead__store__in=[s.pk for s in stores])
    return qs.select_related("lead__store", "created_by").order_by("occurred_at", "pk")


def _follow_up_rows(user: User, qs: QuerySet) -> Iterator[list]:
    for f in qs.iterator(chunk_size=2000):
        yield [_local(f.occurred_at), f.lead_id, f.lead.name, f.lead.store.name, str(f.created_by),
               f.get_method_display(), f.get_outcome_display() if f.outcome else "", f.grade_before or "",
               f.grade_after or "", f.content, f.get_review_status_display(), f.review_comment]


EXPORTS = {
    e.name: e for e in [
        ExportDef(
            name="leads", title=gettext_lazy("Lead list"),
            columns=[Column("id", gettext_lazy("ID")), Column("name", gettext_lazy("Name"), "text"),
                     Column("phone", gettext_lazy("Phone"), "text"), Column("grade", gettext_lazy("Grade"), "text"),
                     Column("status", gettext_lazy("Status"), "text"), Column("source", gettext_lazy("Source"), "text"),
                     Column("channel", gettext_lazy("Channel"), "text"),
                     Column("series", gettext_lazy("Series"), "text"),
                     Column("consultant", gettext_lazy("Consultant"), "text"),
                     Column("store", gettext_lazy("Store"), "text"),
                     Column("first_visit", gettext_lazy("First visit"), "text", width=17),
                     Column("last_contact", gettext_lazy("Last contact"), "text", width=17),
                     Column("due", gettext_lazy("Next follow-up due"), "text", width=17),
                     Column("district", gettext_lazy("District"), "text"),
                     Column("industry", gettext_lazy("Industry"), "text")],
            rows=_lead_rows, queryset=_leads,
        ),
        ExportDef(
            name="follow-ups", title=gettext_lazy("Follow-ups"),
            columns=[Column("when", gettext_lazy("When"), "text", width=17), Column("lead", gettext_lazy("Lead ID")),
                     Column("name", gettext_lazy("Name"), "text"), Column("store", gettext_lazy("Store"), "text"),
                     Column("by", gettext_lazy("By"), "text"), Column("method", gettext_lazy("Method"), "text"),
                     Column("outcome", gettext_lazy("Outcome"), "text"),
                     Column("before", gettext_lazy("Grade before"), "text"),
                     Column("after", gettext_lazy("Grade after"), "text"),
                     Column("content", gettext_lazy("Content"), "text", width=50),
                     Column("review", gettext_lazy("Review"), "text"),
                     Column("comment", gettext_lazy("Review comment"), "text", width=30)],
            rows=_follow_up_rows, queryset=_follow_ups,
        ),
    ]
}


def export_write(export: ExportDef, *, user: User, stores: list[Store], start: date, end: date,
                 progress: Callable[[int], None] | None = None) -> tuple[bytes, int]:
    """The export as a workbook (cover + one streamed sheet). Returns (content, rows)."""
    qs = export.queryset(user, stores, start, end)
    with tempfile.TemporaryFile() as target:
        book = workbook(target, constant_memory=True)
        formats = Formats(book)
        used: set[str] = set()
        store_names = join_list(s.name for s in stores) or _("Every store you see")
        write_cover(book, formats, title=str(export.title), used=used, lines=[
            (_("Stores"), store_names), (_("Period"), f"{start:%Y-%m-%d} – {end:%Y-%m-%d}"),
            (_("Made at"), timezone.localtime().strftime("%Y-%m-%d %H:%M")), (_("Made by"), str(user)),
        ])
        sheet = book.add_worksheet(str(export.title)[:31])
        for c, column in enumerate(export.columns):
            sheet.set_column(c, c, column.width or max(8, len(str(column.label)) + 4))
            write_value(sheet, 0, c, str(column.label), "text", formats.header)
        sheet.freeze_panes(1, 0)
        date_format = formats.cell["datetime"]
        n = 0
        for n, row in enumerate(export.rows(user, qs), start=1):
            for c, value in enumerate(row):
                kind = export.columns[c].kind
                write_value(sheet, n, c, value, kind, date_format if isinstance(value, datetime)
                            else formats.cell[kind])
            if progress and n % PROGRESS_EVERY == 0:
                progress(n)
        book.close()
        target.seek(0)
        return target.read(), n


def export_count(export: ExportDef, *, user: User, stores: list[Store], start: date, end: date) -> int:
    return export.queryset(user, stores, start, end).count()


@transaction.atomic
def export_request(export: ExportDef, *, user: User, stores: list[Store], start: date, end: date) -> ReportFile:
    """A large export as a file to prepare in the background (the caller enqueues ``export_run_task``)."""
    group_id = stores[0].group_id if stores else user.dealer_group_id
    if group_id is None:
        group_id = Store.objects.visible_to(user).values_list("group_id", flat=True).first()
    # A manager's or consultant's "every store" is their store: the file hangs there (and so stays visible to them).
    store = stores[0] if len(stores) == 1 else (user.store if not stores and user.role != Role.GROUP_ADMIN else None)
    return ReportFile.objects.create(
        report=export.name, format="xlsx", group_id=group_id, store=store,
        params={"store": [s.pk for s in stores], "start": start.isoformat(), "end": end.isoformat()},
        period_start=start, period_end=end, created_by=user, language=translation.get_language() or "",
        filename=f"{export.name}_{start:%Y%m%d}-{end:%Y%m%d}.xlsx",
    )


def export_run(file_id: int) -> ReportFile:
    """Write a requested export (status running → ready, progress as rows are written; failed with the error)."""
    file = ReportFile.objects.select_related("created_by").get(pk=file_id)
    if file.status == ReportFile.Status.READY:
        return file
    export = EXPORTS[file.report]
    user = file.created_by
    stores = list(Store.objects.visible_to(user).filter(pk__in=file.params.get("store") or []))
    start, end = date.fromisoformat(file.params["start"]), date.fromisoformat(file.params["end"])
    total = max(export_count(export, user=user, stores=stores, start=start, end=end), 1)
    ReportFile.objects.filter(pk=file.pk).update(status=ReportFile.Status.RUNNING, progress=0,
                                                 heartbeat_at=timezone.now())

    def progress(n: int) -> None:
        # Every PROGRESS_EVERY rows: the writer's heartbeat too (reports.services.stalls).
        ReportFile.objects.filter(pk=file.pk).update(progress=min(99, round(100 * n / total)),
                                                     heartbeat_at=timezone.now())

    try:
        with translation.override(file.language or settings.LANGUAGE_CODE):
            content, rows = export_write(export, user=user, stores=stores, start=start, end=end, progress=progress)
    except Exception as exc:
        ReportFile.objects.filter(pk=file.pk).update(status=ReportFile.Status.FAILED, error=str(exc)[:2000])
        raise
    now = timezone.now()
    ReportFile.objects.filter(pk=file.pk).update(status=ReportFile.Status.READY, progress=100, rows=rows,
                                                 content=content, size=len(content), finished_at=now,
                                                 expires_at=now + KEEP)
    file.refresh_from_db()
    return file


def export_retry(*, user: User, file: ReportFile) -> ReportFile:
    """Prepare a ``stalled`` or ``failed`` export again: the file goes back to ``pending`` with nothing written (the
    writer starts over; a workbook is written whole or not at all) and the caller queues ``export_run_task``. One
    conditional UPDATE claims it, so of two retries one wins and the other raises ``NotStalled`` (API: 409). Only
    who requested the file, or a group admin or superuser who sees it, may retry it."""
    from .stalls import not_stalled

    if file.created_by_id != user.pk and not (user.is_superuser or user.role == Role.GROUP_ADMIN):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(_("Only who requested this file can prepare it again."))
    changed = ReportFile.objects.filter(pk=file.pk, report__in=list(EXPORTS),
                                        status__in=[ReportFile.Status.STALLED, ReportFile.Status.FAILED]).update(
        status=ReportFile.Status.PENDING, progress=0, rows=0, error="", content=None, size=0,
        heartbeat_at=timezone.now(), finished_at=None)
    file.refresh_from_db(fields=["status", "progress", "rows", "error", "size", "heartbeat_at", "finished_at"])
    if not changed:
        raise not_stalled(file.get_status_display())
    return file
