"""The reports' reads. Every figure comes from the owning app's selectors (``funnel.selectors`` for the funnel, the
ladder, promotion rates, control points and targets); this module only arranges them into tables (``reports.tables``).

A report is built from :class:`ReportParams` (the user, the stores, the period and the optional consultant and
series) into a :class:`ReportData`: sections of tables. The monthly pack is a list of section builders
(:data:`PACK_SECTIONS`), so the defeats and base-client sections plug in when those apps' selectors exist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from dealercrm.models import DealerGroup, Store, User, VehicleSeries
from dealercrm.text import join_list
from funnel import selectors as funnel
from leads.deal_bases import DEALS_COHORT, ORDERS_CALENDAR, UNITS_CALENDAR, UNITS_COHORT
from leads.models import Source
from leads.selectors_levels import deal_credit

from .tables import TOTAL, Column, Section, Table

GRADES = ("A", "B", "C", "D", "E")
RUNGS = ("E->D", "D->C", "C->B", "B->A", "E->A")


@dataclass
class ReportParams:
    """What a report is about. ``stores`` empty: every store the user sees. ``end`` inclusive."""

    user: User
    start: date
    end: date
    stores: list[Store] = field(default_factory=list)
    consultant: User | None = None
    series: VehicleSeries | None = None

    def slice(self, **more) -> funnel.Slice:
        return funnel.Slice(user=self.user, start=self.start, end=self.end, stores=self.stores,
                            consultant=self.consultant, series_id=self.series.pk if self.series else None, **more)

    def visible_stores(self) -> list[Store]:
        if self.stores:
            return list(self.stores)
        stores = Store.objects.visible_to(self.user).select_related("group").order_by("name")
        if self.user.role == User.Role.CONSULTANT:
            stores = stores.filter(pk=self.user.store_id)
        return list(stores)

    def filters(self) -> dict:
        """The filters as plain values (JSON, the workbook's cover, the print header)."""
        return {
            "store": [s.pk for s in self.stores],
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "consultant": self.consultant.pk if self.consultant else None,
            "series": self.series.pk if self.series else None,
        }


@dataclass
class ReportData:
    name: str
    title: str
    params: ReportParams
    sections: list[Section]
    generated_at: datetime = field(default_factory=timezone.now)

    @property
    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]

    @property
    def group_name(self) -> str:
        groups = {s.group.name for s in self.params.visible_stores()}
        if len(groups) == 1:
            return groups.pop()
        if self.params.user.dealer_group_id:
            return DealerGroup.objects.get(pk=self.params.user.dealer_group_id).name
        return ""

    @property
    def store_names(self) -> str:
        return join_list(s.name for s in self.params.visible_stores())

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "title": str(self.title),
            "filters": self.params.filters(),
            "group": self.group_name,
            "stores": [s.name for s in self.params.visible_stores()],
            "generated_at": self.generated_at.isoformat(),
            "sections": [
                {"key": s.key, "title": str(s.title), "note": str(s.note), "tables": [t.as_json() for t in s.tables]}
                for s in self.sections
            ],
        }


# --- columns shared by several tables ------------------------------------------------------------------------------

def _cohort_columns() -> list[Column]:
    return [
        Column("N", _("N (first visits)")), Column("revisits", _("Re-visits")), Column("valid", _("Valid info")),
        Column("K", _("K retention"), "pct"), Column("followed", _("Followed up")),
        Column("F", _("F follow-up rate"), "pct"), Column("deals", DEALS_COHORT), Column("units", UNITS_COHORT),
        Column("C", _("C close rate"), "pct"),
        *(Column(f"P_{g}", _("P %(grade)s") % {"grade": g}, "pct") for g in GRADES),
    ]


def _cohort_row(figures: dict) -> dict:
    return {
        "N": figures["N"], "revisits": figures["revisits"], "valid": figures["valid"], "K": figures["K"],
        "followed": figures["followed"], "F": figures["F"], "deals": figures["deals"], "units": figures["units"],
        "C": figures["C"], **{f"P_{g}": figures["P"][g] for g in GRADES},
    }


def _rung_label(rung: str) -> str:
    return rung.replace("->", "→")


def _consultant_label(row) -> str:
    return row.name if row.consultant_id is not None else str(_("Nobody (unassigned)"))


# --- the funnel ---------------------------------------------------------------------------------------------------

