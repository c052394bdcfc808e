"""Events pages: the list (by month), the create form, an event's page with its guests and their answers, the
target-list builder with its count preview, the phone-first door attendance and the results. Reads through
selectors, writes through services; another store's (group's) event is a 404."""

from __future__ import annotations

from datetime import date
from itertools import groupby

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from dealercrm.forms import add_service_errors
from leads.services import manages_store

from . import selectors, services
from .forms import AnswerForm, DoorSearchForm, EventForm, TargetForm, WalkInForm, year_param
from .models import Answer, Event, Invitation

DOOR_LIMIT = 30


def _event_or_404(request, pk) -> Event:
    return get_object_or_404(selectors.event_list(user=request.user), pk=pk)


def _years() -> range:
    """The year picker's choices: next year back to 2020."""
    return range(timezone.localdate().year + 1, 2019, -1)


def _can_organise(user) -> bool:
    return bool(user.is_superuser or user.role in ("manager", "group_admin"))


@login_required
def event_list(request: HttpRequest) -> HttpResponse:
    """`/events/`: the year's events the user sees, month by month (newest month first), each with its guests,
    arrivals and what it brought."""
    year = year_param(request)
    events = list(selectors.with_results(selectors.event_list(user=request.user).filter(held_on__year=year))
                  .order_by("-held_on", "-pk"))
    months = [(month, list(rows)) for month, rows in groupby(events, key=lambda e: e.held_on.replace(day=1))]
    return render(request, "campaigns/list.html", {
        "months": months, "year": year, "years": _years(),
        "today": timezone.localdate(), "can_organise": _can_organise(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def event_create(request: HttpRequest) -> HttpResponse:
    if not _can_organise(request.user):
        raise PermissionDenied(_("Only the store's manager can organise its events."))
    form = EventForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        store = data.pop("store", None) or request.user.store
        try:
            event = services.event_create(actor=request.user, store=store, **data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Event created. Now build its guest list."))
            return redirect("campaigns:targets", pk=event.pk)
    return render(request, "campaigns/form.html", {"form": form})


def _guest_rows(request, event: Event, *, mine: bool):
    rows = (Invitation.objects.visible_to(request.user).filter(event=event)
            .select_related("consultant", "event__store"))
    if mine:
        rows = rows.filter(consultant=request.user)
    rows = selectors.with_phones(request.user, list(rows.order_by("walk_in", "name", "pk")))
    for row in rows:
        row.can_answer = services.can_answer(request.user, row) if not row.walk_in else False
    return rows


@login_required
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An event's page: when and where, the counts, and the guests with their answers (a consultant sees their own
    guests first: "mine"; everyone can show all)."""
    event = _event_or_404(request, pk)
    is_consultant = request.user.role == "consultant"
    mine = request.GET.get("show") != "all" if is_consultant else request.GET.get("show") == "mine"
    return render(request, "campaigns/detail.html", {
        "event": event, "results": selectors.event_results(event), "rows": _guest_rows(request, event, mine=mine),
        "mine": mine, "answers": Answer.choices, "manages": manages_store(request.user, event.store)})


@login_required
@require_POST
def answer(request: HttpRequest, pk: int, inv: int) -> HttpResponse:
    event = _event_or_404(request, pk)
    invitation = get_object_or_404(Invitation.objects.visible_to(request.user).select_related("event__store"),
                                   event=event, pk=inv)
    form = AnswerForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Choose an answer."), status=400)
    try:
        invitation = services.answer_set(actor=request.user, invitation=invitation, answer=form.cleaned_data["answer"])
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400)
    if request.htmx:
        row = selectors.with_phones(request.user, [invitation])[0]
        row.can_answer = True
        return render(request, "campaigns/partials/_guest_row.html", {"row": row, "event": event,
                                                                       "answers": Answer.choices})
    return redirect("campaigns:detail", pk=event.pk)


@login_required
@require_http_methods(["GET", "POST"])
def targets(request: HttpRequest, pk: int) -> HttpResponse:
    """The target-list builder: tiers, regions and industries of the store's base clients, the competitor pool and
    the nurture list; the count updates as boxes are ticked; "Invite" puts the new ones on the list."""
    event = _event_or_404(request, pk)
    services.require_manager(request.user, event.store)
    choices = selectors.filter_choices(event.store)
    form = TargetForm(request.POST if request.method == "POST" else None, choices=choices)
    if request.method == "POST" and form.is_valid():
        filters = form.filters()
        if not any(filters.values()):
            form.add_error(None, _("Choose whom to invite."))
        else:
            try:
                result = services.invite(actor=request.user, event=event, **filters)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("%(new)s invited; %(already)s were on the list already.") % {
                    "new": result["invited"], "already": result["already"]})
                return redirect("campaigns:detail", pk=event.pk)
    counts = selectors.target_counts(event, **form.filters()) if form.is_bound and form.is_valid() else None
    return render(request, "campaigns/targets.html", {"event": event, "form": form, "counts": counts})


@login_required
@require_POST
def target_count(request: HttpRequest, pk: int) -> HttpResponse:
    """The builder's live count (htmx): how many the ticked filters pick, how many are new."""
    event = _event_or_404(request, pk)
    services.require_manager(request.user, event.store)
    form = TargetForm(request.POST, choices=selectors.filter_choices(event.store))
    counts = selectors.target_counts(event, **form.filters()) if form.is_valid() else None
    return render(request, "campaigns/partials/_target_count.html", {"counts": counts})


@login_required
@require_http_methods(["GET", "POST"])
def door(request: HttpRequest, pk: int) -> HttpResponse:
    """The door list on a phone: search a guest by name or phone (posted, never in the address bar; a colleague's
    guest's phone matches only in full), tap "Arrived"; add a walk-in below."""
    event = _event_or_404(request, pk)
    if not services.works_at(request.user, event.store):
        raise PermissionDenied(_("Only the store's staff take the attendance."))
    search = DoorSearchForm(request.POST if request.method == "POST" else None)
    text = search.cleaned_data["q"] if search.is_bound and search.is_valid() else ""
    rows = selectors.door_search(user=request.user, event=event, text=text).order_by(
        F("arrived_at").asc(nulls_first=True), "name", "pk")  # who is still expected first
    rows = selectors.with_phones(request.user, list(rows[:DOOR_LIMIT]))
    results = selectors.event_results(event)
    ctx = {"event": event, "rows": rows, "q": text, "search": search, "walk_in": WalkInForm(),
           "results": results, "limit": DOOR_LIMIT}
    if request.htmx and request.method == "POST":
        return render(request, "campaigns/partials/_door_results.html", ctx)
    return render(request, "campaigns/door.html", ctx)


@login_required
@require_POST
def door_mark(request: HttpRequest, pk: int, inv: int) -> HttpResponse:
    event = _event_or_404(request, pk)
    invitation = get_object_or_404(Invitation.objects.visible_to(request.user).select_related("event__store"),
                                   event=event, pk=inv)
    arrived = request.POST.get("arrived", "1") != "0"
    invitation = services.attendance_set(actor=request.user, invitation=invitation, arrived=arrived)
    if request.htmx:
        row = selectors.with_phones(request.user, [invitation])[0]
        return render(request, "campaigns/partials/_door_mark.html", {
            "row": row, "event": event, "results": selectors.event_results(event)})
    return redirect("campaigns:door", pk=event.pk)


@login_required
@require_POST
def walk_in(request: HttpRequest, pk: int) -> HttpResponse:
    event = _event_or_404(request, pk)
    form = WalkInForm(request.POST)
    if form.is_valid():
        try:
            invitation = services.walk_in_add(actor=request.user, event=event, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("%(name)s arrived.") % {"name": invitation.name})
    else:
        messages.error(request, " ".join(str(m) for errors in form.errors.values() for m in errors))
    return redirect("campaigns:door", pk=event.pk)


@login_required
def event_results(request: HttpRequest, pk: int) -> HttpResponse:
    event = _event_or_404(request, pk)
    return render(request, "campaigns/results.html", {"event": event, "results": selectors.event_results(event)})


@login_required
def results_by_kind(request: HttpRequest) -> HttpResponse:
    year = year_param(request)
    figures = selectors.results_by_kind(user=request.user, start=date(year, 1, 1), end=date(year, 12, 31))
    return render(request, "campaigns/by_kind.html", {"rows": figures["rows"], "total": figures["total"],
                                                      "year": year,
                                                      "years": _years()})
