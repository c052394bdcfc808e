"""The manager's stale-lead queue (DOMAIN §3: 滞留): each lead that has held its grade past the max dwell, with the
rule that fired and the last-touch evidence, and the ways to clear it — keep (with a reason), regrade, reassign,
move to the store's pool, and the other apps' registered actions (leads.extensions.STALE_ACTIONS: the defeats app's
file as a quasi-defeat). Managers and group admins only (a consultant
gets a 403); a lead outside the user's scope is a 404. Reads through leads.selectors, writes through leads.services."""

from __future__ import annotations

from typing import NamedTuple

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from dealercrm.forms import add_service_errors
from dealercrm.models import User

from .. import selectors, services
from ..extensions import STALE_ACTIONS
from ..forms_manager import AssignForm, StaleKeepForm, StalePoolForm, StaleRegradeForm, store_consultants
from ..models import FollowUpMethod, FollowUpOutcome, Lead, local_day_start
from .manager import _page, _pick_store, manager_required

STALE_PER_PAGE = 20
ACTIONS = ("keep", "regrade", "reassign", "pool")  # the lead's own; the other apps' follow (_actions)


def _actions() -> tuple[str, ...]:
    return (*ACTIONS, *STALE_ACTIONS)


def _dwell(lead: Lead, today) -> None:
    """Attach what the card says about the rule that fired: days on the dwell clock (from the later of the grade's
    start and the last keep), whether the clock restarted with a keep, days stale, and whether the next follow-up is
    late. Pure arithmetic on the row's fields: no query."""
    start = max(filter(None, [lead.grade_since, lead.dwell_kept_at]), default=None)
    lead.dwell_days = (today - timezone.localtime(start).date()).days if start else None
    lead.dwell_from_keep = bool(lead.dwell_kept_at and start == lead.dwell_kept_at)
    lead.stale_days = (today - timezone.localtime(lead.stale_since).date()).days if lead.stale_since else 0
    due = lead.next_follow_up_at
    lead.is_late = bool(due and timezone.localtime(due).date() < today)
    lead.last_fu_method_label = _label(FollowUpMethod, getattr(lead, "last_fu_method", None))
    lead.last_fu_outcome_label = _label(FollowUpOutcome, getattr(lead, "last_fu_outcome", None))


def _label(choices, value) -> str:
    try:
        return choices(value).label if value else ""
    except ValueError:
        return value


class Pane(NamedTuple):
    """One action of a stale card: its tab and its inline form (``fields``: the template of the form's controls)."""

    action: str
    label: str
    form: object
    fields: str
    open: bool


def _card_panes(lead: Lead, actor: User, store, assignees, open_action: str = "keep", **bound) -> list[Pane]:
    """The actions of one card, in tab order; ``bound`` replaces the form that was just posted (with its
    errors) and ``open_action`` is the tab shown open."""
    prefix = f"stale{lead.pk}"
    forms = {
        "keep": StaleKeepForm(auto_id=f"id_{prefix}_keep_%s"),
        "regrade": StaleRegradeForm(lead=lead, auto_id=f"id_{prefix}_regrade_%s"),
        "reassign": AssignForm(actor=actor, lead=lead, auto_id=f"id_{prefix}_reassign_%s"),
        "pool": StalePoolForm(auto_id=f"id_{prefix}_pool_%s"),
        **{action: other.form_class(auto_id=f"id_{prefix}_{action}_%s") for action, other in STALE_ACTIONS.items()},
    }
    forms.update(bound)
    # The select lists its own choices: share the store's consultants (one query for the page) instead.
    forms["reassign"].assignees = [p for p in assignees if p.pk != lead.assigned_to_id]
    labels = {"keep": _("Keep"), "regrade": _("Regrade"), "reassign": _("Reassign"), "pool": _("Pool"),
              **{action: other.label for action, other in STALE_ACTIONS.items()}}
    fields = {action: other.fields for action, other in STALE_ACTIONS.items()}
    return [Pane(action, labels[action], forms[action],
                 fields.get(action, f"leads/partials/_stale_fields_{action}.html"), action == open_action)
            for action in _actions()]


def _store_url(store) -> str:
    return f"{reverse('leads:stale')}?{urlencode({'store': store.pk})}"