def funnel_tables(p: ReportParams) -> list[Table]:
    """The funnel's figures (``funnel.selectors.funnel_metrics``): the totals with M and penetration, by source and
    by consultant. Three calls to the selector (seven queries)."""
    s = p.slice()
    totals = funnel.funnel_metrics(s)
    by_source = funnel.funnel_metrics(s, group_by="source")
    by_consultant = funnel.funnel_metrics(s, group_by="consultant")
    overview = Table(
        key="funnel", title=_("Funnel (M/N/P/K/F/C)"),
        columns=[
            Column("M", _("M market demand")), Column("N", _("N (first visits)")),
            *(Column(f"N_{src}", _("N %(source)s") % {"source": label}) for src, label in Source.choices),
            Column("revisits", _("Re-visits")), Column("valid", _("Valid info")), Column("K", _("K retention"), "pct"),
            Column("followed", _("Followed up")), Column("F", _("F follow-up rate"), "pct"),
            Column("deals", DEALS_COHORT), Column("C", _("C close rate"), "pct"),
            Column("penetration", _("Penetration N/M"), "pct"),
        ],
        rows=[{
            "M": totals["M"], "N": totals["N"], **{f"N_{k}": v for k, v in totals["N_by_source"].items()},
            "revisits": totals["revisits"], "valid": totals["valid"], "K": totals["K"], "followed": totals["followed"],
            "F": totals["F"], "deals": totals["deals"], "C": totals["C"], "penetration": totals["penetration"],
        }],
        note=_("Cohort basis: customers first seen in the period and what became of them so far. "
               "P is each grade's share of the valid customers at the period's end."),
    )
    grade_mix = Table(
        key="grade_mix", title=_("Grade mix P"),
        columns=[Column(f"P_{g}", _("P %(grade)s") % {"grade": g}, "pct") for g in GRADES],
        rows=[{f"P_{g}": totals["P"][g] for g in GRADES}],
    )
    source = Table(
        key="funnel_by_source", title=_("Funnel by source"),
        columns=[Column("label", _("Source"), "text"), *_cohort_columns()],
        rows=[{"label": r["label"], **_cohort_row(r)} for r in by_source["results"]],
        total={"label": str(TOTAL), **_cohort_row(by_source["total"])},
    )
    consultant = Table(
        key="funnel_by_consultant", title=_("Funnel by consultant"),
        columns=[Column("label", _("Consultant"), "text"), *_cohort_columns()],
        rows=[{"label": r["label"] or str(_("Nobody (unassigned)")), **_cohort_row(r)}
              for r in by_consultant["results"]],
        total={"label": str(TOTAL), **_cohort_row(by_consultant["total"])},
    )
    return [overview, grade_mix, source, consultant]


def _target_columns(first: str) -> list[Column]:
    return [
        Column("label", first, "text"), Column("target_units", _("Target (units)")), Column("units", UNITS_CALENDAR),
        Column("orders", ORDERS_CALENDAR), Column("progress", _("Progress"), "pct"),
        Column("projected_units", _("Projected (units)"), "int"),
        Column("target_revenue", _("Target revenue"), "cny"), Column("revenue", _("Revenue"), "cny"),
    ]


def _target_row(label: str, line: dict) -> dict:
    return {"label": label, **{k: line[k] for k in ("target_units", "units", "orders", "progress", "projected_units",
                                                    "target_revenue", "revenue")}}


def target_tables(p: ReportParams) -> list[Table]:
    """The month's targets and progress (``funnel.selectors.target_progress``) for each store of the report: the
    month holding the period's start."""
    tables = []
    month = p.start.replace(day=1)
    for store in p.visible_stores():
        progress = funnel.target_progress(user=p.user, store=store, month=month)
        rows = [_target_row(line["name"], line) for line in progress["consultants"]
                if p.consultant is None or line["consultant"] == p.consultant.pk]
        tables.append(Table(
            key=f"targets_{store.pk}" if len(p.visible_stores()) > 1 else "targets",
            title=_("Targets and progress, %(month)s") % {"month": month.strftime("%Y-%m")}
            + (f" · {store.name}" if len(p.visible_stores()) > 1 else ""),
            columns=_target_columns(str(_("Consultant"))),
            rows=rows,
            total=_target_row(str(_("Store")), progress["store"]),
            note=_("Deals ordered in the month against the targets; projected: the month's run rate."),
        ))
    return tables


