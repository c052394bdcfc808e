"""Reads on company accounts (leads.companies) that need the base clients: who sees which company, the fleet a company
runs (counted from its base clients' vehicles, by segment), and a company's page."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet

from dealercrm.models import Role, Segment, User
from leads.companies import Company, CompanyPerson
from leads.models import Lead
from leads.services import can_edit_company

from .models import BaseClient, Vehicle


def companies_visible_to(user: User) -> QuerySet[Company]:
    """``Company.objects.visible_to(user)`` and, for a consultant, also the companies their base clients buy for
    (in their store): the company list, page, API and export read through this."""
    visible = Company.objects.visible_to(user)
    if user is None or not user.is_authenticated or user.is_superuser or getattr(user, "role", None) != Role.CONSULTANT:
        return visible
    of_clients = BaseClient.objects.visible_to(user).filter(company__isnull=False).values("company_id")
    return Company.objects.filter(Q(pk__in=visible.values("pk")) | Q(pk__in=of_clients), store_id=user.store_id)


def company_list(*, user: User, q: str = "") -> QuerySet[Company]:
    """The companies ``user`` sees, by name; ``q`` matches the name (any part) or the credit code (any part, case
    ignored). Each row carries ``fleet_total`` (vehicles of its base clients), ``people_count`` and
    ``leads_count`` (its leads in any status): one query."""
    qs = companies_visible_to(user).select_related("owner", "store")
    q = (q or "").strip()
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(credit_code__icontains="".join(q.split()).upper()))
    return qs.annotate(
        fleet_total=Count("base_clients__vehicles", distinct=True),
        people_count=Count("people", distinct=True),
        leads_count=Count("leads", distinct=True),
    ).order_by("name", "pk")


@dataclass
class FleetRow:
    segment: str
    label: str
    vehicles: int


def company_fleet(company_ids) -> dict[int, list[FleetRow]]:
    """Each company's fleet: the vehicles of its base clients counted by their series' segment (a vehicle without a
    series counts as "unknown"), largest first. One aggregate query, whatever the number of companies."""
    labels = dict(Segment.choices)
    fleet: dict[int, list[FleetRow]] = {pk: [] for pk in company_ids}
    rows = (Vehicle.objects.filter(client__company_id__in=list(company_ids))
            .values("client__company_id", "series__segment").annotate(n=Count("id"))
            .order_by("client__company_id", "-n", "series__segment"))
    for row in rows:
        segment = row["series__segment"] or "unknown"
        fleet[row["client__company_id"]].append(
            FleetRow(segment=segment, label=str(labels.get(segment, _unknown())), vehicles=row["n"]))
    return fleet


def _unknown() -> str:
    from django.utils.translation import gettext

    return gettext("Segment not known")


@dataclass
class CompanyPage:
    company: Company
    people: list[CompanyPerson]
    leads: list[Lead]
    clients: list[BaseClient]
    fleet: list[FleetRow]
    can_edit: bool
    fleet_total: int = 0
    clients_total: int = 0  # every base client naming the company, those the reader may not open included


def company_page(*, user: User, company: Company) -> CompanyPage:
    """A company's page: its people (phones in full for those who may edit it, masked for the rest), the leads and
    base clients that name it (only those ``user`` sees), and its fleet by segment. A fixed number of queries."""
    people = list(company.people.all())
    leads = list(Lead.objects.visible_to(user).filter(company=company).select_related("assigned_to", "series")
                 .order_by("-first_visit_at", "-pk")[:50])
    clients = list(BaseClient.objects.visible_to(user).filter(company=company).select_related("assigned_to")
                   .annotate(vehicle_count=Count("vehicles")).order_by("name", "pk")[:50])
    fleet = company_fleet([company.pk])[company.pk]
    return CompanyPage(company=company, people=people, leads=leads, clients=clients, fleet=fleet,
                       can_edit=can_edit_company(user, company), fleet_total=sum(r.vehicles for r in fleet),
                       clients_total=BaseClient.objects.filter(company=company).count())


def people_prefetch() -> Prefetch:
    return Prefetch("people", queryset=CompanyPerson.objects.order_by("sort_order", "pk"))
