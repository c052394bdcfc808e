"""The defeats and base-client parts of the reports: tables over ``defeats.selectors`` and ``baseclients.selectors``
(the owning apps' figures, arranged here, never recomputed). Plugged into the monthly pack (``PACK_SECTIONS``) and
behind the ``defeat-analysis``, ``concentration`` and ``referrals`` reports.

Units: the base-client selectors give shares and completion rates in percent (0..100); the tables' ``pct`` columns
take rates 0..1, so those values are divided by 100 here (a unit change for the output, not a computed figure)."""

from __future__ import annotations

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from dealercrm.text import join_list
from funnel.staffing import staffing_plan
from leads.deal_bases import ORDERS_CALENDAR

from .selectors import ReportParams
from .tables import TOTAL, Column, Section, Table


def _store(p: ReportParams):
    return p.stores[0] if len(p.stores) == 1 else None


# --- defeats --------------------------------------------------------------------------------------------------------

def _defeat_columns(first: str, *, with_deals: bool = True) -> list[Column]:
    return [
        Column("label", first, "text"), Column("applications", _("Defeat applications")),
        Column("pending", _("Pending verification")), Column("defeats", _("Confirmed defeats")),
        Column("quasi_defeats", _("Confirmed quasi-defeats (not in the rate)")),
        Column("rejected", _("False defeats (rejected)")),
        *([Column("deals", ORDERS_CALENDAR), Column("defeat_rate", _("Defeat rate"), "pct")] if with_deals else []),
        Column("false_defeat_rate", _("False-defeat rate"), "pct"), Column("win_backs", _("Won back")),
    ]


def _defeat_row(label, row: dict) -> dict:
    return {"label": label, **{k: row.get(k) for k in ("applications", "pending", "defeats", "quasi_defeats",
                                                       "rejected", "deals", "defeat_rate", "false_defeat_rate",
                                                       "win_backs")}}


def _period(p: ReportParams):
    from defeats.selectors import Period

    return Period(p.start, p.end)


def defeat_tables(p: ReportParams) -> list[Table]:
    """Defeats and the defeat rate (``defeats.selectors``), honouring the pack's store, consultant and series: the
    figures by consultant (with the total) and by reason, the defeat rate against its target and last year, the
    competitor table per segment, and the competitor pool's and nurture list's activity."""
    from defeats import selectors as defeats

    period = _period(p)
    by_consultant = defeats.defeat_metrics(user=p.user, period=period, stores=p.stores or None,
                                           consultant=p.consultant, group_by="consultant", series=p.series)
    total = defeats.defeat_metrics(user=p.user, period=period, stores=p.stores or None, consultant=p.consultant,
                                   series=p.series)
    note = _("Defeat rate = confirmed defeats / (deals ordered in the period + confirmed defeats); confirmed "
             "quasi-defeats are counted beside it, never inside; false-defeat rate = rejected applications / decided "
             "applications.")
    return [
        target_table(p),
        competitor_table(p),
        lists_table(p),
        Table(key="defeats_by_consultant", title=_("Defeats by consultant"),
              columns=_defeat_columns(str(_("Consultant"))),
              rows=[_defeat_row(r["label"] or str(_("Nobody (unassigned)")), r) for r in by_consultant["results"]],
              total=_defeat_row(str(TOTAL), total), note=note),
        Table(key="defeats_by_reason", title=_("Defeats by reason"),
              columns=_defeat_columns(str(_("Reason")), with_deals=False),
              rows=[_defeat_row(r["label"], r) for r in total["by_reason"]]),
    ]


