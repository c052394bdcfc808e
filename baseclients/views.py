"""Base-client pages: the list (filters; search by POST, so a phone or VIN never lands in a URL), the card with its
tabs, the phone-sized scoring form, the care queue, the group admin's settings, the analyses, and the visit form's
"existing customer" hint. Reads through selectors, writes through services; another scope's client is a 404."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import ValidationError as DRFValidationError

from dealercrm.forms import add_service_errors, bad_input_page
from dealercrm.models import DealerGroup, Role, Store, User
from leads.models import Deal
from leads.phones import phone_display

from . import selectors, services
from .api.views import run_analysis
from .filters import BaseClientFilterSet, CareTaskFilterSet, search_condition
from .forms import (
    CareDoneForm,
    CarePlanFormSet,
    CareSkipForm,
    ClientEditForm,
    ContactLogForm,
    CriteriaForm,
    DealDeliverForm,
    DoNotContactForm,
    ReferrerForm,
    ReferrerSearchForm,
    ScoreForm,
    SearchForm,
    TierRuleForm,
    VehicleEditForm,
    VehicleForm,
    VersionForm,
    VisitHintForm,
    group_of,
)
from .models import (
    BaseClient,
    CarePlanItem,
    CareStatus,
    CareTask,
    ClientScore,
    Purchase,
    Recognition,
    ScoreRecord,
    Tier,
    TierChange,
    TierRule,
    Vehicle,
    VehicleUse,
)
from .services.clients import CARD_FIELDS
from .services.settings import dimension_max

SEARCH_LIMIT = 50
PAGE_SIZE = 25
TABS = ("vehicles", "care", "referrals", "deals", "history")


def _client_or_404(request, pk) -> BaseClient:
    return get_object_or_404(selectors.client_list(user=request.user), pk=pk)


def _maxes(group_id) -> tuple[int, int]:
    m = dimension_max(services.criteria_for(group_id))
    return m["loyalty"], m["power"]


def _with_phones(user, clients):
    clients = list(clients)
    for c in clients:
        c.phone_shown = selectors.client_phone_for(user=user, client=c)
    return clients


def _back(request, default: str) -> str:
    nxt = request.POST.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return nxt
    return default


@login_required
def referral_card(request: HttpRequest, pk: int) -> HttpResponse:
    """`/base-clients/<id>/card/`: the referral reward card (推荐有奖) to print into the delivery pack or the warranty
    book: the client's name, the code and what a friend does with it; A6, nothing else on the page."""
    client = _client_or_404(request, pk)
    return render(request, "baseclients/referral_card.html", {"client": client, "store": client.store})


@login_required
def client_list(request: HttpRequest) -> HttpResponse:
    """`/base-clients/`: filters in the query string; the search box posts (a phone, plate or VIN stays out of URLs,
    browser history and access logs) and shows the first matches."""
    clients = selectors.client_list(user=request.user).order_by("-created_at", "-pk")
    filterset = BaseClientFilterSet(request.GET or None, queryset=clients, user=request.user)
    search = SearchForm(request.POST if request.method == "POST" else None)
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else clients
    searched = False
    if search.is_bound and search.is_valid() and search.cleaned_data["q"].strip():
        qs = qs.filter(search_condition(search.cleaned_data["q"], user=request.user))
        searched = True
    counts = selectors._tier_counts()
    totals = qs.order_by().aggregate(**counts)
    if searched:
        rows, page = _with_phones(request.user, qs[:SEARCH_LIMIT]), None
    else:
        from django.core.paginator import Paginator

        paginator = Paginator(qs, PAGE_SIZE)
        paginator.count = totals["total"]  # the totals above counted the same rows: no second COUNT
        page = paginator.get_page(request.GET.get("page"))
        rows = _with_phones(request.user, page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "baseclients/list.html", {
        "filterset": filterset, "search": search, "rows": rows, "page": page, "searched": searched,
        "totals": totals, "tiers": Tier, "query": query.urlencode(), "search_limit": SEARCH_LIMIT,
    })


