"""The consultant's pages (managers see the same for their store): workspace, lead list, visit log, lead detail.

Thin views: reads through leads.selectors, writes through leads.services. One view returns the full page or, for
``request.htmx``, the partial it was asked for (STYLE: "Pages")."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from dealercrm.models import Role, Store, User
from dealercrm.forms import add_service_errors
from dealercrm.pagination import CappedPaginator
from dealercrm.selectors import store_cards

from .. import selectors, services
from ..filters import LeadFilterSet
from ..forms import (
    DealForm,
    FollowUpForm,
    GradeChangeForm,
    LeadEditForm,
    QuickVisitForm,
    RevisitForm,
    VisitForm,
    style_filter_form,
)
from ..models import Lead, Status, local_day_start
from ..phones import phone_display

PAGE_SIZE = 25


def _is_manager_like(user: User) -> bool:
    return user.is_superuser or user.role in (Role.MANAGER, Role.GROUP_ADMIN)


def _lead_or_404(request: HttpRequest, pk: int) -> Lead:
    # A lead the user may not see does not exist for them (RELIABILITY: 404, not 403).
    return get_object_or_404(selectors.lead_list(user=request.user), pk=pk)


def _with_phones(user: User, leads):
    """Attach ``phone_shown`` (full or masked, per lead_phone_for) and ``overdue_days`` to each lead of a list."""
    today = local_day_start()
    leads = list(leads)
    for lead in leads:
        lead.phone_shown = selectors.lead_phone_for(user=user, lead=lead)
        lead.phone_full = lead.phone_shown and "*" not in lead.phone_shown
        due = lead.next_follow_up_at
        lead.overdue_days = (today.date() - timezone.localtime(due).date()).days if due and due < today else 0
    return leads


# --- workspace ------------------------------------------------------------------------------------------------


def _workspace_context(user: User) -> dict:
    ws = selectors.workspace(user=user)
    ws.due_today = _with_phones(user, ws.due_today)
    ws.overdue = _with_phones(user, ws.overdue)
    ws.recent = _with_phones(user, ws.recent)
    return {
        "ws": ws,
        "ladder_total": sum(ws.ladder.values()),
        "is_manager": _is_manager_like(user),
        "can_log_visits": bool(user.store_id),
    }


@login_required
def workspace(request: HttpRequest) -> HttpResponse:
    """`/`: today's follow-ups (overdue first), the grade ladder, recent leads and the quick walk-in form.
    Scoped by role: a consultant's own leads, a manager's store; a group admin gets the group's ladder and stores."""
    user = request.user
    context = _workspace_context(user)
    is_group_level = user.is_superuser or user.role == Role.GROUP_ADMIN
    if is_group_level:
        context["stores"] = store_cards(user=user)
    if context["can_log_visits"]:
        context["quick_form"] = QuickVisitForm(user=user)
    context["is_group_level"] = is_group_level
    return render(request, "leads/workspace.html", context)


# --- visits ---------------------------------------------------------------------------------------------------


def _visit_store(user: User, form) -> Store | None:
    return user.store if user.store_id else form.cleaned_data.get("store")


def _log(request: HttpRequest, form) -> services.VisitResult | None:
    """Call visit_log with the form's data; service errors land on the form. None when it did not happen."""
    if not form.is_valid():
        return None
    store = _visit_store(request.user, form)
    if store is None:
        form.add_error(None, _("You are not attached to a store."))
        return None
    try:
        with transaction.atomic():
            result = services.visit_log(actor=request.user, store=store, **form.service_kwargs())
            if hasattr(form, "save_referral") and not result.is_revisit:  # a new lead's referrer (baseclients)
                form.save_referral(actor=request.user, lead=result.lead)
        return result
    except ValidationError as exc:
        add_service_errors(form, exc)
    except PermissionDenied as exc:
        form.add_error(None, str(exc) or _("You may not log visits for this store."))
    return None