def target_table(p: ReportParams) -> Table:
    """The defeat rate against its target and last year (``defeats.selectors.target_progress``): per store, the
    year of the period's end from 1 January to the period's end."""
    from defeats import selectors as defeats

    progress = defeats.target_progress(user=p.user, year=p.end.year, stores=p.visible_stores(), today=p.end,
                                       series=p.series)

    def row(label, line):
        return {"label": label, "target": line["target"], "defeat_rate": line["defeat_rate"],
                "last_year": line["last_year"], "change_pp": line["change_pp"], "gap_pp": line["gap_pp"],
                "defeats": line["defeats"], "quasi_defeats": line["quasi_defeats"], "deals": line["deals"]}

    return Table(
        key="defeat_target", title=_("Defeat rate against its target, %(year)s") % {"year": p.end.year},
        columns=[Column("label", _("Store"), "text"), Column("target", _("Target"), "pct"),
                 Column("defeat_rate", _("Defeat rate so far"), "pct"),
                 Column("last_year", _("Same days last year"), "pct"),
                 Column("change_pp", _("Change on last year (points)"), "num"),
                 Column("gap_pp", _("Above the target (points)"), "num"),
                 Column("defeats", _("Confirmed defeats")),
                 Column("quasi_defeats", _("Confirmed quasi-defeats (not in the rate)")),
                 Column("deals", ORDERS_CALENDAR)],
        rows=[row(line["label"], line) for line in progress["rows"]],
        total=row(str(TOTAL), progress["total"]),
        note=_("From %(start)s to %(end)s against the same days a year earlier; a point is a percentage point "
               "(negative change: the rate fell).") % {"start": progress["start"], "end": progress["end"]},
    )


def lists_table(p: ReportParams) -> Table:
    """The competitor pool's and the nurture list's activity in the period (``defeats.selectors.pool_figures``):
    what the pool owner and the consultants work on, as the lists' own figures."""
    from defeats import selectors as defeats

    figures = defeats.pool_figures(user=p.user, period=_period(p), stores=p.stores or None)
    labels = {"competitor": _("Competitor pool (defeats)"), "nurture": _("Nurture list (quasi-defeats)")}
    return Table(
        key="defeat_lists", title=_("The competitor pool and the nurture list"),
        columns=[Column("label", _("List"), "text"), Column("in_list", _("On the list now")),
                 Column("joined", _("Joined")), Column("contacts", _("Contacts")),
                 Column("due", _("Contact due now")), Column("won_back", _("Won back"))],
        rows=[{"label": str(labels[k]), **figures[k]} for k in ("competitor", "nurture")],
        note=_("Joined, contacts and won back: in the period; on the list and due: now."),
    )


def store_defeat_table(p: ReportParams) -> Table:
    """The group's store comparison: each store's defeat figures and defeat rate in the period."""
    from defeats import selectors as defeats

    stores = p.visible_stores()
    result = defeats.defeat_metrics(user=p.user, period=_period(p), stores=stores, group_by="store", series=p.series)
    rows = {r["key"]: r for r in result["results"]}
    return Table(key="store_defeats", title=_("Defeats per store"),
                 columns=_defeat_columns(str(_("Store"))),
                 rows=[_defeat_row(st.name, rows.get(st.pk, {})) for st in stores],
                 total=_defeat_row(str(TOTAL), result["total"]))


def competitor_table(p: ReportParams) -> Table:
    """The method's competitor table (``defeats.selectors.competitor_table``): per segment of ours, each competitor
    brand with its confirmed defeats this period and the same days a year earlier and *that brand's* main reasons;
    the rows 二手 (used) and 其他 (other) kept."""
    from defeats import selectors as defeats

    segments = defeats.competitor_table(user=p.user, period=_period(p), stores=p.stores or None, series=p.series)
    return Table(
        key="defeats_competitors", title=_("Competitors per segment"),
        columns=[Column("segment", _("Segment"), "text"), Column("brand", _("Competitor brand"), "text"),
                 Column("defeats", _("Confirmed defeats")), Column("previous", _("Same period last year")),
                 Column("change", pgettext_lazy("difference against last year", "Change")), Column("reasons", _("Main reasons of that brand"), "text", width=40)],
        rows=[{"segment": seg["segment_label"], "brand": row["label"] or "—", "defeats": row["defeats"],
               "previous": row["previous"], "change": row["change"],
               "reasons": join_list(f"{r['label']} ({r['defeats']})" for r in row["reasons"]) or "—"}
              for seg in segments for row in seg["rows"]],
        note=_("Confirmed defeats only. Main reasons: the brand's three most frequent in the period, ties in the "
               "taxonomy's order."),
    )


