"""The store's pool (公海): active leads nobody holds, put back by the reclaim job or a manager. Consultants of the
store see it (phones masked) and claim from it, first come first served; managers assign from it; group admins
pick the store. Reads through leads.selectors.pool_list, writes through leads.services (lead_claim, lead_assign)."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from dealercrm.forms import add_service_errors
from dealercrm.models import Role, User

from .. import selectors, services
from ..forms_manager import PoolAssignForm, store_consultants
from ..models import Lead
from .manager import _page, _pick_store

POOL_PER_PAGE = 25


def _is_manager_like(user: User) -> bool:
    return user.is_superuser or user.role in (Role.MANAGER, Role.GROUP_ADMIN)


def _is_consultant(user: User) -> bool:
    return user.role == Role.CONSULTANT and user.store_id is not None and not user.is_superuser


def pool_access(view):
    """Consultants with a store, managers, group admins and superusers; anyone else gets a 403."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not (_is_manager_like(request.user) or _is_consultant(request.user)):
            raise PermissionDenied(_("Only the store's staff can open its pool."))
        return view(request, *args, **kwargs)

    return wrapped


def _pool_url(store) -> str:
    return f"{reverse('leads:pool')}?{urlencode({'store': store.pk})}"


def _decorate(user: User, leads) -> list[Lead]:
    """Phones as the user may see them (masked for consultants: the lead is not theirs, yet)."""
    leads = list(leads)
    for lead in leads:
        lead.phone_shown = selectors.lead_phone_for(user=user, lead=lead)
    return leads


@pool_access
def pool(request):
    """`/leads/pool/`: the store's pool, longest waiting first. A consultant sees their own store's, with a claim
    button per lead; a manager sees it with an assign form per lead; a group admin picks the store."""
    user = request.user
    if _is_consultant(user):
        store, stores = user.store, [user.store]
    else:
        store, stores = _pick_store(request, request.GET.get("store"))
    context = {"store": store, "stores": stores, "is_manager": _is_manager_like(user)}
    if store is not None:
        page = Paginator(selectors.pool_list(user=user, store=store), POOL_PER_PAGE).get_page(request.GET.get("page"))
        page.object_list = _decorate(user, page.object_list)
        context.update({"page": page, "pool_count": page.paginator.count})
        if context["is_manager"]:
            context["assignees"] = list(store_consultants(user, store))
    if context["is_manager"]:
        context["layout"] = "leads/manager/layout.html"
        return _page(request, "leads/pool.html", context)
    context["layout"] = "leads/pool_layout.html"
    return render(request, "leads/pool.html", context)


def _row(request, lead: Lead, **context):
    context = {"lead": lead, "is_manager": _is_manager_like(request.user), **context}
    if context["is_manager"] and "assignees" not in context and not context.get("done"):
        context["assignees"] = list(store_consultants(request.user, lead.store))
    if context.get("done"):
        # The lead left the pool: the page's count follows (an out-of-band swap beside the row).
        context.update(pool_count=selectors.pool_list(user=request.user, store=lead.store).count(), oob=True)
    return render(request, "leads/partials/_pool_row.html", context)


def _not_in_pool(request, pk) -> HttpResponse:
    """A lead that is not (or no longer) in the caller's store's pool is a 404 whatever it is: a colleague's lead,
    another store's, one claimed a moment ago, or none at all. For htmx the 404 carries a row that says only that
    (the pool page lets htmx swap it in), never the lead's name, grade, series or dates."""
    if not request.htmx:
        raise Http404(_("This lead is not in your store's pool."))
    return render(request, "leads/partials/_pool_row_gone.html",
                  {"pk": pk, "gone": _("This lead is no longer in the pool: someone else has just claimed it, or it "
                                       "was assigned.")}, status=404)


@pool_access
@require_POST
def pool_claim(request, pk):
    """A consultant claims a pool lead. When someone else got it first the row says so (no error page)."""
    user = request.user
    if not _is_consultant(user):
        raise PermissionDenied(_("Only a consultant of this store can claim its pool leads."))
    # The pool's own scope and nothing wider: the leads of the consultant's store that are in the pool now.
    lead = selectors.pool_list(user=user, store=user.store).filter(pk=pk).first()
    if lead is None:
        return _not_in_pool(request, pk)
    try:
        lead = services.lead_claim(actor=user, lead=lead)
    except ValidationError:
        # A colleague was faster (or the lead left the pool between the look-up and the lock).
        if not request.htmx:
            messages.error(request, _("Someone else has just claimed this lead."))
            return redirect("leads:pool")
        return _not_in_pool(request, pk)
    if not request.htmx:
        messages.success(request, _("%(name)s is yours now.") % {"name": lead.name})
        return redirect("leads:detail", pk=lead.pk)
    lead.phone_shown = selectors.lead_phone_for(user=user, lead=lead)  # theirs now: in full
    return _row(request, lead, done=True, claimed=True)


@pool_access
@require_POST
def pool_assign(request, pk):
    """A manager gives a pool lead to a consultant of its store (htmx: the row shows who has it now)."""
    user = request.user
    if not _is_manager_like(user):
        raise PermissionDenied(_("Only managers can assign leads."))
    lead = get_object_or_404(selectors.lead_list(user=user), pk=pk)
    form = PoolAssignForm(request.POST, actor=user, store=lead.store)
    if form.is_valid():
        try:
            # The version the page showed: a lead claimed in the meantime is not silently taken from its claimer.
            lead = services.lead_assign(actor=user, lead=lead, to_user=form.cleaned_data["to_user"],
                                        expected_version=form.cleaned_data["version"])
        except services.StaleVersion:
            lead.refresh_from_db()
            gone = (_("Someone else has just claimed this lead.") if lead.assigned_to_id
                    else _("This lead changed meanwhile; reload the page."))
            if not request.htmx:
                messages.error(request, gone)
                return redirect(_pool_url(lead.store))
            lead.phone_shown = selectors.lead_phone_for(user=user, lead=lead)
            return _row(request, lead, gone=gone)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if not request.htmx:
                messages.success(request, _("%(lead)s (#%(id)s) is now with %(name)s.")
                                 % {"lead": lead.name, "id": lead.pk, "name": form.cleaned_data["to_user"]})
                return redirect(_pool_url(lead.store))
            return _row(request, lead, done=True, to_user=form.cleaned_data["to_user"])
    error = " ".join(str(e) for errors in form.errors.values() for e in errors)
    if not request.htmx:
        messages.error(request, error)
        return redirect(_pool_url(lead.store))
    lead.phone_shown = selectors.lead_phone_for(user=user, lead=lead)
    return _row(request, lead, error=error)