@login_required
def client_detail(request: HttpRequest, pk: int) -> HttpResponse:
    client = _client_or_404(request, pk)
    tab = request.GET.get("tab") if request.GET.get("tab") in TABS else "vehicles"
    lmax, pmax = _maxes(client.group_id)
    ctx = {"client": client, "tab": tab, "tabs": TABS, "phone_shown": selectors.client_phone_for(
        user=request.user, client=client), "phone_tel": selectors.client_phone_tel(user=request.user, client=client), "tier_label": services.tier_label(client, lmax, pmax),
        "can_work": services.can_work(request.user, client), "lmax": lmax, "pmax": pmax,
        "is_manager": services.can_work(request.user, client) and request.user.role != Role.CONSULTANT}
    if tab == "vehicles":
        ctx["vehicles"] = client.vehicles.select_related("series")
        # Orders with units still to deliver (a fleet order delivered in parts): one query, the lead for the rights.
        ctx["open_orders"] = (Deal.objects.filter(purchase__client=client, units_delivered__lt=F("quantity"))
                              .select_related("series", "lead__store").order_by("ordered_at", "pk"))
    elif tab == "care":
        tasks = CareTask.objects.filter(client=client).select_related("item", "done_by")
        ctx["pending"] = tasks.filter(status=CareStatus.PENDING).order_by("due_on", "pk")[:30]
        ctx["closed"] = tasks.exclude(status=CareStatus.PENDING).order_by("-done_at", "-pk")[:30]
        ctx["done_form"] = CareDoneForm()
        ctx["dnc"] = client.do_not_contact.all()
        ctx["dnc_form"] = DoNotContactForm()
        ctx["contact_form"] = ContactLogForm()
        ctx["contacts"] = client.contacts.select_related("by", "task__item")[:20]
        ctx["today"] = timezone.localdate()
    elif tab == "referrals":
        refs = list(client.referrals.select_related("lead__assigned_to").order_by("-created_at"))
        recognitions = {r.referral_type: r.label for r in Recognition.objects.filter(group_id=client.group_id)}
        for r in refs:
            r.recognitions = [recognitions[t] for t in [*r.types, r.derived_type] if t in recognitions]
        ctx["referrals"] = refs
    elif tab == "deals":
        ctx["purchases"] = Purchase.objects.filter(client=client).select_related(
            "deal__series", "deal__lead", "referral", "store").order_by("-at", "-pk")
    else:
        ctx["tier_changes"] = TierChange.objects.filter(client=client).select_related("by")[:50]
        ctx["score_records"] = ScoreRecord.objects.filter(client=client).select_related("by")[:20]
    return render(request, "baseclients/detail.html", ctx)


@login_required
def client_score(request: HttpRequest, pk: int) -> HttpResponse:
    client = _client_or_404(request, pk)
    if not services.can_work(request.user, client):
        raise PermissionDenied
    criteria = services.criteria_for(client.group_id)
    current = dict(ClientScore.objects.filter(client=client).values_list("criterion__code", "points"))
    form = ScoreForm(request.POST or None, criteria=criteria, current=current)
    version = VersionForm(request.POST if request.method == "POST" else None)
    if version.is_bound and not version.is_valid():
        return bad_input_page(request, version)
    if request.method == "POST" and form.is_valid():
        try:
            services.client_score(actor=request.user, client=client, scores=form.cleaned_data,
                                  expected_version=version.cleaned_data["version"] or None)
        except services.StaleVersion:
            messages.error(request, _("Someone scored this client since you opened the form. Check and save again."))
            return redirect("baseclients:score", pk=client.pk)
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
        else:
            client.refresh_from_db()
            messages.success(request, _("Scores saved. %(label)s") % {
                "label": services.tier_label(client, *_maxes(client.group_id))})
            return redirect(reverse("baseclients:detail", args=[client.pk]) + "?tab=history")
    return render(request, "baseclients/score.html", {
        "client": client, "form": form, "rows": list(form.rows(current)), "maxes": _maxes(client.group_id)})


def _workable_client_or_404(request, pk) -> BaseClient:
    client = _client_or_404(request, pk)
    if not services.can_work(request.user, client):
        raise PermissionDenied
    return client