def defeat_analysis(p: ReportParams) -> list[Section]:
    """DOMAIN §6's analyses: by our series (main competitor brands and reasons, this year against last), by
    competitor brand, by reason, by consultant and by month."""
    from defeats import selectors as defeats

    period = _period(p)
    stores = p.stores or None

    def grouped(group_by: str, key: str, title, first, *, with_deals: bool = False) -> Table:
        result = defeats.defeat_metrics(user=p.user, period=period, stores=stores, group_by=group_by, series=p.series)
        return Table(key=key, title=title, columns=_defeat_columns(str(first), with_deals=with_deals),
                     rows=[_defeat_row(r["label"] or "—", r) for r in result["results"]],
                     total=_defeat_row(str(TOTAL), result["total"]) if with_deals else None)

    return [
        Section("defeats_series", _("By series and competitor"), [
            competitor_table(p),
            grouped("competitor_brand", "defeats_by_brand", _("Defeats by competitor brand"), _("Competitor brand")),
            grouped("competitor_series", "defeats_by_competitor_series", _("Defeats by competitor series"),
                    _("Competitor series")),
        ]),
        Section("defeats_reasons", _("By reason, consultant and month"), [
            grouped("reason", "defeats_by_reason", _("Defeats by reason"), _("Reason")),
            grouped("consultant", "defeats_by_consultant", _("Defeats by consultant"), _("Consultant"),
                    with_deals=True),
            grouped("month", "defeats_by_month", _("Defeats by month"), _("Month"), with_deals=True),
        ]),
    ]


# --- base clients ----------------------------------------------------------------------------------------------------

def _tier_label(tier: str) -> str:
    from baseclients.models import Tier

    return str(Tier(tier).label) if tier in Tier.values else tier


def _pct100(value):
    return None if value is None else value / 100


def tier_tables(p: ReportParams) -> list[Table]:
    """一拓一 per tier (``baseclients.selectors.one_brings_one``, over the group's period ending on the report's
    end): clients holding the tier, the referral leads they brought under the tier held when each lead arrived, the
    referral deals, the referral close rate and referrals per client, with the roll-out step."""
    from baseclients import selectors as bc

    rows = bc.one_brings_one(user=p.user, store=_store(p), series=p.series, until=p.end)
    since = rows[0]["since"] if rows else p.start
    step = bc.phase(rows)
    return [Table(
        key="tiers", title=_("Base-client tiers and one brings one (一拓一), %(since)s – %(until)s") % {
            "since": since, "until": p.end},
        columns=[Column("tier", _("Tier"), "text"), Column("clients", _("Base clients")),
                 Column("referrals", _("Referral leads")), Column("referral_deals", _("Referral deals")),
                 Column("close_rate", _("Referral close rate"), "pct"),
                 Column("per_client", _("Referrals per client"), "num"), Column("done", _("Step done"), "text")],
        rows=[{"tier": _tier_label(r["tier"]), **{k: r[k] for k in ("clients", "referrals", "referral_deals",
                                                                     "per_client")},
               "close_rate": _pct100(r["close_rate"]), "done": "✓" if r["done"] else "—"} for r in rows],
        note=_("Clients: holding the tier at the period's end. A referral counts under the tier its referrer held "
               "when the lead arrived. A tier's step is done at one referral lead per client over the period; the "
               "current step: %(step)s.") % {"step": _tier_label(step) if step != "all" else _("everyone")},
    )]