def _can_see(user: User, lead: Lead) -> bool:
    return selectors.lead_list(user=user).filter(pk=lead.pk).exists()


def _visit_message(result: services.VisitResult, *, visible: bool = True) -> str:
    if result.is_revisit and not visible:
        # The phone is a colleague's customer: the visit is on their lead, which this user may not open.
        return _("Re-visit recorded. This customer is followed by %(consultant)s.") % {
            "consultant": result.lead.assigned_to or _("nobody yet")
        }
    if result.came_back_from == Status.DEFEATED:
        return _("%(name)s came back: won back from the defeats (competitor pool or nurture list), an active lead "
                 "again.") % {"name": result.lead.name}
    if result.came_back_from == Status.DEFEAT_PENDING:
        return _("%(name)s came back: the pending defeat application is closed, an active lead again.") % {
            "name": result.lead.name}
    if result.is_revisit:
        return _("Re-visit recorded for %(name)s.") % {"name": result.lead.name}
    return _("New lead logged: %(name)s.") % {"name": result.lead.name}


@login_required
def visit_log(request: HttpRequest) -> HttpResponse:
    """`/leads/visit/`: the full visit form. The workspace's quick form posts here too (``quick=1``): for htmx it
    gets back its own partial with the outcome; a known phone records a re-visit of that lead."""
    user = request.user
    quick = request.method == "POST" and request.POST.get("quick") == "1"
    if quick and request.htmx:
        form = QuickVisitForm(request.POST, user=user)
        result = _log(request, form)
        context = {"quick_form": form, "result": result, "can_log_visits": True}
        if result is not None:
            visible = _can_see(user, result.lead)
            context["quick_form"] = QuickVisitForm(user=user)
            context["result_message"] = _visit_message(result, visible=visible)
            context["result_visible"] = visible
            context.update(_workspace_context(user))
            context["oob"] = True
        return render(request, "leads/partials/_quick_visit_response.html", context)

    form = VisitForm(request.POST or None, user=user)
    if request.method == "POST":
        result = _log(request, form)
        if result is not None:
            visible = _can_see(user, result.lead)
            messages.success(request, _visit_message(result, visible=visible))
            if not visible:
                return redirect("home")
            return redirect("leads:detail", pk=result.lead.pk)
    return render(request, "leads/visit_form.html", {"form": form})


# --- list -----------------------------------------------------------------------------------------------------


@login_required
def lead_list(request: HttpRequest) -> HttpResponse:
    """`/leads/`: LeadFilterSet (the API's filters) over the user's leads, 25 a page. For htmx, only the results."""
    user = request.user
    # A history restore (back button after a partial was pushed) needs the whole page.
    partial = bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request
    # The filter form POSTs (issue 10: a phone typed in the search must not land in the address bar, the history or
    # the access log); a GET with the same parameters still works (bookmarks, the links below).
    data = _list_params(request)
    filterset = LeadFilterSet(data or None, queryset=selectors.lead_list(user=user), request=request)
    style_filter_form(filterset.form, show_consultant=_is_manager_like(user), for_display=not partial)
    # Counted up to 10,000 leads ("10,000+"): a group's whole list counted in full cost seconds at ten million.
    paginator = CappedPaginator(filterset.qs, PAGE_SIZE)
    page = paginator.get_page(data.get("page"))
    page.object_list = _with_phones(user, page.object_list)
    active_filters = sum(
        1 for key, value in data.lists() if key not in ("page", "q", "ordering") and any(value)
    )
    without_q = [(key, value) for key, values in data.lists() if key not in ("q", "page") for value in values
                 if value]
    context = {
        "filter": filterset,
        "page": page,
        "active_filters": active_filters,
        "show_consultant": _is_manager_like(user),
        # The URL the address bar shows and the pager's plain links: the filters without the search text.
        "url_without_q": reverse("leads:list") + (f"?{urlencode(without_q)}" if without_q else ""),
        "export_params": [(key, value) for key, values in data.lists() if key != "page" for value in values],
    }
    response = render(request, "leads/partials/_lead_results.html" if partial else "leads/lead_list.html", context)
    if request.method == "POST" and request.htmx:
        page_part = [("page", page.number)] if page.number > 1 else []
        response["HX-Push-Url"] = reverse("leads:list") + (
            f"?{urlencode(without_q + page_part)}" if without_q or page_part else "")
    return response


