"""The defeat pages: the application on a lead (phone-first), the manager's verification queue (with evidence and bulk
verdicts), the competitor-customer pool, the reason/talk-track/settings pages (group admin; talk tracks: managers
too) and the analysis page. Reads through defeats.selectors, writes through defeats.services; a record outside the
user's scope is a 404, an action they may not take a 403."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from dealercrm.forms import add_service_errors, bad_input_page
from dealercrm.models import DealerGroup, Role, Store, User
from leads import selectors as lead_selectors
from leads.models import Lead, Status, phone_readable_by
from leads.services import StaleVersion, manages_store
from leads.views.manager import _pick_store, manager_required

from . import selectors, services
from .forms import (
    PoolHandOutForm,
    ApplicationForm,
    BulkVerdictForm,
    DecideForm,
    NurtureForm,
    PoolFilterForm,
    PoolOwnerForm,
    ReasonForm,
    SettingsForm,
    TalkTrackForm,
    TalkTrackPickForm,
    TargetForm,
    VisitHintForm,
    competitor_series,
)
from .postmortems import lessons_by_reason
from .models import ApplicationStatus, PoolEntry, PoolOwner, Reason, TalkTrack

QUEUE_PER_PAGE = 20
POOL_PER_PAGE = 30


def _lead_or_404(request, pk: int) -> Lead:
    return get_object_or_404(lead_selectors.lead_list(user=request.user).select_related("store", "series__brand"),
                             pk=pk)


def _group_for(user: User) -> DealerGroup | None:
    if user.dealer_group_id:
        return user.dealer_group
    if user.store_id:
        return user.store.group
    return DealerGroup.objects.order_by("pk").first() if user.is_superuser else None


def _admin_required(view):
    @login_required
    def wrapped(request, *args, **kwargs):
        user = request.user
        if not (user.is_superuser or user.role == Role.GROUP_ADMIN):
            raise PermissionDenied(_("Only group admins can open this page."))
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


# --- apply --------------------------------------------------------------------------------------------------------


@login_required
def apply(request, pk: int):
    """`/defeats/leads/<id>/apply/`: file a defeat application on the lead (its consultant or the store's manager).
    Phone-first: one column, big toggles; the talk tracks of the ticked reasons show under them."""
    lead = _lead_or_404(request, pk)
    try:
        from leads.services._common import require_can_work

        require_can_work(request.user, lead)
    except PermissionDenied:
        raise
    reasons = services.reasons_for(lead.store.group_id)
    if request.method == "POST":
        form = ApplicationForm(request.POST, reasons=reasons)
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.application_file(actor=request.user, lead=lead, kind=d["kind"], reasons=d["reasons"],
                                          competitor_series=d["competitor_series"], price_gap=d["price_gap"],
                                          price_cause=d["price_cause"], note=d["note"], expected_version=d.get("version"))
            except StaleVersion:
                form.add_error(None, _("Someone else changed this lead while you were filling this in. "
                                       "Check it and send again."))
                lead.refresh_from_db()
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Application filed: the lead waits for the manager's verdict."))
                return redirect("leads:detail", pk=lead.pk)
    else:
        form = ApplicationForm(initial={"version": lead.version,
                                        "kind": request.GET.get("kind") or "quasi"}, reasons=reasons)
    chosen = [r.pk for r in reasons if r.code in set(form.data.getlist("reasons"))] if form.is_bound else []
    tracks = selectors.talk_tracks_for(group_id=lead.store.group_id, reason_ids=chosen, series_id=lead.series_id)
    return render(request, "defeats/apply.html", {
        "lead": lead, "form": form, "tracks": tracks, "frozen": not services.can_file_defeat(lead),
        "phone": lead_selectors.lead_phone_for(user=request.user, lead=lead),
    })


@login_required
def talk_tracks_preview(request, pk: int):
    """htmx: the talk tracks of the reasons ticked on the apply form (GET ?reasons=code&reasons=code)."""
    lead = _lead_or_404(request, pk)
    codes = set(request.GET.getlist("reasons"))
    ids = [r.pk for r in services.reasons_for(lead.store.group_id) if r.code in codes]
    tracks = selectors.talk_tracks_for(group_id=lead.store.group_id, reason_ids=ids, series_id=lead.series_id)
    return render(request, "defeats/partials/_talk_tracks.html", {"tracks": tracks, "lead": lead})


# --- verification queue -----------------------------------------------------------------------------------------


def _queue_url(store) -> str:
    return f"{reverse('defeats:queue')}?{urlencode({'store': store.pk})}"


@manager_required
def queue(request):
    """`/defeats/verify/`: the store's pending applications, oldest first, each with the lead's evidence (grade
    history, last follow-ups, days since the last contact) and the verdict forms; tick several for a bulk verdict.
    A group admin picks the store."""
    store, stores = _pick_store(request, request.GET.get("store"))
    context = {"store": store, "stores": stores}
    if store is None:
        return render(request, "defeats/queue.html", context)
    page = Paginator(selectors.verification_queue(user=request.user, store=store), QUEUE_PER_PAGE).get_page(
        request.GET.get("page"))
    apps = list(page)
    evidence = selectors.evidence_for(apps)
    now = timezone.now()
    settings = services.settings_for(store.group_id)
    assignees = list(selectors.store_consultants(store))
    for app in apps:
        app.evidence = evidence.get(app.lead_id)
        app.waiting_days = (now - app.applied_at).days
        app.overdue = app.waiting_days >= settings.pending_alert_days
        last = app.lead.last_contact_at
        app.silent_days = (now - last).days if last else None
        app.phone_shown = lead_selectors.lead_phone_for(user=request.user, lead=app.lead)
    tracks = {}
    reason_ids = {r.pk for a in apps for r in a.reasons.all()}
    for t in selectors.talk_tracks_for(group_id=store.group_id, reason_ids=reason_ids):
        tracks[t.reason_id] = t
    for app in apps:
        app.tracks = [tracks[r.pk] for r in app.reasons.all() if r.pk in tracks]
    context.update({"page": page, "apps": apps, "count": page.paginator.count, "assignees": assignees,
                    "settings": settings, "grades": "ABCDE"})
    return render(request, "defeats/queue.html", context)


@manager_required
@require_POST
def decide(request, pk: int):
    """One application's verdict (confirm / reject with grade and consultant)."""
    app = get_object_or_404(selectors.application_list(user=request.user), pk=pk)
    verdict = request.POST.get("verdict", "")
    form = DecideForm(request.POST, assignees=selectors.store_consultants(app.store))
    if not form.is_valid():
        return bad_input_page(request, form)
    try:
        services.application_decide(actor=request.user, application=app, verdict=verdict,
                                    comment=request.POST.get("comment", ""), assign_to=form.cleaned_data["assign_to"],
                                    grade=request.POST.get("grade") or None,
                                    expected_version=form.cleaned_data["version"])
    except StaleVersion:
        messages.error(request, _("This application changed while you were deciding; look at it again."))
    except services.AlreadyDecided as exc:
        messages.error(request, " ".join(exc.messages))
    except ValidationError as exc:
        for msg in exc.messages:
            messages.error(request, f"{app.lead.name} (#{app.lead_id}): {msg}")
    else:
        if verdict == "confirm":
            messages.success(request, _("%(name)s: defeat confirmed; the customer is in the competitor pool.")
                             % {"name": app.lead.name})
        else:
            messages.success(request, _("%(name)s: false defeat; the lead is active again with a follow-up due.")
                             % {"name": app.lead.name})
    return redirect(_queue_url(app.store))


@manager_required
@require_POST
def bulk_decide(request):
    """The ticked applications, one verdict and one comment, all or nothing."""
    raw = request.POST.getlist("ids")
    # isdecimal, not isdigit: int() refuses "²". Anything that is not an id is a 404, as an id one may not see is.
    if not all(i.isdecimal() and int(i) < 2**31 for i in raw):
        raise Http404
    ids = [int(i) for i in raw]
    visible = list(selectors.application_list(user=request.user).filter(pk__in=ids).values_list("pk", "store"))
    store_id = visible[0][1] if visible else request.POST.get("store")
    form = BulkVerdictForm(request.POST, ids=[pk for pk, _s in visible])
    back = f"{reverse('defeats:queue')}?{urlencode({'store': store_id})}" if store_id else reverse("defeats:queue")
    if len(visible) != len(set(ids)):
        raise Http404
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    try:
        done = services.applications_bulk_decide(actor=request.user, ids=form.cleaned_data["ids"],
                                                 verdict=form.cleaned_data["verdict"],
                                                 comment=form.cleaned_data["comment"])
    except ValidationError as exc:
        for msg in exc.messages:
            messages.error(request, msg)
    else:
        messages.success(request, ngettext("%(count)s application decided.", "%(count)s applications decided.",
                                           len(done)) % {"count": len(done)})
    return redirect(back)


# --- the competitor pool ------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def pool(request):
    """`/defeats/pool/`: confirmed defeats of the store by competitor brand and series, age of their purchase and
    nurture cadence; log a nurture contact, or a win-back when the customer comes back. The search box posts its
    text (a phone stays out of URLs and logs; the other filters stay in the query string) and shows the first
    matches; an htmx request gets the results partial only (the list updates as you type)."""
    user = request.user
    if not (user.is_superuser or user.role in (Role.MANAGER, Role.GROUP_ADMIN, Role.CONSULTANT)):
        raise PermissionDenied
    store, stores = _pick_store(request, request.GET.get("store"))
    data = request.GET.copy()
    data["q"] = request.POST.get("q", "") if request.method == "POST" else ""
    filters = PoolFilterForm(data)
    if not filters.is_valid():
        return bad_input_page(request, filters)
    brand, series = filters.cleaned_data["brand"], filters.cleaned_data["series"]
    q = filters.cleaned_data["q"].strip()
    due = request.GET.get("due") == "1"
    won = request.GET.get("status") == "won_back"
    nurture = request.GET.get("list") == "nurture"
    query = request.GET.copy()
    query.pop("page", None)
    context = {"store": store, "stores": stores, "due": due, "won": won, "nurture": nurture, "q": q,
               "query": query.urlencode()}
    if store is None:
        return render(request, "defeats/pool.html", context)
    qs = selectors.pool_list(user=user, store=store, brand_id=brand, series_id=series, due_only=due,
                             status="won_back" if won else "in_pool", list_="nurture" if nurture else "competitor",
                             q=q)
    # A search shows its first page of matches only: a pager's links would carry no search text.
    page = Paginator(qs, POOL_PER_PAGE).get_page(1 if q else request.GET.get("page"))
    today = timezone.localdate()
    now = timezone.now()
    assignees = list(selectors.store_consultants(store))
    hands_out = services.can_redistribute(user, store)
    for entry in page:
        months = ((today.year - entry.purchased_on.year) * 12 + today.month - entry.purchased_on.month
                  if entry.purchased_on else None)
        entry.age_label = _age(months)
        entry.is_due = bool(entry.next_contact_at and entry.next_contact_at <= now) or bool(
            entry.replacement_due_on and entry.replacement_due_on <= today)
        entry.replacement_due = bool(entry.replacement_due_on and entry.replacement_due_on <= today)
        entry.phone_shown = lead_selectors.lead_phone_for(user=user, lead=entry.lead) if (
            manages_store(user, entry.store) or entry.owner_id == user.pk) else ""
        entry.can_work = manages_store(user, entry.store) or entry.owner_id == user.pk
        entry.form = NurtureForm(assignees=assignees, auto_id=f"id_pool{entry.pk}_%s")
        entry.can_hand_out = entry.status == "in_pool" and (manages_store(user, entry.store) or (
            hands_out and entry.owner_id == user.pk))
    brands = {s.brand for s in competitor_series()}
    context.update({"page": page, "count": page.paginator.count, "brands": sorted(brands, key=lambda b: b.label),
                    "series_choices": competitor_series(), "brand": str(brand or ""), "series": str(series or ""),
                    "owner": services.pool_owner_for(store), "hands_out": hands_out, "assignees": assignees,
                    "manages": manages_store(user, store)})
    if request.htmx:
        return render(request, "defeats/partials/_pool_results.html", context)
    return render(request, "defeats/pool.html", context)


@login_required
@require_POST
def visit_hint(request):
    """The visit forms' hint (htmx): is this phone a lost customer of the store, in the competitor pool or on the
    nurture list? Logging the visit will win them back. POST, so the phone stays out of URLs. Only the whole
    number matches; the customer is named only to whoever sees the lead's phone in full (leads' phone_readable_by),
    anyone else learns no more than that such a customer exists (the visit would tell them as much)."""
    form = VisitHintForm(request.POST, user=request.user)
    if not form.is_valid():
        return bad_input_page(request, form)
    user = request.user
    store = user.store if user.store_id else form.cleaned_data["store"]
    entry = selectors.pool_entry_for_phone(store=store, phone=form.cleaned_data["phone"]) if store else None
    named = bool(entry and Lead.objects.visible_to(user).filter(phone_readable_by(user), pk=entry.lead_id).exists())
    return render(request, "defeats/partials/_visit_hint_result.html", {"entry": entry, "named": named})


def _age(months: int | None) -> str:
    if months is None:
        return ""
    if months < 1:
        return _("this month")
    if months < 12:
        return ngettext("%(n)s month", "%(n)s months", months) % {"n": months}
    years, rest = divmod(months, 12)
    if rest == 0:
        return ngettext("%(n)s year", "%(n)s years", years) % {"n": years}
    return _("%(y)s y %(m)s m") % {"y": years, "m": rest}


@login_required
@require_POST
def pool_contact(request, pk: int):
    entry = get_object_or_404(PoolEntry.objects.visible_to(request.user).select_related("store", "lead"), pk=pk)
    assignees = list(selectors.store_consultants(entry.store))
    form = NurtureForm(request.POST, assignees=assignees)
    back = f"{reverse('defeats:pool')}?{urlencode({'store': entry.store_id})}"
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.nurture_contact_log(actor=request.user, entry=entry, method=d["method"], content=d["content"],
                                         came_back=d["came_back"], grade=d["grade"] or None,
                                         assign_to=d["assign_to"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if d["came_back"]:
                messages.success(request, _("%(name)s is back: an active lead again, due today.")
                                 % {"name": entry.lead.name})
                return redirect("leads:detail", pk=entry.lead_id)
            messages.success(request, _("Contact logged; the next one is due in the group's interval."))
            return redirect(back)
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, f"{entry.lead.name}: {error}")
    return redirect(back)


@login_required
@require_POST
def pool_hand_out(request):
    """The pool page's hand-out bar: the pool owner (the fleet sales manager) or the store's manager hands the ticked
    customers to a consultant of the store. A customer the user does not see is a 404."""
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
    entries = list(PoolEntry.objects.visible_to(request.user).select_related("store").filter(pk__in=ids))
    if not ids or len(entries) != len(set(ids)):
        raise Http404
    store = entries[0].store
    form = PoolHandOutForm(request.POST, entries=entries, assignees=selectors.store_consultants(store))
    back = f"{reverse('defeats:pool')}?{urlencode({'store': store.pk})}"
    if not form.is_valid():
        return bad_input_page(request, form)
    try:
        moved = services.pool_entries_reassign(actor=request.user, entries=entries,
                                               to_user=form.cleaned_data["to_user"])
    except ValidationError as exc:
        for msg in exc.messages:
            messages.error(request, msg)
    else:
        messages.success(request, ngettext("%(n)s customer handed to %(user)s.", "%(n)s customers handed to %(user)s.",
                                           moved) % {"n": moved, "user": form.cleaned_data["to_user"]})
    return redirect(back)


@login_required
@require_POST
def pool_owner(request):
    """The pool page's owner form (the store's manager, the group's admin): who owns the store's competitor pool. The
    open customers the previous owner held move to the new one."""
    form = PoolOwnerForm(request.POST, stores=Store.objects.visible_to(request.user))
    if not form.is_valid():
        return bad_input_page(request, form)
    store, user = form.cleaned_data["store"], form.cleaned_data["user"]
    try:
        moved = services.pool_owner_set(actor=request.user, store=store, user=user)
    except ValidationError as exc:
        for msg in exc.messages:
            messages.error(request, msg)
    else:
        messages.success(request, ngettext(
            "Pool owner of %(store)s saved; %(n)s customer moved to them.",
            "Pool owner of %(store)s saved; %(n)s customers moved to them.", moved) % {"store": store, "n": moved})
    return redirect(f"{reverse('defeats:pool')}?{urlencode({'store': store.pk})}")


# --- settings: reasons, talk tracks, numbers ---------------------------------------------------------------------


@_admin_required
def settings_page(request):
    """`/defeats/settings/`: the group's numbers, each store's pool owner and the reason taxonomy (group admin)."""
    group = _group_for(request.user)
    if group is None:
        raise Http404
    reasons = services.reasons_for(group.pk)
    obj = services.settings_for(group.pk)
    form = SettingsForm(instance=obj)
    reason_form = ReasonForm(group_id=group.pk)
    if request.method == "POST" and request.POST.get("form") == "settings":
        form = SettingsForm(request.POST, instance=obj)  # validates in memory; the service writes
        if form.is_valid():
            try:
                services.settings_update(actor=request.user, group=group, **{
                    f: form.cleaned_data[f] for f in SettingsForm.Meta.fields})
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Settings saved."))
                return redirect("defeats:settings")
    elif request.method == "POST" and request.POST.get("form") == "owner":
        owner_form = PoolOwnerForm(request.POST, stores=Store.objects.visible_to(request.user).filter(group=group))
        if not owner_form.is_valid():
            return bad_input_page(request, owner_form)
        store, user = owner_form.cleaned_data["store"], owner_form.cleaned_data["user"]
        try:
            services.pool_owner_set(actor=request.user, store=store, user=user)
        except ValidationError as exc:
            for msg in exc.messages:
                messages.error(request, msg)
        else:
            messages.success(request, _("Pool owner of %(store)s saved.") % {"store": store})
        return redirect("defeats:settings")
    elif request.method == "POST" and request.POST.get("form") == "reason":
        reason_form = ReasonForm(request.POST, group_id=group.pk)
        if reason_form.is_valid():
            d = reason_form.cleaned_data
            try:
                services.reason_save(actor=request.user, group=group, **d)
            except ValidationError as exc:
                add_service_errors(reason_form, exc)
            else:
                messages.success(request, _("Reason added."))
                return redirect("defeats:settings")
    stores = list(Store.objects.visible_to(request.user).filter(group=group).order_by("name"))
    owners = {o.store_id: o.user_id for o in PoolOwner.objects.filter(store__in=stores)}
    for store in stores:
        store.owner_id = owners.get(store.pk)
        store.members = list(selectors.store_consultants(store))
        store.current_owner = services.pool_owner_for(store)
    used = set(Reason.objects.filter(group=group, applications__isnull=False).values_list("pk", flat=True))
    tree = [(p, [c for c in reasons if c.parent_id == p.pk]) for p in reasons if p.parent_id is None]
    return render(request, "defeats/settings.html", {
        "group": group, "form": form, "reason_form": reason_form, "tree": tree, "used": used, "stores": stores})


@_admin_required
def reason_edit(request, pk: int):
    group = _group_for(request.user)
    reason = get_object_or_404(Reason.objects.visible_to(request.user), pk=pk)
    initial = {f: getattr(reason, f) for f in ("code", "name", "name_en", "requires_note", "requires_competitor",
                                                "is_active", "sort_order")}
    initial["parent"] = reason.parent_id
    form = ReasonForm(request.POST or None, initial=initial, group_id=reason.group_id)
    form.fields["code"].disabled = True
    if request.method == "POST" and form.is_valid():
        d = dict(form.cleaned_data)
        d.pop("code", None)
        try:
            services.reason_save(actor=request.user, group=group or reason.group, reason=reason, **d)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Reason saved."))
            return redirect("defeats:settings")
    return render(request, "defeats/reason_edit.html", {"reason": reason, "form": form})


@manager_required
def talk_tracks(request):
    """`/defeats/talk-tracks/`: the three-step talk per reason (and series); managers and group admins write them."""
    group = _group_for(request.user)
    if group is None:
        raise Http404
    services.reasons_for(group.pk)
    track = None
    if request.GET.get("edit"):
        pick = TalkTrackPickForm(request.GET, tracks=TalkTrack.objects.visible_to(request.user).filter(group=group))
        if not pick.is_valid():  # not a number, or not a track the user may edit: as any record they cannot see
            raise Http404
        track = pick.cleaned_data["edit"]
    form = TalkTrackForm(request.POST or None, instance=track, group_id=group.pk)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            services.talk_track_save(actor=request.user, reason=d["reason"], series=d["series"], fact=d["fact"],
                                     problem=d["problem"], viewpoint=d["viewpoint"], track=track)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Talk track saved."))
            return redirect("defeats:talk_tracks")
    tracks = list(TalkTrack.objects.visible_to(request.user).filter(group=group)
                  .select_related("reason__parent", "series__brand", "updated_by")
                  .order_by("reason__sort_order", "series_id"))
    # The approved post-mortems of each track's reason: "lessons from lost customers with this reason".
    lessons = lessons_by_reason(user=request.user, reason_ids={t.reason_id for t in tracks})
    for t in tracks:
        t.lessons = lessons.get(t.reason_id)
    return render(request, "defeats/talk_tracks.html", {"form": form, "tracks": tracks, "editing": track})


# --- analysis -----------------------------------------------------------------------------------------------------


@manager_required
def analysis(request):
    """`/defeats/analysis/`: defeat rate and false-defeat rate this year against last, the reasons Pareto, the
    brand × series table per our series, the monthly trend and the figures per consultant."""
    store_param = request.GET.get("store")
    stores_all = list(Store.objects.visible_to(request.user).order_by("name"))
    store = None
    if store_param:
        store = next((s for s in stores_all if str(s.pk) == store_param), None)
        if store is None:
            raise Http404
    stores = [store] if store else None
    today = timezone.localdate()
    try:
        year = int(request.GET.get("year") or today.year)
    except ValueError:
        raise Http404 from None
    if not 2000 <= year <= today.year:
        raise Http404
    period = selectors.Period(date(year, 1, 1), date(year, 12, 31) if year < today.year else today)
    prev = period.year_before()
    user = request.user
    this = selectors.defeat_metrics(user=user, period=period, stores=stores, with_reasons=False)
    last = selectors.defeat_metrics(user=user, period=prev, stores=stores, with_reasons=False)
    reasons = selectors.defeat_metrics(user=user, period=period, stores=stores, group_by="reason")["results"]
    categories = selectors.defeat_metrics(user=user, period=period, stores=stores,
                                          group_by="reason_category")["results"]
    months = selectors.defeat_metrics(user=user, period=period, stores=stores, group_by="month")["results"]
    months_prev = selectors.defeat_metrics(user=user, period=prev, stores=stores, group_by="month")["results"]
    consultants = selectors.defeat_metrics(user=user, period=period, stores=stores, group_by="consultant")["results"]
    brands = selectors.defeat_metrics(user=user, period=period, stores=stores, group_by="competitor_brand")["results"]
    table = selectors.competitor_table(user=user, period=period, stores=stores)
    progress = selectors.target_progress(user=user, year=year, stores=stores or stores_all, today=today)
    by_pk = {s.pk: s for s in stores_all}
    for row in progress["rows"]:
        row["can_set"] = manages_store(user, by_pk[row["store"]])
    lists = selectors.pool_figures(user=user, period=period, stores=stores)
    tracks = {t.reason_id: t for t in selectors.talk_tracks_for(
        group_id=_group_for(user).pk if _group_for(user) else 0, reason_ids=[r["key"] for r in reasons if r["key"]])}
    for r in reasons:
        r["track"] = tracks.get(r["key"])
    reasons_defeated = [r for r in reasons if r["defeats"]]
    chart = {
        "labels": {"defeats": _("Confirmed defeats"), "cumulative": _("Cumulative share"),
                   "this_year": str(year), "last_year": str(year - 1), "defeat_rate": _("Defeat rate"),
                   "false_rate": _("False-defeat rate")},
        "pareto": [{"label": r["label"], "value": r["defeats"]} for r in reasons_defeated[:12]],
        "trend": {"this": {m["key"][5:]: m["defeat_rate"] for m in months},
                  "last": {m["key"][5:]: m["defeat_rate"] for m in months_prev},
                  "false_this": {m["key"][5:]: m["false_defeat_rate"] for m in months}},
        "brands": [{"label": b["label"] or _("Unknown"), "value": b["defeats"]} for b in brands if b["defeats"]],
    }
    return render(request, "defeats/analysis.html", {
        "store": store, "stores": stores_all, "year": year, "years": list(range(today.year, today.year - 4, -1)),
        "this": this, "last": last, "reasons": reasons, "categories": categories, "consultants": consultants,
        "table": table, "chart": chart, "period": period, "progress": progress, "lists": lists,
        "pending_now": selectors.pending_counts(user=user, stores=stores),
    })


@manager_required
@require_POST
def target_save(request):
    """Set the store's defeat-rate target for a year (percent on the page, a rate 0..1 in the database); empty
    removes it. The store's manager or the group's admin."""
    store = get_object_or_404(Store.objects.visible_to(request.user), pk=request.POST.get("store") or 0)
    form = TargetForm(request.POST)
    back = f"{reverse('defeats:analysis')}?{urlencode({'store': store.pk, 'year': request.POST.get('year', '')})}"
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    d = form.cleaned_data
    rate = None if d["percent"] is None else d["percent"] / 100
    try:
        services.defeat_target_set(actor=request.user, store=store, year=d["year"], rate=rate)
    except ValidationError as exc:
        for msg in exc.messages:
            messages.error(request, msg)
    else:
        messages.success(request, _("Defeat-rate target of %(store)s saved.") % {"store": store})
    return redirect(back)


def lead_panel_context(*, user: User, lead: Lead) -> dict:
    """What the lead page's defeat panel shows (defeats/templatetags/defeats_ui.py)."""
    from leads.services._common import require_can_work

    try:
        require_can_work(user, lead)
        can_apply = services.can_file_defeat(lead)
    except PermissionDenied:
        can_apply = False
    pending = None
    if lead.status == Status.DEFEAT_PENDING:
        pending = (selectors.application_list(user=user).filter(lead=lead, status=ApplicationStatus.PENDING).first()
                   or None)
    entry = None
    if lead.status == Status.DEFEATED:  # closed as lost: which list it is on says whether it was a defeat at all
        entry = (PoolEntry.objects.filter(lead=lead, status="in_pool").select_related("owner", "competitor_series")
                 .first())
    tracks = []
    if lead.status == Status.ACTIVE and selectors.last_follow_up_outcome(lead) == "not_now":
        reasons = services.reasons_for(lead.store.group_id)
        tracks = selectors.talk_tracks_for(group_id=lead.store.group_id, reason_ids=[r.pk for r in reasons],
                                           series_id=lead.series_id)
    return {"lead": lead, "can_apply": can_apply, "pending": pending, "tracks": tracks, "entry": entry,
            "can_decide": manages_store(user, lead.store)}