def tier_movement_tables(p: ReportParams) -> list[Table]:
    """Clients moved up and down a tier in the period, per consultant, scored moves (care work) apart from automatic
    ones (``baseclients.selectors.tier_movement``)."""
    from baseclients import selectors as bc

    rows = bc.tier_movement(user=p.user, since=p.start, until=p.end, store=_store(p), series=p.series)
    if p.consultant is not None:
        rows = [r for r in rows if r["consultant"] == p.consultant.pk]
    keys = ("up_scored", "down_scored", "up_auto", "down_auto", "up", "down")
    return [Table(
        key="tier_movement", title=_("Tier movement per consultant"),
        columns=[Column("name", _("Consultant"), "text"), Column("up_scored", _("Up by scoring")),
                 Column("down_scored", _("Down by scoring")), Column("up_auto", _("Up automatically")),
                 Column("down_auto", _("Down automatically")), Column("up", _("Clients moved up")),
                 Column("down", _("Clients moved down"))],
        rows=[{"name": r["name"] or str(_("Nobody (unassigned)")), **{k: r[k] for k in keys}} for r in rows],
        note=_("Tier changes in the period by the client's consultant: scored (a consultant's scoring, including "
               "the yearly review) and automatic (a purchase, a referral lead or deal, a rule change, a fleet-size "
               "edit)."),
    )]


def care_tables(p: ReportParams) -> list[Table]:
    """Care completion in the period per consultant (``baseclients.selectors.care_completion``)."""
    from baseclients import selectors as bc

    rows = bc.care_completion(user=p.user, since=p.start, until=p.end, store=_store(p), series=p.series)
    return [Table(
        key="care", title=_("Care completion"),
        columns=[Column("name", _("Consultant"), "text"), Column("planned", _("Care tasks due")),
                 Column("on_time", _("Done on time")), Column("late", _("Done late")),
                 Column("skipped", _("Skipped")), Column("overdue", _("Overdue")),
                 Column("rate", _("Completion"), "pct")],
        rows=[{**{k: r[k] for k in ("name", "planned", "on_time", "late", "skipped", "overdue")},
               "rate": r["rate"] / 100} for r in rows],
        note=_("Care tasks due in the period; completion = done (on time or late) / due."),
    )]


def referral_tables(p: ReportParams) -> list[Table]:
    """Referrals and repeat purchases of the year holding the period's start, per month
    (``baseclients.selectors.referral_structure`` and ``monthly_effect``): the structure with its total (合计) and
    share (比例) rows; the effects under the tier held at the time."""
    from baseclients import selectors as bc
    from baseclients.models import ReferralType, Tier

    year = p.start.year
    structure = bc.referral_structure(user=p.user, year=year, store=_store(p), consultant=p.consultant,
                                      series=p.series)
    effect = bc.monthly_effect(user=p.user, year=year, store=_store(p), consultant=p.consultant, series=p.series)
    type_columns = [Column(value, label) for value, label in ReferralType.choices]
    count_keys = ["referral_deals", "first_time", "repeat", *ReferralType.values]

    def rates(r: dict) -> dict:
        return {"share_of_n": _pct100(r["share_of_n"]), "close_rate": _pct100(r["close_rate"])}

    shares = {"month": str(_("Share of referral leads")),
              **{k: _pct100(structure["shares"][k]) for k in count_keys}}
    structure_table = Table(
        key="referral_structure", title=_("Referral structure, %(year)s") % {"year": year},
        columns=[Column("month", _("Month"), "text"), Column("n", _("N (first visits)")),
                 Column("referrals", _("Referral leads")), Column("referral_deals", _("Referral deals")),
                 Column("first_time", _("First-time referrers")), Column("repeat", _("Repeat referrers")),
                 *type_columns, Column("share_of_n", _("Share of N"), "pct"),
                 Column("close_rate", _("Referral close rate"), "pct")],
        rows=[{**r, "month": f"{year}-{r['month']:02d}", **rates(r)} for r in structure["rows"]],
        total={**structure["total"], "month": str(TOTAL), **rates(structure["total"])},
        note=_("Referral leads: new leads (N) whose source is referral, named referrer or not (the funnel's referral "
               "N). Share of N = referral leads / N; referral close rate = referral deals / referral leads."),
    )
    # 比例: the method's share row, a table of its own so that its rates are formatted as rates.
    shares_table = Table(
        key="referral_shares", title=_("Referral structure, %(year)s: shares of referral leads") % {"year": year},
        columns=[Column("month", "", "text"), Column("referral_deals", _("Referral deals"), "pct"),
                 Column("first_time", _("First-time referrers"), "pct"),
                 Column("repeat", _("Repeat referrers"), "pct"),
                 *(Column(c.key, c.label, "pct") for c in type_columns)],
        rows=[shares],
        note=_("Each column of the year's total over the year's referral leads."),
    )
    tiers = [t for t in Tier.values]
    effect_table = Table(
        key="monthly_effect", title=_("Referrals and repeat purchases by tier, %(year)s") % {"year": year},
        columns=[Column("month", _("Month"), "text"),
                 *(Column(f"referrals_{t}", _("Referrals · %(tier)s") % {"tier": _tier_label(t)}) for t in tiers),
                 Column("referrals", _("Referrals")),
                 *(Column(f"repeats_{t}", _("Repeat purchases · %(tier)s") % {"tier": _tier_label(t)})
                   for t in tiers),
                 Column("repeats", _("Repeat purchases"))],
        rows=[{**r, "month": f"{year}-{r['month']:02d}"} for r in effect],
        total={"month": str(TOTAL), **{k: sum(r[k] for r in effect) for k in
                                        [*(f"referrals_{t}" for t in tiers), "referrals",
                                         *(f"repeats_{t}" for t in tiers), "repeats"]}},
        note=_("A referral counts under the tier its referrer held when the lead arrived, a repeat purchase under "
               "the tier the buyer held when buying."),
    )
    return [structure_table, shares_table, effect_table]