def _list_params(request: HttpRequest):
    """The list's parameters: the posted form's (without its CSRF token), else the query string's."""
    if request.method == "POST":
        data = request.POST.copy()
        data.pop("csrfmiddlewaretoken", None)
        return data
    return request.GET


# --- detail and its inline forms ------------------------------------------------------------------------------


def _detail_context(request: HttpRequest, lead: Lead, **forms) -> dict:
    user = request.user
    now = timezone.now()
    phone = selectors.lead_phone_for(user=user, lead=lead)
    timeline = selectors.lead_timeline(lead=lead)
    context = {
        "lead": lead,
        "phone": phone,
        "phone_full": bool(phone) and "*" not in phone,
        "timeline": timeline,
        "deal": next((entry.obj for entry in timeline if entry.kind == "deal"), None),
        "dwell_days": (now - lead.grade_since).days if lead.grade_since else None,
        "max_dwell_days": (
            selectors.grade_rule_limits(group_id=lead.store.group_id)[lead.grade][1] if lead.grade else None
        ),
        "is_overdue": bool(lead.is_active and lead.next_follow_up_at and lead.next_follow_up_at < local_day_start()),
        "open_form": next(iter(forms), "follow_up"),
    }
    if lead.is_active:
        context["follow_up_form"] = forms.get("follow_up") or FollowUpForm(initial={"grade_after": lead.grade or ""})
        context["grade_form"] = forms.get("grade") or GradeChangeForm(initial={"version": lead.version})
        context["deal_form"] = forms.get("deal") or DealForm(initial={"series": lead.series_id})
        context["revisit_form"] = forms.get("revisit") or RevisitForm()
    return context


def _render_detail(request: HttpRequest, lead: Lead, *, notice: str = "", error: str = "", **forms) -> HttpResponse:
    context = _detail_context(request, lead, **forms)
    context["notice"] = notice
    context["error"] = error
    if request.htmx:
        return render(request, "leads/partials/_lead_body_swap.html", context)
    return render(request, "leads/lead_detail.html", context)


@login_required
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """`/leads/<id>/`: the header card, the inline forms (follow-up, grade, re-visit, deal) and the timeline."""
    return _render_detail(request, _lead_or_404(request, pk))


def _lead_action(request: HttpRequest, pk: int, *, key: str, form_class, act, done: str) -> HttpResponse:
    """Shared shape of the detail page's inline forms: validate, call the service, re-render the lead (htmx) or
    redirect back to it. Service errors are shown on the form that caused them."""
    lead = _lead_or_404(request, pk)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            act(lead, form)
        except services.StaleVersion as exc:
            # Keep what the user typed but carry the current version, so a second try is judged afresh.
            data = request.POST.copy()
            data["version"] = str(exc.current_version)
            form = form_class(data)
            form.is_valid()
            form.add_error(None, _("Someone else changed this lead while you were working on it. "
                                   "It has been reloaded: check it and try again."))
        except ValidationError as exc:
            add_service_errors(form, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc) or _("You may not change this lead."))
        else:
            lead = _lead_or_404(request, pk)
            if not request.htmx:
                messages.success(request, done)
                return redirect("leads:detail", pk=lead.pk)
            return _render_detail(request, lead, notice=done)
        lead = _lead_or_404(request, pk)
    if not lead.is_active:
        # A won lead shows no forms, so say here why nothing happened.
        return _render_detail(request, lead, error=" ".join(form.non_field_errors()) or
                              _("This lead is closed; it cannot be changed."))
    return _render_detail(request, lead, **{key: form})