@login_required
def client_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """`/base-clients/<id>/edit/`: the card's fields, saved only over the version the user read (a conflict is a
    form error, 409). The same service, and so the same checks, as the API's PATCH."""
    client = _workable_client_or_404(request, pk)
    shown = selectors.client_phone_for(user=request.user, client=client)
    show_phone = not shown or "*" not in shown
    initial = {"version": client.version, **{f: getattr(client, f) for f in CARD_FIELDS}, "phone": phone_display(client.phone)}
    lists = {kind: services.list_choices(group_id=client.group_id, kind=kind) for kind in ("region", "industry")}
    for kind in lists:  # a value written before the lists (or by a seed) stays choosable until it is merged
        if getattr(client, kind) and (getattr(client, kind), getattr(client, kind)) not in lists[kind]:
            lists[kind].append((getattr(client, kind), getattr(client, kind)))
    form = ClientEditForm(request.POST or None, initial=initial, show_phone=show_phone, lists=lists)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.client_update(actor=request.user, client=client,
                                   expected_version=form.cleaned_data["version"], **form.changes())
        except services.StaleVersion:
            status = 409
            form.add_error(None, _("Someone else changed this card while you were editing it. Reload to see their "
                                   "changes, then edit again."))
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Card saved."))
            return redirect("baseclients:detail", pk=client.pk)
    if request.method == "POST" and status == 200 and form.errors:
        status = 400
    return render(request, "baseclients/edit.html", {"client": client, "form": form}, status=status)


@login_required
def vehicle_add(request: HttpRequest, pk: int) -> HttpResponse:
    """`/base-clients/<id>/vehicles/add/`: a vehicle the client owns (VIN check digit, plate format: form errors)."""
    client = _workable_client_or_404(request, pk)
    form = VehicleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.vehicle_add(actor=request.user, client=client, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Vehicle added."))
            return redirect(reverse("baseclients:detail", args=[client.pk]) + "?tab=vehicles")
    status = 400 if request.method == "POST" else 200
    return render(request, "baseclients/vehicle_form.html", {"client": client, "form": form}, status=status)


@login_required
def vehicle_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """`/base-clients/vehicles/<id>/edit/`: a vehicle's use, plate, dates and mileage (the reminders follow)."""
    vehicle = get_object_or_404(Vehicle.objects.visible_to(request.user).select_related("client", "series"), pk=pk)
    client = _workable_client_or_404(request, vehicle.client_id)
    initial = {f: getattr(vehicle, f) for f in VehicleEditForm.base_fields}
    form = VehicleEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.vehicle_update(actor=request.user, vehicle=vehicle, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Vehicle saved."))
            return redirect(reverse("baseclients:detail", args=[client.pk]) + "?tab=vehicles")
    status = 400 if request.method == "POST" else 200
    return render(request, "baseclients/vehicle_edit.html", {"client": client, "vehicle": vehicle, "form": form},
                  status=status)


@login_required
@require_POST
def deal_deliver(request: HttpRequest, pk: int) -> HttpResponse:
    """More units of an order delivered, from the base-client card or the lead page: htmx gets the delivery block
    again (with the form's errors, or reloads the page when done); a plain post goes back to ``next``."""
    deal = get_object_or_404(Deal.objects.visible_to(request.user).select_related("lead__store", "series"), pk=pk)
    nxt = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        nxt = reverse("leads:detail", args=[deal.lead_id])
    form = DealDeliverForm(request.POST)
    if form.is_valid():
        try:
            vehicles = services.deal_deliver(actor=request.user, deal=deal, vehicles=form.units,
                                             delivered_at=form.cleaned_data.get("delivered_at"))
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, ngettext("%(n)d vehicle delivered.", "%(n)d vehicles delivered.",
                                               len(vehicles)) % {"n": len(vehicles)})
            if request.htmx:
                return HttpResponse(status=204, headers={"HX-Redirect": nxt})
            return redirect(nxt)
    if request.htmx:
        deal.refresh_from_db()
        return render(request, "baseclients/partials/_deal_delivery_block.html", {"deal": deal, "form": form,
                                                                                   "next_url": nxt})
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)
    return redirect(nxt)


