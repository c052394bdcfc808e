"""Company-account pages: the list (search by name or credit code), a company's page (its people with their part in
the decision, its leads and base clients, its fleet by segment), the form with people rows, and the lead page's
company panel (link the lead to a company, record the qualification). Reads through selectors_companies, writes
through leads.services; a company the user may not see is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from dealercrm.forms import add_service_errors
from dealercrm.models import Role
from leads.companies import Company, DecisionRole, Qualification
from leads.models import Lead
from leads.phones import phone_display
from leads.services import can_edit_company, company_save, lead_qualify, lead_update
from leads.services._common import require_can_work

from . import services
from .forms_companies import CompanyForm, LeadCompanyForm, PeopleFormSet, QualificationForm, owner_choices
from .selectors_companies import companies_visible_to, company_list, company_page, people_prefetch

PAGE_SIZE = 25
BLANK_ROWS = 2  # empty people rows under the filled ones on the form


def _company_or_404(request: HttpRequest, pk: int) -> Company:
    return get_object_or_404(companies_visible_to(request.user).select_related("store", "owner"), pk=pk)


def _may_add(user) -> bool:
    return bool(user.is_active and (user.is_superuser or user.role in (Role.CONSULTANT, Role.MANAGER)
                                    and user.store_id))


@login_required
def company_list_page(request: HttpRequest) -> HttpResponse:
    """`/base-clients/companies/?q=`: the companies the user sees, by name; ``q`` finds a name or a credit code."""
    q = (request.GET.get("q") or "").strip()[:60]
    page = Paginator(company_list(user=request.user, q=q), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "baseclients/companies/list.html", {
        "page": page, "rows": page.object_list, "q": q, "may_add": _may_add(request.user)})


@login_required
def company_detail(request: HttpRequest, pk: int) -> HttpResponse:
    company = _company_or_404(request, pk)
    data = company_page(user=request.user, company=company)
    for person in data.people:
        person.phone_shown = phone_display(person.phone) if data.can_edit else person.masked_phone
    return render(request, "baseclients/companies/detail.html", {"c": company, "data": data, "roles": DecisionRole})


def _people_initial(company: Company | None) -> list[dict]:
    if company is None:
        return []
    return [{"phone": phone_display(p.phone), "name": p.name, "title": p.title, "decision_role": p.decision_role,
             "note": p.note} for p in company.people.all()]


@login_required
@require_http_methods(["GET", "POST"])
def company_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """`/base-clients/companies/new/` and `/<id>/edit/`: the company and its people, saved all or nothing (the same
    service as the API). Rows left blank are ignored; ``?rows=`` asks for more empty rows."""
    company = _company_or_404(request, pk) if pk is not None else None
    user = request.user
    if company is not None and not can_edit_company(user, company):
        raise PermissionDenied(_("Only the company's owner, the fleet sales manager or the store's manager can "
                                 "edit it."))
    if company is None and not _may_add(user):
        raise PermissionDenied(_("Only the store's staff can add its companies."))
    store_id = company.store_id if company else user.store_id
    hands_over = user.role == Role.MANAGER or user.is_superuser or getattr(user, "fleet_manager", False)
    owners = owner_choices(user, store_id) if hands_over and store_id else None
    initial = {}
    if company is not None:
        initial = {f: getattr(company, f) for f in ("name", "credit_code", "legal_representative", "industry", "size",
                                                     "turnover", "address")}
        initial["owner"] = company.owner_id
    elif owners is not None and user.role == Role.CONSULTANT:
        initial["owner"] = user.pk
    form = CompanyForm(request.POST or None, initial=initial, owners=owners)
    people_initial = _people_initial(company)
    try:
        extra = min(max(int(request.GET.get("rows", BLANK_ROWS)), 0), 20)
    except ValueError:
        extra = BLANK_ROWS
    rows_initial = people_initial + [{}] * (extra if people_initial else max(extra, 2))
    people = PeopleFormSet(request.POST or None, initial=None if request.POST else rows_initial, prefix="people")
    status = 200
    if request.method == "POST":
        if form.is_valid() and people.is_valid():
            values = dict(form.cleaned_data)
            owner = values.pop("owner", None)
            rows = [f.cleaned_data for f in people.forms if not f.is_blank()]
            try:
                saved = company_save(actor=user, company=company, owner=owner, people=rows, **values)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Company saved."))
                return redirect("baseclients:company", pk=saved.pk)
        status = 400
    industries = services.list_choices(group_id=company.group_id if company else user.dealer_group_id,
                                       kind="industry") if (company or user.dealer_group_id) else []
    return render(request, "baseclients/companies/form.html", {
        "c": company, "form": form, "people": people, "industries": industries, "more_rows": extra + 2},
        status=status)


@login_required
@require_POST
def lead_company(request: HttpRequest, lead_pk: int) -> HttpResponse:
    """The lead page's company panel: link the lead to a company of its store (``company``; empty unlinks it), or
    record its qualification (``qualify``). The lead's consultant or whoever manages its store."""
    lead = get_object_or_404(Lead.objects.visible_to(request.user).select_related("store"), pk=lead_pk)
    if "qualify" in request.POST:
        form = QualificationForm(request.POST)
        if form.is_valid():
            try:
                lead_qualify(actor=request.user, lead=lead, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
        if form.errors:
            messages.error(request, " ".join(str(m) for errors in form.errors.values() for m in errors))
        else:
            messages.success(request, _("Qualification saved."))
    else:
        form = LeadCompanyForm(request.POST, companies=companies_visible_to(request.user).filter(store=lead.store))
        if not form.is_valid():
            raise Http404  # a company the user may not see does not exist for them
        with transaction.atomic():
            lead_update(actor=request.user, lead=lead, company=form.cleaned_data["company"])
        messages.success(request, _("Company linked.") if form.cleaned_data["company"] else _("Company unlinked."))
    return redirect("leads:detail", pk=lead.pk)


def lead_panel_context(*, user, lead: Lead) -> dict:
    """What the lead page's company panel shows: the company (if the user sees it), its people's parts, the
    qualification and its form, the companies the lead could be linked to. Without a company: one query (the
    choices); with one: three."""
    company = (companies_visible_to(user).filter(pk=lead.company_id).prefetch_related(people_prefetch()).first()
               if lead.company_id else None)
    qualification = Qualification.objects.filter(lead=lead).first() if company else None
    try:
        require_can_work(user, lead)
        can_work = True
    except PermissionDenied:
        can_work = False
    return {
        "lead": lead, "company": company,
        "people": list(company.people.all()) if company else [],
        "qualification": qualification,
        "qualification_form": QualificationForm(instance=qualification) if can_work and company else None,
        "link_form": LeadCompanyForm(initial={"company": lead.company_id},
                                     companies=companies_visible_to(user).filter(store_id=lead.store_id))
        if can_work and lead.status == "active" else None,
    }