@login_required
@require_POST
def follow_up_add(request: HttpRequest, pk: int) -> HttpResponse:
    def act(lead, form):
        services.follow_up_log(actor=request.user, lead=lead, **form.service_kwargs())

    return _lead_action(request, pk, key="follow_up", form_class=FollowUpForm, act=act,
                        done=_("Follow-up recorded."))


@login_required
@require_POST
def grade_change(request: HttpRequest, pk: int) -> HttpResponse:
    def act(lead, form):
        data = form.cleaned_data
        services.lead_grade_change(actor=request.user, lead=lead, to_grade=data["to_grade"], reason=data["reason"],
                                   expected_version=data["version"])

    return _lead_action(request, pk, key="grade", form_class=GradeChangeForm, act=act, done=_("Grade changed."))


@login_required
@require_POST
def deal_add(request: HttpRequest, pk: int) -> HttpResponse:
    def act(lead, form):
        data = form.cleaned_data
        services.deal_record(actor=request.user, lead=lead, unit_price=data["price"], series=data.get("series"),
                             quantity=data.get("quantity") or 1, ordered_at=data["ordered_at"],
                             delivered_at=data.get("delivered_at"), vin=data.get("vin", ""), plate=data.get("plate", ""),
                             vehicles=form.units or None, trade_in=data.get("trade_in", False),
                             financed=data.get("financed", False))

    return _lead_action(request, pk, key="deal", form_class=DealForm, act=act,
                        done=_("Deal recorded. Congratulations!"))


@login_required
@require_POST
def revisit_add(request: HttpRequest, pk: int) -> HttpResponse:
    def act(lead, form):
        services.visit_add(actor=request.user, lead=lead, **form.service_kwargs())

    return _lead_action(request, pk, key="revisit", form_class=RevisitForm, act=act, done=_("Re-visit recorded."))


# --- edit -----------------------------------------------------------------------------------------------------


def _plain(amount):
    """250000.00 → 250000 for the edit form (whole yuan is how budgets are quoted)."""
    return int(amount) if amount is not None and amount == amount.to_integral_value() else amount


@login_required
def lead_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """`/leads/<id>/edit/`: the customer fields, saved only over the version the user read (StaleVersion → 409)."""
    lead = _lead_or_404(request, pk)
    shown = selectors.lead_phone_for(user=request.user, lead=lead)
    show_phone = not shown or "*" not in shown
    initial = {
        "version": lead.version, "name": lead.name, "phone": phone_display(lead.phone), "gender": lead.gender,
        "source": lead.source, "channel": lead.channel_id, "series": lead.series_id, "budget": _plain(lead.budget),
        "purchase_type": lead.purchase_type, "district": lead.district, "industry": lead.industry,
        "notes": lead.notes,
    }
    form = LeadEditForm(request.POST or None, initial=initial, show_phone=show_phone)
    status = 200
    conflict = False
    if request.method == "POST" and form.is_valid():
        try:
            services.lead_update(actor=request.user, lead=lead, expected_version=form.cleaned_data["version"],
                                 **form.changes())
        except services.StaleVersion:
            conflict, status = True, 409
            form.add_error(None, _("Someone else changed this lead while you were editing it. "
                                   "Reload to see their changes, then edit again."))
        except ValidationError as exc:
            add_service_errors(form, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc) or _("You may not change this lead."))
        else:
            messages.success(request, _("Changes saved."))
            return redirect("leads:detail", pk=lead.pk)
    return render(request, "leads/lead_edit.html", {"lead": lead, "form": form, "conflict": conflict},
                  status=status)


@login_required
def unit_row(request):
    """One more empty vehicle row for a deal or delivery form (htmx)."""
    from ..vehicles import VehicleUse

    use = request.GET.get("use")
    return render(request, "leads/partials/_unit_row.html", {
        "row": {}, "uses": VehicleUse.choices, "default_use": use if use in VehicleUse.values else VehicleUse.PRIVATE})