def control_point_tables(p: ReportParams) -> list[Table]:
    """The ladder, promotion rates and the nine control points per consultant (``funnel.selectors.control_points``,
    one call)."""
    points = funnel.control_points(p.slice())
    rows = points.rows + [points.total]

    def label(row) -> str:
        return str(TOTAL) if row is points.total else _consultant_label(row)

    ladder = Table(
        key="ladder", title=_("Grade ladder now"),
        columns=[Column("label", _("Consultant"), "text"), *(Column(g, g) for g in GRADES),
                 Column("ungraded", _("Ungraded")), Column("active", _("Active leads"))],
        rows=[{"label": label(r), **r.ladder, "active": r.active} for r in points.rows],
        total={"label": label(points.total), **points.total.ladder, "active": points.total.active},
        note=_("Active leads per grade today (control point 1; 4: who holds which leads)."),
    )
    promotion = Table(
        key="promotion", title=_("Promotion rates"),
        columns=[Column("label", _("Consultant"), "text"),
                 *(Column(rung, _rung_label(rung), "pct") for rung in RUNGS),
                 *(Column(f"held_{rung}", _("held %(rung)s") % {"rung": rung[0]}) for rung in RUNGS[:4])],
        rows=[{"label": label(r), **r.promotion, **{f"held_{k}": v for k, v in r.held.items()}} for r in rows[:-1]],
        total={"label": label(points.total), **points.total.promotion,
               **{f"held_{k}": v for k, v in points.total.held.items()}},
        note=_("Among the leads that held a grade during the period, the share that moved up to the next grade "
               "by the period's end (control points 1 and 7)."),
    )
    control = Table(
        key="control_points", title=_("Nine control points per consultant"),
        columns=[
            Column("label", _("Consultant"), "text"), Column("N", _("N (first visits)")),
            Column("K", _("K retention"), "pct"), Column("F", _("F follow-up rate"), "pct"),
            Column("C", _("C close rate"), "pct"), Column("deals", DEALS_COHORT),
            Column("follow_ups", _("Follow-ups")), Column("follow_ups_per_day", _("Follow-ups per day"), "num"),
            Column("rejected", _("Follow-ups rejected")), Column("overdue", _("Overdue now")),
            Column("stale", _("Stale now")), Column("active", _("Active leads")),
        ],
        rows=[_control_row(label(r), r) for r in points.rows],
        total=_control_row(label(points.total), points.total),
        note=_("2 K, 3 N, 4 allocation (active leads), 5 review (rejected follow-ups), 6 workload (follow-ups per "
               "day, overdue), 7 capability (K/F/C); 1, 8 and 9 are the ladder, source and target tables."),
    )
    return [ladder, promotion, control]


def _control_row(label: str, r) -> dict:
    return {"label": label, "N": r.N, "K": r.K, "F": r.F, "C": r.C, "deals": r.deals, "follow_ups": r.follow_ups,
            "follow_ups_per_day": r.follow_ups_per_day, "rejected": r.rejected, "overdue": r.overdue,
            "stale": r.stale, "active": r.active}


# --- the monthly pack: a list of sections; other apps' sections plug in ---------------------------------------------

SectionBuilder = Callable[[ReportParams], Section | None]


def _funnel_section(p: ReportParams) -> Section:
    return Section("funnel", _("Funnel"), funnel_tables(p))


def _targets_section(p: ReportParams) -> Section:
    return Section("targets", _("Targets and progress"), target_tables(p))


def _control_section(p: ReportParams) -> Section:
    return Section("control_points", _("Ladder, promotion rates and control points"), control_point_tables(p))


PACK_SECTIONS: list[SectionBuilder] = [_funnel_section, _targets_section, _control_section]  # + sections.PACK_EXTRA
# Sections whose owning app has no figures yet: listed in the pack (and the catalogue) as "not available yet".
PACK_PENDING = [
    ("defeats", _("Defeats and defeat rate")),
    ("base_client_tiers", _("Base-client tiers")),
    ("care", _("Care completion")),
    ("referrals", _("Referrals and repeat purchases")),
]


def pack_builders() -> list[SectionBuilder]:
    """The pack's section builders: the funnel's (here), then the defeats and base-client ones (``sections``)."""
    from .sections import PACK_EXTRA

    return [*PACK_SECTIONS, *PACK_EXTRA]


def monthly_pack(p: ReportParams) -> list[Section]:
    """The store's monthly pack (DOMAIN §8): every section builder of :func:`pack_builders` in order."""
    return [section for build in pack_builders() if (section := build(p)) is not None]


# --- the group's store comparison ---------------------------------------------------------------------------------