def concentration_tables(p: ReportParams, *, per_segment: bool = True) -> list[Table]:
    """Region and industry concentration (``baseclients.selectors.concentration``): the base clients produced (first
    purchase) in the year of the period's end and in the year before, per tier with each tier's share, ranked
    important / ordinary / weak by the group's rule; with ``per_segment``, the industry table once per vehicle
    segment of the clients' vehicles (``industry_by_segment``)."""
    from baseclients import selectors as bc
    from baseclients.models import Tier

    year = p.end.year
    ranks = {"important": _("Important"), "ordinary": _("Ordinary"), "weak": _("Weak")}

    def table(by: str, title, first, rows=None, key=None) -> Table:
        if rows is None:
            rows = bc.concentration(user=p.user, by=by, year=year, store=_store(p), consultant=p.consultant,
                                    series=p.series)
        columns = [Column("key", first, "text"), Column("rank", _("Rank"), "text")]
        for side, y in (("this", year), ("last", year - 1)):
            for t in Tier.values:
                columns.append(Column(f"{side}_{t}", _("%(year)s %(tier)s") % {"year": y, "tier": _tier_label(t)}))
                columns.append(Column(f"{side}_share_{t}", _("%(year)s %(tier)s share") % {
                    "year": y, "tier": _tier_label(t)}, "pct"))
            columns.append(Column(f"{side}_total", _("%(year)s total") % {"year": y}))
        out = []
        for r in rows:
            row = {"key": r["key"] or "—", "rank": str(ranks.get(r["rank"], r["rank"]))}
            for side, name in (("this", "this_year"), ("last", "last_year")):
                for t in Tier.values:
                    row[f"{side}_{t}"] = r[name][t]
                    row[f"{side}_share_{t}"] = r[f"{name}_share"][t] / 100
                row[f"{side}_total"] = r[name]["total"]
            out.append(row)
        total = {"key": str(TOTAL), "rank": ""}
        for side in ("this", "last"):
            for t in [*Tier.values, "total"]:
                k = f"{side}_{t}"
                total[k] = sum(row[k] for row in out)
        return Table(key=key or f"{by}_concentration", title=title, columns=columns, rows=out, total=total,
                     note=_("Base clients produced in the year (by their first purchase), under the tier held at "
                            "the year's end (this year: today's). Ranked by this year's count: the first values "
                            "making up %(important)s %% of the clients (the one crossing it included) are "
                            "important, up to %(ordinary)s %% ordinary, the rest weak.") % _cut_offs(p))

    tables = [table("region", _("Region concentration"), _("Region")),
              table("industry", _("Industry concentration"), _("Industry"))]
    if per_segment:
        # Which industries buy which kind of vehicle: the industry table once per segment of the clients' vehicles.
        tables += [
            table("industry", _("Industry concentration: %(segment)s") % {"segment": seg["segment_label"]
                                                                           or _("Other")},
                  _("Industry"), rows=seg["rows"], key=f"industry_concentration_{seg['segment'] or 'other'}")
            for seg in bc.industry_by_segment(user=p.user, year=year, store=_store(p), consultant=p.consultant,
                                              series=p.series)
        ]
    return tables