@login_required
@require_POST
def contact_log(request: HttpRequest, pk: int) -> HttpResponse:
    """A call or visit logged from the card's care tab: it closes the matching care task, if one is due."""
    client = _workable_client_or_404(request, pk)
    form = ContactLogForm(request.POST)
    back = reverse("baseclients:detail", args=[client.pk]) + "?tab=care"
    if form.is_valid():
        try:
            contact = services.care_contact_log(actor=request.user, client=client,
                                                channel=form.cleaned_data["method"],
                                                content=form.cleaned_data["content"],
                                                outcome=form.cleaned_data["outcome"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if contact.task is not None:
                messages.success(request, _("Logged. It closed the care task “%(task)s” due %(due)s.") % {
                    "task": contact.task.item.label if contact.task.item_id else contact.task.get_kind_display(),
                    "due": contact.task.due_on.isoformat()})
            else:
                messages.success(request, _("Logged. No care task of that kind was due."))
            return redirect(back)
    messages.error(request, " ".join(str(m) for errs in form.errors.values() for m in errs))
    return redirect(back)


@login_required
@require_POST
def do_not_contact(request: HttpRequest, pk: int) -> HttpResponse:
    client = _client_or_404(request, pk)
    form = DoNotContactForm(request.POST)
    if form.is_valid():
        try:
            services.do_not_contact_set(actor=request.user, client=client, **form.cleaned_data)
            messages.success(request, _("Recorded: no more tasks of that kind for this client."))
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.error(request, _("Choose the channel and say why."))
    return redirect(reverse("baseclients:detail", args=[client.pk]) + "?tab=care")


@login_required
@require_http_methods(["GET", "POST"])
def care_queue(request: HttpRequest) -> HttpResponse:
    """The care queue: overdue first, then today, then the next 7 days; done or skipped in place, a tap-to-call
    link where the user sees the phone in full. The search box posts its text (a phone stays out of URLs; the
    other filters stay in the query string); an htmx request gets the groups only (the list updates as you type)."""
    today = timezone.localdate()
    tasks = selectors.care_list(user=request.user).filter(status=CareStatus.PENDING)
    data = request.GET.copy()
    data["q"] = request.POST.get("q", "") if request.method == "POST" else ""
    filterset = CareTaskFilterSet(data if (request.GET or data["q"]) else None, queryset=tasks, user=request.user)
    if filterset.is_bound and filterset.is_valid():
        tasks = filterset.qs
    window = tasks.filter(due_on__lte=today + timedelta(days=7)).order_by("due_on", "pk")
    groups = [
        ("overdue", _("Overdue"), list(window.filter(due_on__lt=today)[:100])),
        ("today", _("Due today"), list(window.filter(due_on=today)[:100])),
        ("week", _("Next 7 days"), list(window.filter(due_on__gt=today)[:100])),
    ]
    for _key, _title, rows in groups:
        for task in rows:
            task.phone_shown = selectors.client_phone_for(user=request.user, client=task.client)
            task.phone_tel = selectors.client_phone_tel(user=request.user, client=task.client)
    query = request.GET
    ctx = {"groups": groups, "done_form": CareDoneForm(), "filterset": filterset, "today": today,
           "show_owner": request.user.role != Role.CONSULTANT, "q": data["q"].strip(), "query": query.urlencode()}
    if request.htmx:
        return render(request, "baseclients/partials/_care_groups.html", ctx)
    return render(request, "baseclients/care_queue.html", ctx)


def _care_task_or_404(request, pk) -> CareTask:
    return get_object_or_404(CareTask.objects.visible_to(request.user).select_related("client"), pk=pk)


@login_required
@require_POST
def care_done(request: HttpRequest, pk: int) -> HttpResponse:
    task = _care_task_or_404(request, pk)
    form = CareDoneForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(m) for errors in form.errors.values() for m in errors))
    else:
        try:
            services.care_task_done(actor=request.user, task=task, **form.cleaned_data)
            messages.success(request, _("Done: %(client)s.") % {"client": task.client.name})
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect(_back(request, reverse("baseclients:care_queue")))


