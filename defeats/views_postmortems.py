"""The post-mortem pages (复盘): the lessons library with its filters, one post-mortem (the consultant's phone-first
form while it is his to write, the manager's approve / send back while it waits), and the lead page's "write a
post-mortem" button. Reads through ``defeats.postmortems.post_mortem_list`` (scoped), writes through its services;
a post-mortem the user may not read is a 404."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from dealercrm.forms import add_service_errors
from dealercrm.models import Role, VehicleBrand, VehicleSeries
from leads import selectors as lead_selectors
from leads.models import Grade
from leads.services import StaleVersion, manages_store

from . import postmortems as pm_services
from .filters import PostMortemFilterSet
from .forms import SeriesChoiceField, competitor_series, own_series
from .models import PostMortem, PostMortemStatus, Reason

PER_PAGE = 20


class PostMortemForm(forms.Form):
    """The consultant's form, phone-first: the grade where it turned as big toggles, the causes as checkboxes."""

    turned_at_grade = forms.ChoiceField(label=gettext_lazy("Grade where it turned"), required=False,
                                        choices=[(g, g) for g in ("A", "B", "C", "D", "E")],
                                        widget=forms.RadioSelect)
    reasons = forms.ModelMultipleChoiceField(label=gettext_lazy("Causes"), queryset=Reason.objects.none(),
                                             required=False, widget=forms.CheckboxSelectMultiple)
    what_happened = forms.CharField(label=gettext_lazy("What happened"), required=False, max_length=4000,
                                    widget=forms.Textarea(attrs={"rows": 4}))
    lessons = forms.CharField(label=gettext_lazy("What to do differently"), required=False, max_length=4000,
                              widget=forms.Textarea(attrs={"rows": 4}))
    our_series = SeriesChoiceField(label=gettext_lazy("Our series"), queryset=VehicleSeries.objects.none(),
                                   required=False)
    competitor_series = SeriesChoiceField(label=gettext_lazy("Competitor series"),
                                          queryset=VehicleSeries.objects.none(), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, group_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reasons"].queryset = (Reason.objects.filter(group_id=group_id, parent__isnull=False,
                                                                 is_active=True)
                                           .select_related("parent").order_by("parent__sort_order", "sort_order"))
        self.fields["our_series"].queryset = own_series()
        self.fields["competitor_series"].queryset = competitor_series()


class ReviewForm(forms.Form):
    comment = forms.CharField(label=gettext_lazy("Comment"), required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 2}))
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


def _post_mortem_or_404(request, pk: int):
    return get_object_or_404(pm_services.post_mortem_list(user=request.user).select_related("lead"), pk=pk)


