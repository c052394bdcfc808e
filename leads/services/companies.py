"""Writes on company accounts (leads.companies): a company with its people in one transaction, and a company lead's
qualification. Pages and the API call these."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from dealercrm.models import Role, Store, User

from .. import phones
from ..companies import (
    QUALIFICATION_POINTS,
    Answer,
    Company,
    CompanyPerson,
    CompanySize,
    DecisionRole,
    Qualification,
    credit_code_normalize,
    validate_credit_code,
)
from ..models import Lead
from ._common import lock, manages_store, require_can_work

COMPANY_FIELDS = ("name", "credit_code", "legal_representative", "industry", "size", "turnover", "address")
PERSON_FIELDS = ("name", "title", "phone", "decision_role", "note")


def can_edit_company(user: User, company: Company) -> bool:
    """The company's owner, the store's fleet sales manager, and whoever manages the store edit a company (and read
    its people's phones in full); others who see it (a consultant through their lead) read it with phones masked."""
    if manages_store(user, company.store):
        return True
    return bool(user.is_active and user.role == Role.CONSULTANT and user.store_id == company.store_id
                and (user.pk == company.owner_id or user.fleet_manager))


def _clean_people(people: Iterable[dict]) -> tuple[list[CompanyPerson], list[str]]:
    rows, errors = [], []
    for number, data in enumerate(people, start=1):
        name = (data.get("name") or "").strip()
        problems = []
        if not name:
            problems.append(_("enter a name"))
        role = data.get("decision_role") or ""
        if role not in DecisionRole.values:
            problems.append(_("choose their part in the decision"))
        try:
            phone = phones.phone_normalize(data.get("phone"))
        except ValidationError:
            problems.append(_("enter a valid phone number"))
            phone = ""
        if problems:
            errors.append(_("Person %(n)s: %(problems)s.") % {"n": number, "problems": "; ".join(problems)})
            continue
        rows.append(CompanyPerson(name=name[:60], title=(data.get("title") or "").strip()[:60], phone=phone,
                                  decision_role=role, note=(data.get("note") or "").strip()[:200],
                                  sort_order=number))
    return rows, errors


@transaction.atomic
def company_save(*, actor: User, company: Company | None = None, store: Store | None = None,
                 owner: User | None = None, people: Iterable[dict] | None = None, **values) -> Company:
    """Create a company (``store`` and ``owner`` default to the acting consultant's) or edit one, with its people:
    ``people`` (a list of ``{name, title, phone, decision_role, note}``) replaces the company's people; None keeps
    them. All or nothing: a bad field or a bad person raises ValidationError (field messages) and writes nothing.
    ``credit_code`` is checked by its check character and is unique in the dealer group."""
    unknown = set(values) - set(COMPANY_FIELDS)
    if unknown:
        raise ValidationError({field: [_("This field cannot be changed here.")] for field in unknown})
    if company is None:
        store = store or actor.store
        if store is None:
            raise ValidationError({"store": [_("Choose the store of the company.")]})
        if not (manages_store(actor, store) or (actor.is_active and actor.role == Role.CONSULTANT
                                                and actor.store_id == store.pk)):
            raise PermissionDenied(_("Only the store's staff can add its companies."))
        owner = owner or (actor if actor.role == Role.CONSULTANT else None)
        company = Company(group_id=store.group_id, store=store, created_by=actor)
    else:
        company = Company.objects.select_for_update().select_related("store").get(pk=company.pk)
        if not can_edit_company(actor, company):
            raise PermissionDenied(_("Only the company's owner, the fleet sales manager or the store's manager can "
                                     "edit it."))
        store = company.store
    errors: dict[str, list[str]] = {}
    if owner is not None:
        if owner.store_id != store.pk or not owner.is_active or owner.role not in (Role.CONSULTANT, Role.MANAGER):
            errors["owner"] = [_("Choose an active consultant of this store.")]
        elif actor.role == Role.CONSULTANT and owner.pk != company.owner_id and owner.pk != actor.pk \
                and not actor.fleet_manager:
            errors["owner"] = [_("Only the fleet sales manager or the store's manager hands a company to a colleague.")]
        else:
            company.owner = owner
    elif company.owner_id is None:
        errors["owner"] = [_("Choose the consultant who looks after the company.")]
    values = dict(values)
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
        if not values["name"]:
            errors["name"] = [_("Enter the company's name.")]
    if "credit_code" in values:
        values["credit_code"] = credit_code_normalize(values["credit_code"])
        try:
            validate_credit_code(values["credit_code"])
        except ValidationError as exc:
            errors["credit_code"] = list(exc.messages)
        else:
            taken = (Company.objects.filter(group_id=store.group_id, credit_code=values["credit_code"])
                     .exclude(pk=company.pk).exists()) if values["credit_code"] else False
            if taken:
                errors["credit_code"] = [_("A company of the dealer group already has this credit code.")]
    if values.get("size") and values["size"] not in CompanySize.values:
        errors["size"] = [_("Choose a size band.")]
    turnover = values.get("turnover")
    if turnover is not None and (not isinstance(turnover, Decimal) or turnover < 0):
        errors["turnover"] = [_("Enter the turnover in CNY, 0 or more.")]
    rows = None
    if people is not None:
        rows, person_errors = _clean_people(people)
        if person_errors:
            errors["people"] = person_errors
    if errors:
        raise ValidationError(errors)
    for field, value in values.items():
        setattr(company, field, "" if value is None and field != "turnover" else value)
    if not company.name:
        raise ValidationError({"name": [_("Enter the company's name.")]})
    try:
        with transaction.atomic():
            company.save()
    except IntegrityError:
        raise ValidationError({"credit_code": [_("A company of the dealer group already has this credit code.")]}) \
            from None
    if rows is not None:
        company.people.all().delete()
        for row in rows:
            row.company = company
        CompanyPerson.objects.bulk_create(rows)
    return company


def check_lead_company(lead_store: Store, company: Company | None) -> None:
    """A lead names a company of its own store."""
    if company is not None and company.store_id != lead_store.pk:
        raise ValidationError({"company": [_("Choose a company of the lead's store.")]})


@transaction.atomic
def lead_qualify(*, actor: User, lead: Lead, **answers) -> Qualification:
    """Record a company lead's qualification: ``need``, ``ability``, ``willingness``, ``authority`` (each yes, no
    or unknown) and their ``<point>_note``. The lead's consultant or whoever manages its store; the lead must name a
    company."""
    lead = lock(lead)
    require_can_work(actor, lead)
    allowed = set(QUALIFICATION_POINTS) | {f"{p}_note" for p in QUALIFICATION_POINTS}
    errors = {field: [_("This field cannot be changed here.")] for field in set(answers) - allowed}
    if lead.company_id is None:
        errors["company"] = [_("Link the lead to a company first.")]
    for point in QUALIFICATION_POINTS:
        if point in answers and answers[point] not in Answer.values:
            errors[point] = [_("Choose yes, no or not known yet.")]
    if errors:
        raise ValidationError(errors)
    qualification, _created = Qualification.objects.select_for_update().get_or_create(lead=lead)
    for field, value in answers.items():
        setattr(qualification, field, value if field in QUALIFICATION_POINTS else (value or "").strip()[:200])
    qualification.updated_by = actor
    qualification.save()
    return qualification