@login_required
@require_POST
def care_skip(request: HttpRequest, pk: int) -> HttpResponse:
    task = _care_task_or_404(request, pk)
    form = CareSkipForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the task is skipped."))
    else:
        try:
            services.care_task_skip(actor=request.user, task=task, reason=form.cleaned_data["reason"])
            messages.success(request, _("Skipped: %(client)s.") % {"client": task.client.name})
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect(_back(request, reverse("baseclients:care_queue")))


def admin_group_id(user) -> int:
    """The group whose settings ``user`` keeps: a group admin's own (a superuser: the first group); anyone else, or
    no group at all, is denied."""
    if not (user.is_superuser or user.role == Role.GROUP_ADMIN):
        raise PermissionDenied
    group_id = group_of(user) or DealerGroup.objects.values_list("pk", flat=True).first()
    if group_id is None:
        raise PermissionDenied
    return group_id


@login_required
def group_settings(request: HttpRequest) -> HttpResponse:
    """The group admin's tier rule, criteria points and care plan. Saving queues the re-tier job."""
    user = request.user
    group_id = admin_group_id(user)
    rule = services.tier_rule_for(group_id)
    criteria = services.criteria_for(group_id)
    items = CarePlanItem.objects.filter(group_id=group_id).order_by("tier", "kind", "pk")
    post = request.POST if request.method == "POST" else None
    section = request.POST.get("section")
    rule_form = TierRuleForm(post if section == "rule" else None, instance=rule, prefix="rule")
    criteria_form = CriteriaForm(post if section == "criteria" else None, criteria=criteria, prefix="crit")
    plan_forms = CarePlanFormSet(post if section == "plan" else None, queryset=items, prefix="plan")
    if post is not None:
        try:
            if section == "rule" and rule_form.is_valid():
                services.tier_rule_update(actor=user, group_id=group_id, **{
                    f: rule_form.cleaned_data[f] for f in TierRuleForm.Meta.fields})
                messages.success(request, _("Tier rule saved: every client of the group is being re-tiered."))
                return redirect("baseclients:settings")
            if section == "criteria" and criteria_form.is_valid():
                services.criteria_update(actor=user, group_id=group_id, max_points=criteria_form.cleaned_data)
                messages.success(request, _("Criteria saved: every client of the group is being re-tiered."))
                return redirect("baseclients:settings")
            if section == "plan" and plan_forms.is_valid():
                with transaction.atomic():
                    plan_forms.save()
                    # The next care run plans every client of the group again under the new plan.
                    TierRule.objects.filter(group_id=group_id).update(care_planned_until=None)
                messages.success(request, _("Care plan saved: the care job plans the new tasks."))
                return redirect("baseclients:settings")
        except ValidationError as exc:
            target = rule_form if section == "rule" else criteria_form
            for field, errs in exc.message_dict.items():
                target.add_error(field if field in target.fields else None, errs)
    return render(request, "baseclients/settings.html", {
        "rule_form": rule_form, "criteria_form": criteria_form, "plan_forms": plan_forms,
        "criteria": criteria, "tiers": Tier})


def _cut_offs(user, store_id) -> dict:
    """The group's concentration cut-offs, for the page's note."""
    store = Store.objects.visible_to(user).filter(pk=store_id).first() if (store_id or "").isdigit() else None
    return selectors.concentration_cut_offs(user=user, store=store)


