"""The events' and the repurchase reminders' parts of the reports (``campaigns.selectors``,
``baseclients.selectors.repurchase_figures``: the owning apps' figures, arranged here): the monthly pack's events
section and repurchase section, and the two event workbooks (an event's guests with their answers and attendance
and its results; the year's results by kind of event)."""

from __future__ import annotations

import io
from datetime import date

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from leads.deal_bases import ORDERS_CALENDAR

from .excel import XLSX, Formats, workbook, write_cover, write_table
from .outputs import attachment
from .selectors import ReportParams
from .tables import TOTAL, Column, Section, Table

RESULT_COLUMNS = [
    ("invited", gettext_lazy("Invited")), ("accepted", gettext_lazy("Accepted")),
    ("attended", gettext_lazy("Came")), ("walk_ins", gettext_lazy("Walk-ins")), ("leads", gettext_lazy("Leads")),
    ("referrals", gettext_lazy("Referrals")), ("deals", ORDERS_CALENDAR),
]
RESULTS_NOTE = gettext_lazy(
    "Counted from the event's day to the end of its month. Leads: showroom visits of guests who came (by phone) and "
    "new customers referred by a base client who came; referrals: the latter; deals: ordered in those days by the "
    "guests who came or the customers they referred.")


def _result_columns() -> list[Column]:
    return [Column(key, label) for key, label in RESULT_COLUMNS]


def events_table(p: ReportParams) -> Table:
    """The period's events (held from ``p.start`` to ``p.end``) of the pack's stores, each with its results."""
    from campaigns import selectors as campaigns

    events = campaigns.event_list(user=p.user).filter(held_on__gte=p.start, held_on__lte=p.end)
    if p.stores:
        events = events.filter(store__in=p.stores)
    rows = [{"held_on": e.held_on.isoformat(), "kind": e.get_kind_display(), "title": e.title, "store": e.store.name,
             **{k: getattr(e, k) for k, _label in RESULT_COLUMNS}}
            for e in campaigns.with_results(events).order_by("held_on", "pk")]
    by_kind = campaigns.results_by_kind(user=p.user, start=p.start, end=p.end, stores=p.stores or None)
    return Table(key="events", title=_("Events of the period"),
                 columns=[Column("held_on", _("Date"), "text"), Column("kind", _("Kind"), "text"),
                          Column("title", _("Event"), "text"), Column("store", _("Store"), "text"),
                          *_result_columns()],
                 rows=rows, total={"held_on": str(TOTAL), **{k: by_kind["total"][k] for k, _l in RESULT_COLUMNS}},
                 note=RESULTS_NOTE)


def kinds_table(p: ReportParams) -> Table:
    from campaigns import selectors as campaigns

    figures = campaigns.results_by_kind(user=p.user, start=p.start, end=p.end, stores=p.stores or None)
    return Table(key="events_by_kind", title=_("Events by kind"),
                 columns=[Column("label", _("Kind"), "text"), Column("events", _("Events")), *_result_columns()],
                 rows=figures["rows"], total={"label": str(TOTAL), **figures["total"]},
                 note=_("A lead or deal brought by a guest of two events in one month counts under both."))


def events_section(p: ReportParams) -> Section:
    return Section("events", _("Events and their results"), [events_table(p), kinds_table(p)])


def repurchase_table(p: ReportParams) -> Table:
    from baseclients import selectors as bc

    rows = bc.repurchase_figures(user=p.user, start=p.start, end=p.end, stores=p.stores or None)
    keys = ("made", "done", "pending", "leads", "deals")
    return Table(key="repurchase", title=_("Repurchase reminders"),
                 columns=[Column("label", _("Reminder"), "text"), Column("made", _("Made")),
                          Column("done", _("Done")), Column("pending", _("Still to do")),
                          Column("leads", _("Led to a lead")), Column("deals", _("Led to a deal"))],
                 rows=[{"label": str(r["label"]), **{k: r[k] for k in keys}} for r in rows],
                 note=_("Reminders made in the period. Led to a lead: the client's new lead (a returning buyer's, "
                        "linked to the card) within 90 days of the reminder; led to a deal: that lead won."))


def repurchase_section(p: ReportParams) -> Section:
    return Section("repurchase", _("Repurchase reminders"), [repurchase_table(p)])


events_section.section_key = "events"
repurchase_section.section_key = "repurchase"


# --- the event workbooks --------------------------------------------------------------------------------------------

def guests_table(user, event) -> Table:
    """An event's guests with their answers and attendance; phones as the user may see them."""
    from campaigns import selectors as campaigns
    from campaigns.models import Invitation

    rows = Invitation.objects.visible_to(user).filter(event=event).select_related("consultant").order_by(
        "walk_in", "name", "pk")
    rows = campaigns.with_phones(user, list(rows))

    def when(value):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""

    return Table(key="guests", title=_("Guests"), columns=[
        Column("name", _("Name"), "text"), Column("phone", _("Phone"), "text"), Column("source", _("From"), "text"),
        Column("consultant", _("Consultant"), "text"), Column("answer", _("Answer"), "text"),
        Column("answered_at", _("Answered at"), "text"), Column("arrived_at", _("Arrived at"), "text")],
        rows=[{"name": r.name, "phone": r.phone_shown, "source": r.get_source_display(),
               "consultant": str(r.consultant or ""),
               "answer": _("Walk-in guest") if r.walk_in else r.get_answer_display(),
               "answered_at": when(r.answered_at), "arrived_at": when(r.arrived_at)} for r in rows])


def _book(title: str, lines, tables) -> bytes:
    buffer = io.BytesIO()
    book = workbook(buffer)
    formats = Formats(book)
    used: set[str] = set()
    write_cover(book, formats, title=title, lines=lines, used=used)
    for table in tables:
        write_table(book, formats, table, used)
    book.close()
    return buffer.getvalue()


@require_GET
@login_required
def event_xlsx(request, pk: int):
    """`/reports/events/<id>.xlsx`: the event's guests (answers, attendance) and its results."""
    from campaigns import selectors as campaigns

    event = get_object_or_404(campaigns.event_list(user=request.user), pk=pk)
    results = campaigns.event_results(event)
    table = Table(key="results", title=_("Results"), columns=_result_columns(), rows=[results], note=RESULTS_NOTE)
    lines = [(_("Event"), event.title), (_("Kind"), event.get_kind_display()), (_("Store"), event.store.name),
             (_("Date"), event.held_on.isoformat()), (_("Place"), event.place),
             (_("Made at"), timezone.localtime().strftime("%Y-%m-%d %H:%M")), (_("Made by"), str(request.user))]
    content = _book(event.title, lines, [guests_table(request.user, event), table])
    return attachment(content, filename=f"event_{event.pk}_{event.held_on:%Y%m%d}.xlsx", content_type=XLSX)


@require_GET
@login_required
def events_by_kind_xlsx(request):
    """`/reports/events/by-kind.xlsx?year=`: the year's events and their results by kind."""
    from campaigns.forms import year_param

    year = year_param(request)
    p = ReportParams(user=request.user, start=date(year, 1, 1), end=date(year, 12, 31))
    lines = [(_("Year"), str(year)), (_("Made at"), timezone.localtime().strftime("%Y-%m-%d %H:%M")),
             (_("Made by"), str(request.user))]
    content = _book(_("Events by kind, %(year)s") % {"year": year}, lines, [kinds_table(p), events_table(p)])
    return attachment(content, filename=f"events_by_kind_{year}.xlsx", content_type=XLSX)
