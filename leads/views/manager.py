"""The store manager's pages: lead allocation (control point 4), follow-up review (control point 5) and merging
duplicate customers. Managers and group admins only: anyone else gets a 403 on every page; a lead outside the
user's scope is a 404. Writes go through leads.services; reads through leads.selectors and ``visible_to``."""

import re
from functools import wraps
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.db import transaction
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from dealercrm.forms import add_service_errors
from dealercrm.models import Role, Store, User

from .. import selectors, selectors_levels, services
from ..forms_manager import (
    AssignForm,
    BulkMoveForm,
    MergeForm,
    ReviewFilterForm,
    ReviewForm,
    RoundRobinForm,
    store_consultants,
)
from ..models import GRADE_ORDER, UNHELD, Deal, FollowUp, Lead, Status, Visit, local_day_start
from ..services.merge import FILL_BLANKS

REVIEWS_PER_PAGE = 20
LEADS_SHOWN = 50  # drill-down and unassigned lists: a cap, with the full count beside it


def manager_required(view):
    """Managers, group admins and superusers; a consultant (or a user without a role) gets a 403."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = request.user
        if not (user.is_superuser or user.role in (Role.MANAGER, Role.GROUP_ADMIN)):
            raise PermissionDenied(_("Only managers can open this page."))
        return view(request, *args, **kwargs)

    return wrapped


# --- helpers -------------------------------------------------------------------------------------------------------


def _page(request, template, context):
    """A full manager page: adds what the shared header shows (the pending-review count for the tab badge)."""
    if "pending_reviews" not in context:
        context["pending_reviews"] = selectors.pending_review_count(user=request.user)
    return render(request, template, context)


def _pick_store(request, raw) -> tuple[Store | None, list[Store]]:
    """The store a page works on and the stores the user may pick from (a group admin's selector). ``raw`` is the
    requested store id: one outside the user's scope (or garbage) is a 404. Default: the manager's own store, or
    the first store of the group."""
    stores = list(Store.objects.visible_to(request.user).order_by("name"))
    if raw not in (None, ""):
        try:
            pk = int(raw)
        except (TypeError, ValueError):
            raise Http404 from None
        for store in stores:
            if store.pk == pk:
                return store, stores
        raise Http404
    own = next((s for s in stores if s.pk == request.user.store_id), None)
    return own or (stores[0] if stores else None), stores


def _allocation_url(store: Store, **params) -> str:
    return f"{reverse('leads:allocation')}?{urlencode({'store': store.pk, **params})}"


def _safe_next(request, fallback: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def _with_facts(leads):
    """Annotate visit and follow-up counts and whether a deal exists, as correlated subqueries (one query for
    the whole list, and no row multiplication from joining two child tables)."""

    def count(model):
        rows = model.objects.filter(lead=OuterRef("pk")).order_by().values("lead").annotate(n=Count("pk")).values("n")
        return Coalesce(Subquery(rows), 0)

    return leads.annotate(
        visit_count=count(Visit),
        follow_up_count=count(FollowUp),
        has_deal=Exists(Deal.objects.filter(lead=OuterRef("pk"))),
    )


# --- allocation (control point 4) ----------------------------------------------------------------------------------


def _allocation_context(user: User, store: Store) -> dict:
    rows = selectors.allocation_matrix(user=user, store=store)
    grades = list(reversed(GRADE_ORDER))  # A → E, the columns' order
    totals = {
        "grades": {g: sum(r.grades[g] for r in rows) for g in grades},
        "ungraded": sum(r.ungraded for r in rows),
        "active": sum(r.active for r in rows),
        "overdue": sum(r.overdue for r in rows),
    }
    unassigned_leads = selectors.lead_list(user=user).filter(UNHELD, store=store)
    unassigned_counts = selectors.grade_counts(unassigned_leads)
    unassigned = {
        "grades": {g: unassigned_counts[g] for g in grades},
        "ungraded": unassigned_counts["ungraded"],
        "active": sum(unassigned_counts.values()),
        "overdue": unassigned_leads.overdue().count() if any(unassigned_counts.values()) else 0,
    }

    # Balance: compare the active consultants only (a departing one is moved out, not balanced against).
    # (Nor the fleet sales manager: he works the competitor pool and companies, not the showroom's share.)
    working = [r for r in rows if r.consultant.is_active and not r.consultant.fleet_manager]
    heaviest = max(working, key=lambda r: r.active, default=None)
    lightest = min(working, key=lambda r: r.active, default=None)
    balance = None
    if heaviest and lightest and len(working) > 1 and heaviest.active != lightest.active:
        ratio = heaviest.active / lightest.active if lightest.active else None
        balance = {
            "heaviest": heaviest,
            "lightest": lightest,
            "gap": heaviest.active - lightest.active,
            "ratio": ratio,
            # Worth a warning when the top holds half again the bottom's load and the gap is more than a handful.
            "warn": (ratio is None or ratio >= 1.5) and heaviest.active - lightest.active >= 5,
        }
    scale = max((r.active for r in rows), default=0)
    store_active = totals["active"] + unassigned["active"]
    for row in rows:
        row.is_heaviest = balance is not None and row is heaviest
        row.is_lightest = balance is not None and row is lightest
        row.share = round(100 * row.active / store_active) if store_active else 0

    departed = [r for r in rows if not r.consultant.is_active and r.active]
    # The order round-robin hands leads out in (services.assignment: least loaded, then longest-serving).
    queue = sorted(working, key=lambda r: (r.active, r.consultant.date_joined, r.consultant.pk))
    return {
        "store": store,
        "rows": rows,
        "grades": grades,
        "totals": totals,
        "unassigned": unassigned,
        "store_totals": {
            "grades": {g: totals["grades"][g] + unassigned["grades"][g] for g in grades},
            "ungraded": totals["ungraded"] + unassigned["ungraded"],
            "active": totals["active"] + unassigned["active"],
            "overdue": totals["overdue"] + unassigned["overdue"],
        },
        "store_total": totals["active"] + unassigned["active"],
        "store_overdue": totals["overdue"] + unassigned["overdue"],
        "working_count": len(working),
        "balance": balance,
        "scale": scale,
        "departed": departed,
        "round_robin_queue": queue,
    }


def _flag_overdue(leads):
    """Mark each lead whose follow-up date has passed (the rows show it in red), computed in SQL."""
    return leads.annotate(
        is_overdue=ExpressionWrapper(Q(next_follow_up_at__lt=local_day_start()), output_field=BooleanField())
    )


def _drilldown_context(user: User, store: Store, consultant_id) -> dict:
    try:
        consultant_id = int(consultant_id)
    except (TypeError, ValueError):
        raise Http404 from None
    consultant = get_object_or_404(
        User.objects.visible_to(user).filter(store=store, role=Role.CONSULTANT), pk=consultant_id
    )
    leads = selectors.lead_list(user=user).filter(store=store, assigned_to=consultant, status=Status.ACTIVE)
    return {
        "consultant": consultant,
        "drill_leads": list(
            _flag_overdue(leads).order_by(
                F("grade").asc(nulls_last=True), F("next_follow_up_at").asc(nulls_last=True), "pk"
            )[:LEADS_SHOWN]
        ),
        "drill_count": leads.count(),
        "assignees": list(store_consultants(user, store)),
    }


@manager_required
def allocation(request):
    """Who holds which leads in a store: consultants × grades, the balance between them, the unassigned pool, and
    the actions that move leads (round-robin, bulk move, one-by-one reassign). htmx asks for one panel at a time."""
    store, stores = _pick_store(request, request.GET.get("store"))
    if store is None:
        return _page(request, "leads/manager/allocation.html", {"store": None, "stores": stores})
    consultant_id = request.GET.get("consultant")
    target = request.htmx.target if request.htmx else None

    if target == "mgr-drilldown":
        if not consultant_id:
            return render(request, "leads/manager/partials/_drilldown.html", {"store": store})
        context = {"store": store, **_drilldown_context(request.user, store, consultant_id)}
        return render(request, "leads/manager/partials/_drilldown.html", context)

    context = _allocation_context(request.user, store)
    if target == "mgr-matrix":
        return render(request, "leads/manager/partials/_matrix.html", context)

    context["stores"] = stores
    if consultant_id:
        context.update(_drilldown_context(request.user, store, consultant_id))
    unassigned_qs = _flag_overdue(
        selectors.lead_list(user=request.user)
        .filter(UNHELD, store=store)
        .order_by("first_visit_at", "pk")
    )
    context["unassigned_leads"] = list(unassigned_qs[:LEADS_SHOWN]) if context["unassigned"]["active"] else []
    if "assignees" not in context:
        context["assignees"] = list(store_consultants(request.user, store))
    # The levels' load against their capacity and the handoffs waiting for a pick (leads.selectors_levels).
    context["level_loads"] = selectors_levels.level_loads(user=request.user, store=store)
    context["handoffs_waiting"] = list(selectors_levels.waiting_handoffs(user=request.user, store=store)[:LEADS_SHOWN])
    if context["handoffs_waiting"]:
        member_level = selectors_levels.level_of_members(store=store)
        context["pick_choices"] = [(u, member_level.get(u.pk)) for u in context["assignees"]
                                   if u.role == Role.CONSULTANT and u.is_active]
    context["round_robin_form"] = RoundRobinForm(actor=request.user, store=store)
    context["bulk_form"] = BulkMoveForm(actor=request.user, store=store)
    return _page(request, "leads/manager/allocation.html", context)


@manager_required
@require_POST
def round_robin(request):
    """Share out every active unassigned lead of the store, least loaded consultant first."""
    store, _stores = _pick_store(request, request.POST.get("store"))
    form = RoundRobinForm(request.POST, actor=request.user, store=store)
    if store is None or not form.is_valid():
        raise Http404
    try:
        count = services.leads_round_robin(actor=request.user, store=store)
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    else:
        if count:
            messages.success(
                request,
                ngettext(
                    "%(count)d unassigned lead was shared out round-robin.",
                    "%(count)d unassigned leads were shared out round-robin.",
                    count,
                )
                % {"count": count},
            )
        else:
            messages.info(request, _("There were no unassigned leads to share out."))
    return redirect(_allocation_url(store))


@manager_required
def bulk_move(request):
    """Move every active lead of one consultant to another (or share them out): form → confirmation → move."""
    data = request.POST if request.method == "POST" else None
    store, _stores = _pick_store(request, (data or request.GET).get("store"))
    if store is None:
        raise Http404
    initial = {"from_user": request.GET.get("from_user")} if data is None else None
    form = BulkMoveForm(data, actor=request.user, store=store, initial=initial)
    if data is None or not form.is_valid():
        return _page(request, "leads/manager/bulk_move.html", {"store": store, "form": form})

    source, target = form.cleaned_data["from_user"], form.cleaned_data["to_user"]
    if not form.cleaned_data["confirm"]:
        moving = Lead.objects.visible_to(request.user).filter(assigned_to=source, status=Status.ACTIVE)
        counts = selectors.grade_counts(moving)
        targets = [] if target else [u for u in store_consultants(request.user, store) if u.pk != source.pk]
        return _page(
            request,
            "leads/manager/bulk_move_confirm.html",
            {"store": store, "form": form, "source": source, "target": target, "targets": targets,
             "count": sum(counts.values()), "counts": counts},
        )
    try:
        moved = services.leads_bulk_reassign(actor=request.user, from_user=source, to_user=target)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return _page(request, "leads/manager/bulk_move.html", {"store": store, "form": form})
    if target:
        text = ngettext(
            "%(count)d lead moved from %(source)s to %(target)s.",
            "%(count)d leads moved from %(source)s to %(target)s.",
            moved,
        ) % {"count": moved, "source": source, "target": target}
    else:
        text = ngettext(
            "%(count)d lead of %(source)s shared out among the other consultants.",
            "%(count)d leads of %(source)s shared out among the other consultants.",
            moved,
        ) % {"count": moved, "source": source}
    messages.success(request, text)
    return redirect(_allocation_url(store))


@manager_required
def lead_assign(request, pk):
    """Give one lead to a chosen consultant of its store. From an inline htmx form the row is replaced in place
    (and the matrix told to refresh); otherwise the manager returns to the page they came from with a message."""
    lead = get_object_or_404(selectors.lead_list(user=request.user), pk=pk)
    fallback = _allocation_url(lead.store)
    data = request.POST if request.method == "POST" else None
    form = AssignForm(data, actor=request.user, lead=lead, initial={"next": _safe_next(request, fallback)})
    if data is not None and form.is_valid():
        previous = lead.assigned_to
        try:
            lead = services.lead_assign(
                actor=request.user, lead=lead, to_user=form.cleaned_data["to_user"], reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, _("%(lead)s (#%(id)s) is now with %(name)s.")
                % {"lead": lead.name, "id": lead.pk, "name": form.cleaned_data["to_user"]},
            )
            if request.htmx:
                response = render(
                    request, "leads/manager/partials/_lead_row.html",
                    {"lead": lead, "done": True, "previous": previous, "with_flash": True},
                )
                response["HX-Trigger"] = "allocationChanged"
                return response
            return redirect(_safe_next(request, fallback))
    if request.htmx and data is not None:
        # The inline form: keep the row, say what is wrong in it (200, so htmx swaps it).
        error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return render(
            request, "leads/manager/partials/_lead_row.html",
            {"lead": lead, "error": error, "assignees": list(store_consultants(request.user, lead.store)),
             "next": _safe_next(request, fallback)},
        )
    return _page(
        request, "leads/manager/assign.html", {"lead": lead, "form": form, "back": _safe_next(request, fallback)}
    )


# --- follow-up review (control point 5) ---------------------------------------------------------------------------


def _review_queue(user, params) -> tuple[ReviewFilterForm, object, bool]:
    """The review queue narrowed by the page's filters (consultant, store) and ordered by ``order`` (oldest first,
    or newest first): the queue page, the bulk approval and the count an htmx review sends back share it."""
    filter_params = {k: v for k, v in params.items() if k in ("consultant", "store") and v}
    filters = ReviewFilterForm(filter_params or None, actor=user)
    queue = selectors.review_queue(user=user).select_related("lead__store", "lead__assigned_to")
    if filters.is_bound and filters.is_valid():
        if filters.cleaned_data.get("consultant"):
            queue = queue.filter(created_by=filters.cleaned_data["consultant"])
        if filters.cleaned_data.get("store"):
            queue = queue.filter(store=filters.cleaned_data["store"])
    newest = params.get("order") == "newest"
    if newest:
        queue = queue.order_by("-occurred_at", "-pk")
    return filters, queue, newest


@manager_required
def review_queue(request):
    """Follow-ups waiting for review, oldest first (or newest first), a page of cards at a time; filter by
    consultant (and store). POST approves the ticked cards (or every card of the page) in one transaction."""
    if request.method == "POST":
        return _bulk_approve(request)
    filters, queue, newest = _review_queue(request.user, request.GET)
    page = Paginator(queue, REVIEWS_PER_PAGE).get_page(request.GET.get("page"))
    for follow_up in page:
        follow_up.review_form = ReviewForm(auto_id=f"id_review{follow_up.pk}_%s")
    query = request.GET.copy()
    query.pop("page", None)
    order_query = request.GET.copy()
    order_query.pop("page", None)
    order_query.pop("order", None)
    oldest = queue.order_by("occurred_at", "pk").first() if page.object_list else None
    context = {"filters": filters, "page": page, "query": query.urlencode(), "newest": newest,
               "order_query": order_query.urlencode(),
               "oldest": oldest, "oldest_days": (timezone.localdate() - timezone.localdate(oldest.occurred_at)).days
               if oldest else None,
               "many_stores": request.user.is_superuser or request.user.role == Role.GROUP_ADMIN}
    if not any(k in query for k in ("consultant", "store")):
        context["pending_reviews"] = page.paginator.count  # unfiltered: the tab badge is this count, no 2nd query
    return _page(request, "leads/manager/reviews.html", context)


BULK_MAX = 200


def _bulk_approve(request):
    """Approve the follow-ups ticked on the page (``ids``): each through the review service, all in one transaction
    (one refused, none approved). Only pending follow-ups the manager may review; others are a 404."""
    raw = request.POST.getlist("ids")
    try:
        ids = sorted({int(i) for i in raw})
    except ValueError:
        raise Http404 from None
    back = _safe_next(request, reverse("leads:reviews"))
    if not ids:
        messages.warning(request, _("Tick the follow-ups to approve first."))
        return redirect(back)
    if len(ids) > BULK_MAX:
        messages.error(request, _("Approve at most %(n)s follow-ups at a time.") % {"n": BULK_MAX})
        return redirect(back)
    follow_ups = list(selectors.review_queue(user=request.user).filter(pk__in=ids))
    if len(follow_ups) != len(ids):
        raise Http404
    try:
        with transaction.atomic():
            for follow_up in follow_ups:
                services.follow_up_review(actor=request.user, follow_up=follow_up, approve=True)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _("Nothing was approved: %(error)s") % {
            "error": "; ".join(getattr(exc, "messages", [str(exc)]))})
        return redirect(back)
    messages.success(request, ngettext("%(n)s follow-up approved.", "%(n)s follow-ups approved.", len(ids))
                     % {"n": len(ids)})
    return redirect(back)


@manager_required
def review(request, pk):
    """Approve or reject one follow-up. htmx gets the card back in its new state (or with the form's errors)."""
    follow_up = get_object_or_404(
        FollowUp.objects.visible_to(request.user).select_related("lead__store", "created_by", "reviewed_by"), pk=pk
    )
    form = ReviewForm(request.POST if request.method == "POST" else None, auto_id=f"id_review{pk}_%s")
    if request.method == "POST" and form.is_valid():
        try:
            follow_up = services.follow_up_review(
                actor=request.user, follow_up=follow_up, approve=form.approve, comment=form.cleaned_data["comment"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            follow_up = FollowUp.objects.select_related("lead__store", "created_by", "reviewed_by").get(pk=pk)
            if not request.htmx:
                text = _("Follow-up on %(lead)s approved.") if form.approve else _("Follow-up on %(lead)s rejected.")
                messages.success(request, text % {"lead": follow_up.lead.name})
                return redirect(_safe_next(request, reverse("leads:reviews")))
    follow_up.review_form = form
    next_url = _safe_next(request, reverse("leads:reviews"))
    context = {"fu": follow_up, "many_stores": request.user.is_superuser or request.user.role == Role.GROUP_ADMIN,
               "next": next_url}
    if request.htmx and request.method == "POST":
        # The queue's count drops as the manager reviews: the count of the queue the card came from (its filters
        # ride in ``next``), swapped out of band.
        shown = QueryDict(urlsplit(next_url).query)
        _filters, queue, _newest = _review_queue(request.user, shown)
        context["pending_count"] = queue.count()
        # The tab badge counts the whole queue: the same figure unless the page was filtered.
        filtered = any(k in shown for k in ("consultant", "store"))
        context["tab_pending"] = (selectors.pending_review_count(user=request.user) if filtered
                                  else context["pending_count"])
    if request.htmx:
        return render(request, "leads/manager/partials/_review_card.html", context)
    return _page(request, "leads/manager/review.html", context)


# --- merge duplicates ------------------------------------------------------------------------------------------------

# A name that is only a surname and a form of address (刘先生, 王女士, 张总) says nothing about who the customer is.
ADDRESS_ONLY = re.compile(r"^[\u4e00-\u9fff]{1,2}(先生|女士|小姐|太太|老板|老师|师傅|阿姨|叔叔|大哥|大姐|总|哥|姐)$")
MERGE_EVIDENCE_DAYS = 30


def merge_evidence(keep: Lead, absorb: Lead) -> str | None:
    """Why two leads are likely one customer, or None when only the name matches. Evidence is the same phone, or a
    full name (not a surname with a form of address) with the same series and first visits within
    MERGE_EVIDENCE_DAYS days. The merge page suggests a merge only with evidence."""
    if keep.phone and keep.phone == absorb.phone:
        return "phone"
    name = (keep.name or "").strip()
    if len(name) < 2 or ADDRESS_ONLY.match(name) or name != (absorb.name or "").strip():
        return None
    if keep.series_id and keep.series_id == absorb.series_id and (
            abs(keep.first_visit_at - absorb.first_visit_at).days <= MERGE_EVIDENCE_DAYS):
        return "name_series_dates"
    return None


def _phones(user, leads):
    for lead in leads:
        lead.phone_shown = selectors.lead_phone_for(user=user, lead=lead)


@manager_required
def merge(request):
    """Likely duplicates side by side, and a form to merge any two leads: pick → confirm → merge → kept lead."""
    user = request.user
    leads = _with_facts(Lead.objects.visible_to(user).select_related("store", "assigned_to"))
    if request.method == "POST":
        form = MergeForm(request.POST, leads=leads)
        if form.is_valid():
            keep, absorb = form.cleaned_data["keep"], form.cleaned_data["absorb"]
            try:
                services.lead_merge(actor=user, keep=keep, absorb=absorb)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Lead #%(absorb)s was merged into #%(keep)s (%(name)s): its visits, follow-ups and history "
                      "are now here.") % {"absorb": absorb.pk, "keep": keep.pk, "name": keep.name},
                )
                return redirect("leads:detail", pk=keep.pk)
    elif "keep" in request.GET or "absorb" in request.GET:
        form = MergeForm(request.GET, leads=leads)
        if form.is_valid():
            keep, absorb = form.cleaned_data["keep"], form.cleaned_data["absorb"]
            _phones(user, [keep, absorb])
            filled = [
                Lead._meta.get_field(name.removesuffix("_id")).verbose_name
                for name in FILL_BLANKS
                if getattr(keep, name) in (None, "") and getattr(absorb, name) not in (None, "")
            ]
            return _page(request, "leads/manager/merge_confirm.html",
                         {"keep": keep, "absorb": absorb, "filled": filled, "form": form})
    else:
        form = MergeForm(leads=leads)

    pairs = selectors.duplicate_candidates(user=user)
    ids = {lead.pk for pair in pairs for lead in pair}
    facts = {
        lead.pk: lead
        for lead in _with_facts(Lead.objects.filter(pk__in=ids)).select_related("store", "assigned_to")
    }
    candidates = []
    for first, second in pairs:
        a, b = facts[first.pk], facts[second.pk]
        _phones(user, [a, b])
        # Suggest keeping the record a customer can be reached on, then the one with more history.
        a_score = (bool(a.phone), a.has_deal, a.visit_count + a.follow_up_count)
        b_score = (bool(b.phone), b.has_deal, b.visit_count + b.follow_up_count)
        keep, absorb = (b, a) if b_score > a_score else (a, b)
        evidence = merge_evidence(keep, absorb)
        candidates.append({"a": a, "b": b, "keep": keep, "absorb": absorb, "evidence": evidence,
                           "suggested": evidence is not None,
                           "days_apart": abs((a.first_visit_at - b.first_visit_at).days)})
    # Pairs with evidence first: those are the ones the page suggests merging.
    candidates.sort(key=lambda c: not c["suggested"])
    many_stores = user.is_superuser or user.role == Role.GROUP_ADMIN
    return _page(request, "leads/manager/merge.html",
                 {"form": form, "candidates": candidates, "many_stores": many_stores})
