"""Reads on base clients: scoped lists, the card, the workspace's care list, and the analyses (DOMAIN §5), each a
fixed number of SQL aggregates whatever the number of clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import (
    CharField,
    Count,
    DateField,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce, ExtractMonth, NullIf, Round, TruncDate
from django.utils import timezone

from dealercrm.models import User
from leads.models import Lead, Source, Status

from .models import (
    AUTOMATIC_CAUSES,
    TIER_ORDER,
    BaseClient,
    CareStatus,
    CareTask,
    Purchase,
    Referral,
    ReferralType,
    Tier,
    TierCause,
    TierChange,
    Vehicle,
    phone_search_condition,
)

TIERS = [Tier.PREMIUM, Tier.POTENTIAL, Tier.GENERAL]


def client_list(*, user: User) -> QuerySet[BaseClient]:
    return BaseClient.objects.visible_to(user).select_related("assigned_to", "store")


def client_phone_for(*, user: User, client: BaseClient) -> str:
    """In full for those who may work the client (its consultant, its store's managers), masked otherwise."""
    from leads.phones import phone_display, phone_mask

    from .services import can_work

    if not client.phone:
        return ""
    return phone_display(client.phone) if can_work(user, client) else phone_mask(client.phone)


def referrer_candidates(*, user: User, group_id: int | None, q: str, limit: int = 10) -> list[BaseClient]:
    """Base clients of the group whose name contains ``q``, or whose phone matches it for ``user``: by its digits (4
    or more) among the phones the user sees in full, by the whole number among the rest of the group
    (``BaseClientQuerySet.phone_search``), so the search never unmasks a colleague's or another store's client's
    phone, and the number a customer gives still credits its referrer. The referrer search of the lead forms. At
    least two characters, at most ``limit`` rows."""
    q = (q or "").strip()
    if group_id is None or len(q) < 2:
        return []
    cond = Q(name__icontains=q) | phone_search_condition(user, q)
    return list(BaseClient.objects.filter(group_id=group_id).filter(cond).select_related("store")
                .order_by("name", "pk")[:limit])


def client_phone_tel(*, user: User, client: BaseClient) -> str:
    """The phone for a tap-to-call ``tel:`` link (E.164), only for those who see it in full (client_phone_for's
    rule); "" for the rest: a masked phone gets no link."""
    from .services import can_work

    return client.phone if client.phone and can_work(user, client) else ""


def care_list(*, user: User) -> QuerySet[CareTask]:
    return CareTask.objects.visible_to(user).select_related("client__store", "item", "vehicle", "assigned_to")


@dataclass
class CareToday:
    due_today: list[CareTask]
    overdue: list[CareTask]
    due_today_count: int
    overdue_count: int


def care_today(*, user: User, limit: int = 10) -> CareToday:
    """The workspace's care block: the user's own tasks due today and overdue (a manager: the store's). 3 queries."""
    today = timezone.localdate()
    tasks = care_list(user=user).filter(status=CareStatus.PENDING, due_on__lte=today)
    # COUNT(store_id): the (store, due_on) index carries it, so the counts read the index alone, not each task row.
    counts = tasks.aggregate(today=Count("store", filter=Q(due_on=today)),
                             overdue=Count("store", filter=Q(due_on__lt=today)))
    return CareToday(
        due_today=list(tasks.filter(due_on=today).order_by("pk")[:limit]),
        overdue=list(tasks.filter(due_on__lt=today).order_by("due_on", "pk")[:limit]),
        due_today_count=counts["today"],
        overdue_count=counts["overdue"],
    )


def _tier_counts() -> dict:
    # COUNT(tier)/COUNT(*), not COUNT(id): the store index carries the tier but not the id, so this stays an
    # index-only scan.
    return {t: Count("tier", filter=Q(tier=t)) for t in TIERS} | {"total": Count("*")}


def _scoped(user: User, store=None, consultant=None) -> QuerySet[BaseClient]:
    qs = BaseClient.objects.visible_to(user)
    if store is not None:
        qs = qs.filter(store=store)
    if consultant is not None:
        qs = qs.filter(assigned_to=consultant)
    return qs


def _shares(row: dict) -> dict:
    total = row["total"] or 0
    return {t: (round(100 * row[t] / total, 1) if total else 0.0) for t in TIERS}


# The tier a client held at a moment, for every client of a scope at once (as ``tier_at``): its latest tier change
# before then, else the tier its first change started from (or, a history opened by the card, the tier it opened
# with), else its tier now. DISTINCT ON over the scope's tier changes (one sort), not a subquery per client.
_TIER_AT_SQL = """
    SELECT c.id, COALESCE(b.to_tier, NULLIF(f.from_tier, ''), f.to_tier, c.tier) AS tier
    FROM scope c
    LEFT JOIN (SELECT DISTINCT ON (tc.client_id) tc.client_id, tc.to_tier
               FROM baseclients_tierchange tc JOIN scope s ON s.id = tc.client_id
               WHERE tc.at < %s ORDER BY tc.client_id, tc.at DESC, tc.id DESC) b ON b.client_id = c.id
    LEFT JOIN (SELECT DISTINCT ON (tc.client_id) tc.client_id, tc.from_tier, tc.to_tier
               FROM baseclients_tierchange tc JOIN scope s ON s.id = tc.client_id
               ORDER BY tc.client_id, tc.at, tc.id) f ON f.client_id = c.id
"""

_GROUP_COLUMNS = {
    "region": ("c.region",),
    "industry": ("c.industry",),
    # A client counts once in every segment of the vehicles they own ("" for a vehicle of no known series).
    "industry_segment": ("c.industry", "seg.segment"),
}


def _end_of(day: date):
    return timezone.make_aware(timezone.datetime.combine(day + timedelta(days=1), timezone.datetime.min.time()))


def first_purchase_on() -> Coalesce:
    """A client's first purchase date (the order date of its earliest purchase: an imported client's is its
    purchase's, not the import's), else the local day its card was made. A subquery over the purchases' client
    index."""
    first = Purchase.objects.filter(client=OuterRef("pk")).order_by("at").values("at")[:1]
    return Coalesce(Subquery(first), TruncDate("created_at"), output_field=DateField())


def _produced(qs: QuerySet[BaseClient], year: int, series=None) -> QuerySet[BaseClient]:
    """The clients of ``qs`` produced (年产生的: first purchase) in ``year - 1`` or ``year``; with ``series``, those
    owning a vehicle of it."""
    qs = qs.order_by().annotate(first_on=first_purchase_on()).filter(first_on__gte=date(year - 1, 1, 1),
                                                                     first_on__lte=date(year, 12, 31))
    if series is not None:
        qs = qs.filter(Exists(Vehicle.objects.filter(client=OuterRef("pk"), series=series)))
    return qs


def _concentration_counts(qs: QuerySet[BaseClient], by: str, year: int, series=None) -> list[tuple]:
    """(group values..., this year's premium, potential, general, total, last year's the same) per group value of
    ``by``, for the clients of ``qs`` produced (first purchase) in ``year`` and in the year before: this year's
    clients under today's tier when ``year`` is the current year, the tier at its end otherwise; last year's under
    the tier at its end. One SQL statement."""
    if connection.vendor != "postgresql":
        return _concentration_counts_portable(qs, by, year, series)
    current = year >= timezone.localdate().year
    this_end, last_end = _end_of(date(year, 12, 31)), _end_of(date(year - 1, 12, 31))
    this_start = date(year, 1, 1)
    # The scope's rows straight from the caller's queryset (its role scoping and filters), the columns aliased.
    scope_sql, scope_params = (_produced(qs, year, series)
                               .values(c_id=F("id"), c_tier=F("tier"), c_first=F("first_on"),
                                       c_region=F("region"), c_industry=F("industry")).query.sql_with_params())
    cols = _GROUP_COLUMNS[by]
    this_tier = "c.tier" if current else "t.tier"
    counts, count_params = [], []
    for tier_col, cond in ((this_tier, "c.first_on >= %s"), ("l.tier", "c.first_on < %s")):
        counts += [f"count(*) FILTER (WHERE {cond} AND {tier_col} = %s)" for _t in TIERS]
        counts.append(f"count(*) FILTER (WHERE {cond})")
        for t in TIERS:
            count_params += [this_start, t.value]
        count_params.append(this_start)
    segment_join = ""
    if by == "industry_segment":
        segment_join = """JOIN (SELECT DISTINCT v.client_id, COALESCE(vs.segment, '') AS segment
                                FROM baseclients_vehicle v JOIN scope s ON s.id = v.client_id
                                LEFT JOIN dealercrm_vehicleseries vs ON vs.id = v.series_id) seg
                          ON seg.client_id = c.id"""
    this_join, this_params = "", []
    if not current:
        this_join = f"JOIN ({_TIER_AT_SQL}) t ON t.id = c.id"
        this_params = [this_end]
    sql = f"""
        WITH scope (id, tier, first_on, region, industry) AS MATERIALIZED ({scope_sql})
        SELECT {", ".join(cols)}, {", ".join(counts)}
        FROM scope c
        JOIN ({_TIER_AT_SQL}) l ON l.id = c.id
        {this_join}
        {segment_join}
        GROUP BY {", ".join(cols)}
    """
    params = [*scope_params, *count_params, last_end, *this_params]
    with transaction.atomic(), connection.cursor() as cursor:
        # A group's 90,000 clients sort in memory rather than in temporary files.
        cursor.execute("SET LOCAL work_mem = '32MB'")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _tier_at(end):
    """``tier_at`` on BaseClient itself (the portable concentration counts)."""
    return tier_at("pk", end)


def _concentration_counts_portable(qs: QuerySet[BaseClient], by: str, year: int, series=None) -> list[tuple]:
    """``_concentration_counts`` for databases without its PostgreSQL statement (the embedded SQLite default: a
    demo's few hundred clients): the same rows, the clients' tiers from subqueries, counted in Python."""
    from collections import defaultdict

    current = year >= timezone.localdate().year
    this_end, last_end = _end_of(date(year, 12, 31)), _end_of(date(year - 1, 12, 31))
    this_start = date(year, 1, 1)
    clients = (_produced(qs, year, series)
               .annotate(this_t=F("tier") if current else _tier_at(this_end), last_t=_tier_at(last_end))
               .values("pk", "region", "industry", "first_on", "this_t", "last_t"))
    segments = defaultdict(set)
    if by == "industry_segment":
        for cid, segment in Vehicle.objects.filter(client__in=qs).values_list("client_id", "series__segment"):
            segments[cid].add(segment or "")
    counts: dict = defaultdict(lambda: [0] * 8)
    for c in clients:
        if by == "industry_segment":
            keys = [(c["industry"], segment) for segment in segments[c["pk"]]]
        else:
            keys = [(c[by],)]
        this = c["first_on"] >= this_start
        for key in keys:
            row = counts[key]
            for i, t in enumerate(TIERS):
                row[i] += this and c["this_t"] == t
                row[4 + i] += not this and c["last_t"] == t
            row[3] += this
            row[7] += not this
    return [(*key, *row) for key, row in counts.items()]


def rank_regions(counts: list[int], *, important_pct: int = 60, ordinary_pct: int = 90) -> list[str]:
    """重要 / 一般 / 薄弱 for values already sorted by count, largest first (the method's rule): the values making up the first
    ``important_pct`` % of the clients, the one that crosses it included, are "important"; the next, up to and
    including the one that crosses ``ordinary_pct`` %, "ordinary"; the rest "weak". Pure (integer arithmetic).
    120/100/60/55/15/12 clients at 60/90: 2 important, 2 ordinary, 2 weak."""
    total = sum(counts)
    out = []
    before = 0  # clients of the values ranked above this one
    for n in counts:
        if total and before * 100 < important_pct * total:
            out.append("important")
        elif total and before * 100 < ordinary_pct * total:
            out.append("ordinary")
        else:
            out.append("weak")
        before += n
    return out


def _rank(rows: list[dict], rule=None) -> list[dict]:
    """Ranked by this year's total (then last year's, then the name) with the group's cut-offs (``rank_regions``)."""
    rows.sort(key=lambda r: (-r["this_year"]["total"], -r["last_year"]["total"], r["key"]))
    important, ordinary = (rule.important_pct, rule.ordinary_pct) if rule is not None else (60, 90)
    for row, rank in zip(rows, rank_regions([r["this_year"]["total"] for r in rows], important_pct=important,
                                            ordinary_pct=ordinary), strict=True):
        row["rank"] = rank
    return rows


def _concentration_row(key: str, numbers) -> dict:
    keys = [*TIERS, "total"]
    this, last = dict(zip(keys, numbers[:4], strict=True)), dict(zip(keys, numbers[4:], strict=True))
    return {"key": key or "", "this_year": this, "this_year_share": _shares(this), "last_year": last,
            "last_year_share": _shares(last)}


def _rule_of(user: User, store=None):
    from .services.settings import tier_rule_for

    group_id = group_of_user(user, store)
    return tier_rule_for(group_id) if group_id else None


def concentration_cut_offs(*, user: User, store=None) -> dict:
    """The group's rank cut-offs (percent of the year's clients): {"important": 60, "ordinary": 90} by default."""
    rule = _rule_of(user, store)
    return {"important": rule.important_pct if rule else 60, "ordinary": rule.ordinary_pct if rule else 90}


def concentration(*, user: User, by: str, year: int | None = None, store=None, consultant=None,
                  series=None) -> list[dict]:
    """Region (``by="region"``) or industry concentration (区域/行业集中度) of the base clients produced in ``year``
    (first purchase in it) and, side by side, of those produced the year before: per value, clients per tier and
    total, each tier's share (percent); this year's under today's tier when ``year`` is the current year (the tier at
    its end otherwise), last year's under the tier at its end. Ranked important / ordinary / weak by this year's
    count with the group's cut-offs (``rank_regions``). ``series``: clients owning a vehicle of it. One SQL
    statement."""
    assert by in ("region", "industry")
    year = year or timezone.localdate().year
    rows = [_concentration_row(r[0], r[1:])
            for r in _concentration_counts(_scoped(user, store, consultant), by, year, series)]
    return _rank([r for r in rows if r["this_year"]["total"] or r["last_year"]["total"]], _rule_of(user, store))


def industry_by_segment(*, user: User, year: int | None = None, store=None, consultant=None,
                        series=None) -> list[dict]:
    """Industry concentration per vehicle segment: for each segment of the vehicles the clients own, its industries
    × tier this year and last (as ``concentration``), ranked within the segment. A client owning vehicles of two
    segments counts in both; vehicles of no known series are segment "". One SQL statement."""
    from dealercrm.models import Segment

    year = year or timezone.localdate().year
    labels = dict(Segment.choices)
    rule = _rule_of(user, store)
    segments: dict[str, list[dict]] = {}
    for industry, segment, *numbers in _concentration_counts(_scoped(user, store, consultant), "industry_segment",
                                                             year, series):
        row = _concentration_row(industry, numbers)
        if row["this_year"]["total"] or row["last_year"]["total"]:
            segments.setdefault(segment, []).append(row)
    out = []
    for segment, rows in segments.items():
        total = sum(r["this_year"]["total"] for r in rows)
        out.append({"segment": segment, "segment_label": str(labels.get(segment, "")), "clients": total,
                    "rows": _rank(rows, rule)})
    out.sort(key=lambda s: (-s["clients"], s["segment"]))
    return out


def tier_at(client: str, moment) -> Coalesce:
    """The tier the client at ``client`` (the outer row's path to a BaseClient, or "pk" on BaseClient itself) held
    just before ``moment`` (a datetime, or an OuterRef to the outer row's moment): the ``to_tier`` of its latest
    TierChange strictly before then; before its first change, the tier that change started from (or, for a history
    that starts with the card, the tier it opened with); with no history at all, its tier now. One correlated
    subquery per row, over the (client, at) index."""
    changes = TierChange.objects.filter(client=OuterRef(client))
    latest = changes.filter(at__lt=moment).order_by("-at", "-pk").values("to_tier")[:1]
    first = changes.order_by("at", "pk")
    now = F("tier") if client == "pk" else F(f"{client}__tier")
    return Coalesce(Subquery(latest), NullIf(Subquery(first.values("from_tier")[:1]), Value("")),
                    Subquery(first.values("to_tier")[:1]), now, output_field=CharField())


def _pct(num, den, places: int = 1) -> Round:
    """``100 * num / den`` rounded in SQL (NULL without a denominator)."""
    return Round(Cast(num, DecimalField(max_digits=20, decimal_places=6)) * 100 / NullIf(den, 0), places)


def _num(value) -> float | None:
    return None if value is None else float(value)


def _year_bounds(year: int) -> tuple:
    """[local midnight of 1 January, local midnight of the next 1 January)."""
    return _end_of(date(year - 1, 12, 31)), _end_of(date(year, 12, 31))


def monthly_effect(*, user: User, year: int | None = None, store=None, consultant=None, series=None) -> list[dict]:
    """效果统计 per month of ``year`` (local time) and tier: referral leads brought by base clients (month of the
    lead's first visit; not merged leads) under the tier the referrer held when the lead arrived, and repeat
    purchases (month of the order date) under the tier the buyer held when the deal was recorded (before the deal
    itself moved it). ``store``/``consultant`` narrow the referrers and buyers; ``series`` the referral leads' and
    the repeat purchases' series. Two aggregate queries."""
    year = year or timezone.localdate().year
    clients = _scoped(user, store, consultant)
    start, end = _year_bounds(year)
    refs = (Referral.objects.filter(referrer_client__in=clients, lead__first_visit_at__gte=start,
                                    lead__first_visit_at__lt=end).exclude(lead__status=Status.MERGED))
    reps = Purchase.objects.filter(client__in=clients, is_repeat=True, at__year=year)
    if series is not None:
        refs = refs.filter(lead__series=series)
        reps = reps.filter(deal__series=series)
    refs = (refs.annotate(m=ExtractMonth("lead__first_visit_day"),
                          t=tier_at("referrer_client", OuterRef("lead__first_visit_at")))
            .values("m", "t").annotate(n=Count("pk")).order_by())
    reps = (reps.annotate(m=ExtractMonth("at"), t=tier_at("client", OuterRef("deal__created_at")))
            .values("m", "t").annotate(n=Count("pk")).order_by())
    table = {m: {"month": m, **{f"referrals_{t}": 0 for t in TIERS}, **{f"repeats_{t}": 0 for t in TIERS}}
             for m in range(1, 13)}
    for r in refs:
        table[r["m"]][f"referrals_{r['t']}"] += r["n"]
    for r in reps:
        table[r["m"]][f"repeats_{r['t']}"] += r["n"]
    for row in table.values():
        row["referrals"] = sum(row[f"referrals_{t}"] for t in TIERS)
        row["repeats"] = sum(row[f"repeats_{t}"] for t in TIERS)
    return list(table.values())


STRUCTURE_COUNTS = ["n", "referrals", "referral_deals", "first_time", "repeat", *ReferralType.values]


def _structure_aggregates() -> dict:
    """The referral structure's figures over a set of leads (the period's new leads, N): referral leads are the leads
    whose source is referral (the funnel's N_referral), named referrer or not; the type columns count those whose
    referral names the type, first-time / repeat referrer those with a named referrer."""
    ref = Q(source=Source.REFERRAL)
    counts = {
        "n": Count("pk"),
        "referrals": Count("pk", filter=ref),
        "referral_deals": Count("pk", filter=ref & Q(status=Status.WON)),
        "first_time": Count("pk", filter=ref & Q(referral__sequence__lte=1)),
        "repeat": Count("pk", filter=ref & Q(referral__sequence__gt=1)),
        # The JSON list's text holds each type quoted: a portable test (PostgreSQL and SQLite alike).
        **{t: Count("pk", filter=ref & Q(referral__types__icontains=f'"{t}"')) for t in ReferralType.values},
    }
    return counts


def referral_structure(*, user: User, year: int | None = None, store=None, consultant=None, series=None) -> dict:
    """推荐结构 per month of ``year`` (local time), on the funnel's definition of N: the new leads of the month (first
    visit in it, merged leads excluded) in the caller's scope, narrowed by ``store``, ``consultant`` (the lead's) and
    ``series`` (the lead's). Per month: N, referral leads (source referral), referral deals (of those leads, won so
    far), first-time / repeat referrers and each typed referral type, the share of referrals in N (percent) and the
    referral close rate (referral deals / referral leads, percent). ``total`` (合计) is the year's sums with the same
    two rates; ``shares`` (比例) each column's share of the year's referral leads (percent). Rates are computed in
    SQL; None without a denominator. Two aggregate queries."""
    year = year or timezone.localdate().year
    start, end = _year_bounds(year)
    leads = Lead.objects.visible_to(user).exclude(status=Status.MERGED).filter(first_visit_at__gte=start,
                                                                               first_visit_at__lt=end)
    if store is not None:
        leads = leads.filter(store=store)
    if consultant is not None:
        leads = leads.filter(assigned_to=consultant)
    if series is not None:
        leads = leads.filter(series=series)
    counts = _structure_aggregates()
    rates = {"share_of_n": _pct(counts["referrals"], counts["n"]),
             "close_rate": _pct(counts["referral_deals"], counts["referrals"])}
    monthly = {r["m"]: r for r in leads.annotate(m=ExtractMonth("first_visit_day")).values("m").annotate(
        **counts, **rates).order_by()}
    shares = {f"share_{k}": _pct(v, counts["referrals"]) for k, v in counts.items() if k not in ("n", "referrals")}
    total = leads.aggregate(**counts, **rates, **shares)
    empty = {k: 0 for k in STRUCTURE_COUNTS}
    rows = []
    for m in range(1, 13):
        r = monthly.get(m, empty)
        rows.append({"month": m, **{k: r[k] for k in STRUCTURE_COUNTS},
                     "share_of_n": _num(r.get("share_of_n")), "close_rate": _num(r.get("close_rate"))})
    return {
        "rows": rows,
        "total": {**{k: total[k] for k in STRUCTURE_COUNTS}, "share_of_n": _num(total["share_of_n"]),
                  "close_rate": _num(total["close_rate"])},
        "shares": {k: _num(total[f"share_{k}"]) for k in STRUCTURE_COUNTS if k not in ("n", "referrals")},
    }


def _owning(series):
    """Clients owning a vehicle of ``series`` (an Exists over the client, for any queryset with a ``client``)."""
    return Exists(Vehicle.objects.filter(client=OuterRef("client"), series=series))


def tier_movement(*, user: User, since: date, until: date, store=None, series=None) -> list[dict]:
    """Per consultant (the one holding the client at the change): clients moved up and down a tier in [since, until]
    (local days), split into scored moves (a consultant's scoring: care work) and automatic ones (a purchase, a
    referral lead or deal, a rule change, a fleet-size edit). ``up``/``down`` are the totals. ``series``: the clients
    owning a vehicle of it. One aggregate query."""
    changes = TierChange.objects.filter(client__in=_scoped(user, store), at__gte=_end_of(since - timedelta(days=1)),
                                        at__lt=_end_of(until))
    if series is not None:
        changes = changes.filter(_owning(series))
    ups = Q()
    downs = Q()
    for i, low in enumerate(TIER_ORDER):
        for high in TIER_ORDER[i + 1:]:
            ups |= Q(from_tier=low, to_tier=high)
            downs |= Q(from_tier=high, to_tier=low)
    scored = Q(cause=TierCause.SCORING)
    auto = Q(cause__in=AUTOMATIC_CAUSES)
    rows = (changes.values("owner", "owner__username", "owner__display_name")
            .annotate(up=Count("pk", filter=ups), down=Count("pk", filter=downs),
                      up_scored=Count("pk", filter=ups & scored), down_scored=Count("pk", filter=downs & scored),
                      up_auto=Count("pk", filter=ups & auto), down_auto=Count("pk", filter=downs & auto))
            .filter(Q(up__gt=0) | Q(down__gt=0)).order_by("owner__username"))
    return [{"consultant": r["owner"], "name": r["owner__display_name"] or r["owner__username"] or "",
             **{k: r[k] for k in ("up", "down", "up_scored", "down_scored", "up_auto", "down_auto")}} for r in rows]


def care_completion(*, user: User, since: date, until: date, store=None, by: str = "consultant",
                    series=None) -> list[dict]:
    """Care completion (the seed's old-customer progress control table) per consultant or per region: tasks
    planned (due in the period), done on time, done late, overdue (still pending past due). ``series``: the clients
    owning a vehicle of it. One aggregate query."""
    today = timezone.localdate()
    tasks = CareTask.objects.visible_to(user).filter(due_on__gte=since, due_on__lte=until)
    if store is not None:
        tasks = tasks.filter(store=store)
    if series is not None:
        tasks = tasks.filter(_owning(series))
    key = ("assigned_to", "assigned_to__username", "assigned_to__display_name") if by == "consultant" else (
        "client__region",)
    rows = tasks.values(*key).annotate(
        planned=Count("pk"),
        on_time=Count("pk", filter=Q(status=CareStatus.DONE, done_at__date__lte=F("due_on"))),
        late=Count("pk", filter=Q(status=CareStatus.DONE, done_at__date__gt=F("due_on"))),
        skipped=Count("pk", filter=Q(status=CareStatus.SKIPPED)),
        overdue=Count("pk", filter=Q(status=CareStatus.PENDING, due_on__lt=today)),
    ).order_by(*key[:1])
    out = []
    for r in rows:
        name = (r.get("assigned_to__display_name") or r.get("assigned_to__username") or "") if by == "consultant" \
            else (r["client__region"] or "")
        out.append({"key": r.get("assigned_to") if by == "consultant" else name, "name": name,
                    **{k: r[k] for k in ("planned", "on_time", "late", "skipped", "overdue")},
                    "rate": round(100 * (r["on_time"] + r["late"]) / r["planned"], 1) if r["planned"] else 0.0})
    return out



def one_brings_one_period(*, group_id: int | None, until: date | None = None) -> tuple[date, date]:
    """The period 一拓一 is measured over: the group's ``one_brings_one_months`` (default 12) months ending on
    ``until`` (default today), both days included."""
    from .services.care import add_months
    from .services.settings import tier_rule_for

    until = until or timezone.localdate()
    months = tier_rule_for(group_id).one_brings_one_months if group_id else 12
    return add_months(until + timedelta(days=1), -months), until


# A tier's step of 一拓一 is done when its clients average one referral lead each over the period (the method's aim).
ONE_BRINGS_ONE_TARGET = 1


def one_brings_one(*, user: User, store=None, series=None, since: date | None = None,
                   until: date | None = None) -> list[dict]:
    """一拓一 per tier over [since, until] (local days; default the group's period, ``one_brings_one_period``):
    ``clients``: base clients holding the tier at the period's end; ``referrals``: referral leads they brought that
    arrived in the period (first visit; merged leads excluded), counted under the tier the referrer held when the lead
    arrived; ``referral_deals``: those leads won so far; ``close_rate``: referral deals / referral leads (percent,
    computed in SQL; None without a referral); ``per_client``: referrals / clients (2 decimals); ``done``: the tier's
    step is done (``per_client`` >= 1). ``series`` narrows the clients to those owning a vehicle of it and the
    referral leads to those of it. Two aggregate queries."""
    if since is None or until is None:
        group_id = group_of_user(user, store)
        default_since, default_until = one_brings_one_period(group_id=group_id, until=until)
        since, until = since or default_since, until or default_until
    start, end = _end_of(since - timedelta(days=1)), _end_of(until)
    clients = _scoped(user, store)
    refs = Referral.objects.filter(referrer_client__in=clients, lead__first_visit_at__gte=start,
                                   lead__first_visit_at__lt=end).exclude(lead__status=Status.MERGED)
    holders = clients.filter(created_at__lt=end)
    if series is not None:
        holders = holders.filter(Exists(Vehicle.objects.filter(client=OuterRef("pk"), series=series)))
        refs = refs.filter(lead__series=series)
    counts = dict(holders.annotate(t=tier_at("pk", end)).values("t").annotate(n=Count("pk")).order_by()
                  .values_list("t", "n"))
    won = Count("pk", filter=Q(lead__status=Status.WON))
    by_tier = {r["t"]: r for r in refs.annotate(t=tier_at("referrer_client", OuterRef("lead__first_visit_at")))
               .values("t").annotate(referrals=Count("pk"), referral_deals=won,
                                     close_rate=_pct(won, Count("pk"))).order_by()}
    out = []
    for t in TIERS:
        r = by_tier.get(t, {"referrals": 0, "referral_deals": 0, "close_rate": None})
        clients_n = counts.get(t, 0)
        per_client = round(r["referrals"] / clients_n, 2) if clients_n else 0.0
        out.append({"tier": t, "clients": clients_n, "referrals": r["referrals"],
                    "referral_deals": r["referral_deals"], "close_rate": _num(r["close_rate"]),
                    "per_client": per_client, "done": bool(clients_n) and per_client >= ONE_BRINGS_ONE_TARGET,
                    "since": since, "until": until})
    return out


def phase(rows: list[dict]) -> str:
    """The 一拓一 roll-out step (the method's order): premium first, then potential, then general, then everyone ("all"). The
    step is the first tier, in that order, whose clients do not yet average one referral each over the period."""
    done = {r["tier"] for r in rows if r["done"]}
    for t in TIERS:
        if t not in done:
            return t
    return "all"


def group_of_user(user: User, store=None) -> int | None:
    """The dealer group whose settings apply: the store's, else the user's."""
    if store is not None:
        return store.group_id
    if user.dealer_group_id:
        return user.dealer_group_id
    return user.store.group_id if user.store_id else None


def client_by_code(code: str, group_id: int | None) -> BaseClient | None:
    """The base client of the dealer group whose referral reward card carries ``code`` (``baseclients.cards``);
    None when the code is no card code or names no client of the group (``group_id`` None: a superuser's, any)."""
    from .cards import client_id_of

    pk = client_id_of(code)
    if pk is None:
        return None
    clients = BaseClient.objects.filter(pk=pk)
    return clients.filter(group_id=group_id).first() if group_id is not None else clients.first()


REMINDER_LEAD_DAYS = 90


def repurchase_figures(*, user, start, end, stores=None) -> list[dict]:
    """The repurchase reminders made in [start, end] (local days, by the day the job made them), per kind: made,
    done, still pending, **leads** (reminders whose client has a new lead, a returning buyer's lead linked to the
    card, made from the reminder's creation up to ``REMINDER_LEAD_DAYS`` days later) and **deals** (of those, the
    lead won). One grouped query over the caller's visible care tasks."""
    from datetime import datetime, time, timedelta

    from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, OuterRef, Q
    from django.utils import timezone

    from .models import CareKind, CareStatus, CareTask, ClientLead

    tz = timezone.get_current_timezone()
    lo = timezone.make_aware(datetime.combine(start, time.min), tz)
    hi = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz)
    tasks = CareTask.objects.visible_to(user).filter(kind__in=[CareKind.REPURCHASE, CareKind.FLEET_GROWTH],
                                                     created_at__gte=lo, created_at__lt=hi)
    if stores:
        tasks = tasks.filter(store__in=stores)
    until = ExpressionWrapper(OuterRef("created_at") + timedelta(days=REMINDER_LEAD_DAYS), output_field=DateTimeField())
    leads = ClientLead.objects.filter(client=OuterRef("client"), created_at__gte=OuterRef("created_at"),
                                      created_at__lt=until)
    rows = {r["kind"]: r for r in tasks.values("kind").annotate(
        made=Count("pk"), done=Count("pk", filter=Q(status=CareStatus.DONE)),
        pending=Count("pk", filter=Q(status=CareStatus.PENDING)),
        leads=Count("pk", filter=Q(Exists(leads))),
        deals=Count("pk", filter=Q(Exists(leads.filter(lead__deal__isnull=False))))).order_by()}
    empty = {"made": 0, "done": 0, "pending": 0, "leads": 0, "deals": 0}
    return [{"kind": kind, "label": CareKind(kind).label, **{k: rows.get(kind, empty)[k] for k in empty}}
            for kind in (CareKind.REPURCHASE, CareKind.FLEET_GROWTH)]