def store_comparison(p: ReportParams) -> list[Section]:
    """Every store the user sees (or the chosen ones) side by side, one row each: the funnel
    (``funnel_metrics`` grouped by store), the month's target progress (``target_progress_by_store``) and the
    control-point totals."""
    stores = p.visible_stores()
    s = p.slice()
    by_store = funnel.funnel_metrics(s, group_by="store")
    figures = {r["key"]: r for r in by_store["results"]}
    progress = {line["store"]: line for line in funnel.target_progress_by_store(
        user=p.user, stores=stores, month=p.start.replace(day=1))}
    empty = funnel._figures(funnel._empty_counts())

    def funnel_row(label, f) -> dict:
        return {"label": label, "M": f["M"], **_cohort_row(f), "penetration": f["penetration"]}

    comparison = Table(
        key="store_comparison", title=_("Stores side by side"),
        columns=[Column("label", _("Store"), "text"), Column("M", _("M market demand")), *_cohort_columns(),
                 Column("penetration", _("Penetration N/M"), "pct")],
        rows=[funnel_row(st.name, figures.get(st.pk, empty)) for st in stores],
        total=funnel_row(str(TOTAL), by_store["total"]),
        note=_("Cohort basis: customers first seen in the period and what became of them so far."),
    )
    targets = Table(
        key="store_targets", title=_("Targets and progress, %(month)s") % {"month": p.start.strftime("%Y-%m")},
        columns=_target_columns(str(_("Store"))),
        rows=[_target_row(st.name, progress[st.pk]) for st in stores],
    )
    control_rows = []
    for st in stores:
        total = funnel.control_points(funnel.Slice(user=p.user, start=p.start, end=p.end, stores=[st],
                                                   series_id=p.series.pk if p.series else None)).total
        control_rows.append({"label": st.name, **{k: v for k, v in _control_row("", total).items() if k != "label"},
                             **{rung: total.promotion[rung] for rung in RUNGS}})
    control = Table(
        key="store_control_points", title=_("Control points per store"),
        columns=[Column("label", _("Store"), "text"), *(Column(rung, _rung_label(rung), "pct") for rung in RUNGS),
                 Column("follow_ups_per_day", _("Follow-ups per day"), "num"), Column("rejected", _("Follow-ups rejected")),
                 Column("overdue", _("Overdue now")), Column("stale", _("Stale now")), Column("active", _("Active leads"))],
        rows=control_rows,
    )
    from .sections import store_defeat_table

    return [Section("stores", _("Store comparison"), [comparison, targets, control, store_defeat_table(p)])]


# --- the consultant scorecard ---------------------------------------------------------------------------------------

def consultant_scorecard(p: ReportParams) -> list[Section]:
    """Per consultant: the cohort's K/F/C, promotion rates, workload and the month's target progress
    (``control_points`` and ``target_progress``). A consultant sees their own line only (the selectors' scoping)."""
    points = funnel.control_points(p.slice())
    month = p.start.replace(day=1)
    targets: dict = {}
    for store in p.visible_stores():
        if p.user.role == User.Role.CONSULTANT and store.pk != p.user.store_id:
            continue
        for line in funnel.target_progress(user=p.user, store=store, month=month)["consultants"]:
            targets[line["consultant"]] = line
    # Deals ordered in the period credited under each store's rule after a handoff (leads.selectors_levels).
    credited = deal_credit(user=p.user, stores=p.stores or None, start=p.start, end=p.end)
    rows = []
    for r in points.rows:
        line = targets.get(r.consultant_id, {})
        rows.append({
            "credited": credited.get(r.consultant_id),
            "label": _consultant_label(r), "store": r.store_name or "", **{k: v for k, v in _control_row("", r).items()
                                                                         if k != "label"},
            **{rung: r.promotion[rung] for rung in RUNGS},
            "target_units": line.get("target_units"), "units": line.get("units"), "orders": line.get("orders"),
            "progress": line.get("progress"),
        })
    table = Table(
        key="scorecard", title=_("Consultant scorecard"),
        columns=[
            Column("label", _("Consultant"), "text"), Column("store", _("Store"), "text"),
            Column("N", _("N (first visits)")), Column("K", _("K retention"), "pct"),
            Column("F", _("F follow-up rate"), "pct"), Column("C", _("C close rate"), "pct"),
            Column("deals", DEALS_COHORT), *(Column(rung, _rung_label(rung), "pct") for rung in RUNGS),
            Column("follow_ups_per_day", _("Follow-ups per day"), "num"), Column("rejected", _("Follow-ups rejected")),
            Column("overdue", _("Overdue now")), Column("stale", _("Stale now")), Column("active", _("Active leads")),
            Column("target_units", _("Target (units)")), Column("units", UNITS_CALENDAR),
            Column("orders", ORDERS_CALENDAR), Column("progress", _("Progress"), "pct"),
            Column("credited", _("Deals credited (handoffs)"), "num"),
        ],
        rows=rows,
        note=format_lazy(_("{orders} and progress: deals ordered in the month of the period's start. Deals credited: "
                           "deals ordered in the period, counted under the store's credit rule for a lead handed to "
                           "the next level (the closer only, both, or split between them)."),
                         orders=ORDERS_CALENDAR),
    )
    return [Section("scorecard", _("Consultant scorecard"), [table])]


def pending_pack_sections() -> list[tuple[str, str]]:
    """The pack's sections still waiting for their app's figures (key, title)."""
    built = {getattr(build, "section_key", None) for build in pack_builders()}
    return [(key, title) for key, title in PACK_PENDING if key not in built]
