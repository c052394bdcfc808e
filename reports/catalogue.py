"""The report catalogue: each report's name (its URL and API name), title, what it shows, its filters, who may run
it and how it is built (``reports.selectors``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dealercrm.models import Role, User

from . import sections, selectors
from .selectors import ReportData, ReportParams
from .tables import Section

MANAGERS = (Role.MANAGER, Role.GROUP_ADMIN)
EVERYONE = (Role.CONSULTANT, Role.MANAGER, Role.GROUP_ADMIN)


def this_month(today: date) -> tuple[date, date]:
    return today.replace(day=1), today


def last_month(today: date) -> tuple[date, date]:
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


@dataclass(frozen=True)
class ReportDef:
    name: str
    title: str
    description: str
    filters: tuple[str, ...]
    roles: tuple[str, ...]
    build: Callable[[ReportParams], list[Section]]
    default_period: Callable[[date], tuple[date, date]] = this_month
    one_store: bool = False  # the report is about exactly one store (a group admin picks it)

    def allowed(self, user: User) -> bool:
        return user.is_active and (user.is_superuser or user.role in self.roles)

    def run(self, params: ReportParams) -> ReportData:
        return ReportData(name=self.name, title=self.title, params=params, sections=self.build(params))

    def as_json(self) -> dict:
        return {"name": self.name, "title": str(self.title), "description": str(self.description),
                "filters": list(self.filters), "outputs": ["page", "json", "xlsx", "pdf"]}


REPORTS: dict[str, ReportDef] = {
    r.name: r
    for r in [
        ReportDef(
            name="monthly-pack",
            title=_("Monthly pack"),
            description=_("What a store manager sends up each month: the funnel (M/N/P/K/F/C) by source and by "
                          "consultant, the month's targets and progress, the grade ladder and promotion rates, the "
                          "nine control points per consultant, defeats and the defeat rate, base-client tiers, care "
                          "completion, referrals and repeat purchases."),
            filters=("store", "start", "end", "consultant", "series"),
            roles=MANAGERS,
            build=selectors.monthly_pack,
            default_period=last_month,
            one_store=True,
        ),
        ReportDef(
            name="store-comparison",
            title=_("Store comparison"),
            description=_("Every store of the group side by side, one row each: the funnel, the month's targets and "
                          "progress, promotion rates and workload."),
            filters=("store", "start", "end", "series"),
            roles=(Role.GROUP_ADMIN,),
            build=selectors.store_comparison,
        ),
        ReportDef(
            name="consultant-scorecard",
            title=_("Consultant scorecard"),
            description=_("Per consultant: retention, follow-up and close rates, promotion rates, workload, overdue "
                          "and stale leads, and the month's target progress. A consultant sees their own line."),
            filters=("store", "start", "end", "consultant", "series"),
            roles=EVERYONE,
            build=selectors.consultant_scorecard,
        ),
        ReportDef(
            name="defeat-analysis",
            title=_("Defeat analysis"),
            description=_("Lost customers: the competitor table per segment (each competitor brand with its defeats "
                          "against the same period last year and that brand's main reasons), by competitor brand and "
                          "series, by reason, by consultant and by month, with the defeat and false-defeat rates and "
                          "the quasi-defeats beside them."),
            filters=("store", "start", "end", "series"),
            roles=MANAGERS,
            build=sections.defeat_analysis,
        ),
        ReportDef(
            name="concentration",
            title=_("Region and industry concentration"),
            description=_("Base clients per region and per industry by tier, this year against last year, each "
                          "tier's share, regions and industries ranked important / ordinary / weak."),
            filters=("store", "end", "consultant", "series"),
            roles=MANAGERS,
            build=sections.concentration,
            one_store=False,
        ),
        ReportDef(
            name="referrals",
            title=_("Referrals and repeat purchases"),
            description=_("Per tier: base clients, their referral leads and referral deals; per month of the year: "
                          "referral leads by type, referral deals, their share of N, and repeat purchases by tier."),
            filters=("store", "start", "end", "consultant", "series"),
            roles=MANAGERS,
            build=sections.referrals,
        ),
        ReportDef(
            name="work-plans",
            title=_("Work plans against records"),
            description=_("Per consultant and week: the week's plan (follow-ups, new customers, care tasks, deals) "
                          "beside what the records say was done."),
            filters=("store", "start", "end", "consultant"),
            roles=MANAGERS,
            build=sections.work_plans,
            one_store=True,
        ),
        ReportDef(
            name="staffing",
            title=_("Staffing by level"),
            description=_("The staffing planner: the store's unit target of the month (or, for a longer period, of the "
                          "year) decomposed on the ladder, the consultants each level needs at the method's 110 %, "
                          "the team it has and what the gap costs in units."),
            filters=("store", "start", "end"),
            roles=MANAGERS,
            build=sections.staffing,
            one_store=True,
        ),
    ]
}


def reports_for(user: User) -> list[ReportDef]:
    """The reports ``user`` may run, in catalogue order."""
    return [r for r in REPORTS.values() if r.allowed(user)]


def default_period(report: ReportDef, today: date | None = None) -> tuple[date, date]:
    return report.default_period(today or timezone.localdate())


# The reports still to come, by owning app: shown on the catalogue page so nobody looks for them in vain.
PENDING: list = []