@login_required
def library(request):
    """`/defeats/post-mortems/`: the lessons library (approved post-mortems, with the filters of the API) and, above
    it, the user's own to write (a consultant) or those waiting for review (a manager)."""
    user = request.user
    base = pm_services.post_mortem_list(user=user)
    params = request.GET.copy()
    if not params.get("status"):
        params["status"] = PostMortemStatus.APPROVED
    filterset = PostMortemFilterSet(params, queryset=base, request=request)
    group_id = user.dealer_group_id or (user.store.group_id if user.store_id else None)
    form = filterset.form
    reasons = Reason.objects.filter(group_id=group_id).select_related("parent").order_by("sort_order")
    form.fields["reason"] = forms.TypedChoiceField(
        label=_("Cause"), required=False, coerce=int, empty_value=None,
        choices=[("", _("— any cause —"))] + [(r.pk, f"{r.parent} › {r}" if r.parent_id else str(r))
                                              for r in reasons])
    form.fields["competitor"] = forms.TypedChoiceField(
        label=_("Competitor brand"), required=False, coerce=int, empty_value=None,
        choices=[("", _("— any brand —"))] + [(b.pk, b.label) for b in
                                              VehicleBrand.objects.filter(is_own=False).order_by("name_en")])
    page = Paginator(filterset.qs if filterset.is_valid() else base.none(), PER_PAGE).get_page(
        request.GET.get("page"))
    mine, to_review = [], []
    if user.role == Role.CONSULTANT:
        mine = list(base.filter(consultant=user).exclude(status=PostMortemStatus.APPROVED).select_related("lead"))
    else:  # the scoped list: a manager's store, a group admin's group
        to_review = list(base.filter(status=PostMortemStatus.SUBMITTED).select_related("lead"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    return render(request, "defeats/postmortems.html", {
        "filter": filterset, "page": page, "mine": mine, "to_review": to_review,
        "querystring": querystring.urlencode()})


@login_required
def detail(request, pk: int):
    """`/defeats/post-mortems/<id>/`: the post-mortem; its consultant writes and submits it here while it is a draft
    or sent back, the store's manager approves it or sends it back while it waits."""
    pm = _post_mortem_or_404(request, pk)
    user = request.user
    can_write = user.pk == pm.consultant_id and pm.editable
    can_review = pm.status == PostMortemStatus.SUBMITTED and manages_store(user, pm.store)
    form = review = None
    if can_write:
        initial = {"turned_at_grade": pm.turned_at_grade, "reasons": list(pm.reasons.all()),
                   "what_happened": pm.what_happened, "lessons": pm.lessons, "our_series": pm.our_series,
                   "competitor_series": pm.competitor_series, "version": pm.version}
        form = PostMortemForm(request.POST or None, initial=initial, group_id=pm.store.group_id)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                pm = pm_services.post_mortem_save(
                    actor=user, post_mortem=pm, turned_at_grade=d["turned_at_grade"], reasons=d["reasons"],
                    what_happened=d["what_happened"], lessons=d["lessons"], our_series=d["our_series"],
                    competitor_series=d["competitor_series"], expected_version=d["version"])
                if "submit" in request.POST:
                    pm = pm_services.post_mortem_submit(actor=user, post_mortem=pm)
                    messages.success(request, _("Submitted: your manager reviews it next."))
                else:
                    messages.success(request, _("Saved."))
                return redirect("defeats:postmortem", pk=pm.pk)
            except StaleVersion:
                form.add_error(None, _("Someone changed this post-mortem since you opened it. Reload the page."))
            except ValidationError as exc:
                # The save may have gone through before the submission was refused: the form keeps the new version.
                data = request.POST.copy()
                data["version"] = PostMortem.objects.values_list("version", flat=True).get(pk=pm.pk)
                form = PostMortemForm(data, group_id=pm.store.group_id)
                form.is_valid()
                add_service_errors(form, exc)
    elif can_review:
        review = ReviewForm(request.POST or None, initial={"version": pm.version})
        if request.method == "POST" and review.is_valid():
            d = review.cleaned_data
            try:
                if "return" in request.POST:
                    pm_services.post_mortem_return(actor=user, post_mortem=pm, comment=d["comment"],
                                                   expected_version=d["version"])
                    messages.success(request, _("Sent back to the consultant."))
                else:
                    pm_services.post_mortem_approve(actor=user, post_mortem=pm, comment=d["comment"],
                                                    expected_version=d["version"])
                    messages.success(request, _("Approved: the lesson is shared with the team."))
                return redirect("defeats:postmortem", pk=pm.pk)
            except StaleVersion:
                review.add_error(None, _("Someone changed this post-mortem since you opened it. Reload the page."))
            except ValidationError as exc:
                add_service_errors(review, exc)
    elif request.method == "POST":
        messages.error(request, _("This post-mortem is not yours to change now."))
        return redirect("defeats:postmortem", pk=pm.pk)
    return render(request, "defeats/postmortem.html", {
        "pm": pm, "form": form, "review": review, "can_write": can_write, "can_review": can_review,
        "lead_visible": lead_selectors.lead_list(user=user).filter(pk=pm.lead_id).exists(),
        "grades": Grade})


@login_required
@require_POST
def open_for_lead(request, pk: int):
    """POST `/defeats/leads/<id>/post-mortem/`: open (or find) the post-mortem of a won or lost lead, then show it."""
    lead = get_object_or_404(lead_selectors.lead_list(user=request.user), pk=pk)
    try:
        pm = pm_services.post_mortem_open(actor=request.user, lead=lead)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("leads:detail", pk=lead.pk)
    return redirect("defeats:postmortem", pk=pm.pk)
