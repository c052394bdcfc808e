"""Work plan pages: the consultant's plans (day, week, month, quarter, year: opening a period drafts its plan, he
edits the numbers and notes) beside what was done, the workspace's "today's plan" panel (loaded by htmx from the
workspace, which does not import this app), and a manager's read-only view of a consultant's plans. The manager's
plan against record per consultant and week is a report (``reports``: ``/reports/work-plans/``)."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dealercrm.forms import add_service_errors
from dealercrm.models import Role, User

from . import selectors, services
from .models import ITEM_ORDER, Item, Period, WorkPlan
from .periods import PERIODS, period_end, period_start


class PickForm(forms.Form):
    period = forms.ChoiceField(choices=Period.choices, required=False)
    start = forms.DateField(required=False)
    consultant = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class PlanForm(forms.Form):
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, max_length=4000,
                            widget=forms.Textarea(attrs={"rows": 3}))
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key in ITEM_ORDER:
            self.fields[f"planned_{key}"] = forms.IntegerField(label=Item(key).label, min_value=0,
                                                               max_value=services.MAX_PLANNED)
            self.fields[f"note_{key}"] = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=300)

    def items(self) -> dict:
        d = self.cleaned_data
        return {key: {"planned": d[f"planned_{key}"], "note": d[f"note_{key}"]} for key in ITEM_ORDER}


def _shift(period: str, start: date, step: int) -> date:
    """The first day of the period ``step`` periods after (or before) the one starting on ``start``."""
    if step > 0:
        return period_start(period, period_end(period, start) + timedelta(days=1))
    return period_start(period, start - timedelta(days=1))


@login_required
def plans(request):
    """`/plans/`: a consultant's plan for a period (``?period=day|week|month|quarter|year&start=``; default this
    week), drafted on first open, editable by him; a manager or group admin reads a consultant's (``?consultant=``)."""
    user = request.user
    pick = PickForm(request.GET)
    if not pick.is_valid():
        raise Http404
    period = pick.cleaned_data["period"] or Period.WEEK
    start = period_start(period, pick.cleaned_data["start"] or timezone.localdate())
    is_own = user.role == Role.CONSULTANT and bool(user.store_id)
    consultants = []
    if is_own:
        consultant = user
    else:
        consultants = list(User.objects.visible_to(user).filter(role=Role.CONSULTANT, is_active=True)
                           .select_related("store").order_by("store__name", "display_name", "pk"))
        wanted = pick.cleaned_data["consultant"]
        consultant = next((c for c in consultants if c.pk == wanted), None) if wanted else None
        if wanted and consultant is None:
            raise Http404
    plan = None
    if is_own:
        plan, _created = services.work_plan_draft(actor=user, period=period, start=start)
    elif consultant is not None:
        plan = WorkPlan.objects.filter(consultant=consultant, period=period, start=start).first()
    form = None
    if plan is not None and is_own:
        initial = {"notes": plan.notes, "version": plan.version}
        for row in plan.items.all():
            initial[f"planned_{row.item}"], initial[f"note_{row.item}"] = row.planned, row.note
        form = PlanForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                services.work_plan_update(actor=user, plan=plan, notes=form.cleaned_data["notes"],
                                          items=form.items(), expected_version=form.cleaned_data["version"])
            except services.StaleVersion:
                form.add_error(None, _("You changed this plan in another window. Reload the page."))
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Plan saved."))
                return redirect(f"{request.path}?{urlencode({'period': period, 'start': start.isoformat()})}")
    elif request.method == "POST":
        messages.error(request, _("Only the consultant himself writes his work plan."))
    progress = selectors.work_plan_progress(plan) if plan is not None else []
    if form is not None:
        for row in progress:
            row.field, row.note_field = form[f"planned_{row.item}"], form[f"note_{row.item}"]
    base = {"period": period}
    if consultant is not None and not is_own:
        base["consultant"] = consultant.pk
    return render(request, "planning/plans.html", {
        "plan": plan, "form": form, "progress": progress, "period": period, "start": start,
        "end": period_end(period, start), "consultant": consultant, "consultants": consultants, "is_own": is_own,
        "periods": [(p, Period(p).label) for p in PERIODS], "base_query": urlencode(base),
        "consultant_query": urlencode({"consultant": consultant.pk}) if consultant and not is_own else "",
        "previous": _shift(period, start, -1), "next": _shift(period, start, 1),
    })


@login_required
def today_panel(request):
    """`/plans/today/` (htmx, from the workspace): the consultant's plan for today, drafted on first open, each item
    with what is done so far. Nothing for anyone else (the workspace of a manager shows the store)."""
    user = request.user
    if not (user.role == Role.CONSULTANT and user.store_id and user.is_active):
        return HttpResponse("")
    plan, _created = services.work_plan_draft(actor=user, period=Period.DAY, start=timezone.localdate())
    plan = selectors.work_plan_list(user=user).get(pk=plan.pk)
    return render(request, "planning/partials/_today_panel.html", {
        "plan": plan, "progress": selectors.work_plan_progress(plan)})