def _cut_offs(p: ReportParams) -> dict:
    from baseclients import selectors as bc

    return bc.concentration_cut_offs(user=p.user, store=_store(p))


def concentration(p: ReportParams) -> list[Section]:
    return [Section("concentration", _("Region and industry concentration"), concentration_tables(p))]


def referrals(p: ReportParams) -> list[Section]:
    return [Section("referrals", _("Referrals and repeat purchases"), [*tier_tables(p), *referral_tables(p)])]


# --- time in stage and loss by stage --------------------------------------------------------------------------------

def stage_tables(p: ReportParams) -> list[Table]:
    """Time in stage per grade (``funnel.stage_times``) and loss by stage with its reasons (``defeats.stages``), for
    the pack's slice and period: one query, then three."""
    from defeats.stages import loss_by_stage
    from funnel import stage_times
    from leads.models import Grade

    s = p.slice()
    figures = stage_times.stage_times(s)
    times = Table(
        key="stage_times", title=_("Time in stage"),
        columns=[Column("label", _("Grade"), "text"), Column("median_days", _("Median days"), "num"),
                 Column("p80_days", _("P80 days"), "num"), Column("n", _("Stays ended")),
                 Column("promoted", _("Promoted")), Column("demoted", _("Demoted")), Column("lost", _("Lost")),
                 Column("deal", _("Ended in a deal")), Column("open", _("Open now")),
                 Column("open_median_days", _("Open: median days so far"), "num"),
                 Column("open_over_max_dwell", _("Open past max dwell")), Column("rising", _("Rising"), "text")],
        rows=[{**row, "label": str(Grade(row["grade"]).label), "rising": "↑" if row["rising"] else ""}
              for row in figures["grades"]],
        note=_("Days at each grade of the stays that ended in the period (median and 80th percentile, whole days, "
               "interpolated); open: customers at the grade now. Rising: the median of the last 3 months is 20% "
               "above the 9 months before."))
    losses = loss_by_stage(user=p.user, start_at=s.start_at, end_at=s.end_at, stores=p.stores or None,
                           consultant=p.consultant)
    lost = Table(
        key="loss_by_stage", title=_("Loss by stage"),
        columns=[Column("label", _("Grade when filed"), "text"), Column("defeats", _("Confirmed defeats")),
                 Column("quasi_defeats", _("Confirmed quasi-defeats (not in the rate)")),
                 Column("lost", _("Lost")), Column("reasons", _("Reasons"), "text")],
        rows=[{**row, "label": row["grade"] or str(_("Not graded")),
               "reasons": join_list([f"{r['label']} {r['lost']}" for r in row["reasons"]])}
              for row in losses["rows"]],
        note=_("Defeats and quasi-defeats confirmed in the period, by the lead's grade when the defeat was filed; an "
               "application with two reasons is under each."))
    return [times, lost]


def stages_section(p: ReportParams) -> Section:
    return Section("stages", _("Time in stage and loss by stage"), stage_tables(p))


# --- the monthly pack's sections -------------------------------------------------------------------------------------

def defeats_section(p: ReportParams) -> Section:
    return Section("defeats", _("Defeats and defeat rate"), defeat_tables(p))


def tiers_section(p: ReportParams) -> Section:
    return Section("base_client_tiers", _("Base-client tiers"), [*tier_tables(p), *tier_movement_tables(p)])


def care_section(p: ReportParams) -> Section:
    return Section("care", _("Care completion"), care_tables(p))