@login_required
def analyses(request: HttpRequest) -> HttpResponse:
    """Region and industry concentration, monthly effect, referral structure, tier movement, care completion and
    一拓一 progress, for the caller's scope, filterable by store, year and consultant."""
    params = request.GET
    try:
        data = {kind: run_analysis(request.user, kind, params) for kind in (
            "region", "industry", "industry-segment", "monthly", "referrals", "tier-movement", "care-completion",
            "one-brings-one")}
    except DRFValidationError as exc:
        messages.error(request, " ".join(str(m) for msgs in exc.detail.values() for m in msgs))
        data = {kind: run_analysis(request.user, kind, {}) for kind in (
            "region", "industry", "industry-segment", "monthly", "referrals", "tier-movement", "care-completion",
            "one-brings-one")}
    data["industry_segment"] = data["industry-segment"]  # a name the template can reach
    today = timezone.localdate()
    year = data["region"]["year"]
    tier_names = {t.value: str(t.label) for t in Tier}
    charts = {
        "labels": {"this": str(year), "last": str(year - 1),
                   **tier_names, "referrals": _("Referrals"), "repeats": _("Repeat purchases")},
        "region": [{"key": r["key"] or _("(none)"), "this": r["this_year"], "last": r["last_year"]}
                   for r in data["region"]["rows"][:12]],
        "industry": [{"key": r["key"] or _("(none)"), "this": r["this_year"], "last": r["last_year"]}
                     for r in data["industry"]["rows"][:12]],
        "monthly": data["monthly"]["rows"],
    }
    stores = Store.objects.visible_to(request.user)
    consultants = User.objects.visible_to(request.user).filter(role=Role.CONSULTANT).order_by("username")
    return render(request, "baseclients/analyses.html", {
        "data": data, "charts": charts, "stores": stores, "consultants": consultants, "year": year,
        "years": list(range(today.year, today.year - 4, -1)), "tiers": [Tier.PREMIUM, Tier.POTENTIAL, Tier.GENERAL],
        "sel_store": params.get("store", ""), "sel_consultant": params.get("consultant", ""),
        "phase_label": dict(Tier.choices).get(data["one-brings-one"]["phase"], _("everyone")),
        "obo_since": data["one-brings-one"]["since"], "obo_until": data["one-brings-one"]["until"],
        "cut_offs": _cut_offs(request.user, params.get("store")),
        "tier_movement": data["tier-movement"]["rows"], "care_completion": data["care-completion"]["rows"],
        "one_brings_one": [{**r, "label": dict(Tier.choices)[r["tier"]]} for r in data["one-brings-one"]["rows"]],
    })


@login_required
@require_POST
def visit_hint(request: HttpRequest) -> HttpResponse:
    """The visit form's hint: is this phone a base client of the group? POST, so the phone stays out of URLs."""
    form = VisitHintForm(request.POST, user=request.user)
    if not form.is_valid():
        return bad_input_page(request, form)
    store = request.user.store if request.user.store_id else form.cleaned_data["store"]
    client = services.returning_buyer(store=store, phone=form.cleaned_data["phone"]) if store else None
    visible = bool(client and BaseClient.objects.visible_to(request.user).filter(pk=client.pk).exists())
    return render(request, "baseclients/partials/_visit_hint_result.html", {"client": client, "visible": visible})


@login_required
@require_POST
def referrer_search(request: HttpRequest) -> HttpResponse:
    """The lead forms' referrer search (htmx): base clients of the user's group by name or phone, as radio buttons
    named ``referrer``. POST, so a typed phone stays out of URLs; phones shown masked unless the user may see them."""
    form = ReferrerSearchForm(request.POST, user=request.user)
    if not form.is_valid() and "store" in form.errors:
        return bad_input_page(request, form)
    q = form.cleaned_data["referrer_q"] if form.is_valid() else ""
    group_id = group_of(request.user)
    if group_id is None and form.cleaned_data.get("store"):
        group_id = form.cleaned_data["store"].group_id
    rows = _with_phones(request.user, selectors.referrer_candidates(user=request.user, group_id=group_id, q=q))
    return render(request, "baseclients/partials/_referrer_results.html", {"rows": rows, "q": q})


@login_required
@require_POST
def lead_referrer(request: HttpRequest, lead_pk: int) -> HttpResponse:
    """The lead page's "referred by" form: names the lead's referrer (the lead's source becomes referral)."""
    from leads.selectors import lead_list

    lead = get_object_or_404(lead_list(user=request.user), pk=lead_pk)
    form = ReferrerForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            services.referral_set(actor=request.user, lead=lead, referrer_client=form.cleaned_data["referrer"],
                                  types=form.cleaned_data["referral_types"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc) or _("You may not change this lead."))
        else:
            messages.success(request, _("Referrer saved: the lead's source is now referral."))
            return redirect("leads:detail", pk=lead.pk)
    messages.error(request, " ".join(str(m) for errs in form.errors.values() for m in errs))
    return redirect("leads:detail", pk=lead.pk)