@manager_required
def stale_queue(request):
    """`/leads/stale/`: the store's stale leads, longest stale first, a page of cards at a time. A group admin picks
    the store. A fixed number of queries whatever the page holds."""
    store, stores = _pick_store(request, request.GET.get("store"))
    context = {"store": store, "stores": stores}
    if store is None:
        return _page(request, "leads/stale.html", context)
    page = Paginator(selectors.stale_queue(user=request.user, store=store), STALE_PER_PAGE).get_page(
        request.GET.get("page")
    )
    assignees = list(store_consultants(request.user, store))
    today = local_day_start().date()
    for lead in page:
        _dwell(lead, today)
        lead.panes = _card_panes(lead, request.user, store, assignees)
    context.update({"page": page, "stale_count": page.paginator.count})
    return _page(request, "leads/stale.html", context)


def _act(actor: User, lead: Lead, action: str, form):
    """Call the service for ``action`` with the form's data; returns (lead, outcome text)."""
    if action == "keep":
        lead = services.lead_keep(actor=actor, lead=lead, reason=form.cleaned_data["reason"])
        return lead, _("Kept in grade %(grade)s: %(reason)s") % {"grade": lead.grade, "reason": form.cleaned_data["reason"]}
    if action == "regrade":
        grade = form.cleaned_data["grade"]
        lead = services.lead_grade_change(actor=actor, lead=lead, to_grade=grade,
                                          reason=_("Regraded from the stale-lead queue"))
        return lead, _("Now grade %(grade)s.") % {"grade": lead.grade}
    if action == "reassign":
        to_user = form.cleaned_data["to_user"]
        lead = services.lead_assign(actor=actor, lead=lead, to_user=to_user, reason=form.cleaned_data["reason"])
        return lead, _("Now with %(name)s.") % {"name": to_user}
    if action in STALE_ACTIONS:
        return lead, STALE_ACTIONS[action].act(actor=actor, lead=lead, form=form)
    lead = services.lead_move_to_pool(actor=actor, lead=lead, reason=form.cleaned_data["reason"])
    return lead, _("Moved to the store's pool: any consultant of the store can claim it.")


@manager_required
@require_POST
def stale_action(request, pk):
    """One card's action (``action`` = keep | regrade | reassign | pool, or another app's). For htmx the card comes back with its
    outcome, or with the form's error inline; otherwise the manager goes back to the queue with a message."""
    action = request.POST.get("action")
    if action not in _actions():
        raise Http404
    lead = get_object_or_404(selectors.lead_list(user=request.user).select_related("assigned_to"), pk=pk)
    actor = request.user
    prefix = f"id_stale{lead.pk}_{action}_%s"
    if action == "keep":
        form = StaleKeepForm(request.POST, auto_id=prefix)
    elif action == "regrade":
        form = StaleRegradeForm(request.POST, lead=lead, auto_id=prefix)
    elif action == "reassign":
        form = AssignForm(request.POST, actor=actor, lead=lead, auto_id=prefix)
    elif action in STALE_ACTIONS:
        form = STALE_ACTIONS[action].form_class(request.POST, auto_id=prefix)
    else:
        form = StalePoolForm(request.POST, auto_id=prefix)

    if form.is_valid():
        try:
            lead, outcome = _act(actor, lead, action, form)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc) or _("You may not do this."))
        else:
            if not request.htmx:
                messages.success(request, f"{lead.name} (#{lead.pk}): {outcome}")
                return redirect(_store_url(lead.store))
            return render(request, "leads/partials/_stale_card.html", {"lead": lead, "done": action, "outcome": outcome})

    if not request.htmx:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"{lead.name} (#{lead.pk}): {error}")
        return redirect(_store_url(lead.store))
    # The card again, the posted form open with its error (200, so htmx swaps it in).
    lead = selectors.stale_queue(user=actor, store=lead.store).filter(pk=lead.pk).first() or lead
    _dwell(lead, local_day_start().date())
    assignees = list(store_consultants(actor, lead.store))
    lead.panes = _card_panes(lead, actor, lead.store, assignees, action, **{action: form})
    return render(request, "leads/partials/_stale_card.html", {"lead": lead})