def referrals_section(p: ReportParams) -> Section:
    return Section("referrals", _("Referrals and repeat purchases"), referral_tables(p))


def concentration_section(p: ReportParams) -> Section:
    return Section("concentration", _("Region and industry concentration"),
                   concentration_tables(p, per_segment=False))


# --- work plans -------------------------------------------------------------------------------------------------------

def work_plan_tables(p: ReportParams) -> list[Table]:
    """Plan against record per consultant and week (``planning.selectors.plan_vs_record``): each week plan's numbers
    beside what the records say was done that week, for each store of the report (the pack's one store)."""
    from planning import selectors as planning
    from planning.models import ITEM_ORDER, Item

    columns = [Column("consultant", _("Consultant"), "text"), Column("week", _("Week (from Monday)"), "text")]
    for key in ITEM_ORDER:
        columns += [Column(f"{key}_planned", format_lazy("{} · {}", Item(key).label, _("planned"))),
                    Column(f"{key}_done", format_lazy("{} · {}", Item(key).label, _("done")))]
    rows = []
    for store in p.visible_stores():
        for r in planning.plan_vs_record(user=p.user, store=store, start=p.start, end=p.end):
            if p.consultant is not None and r.consultant.pk != p.consultant.pk:
                continue
            row = {"consultant": str(r.consultant), "week": r.week.isoformat()}
            for key in ITEM_ORDER:
                row[f"{key}_planned"], row[f"{key}_done"] = r.planned[key], r.done[key]
            rows.append(row)
    note = _("Planned: the consultant's plan for the week (empty: no plan written). Done, counted from the records of "
             "the whole week: follow-ups he wrote, first visits he logged, care tasks he completed, deals ordered on "
             "his leads.")
    return [Table(key="work_plans", title=_("Work plans against records, per week"), columns=columns, rows=rows,
                  note=note)]


def work_plans(p: ReportParams) -> list[Section]:
    return [Section("work_plans", _("Work plans against records"), work_plan_tables(p))]


def work_plans_section(p: ReportParams) -> Section:
    return Section("work_plans", _("Work plans against records"), work_plan_tables(p))


COMPANY_COLUMNS = [
    Column("name", _("Company name"), "text"),
    Column("credit_code", _("Unified social credit code"), "text"),
    Column("legal_representative", _("Legal representative"), "text"),
    Column("industry", _("Industry"), "text"),
    Column("size", _("Size"), "text"),
    Column("turnover", _("Annual turnover (CNY)"), "cny"),
    Column("store", _("Store"), "text"),
    Column("owner", _("Owner consultant"), "text"),
    Column("people", _("People"), "int"),
    Column("leads", _("Leads"), "int"),
    Column("fleet", _("Fleet (vehicles)"), "int"),
    Column("fleet_by_segment", _("Fleet by segment"), "text"),
]


def company_row(c, segments, *, separator: str | None = None) -> dict:
    """One company of ``company_list`` (its counts annotated) as a row of ``COMPANY_COLUMNS``; ``segments``: its
    ``company_fleet`` rows, joined by ``separator`` (default: the reader's list separator)."""
    from dealercrm.text import join_list

    parts = [f"{row.label} {row.vehicles}" for row in segments]
    return {"name": c.name, "credit_code": c.credit_code, "legal_representative": c.legal_representative,
            "industry": c.industry, "size": c.get_size_display(), "turnover": c.turnover,
            "store": str(c.store), "owner": str(c.owner), "people": c.people_count, "leads": c.leads_count,
            "fleet": c.fleet_total,
            "fleet_by_segment": separator.join(parts) if separator is not None else join_list(parts)}


def company_tables(p: ReportParams) -> list[Table]:
    """The company accounts of the pack's stores the reader sees (baseclients.selectors_companies), as the companies
    workbook lists them: people, leads and the fleet counted from the vehicles of the base clients that name each
    company. Two queries."""
    from baseclients.selectors_companies import company_fleet, company_list

    companies = list(company_list(user=p.user).filter(store__in=p.visible_stores()))
    fleet = company_fleet([c.pk for c in companies])
    return [Table(
        key="companies", title=_("Company accounts"), columns=COMPANY_COLUMNS,
        rows=[company_row(c, fleet.get(c.pk, [])) for c in companies],
        note=_("The fleet is counted from the vehicles on the cards of the base clients that name the company, not "
               "typed. Leads: the company's leads in any status."))]


def companies_section(p: ReportParams) -> Section:
    return Section("companies", _("Company accounts"), company_tables(p))


for _builder, _key in ((defeats_section, "defeats"), (tiers_section, "base_client_tiers"), (care_section, "care"),
                       (referrals_section, "referrals"), (concentration_section, "concentration"),
                       (stages_section, "stages"), (work_plans_section, "work_plans"),
                       (companies_section, "companies")):
    _builder.section_key = _key

PACK_EXTRA = [defeats_section, tiers_section, care_section, referrals_section, concentration_section,
              stages_section, work_plans_section, companies_section]

from .events import events_section, repurchase_section  # noqa: E402  (reports.events builds on this module)

PACK_EXTRA += [repurchase_section, events_section]


# --- the staffing planner (funnel.staffing) ----------------------------------------------------------------------------

def staffing_tables(p: ReportParams) -> list[Table]:
    """Consultants per level for the store's target (``funnel.staffing.staffing_plan``): the month of the period when
    it lies in one month, else the year of its end. One table per store."""
    one_month = (p.start.year, p.start.month) == (p.end.year, p.end.month)
    tables = []
    for store in p.visible_stores():
        plan = staffing_plan(user=p.user, store=store, year=p.end.year, month=p.end.month if one_month else None)
        rows = [{
            "label": r["level"].name, "grades": r["level"].grade_range, "capacity": r["level"].capacity,
            "leads_needed": r["plan"].leads_needed, "monthly_load": r["plan"].monthly_load,
            "consultants_needed": r["plan"].consultants_needed, "consultants": r["plan"].consultants,
            "missing": r["plan"].missing, "uncovered": r["plan"].uncovered, "units_lost": r["plan"].units_lost,
        } for r in plan["levels"]]
        total = {"label": str(TOTAL), "consultants_needed": plan["consultants_needed"],
                 "consultants": plan["consultants"], "missing": plan["missing"], "units_lost": plan["units_lost"]}
        period = f"{p.end:%Y-%m}" if one_month else str(p.end.year)
        tables.append(Table(
            key=f"staffing_{store.pk}", title=format_lazy(_("Staffing by level · {store} · {period}"), store=store.name,
                                                          period=period),
            columns=[Column("label", _("Level"), "text"), Column("grades", _("Grades"), "text"),
                     Column("capacity", _("Capacity per consultant")),
                     Column("leads_needed", _("Leads the target needs")),
                     Column("monthly_load", _("An average month's load")),
                     Column("consultants_needed", _("Consultants needed (110 %)")),
                     Column("consultants", _("Consultants now")), Column("missing", _("Missing")),
                     Column("uncovered", _("Leads the team cannot hold")),
                     Column("units_lost", _("Units a month the gap costs"), "num")],
            rows=rows, total=total,
            note=format_lazy(_("Unit target: {units} over {months} month(s). Leads per grade: the target decomposed on "
                               "the ladder at the store's promotion rates of the last 12 months. Consultants needed = "
                               "⌈month's load × 110 % ÷ capacity⌉. The gap's cost: the leads the team cannot hold × "
                               "units ÷ month's load; the store's cost is its tightest level's."),
                             units=plan["units"] if plan["units"] is not None else "—", months=plan["months"]),
        ))
    return tables


def staffing(p: ReportParams) -> list[Section]:
    return [Section("staffing", _("Staffing by level"), staffing_tables(p))]


def staffing_section(p: ReportParams) -> Section:
    return Section("staffing", _("Staffing by level"), staffing_tables(p))


staffing_section.section_key = "staffing"
PACK_EXTRA.append(staffing_section)
