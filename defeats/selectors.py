"""Reads of the defeat workflow: the verification queue with its evidence, the competitor pool, talk tracks, and the
defeat figures.

Figures (docs/defeats.md), for the stores the caller may see and a period of local days [start, end]:

- ``applications``: defeat applications filed in the period; ``pending``: those of them still awaiting a verdict.
- ``defeats``: defeats (战败: bought a competitor's car, lost contact) confirmed in the period (by the verdict's time);
  ``quasi_defeats``: quasi-defeats (准战败) confirmed in the period, counted beside the defeats, never inside;
  ``rejected``: applications of either kind rejected in the period (false defeats, 虚战败); ``decided`` = defeats +
  quasi_defeats + rejected.
- ``deals``: deals ordered in the period (leads.Deal.ordered_at: the calendar basis, not the funnel's cohort).
- ``defeat_rate`` = defeats / (deals + defeats): of the leads closed in the period, the share lost (confirmed defeats
  only; quasi-defeats and pending applications are shown apart). Null when nothing closed.
- ``false_defeat_rate`` = rejected / decided. Null when nothing was decided.
- ``win_backs``: customers of the competitor pool who came back in the period (an active lead again).

``group_by`` one of store, consultant (who held the lead when it was filed; for deals, who holds the won lead),
our_series (the lead's series; for deals, the deal's), competitor_brand, competitor_series, reason, reason_category,
source, month, grade_at_filing (loss by stage: the lead's grade when the application was filed), highest_grade (the
highest grade it had reached by then); those two rows carry ``reasons``: their confirmed defeats and quasi-defeats of
the period by reason. Deals (and so the defeat rate) have no competitor, reason or grade at filing: those groupings
give them as null. An
application with two reasons counts under each of them. Each figure family is one SQL aggregate with conditional
counts (applications; deals; win-backs); by month the applications take two (filing month, verdict month)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import pgettext

from dealercrm.models import Role, Store, User, VehicleBrand, VehicleSeries
from leads.models import Deal, FollowUp, Grade, GradeChange, Lead
from leads.models import Status as LeadStatus

from . import stages
from .models import (
    Application,
    ApplicationStatus,
    DefeatEvent,
    EventKind,
    Kind,
    NurtureContact,
    PoolEntry,
    PoolList,
    PoolStatus,
    PriceCause,
    Reason,
    TalkTrack,
    pool_search_condition,
)
from .taxonomy import USED_REASON

GROUP_BY = ("store", "consultant", "our_series", "competitor_brand", "competitor_series", "reason",
            "reason_category", "price_cause", "source", "month", "grade_at_filing", "highest_grade")
FIGURES = ("applications", "pending", "decided", "defeats", "quasi_defeats", "rejected", "deals", "defeat_rate",
           "false_defeat_rate", "win_backs")
# How many of a competitor brand's reasons the brand rows carry (group_by=competitor_brand, the competitor table).
BRAND_TOP_REASONS = 3

# group_by -> (application column, deal column or None, win-back (DefeatEvent) column)
_KEYS = {
    "store": ("store", "lead__store", "application__store"),
    "consultant": ("consultant", "lead__assigned_to", "application__consultant"),
    "our_series": ("our_series", "series", "application__our_series"),
    "competitor_brand": ("competitor_brand", None, "application__competitor_brand"),
    "competitor_series": ("competitor_series", None, "application__competitor_series"),
    "reason": ("reason_rows__reason", None, "application__reason_rows__reason"),
    "reason_category": ("reason_rows__parent", None, "application__reason_rows__parent"),
    "price_cause": ("price_cause", None, "application__price_cause"),
    "source": ("source", "lead__source", "application__source"),
    # Loss by stage (defeats.stages): the grade recorded on the application when it was filed.
    "grade_at_filing": ("grade_at_filing", None, "application__grade_at_filing"),
    "highest_grade": ("highest_grade", None, "application__highest_grade"),
}


# --- queues -----------------------------------------------------------------------------------------------------


def application_list(*, user: User) -> QuerySet[Application]:
    return (Application.objects.visible_to(user)
            .select_related("lead", "store", "consultant", "applied_by", "decided_by", "competitor_series__brand",
                            "competitor_brand", "our_series")
            .prefetch_related(Prefetch("reasons", queryset=Reason.objects.select_related("parent"))))


def verification_queue(*, user: User, store: Store) -> QuerySet[Application]:
    """The store's pending applications, oldest first, with what the manager decides on: the lead (its grade, last
    contact, first visit), the reasons and, annotated in the same query, the lead's visit and follow-up counts."""
    return (application_list(user=user).filter(store=store, status=ApplicationStatus.PENDING)
            .select_related("lead__series")
            .annotate(visit_count=Count("lead__visits", distinct=True),
                      follow_up_count=Count("lead__follow_ups", distinct=True))
            .order_by("applied_at", "pk"))


@dataclass
class Evidence:
    follow_ups: list = field(default_factory=list)
    grades: list = field(default_factory=list)


def evidence_for(applications: list[Application], *, follow_ups: int = 3, grades: int = 4) -> dict[int, Evidence]:
    """The last follow-ups and grade changes of each application's lead: two queries for the whole page (window
    functions keep only the newest rows per lead)."""
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    lead_ids = [a.lead_id for a in applications]
    out: dict[int, Evidence] = {lid: Evidence() for lid in lead_ids}
    if not lead_ids:
        return out
    fus = (FollowUp.objects.filter(lead_id__in=lead_ids)
           .annotate(rn=Window(RowNumber(), partition_by=[F("lead_id")], order_by=[F("occurred_at").desc()]))
           .select_related("created_by").order_by("lead_id", "-occurred_at"))
    for fu in fus:
        if fu.rn <= follow_ups:
            out[fu.lead_id].follow_ups.append(fu)
    gcs = (GradeChange.objects.filter(lead_id__in=lead_ids)
           .annotate(rn=Window(RowNumber(), partition_by=[F("lead_id")], order_by=[F("changed_at").desc()]))
           .order_by("lead_id", "-changed_at"))
    for gc in gcs:
        if gc.rn <= grades:
            out[gc.lead_id].grades.append(gc)
    return out


def pool_list(*, user: User, store: Store | None = None, brand_id: int | None = None,
              series_id: int | None = None, due_only: bool = False, status: str = PoolStatus.IN_POOL,
              now: datetime | None = None, list_: str | None = PoolList.COMPETITOR,
              q: str = "") -> QuerySet[PoolEntry]:
    """The competitor pool (``list_`` competitor) or the nurture list (``nurture``; None: both) the user may see
    (owner: their entries; managers: the store's), next contact first; ``q`` searches them
    (models.pool_search_condition: name, series, phone within the masking rule)."""
    qs = PoolEntry.objects.visible_to(user).filter(status=status)
    if list_:
        qs = qs.filter(list=list_)
    qs = (qs
          .select_related("lead", "store", "owner", "competitor_brand", "competitor_series__brand",
                          "application__our_series"))
    if store is not None:
        qs = qs.filter(store=store)
    if brand_id:
        qs = qs.filter(competitor_brand_id=brand_id)
    if series_id:
        qs = qs.filter(competitor_series_id=series_id)
    if due_only:
        now = now or timezone.now()
        qs = qs.filter(Q(next_contact_at__lte=now) | Q(replacement_due_on__lte=timezone.localdate(now)))
    if q.strip():
        qs = qs.filter(pool_search_condition(q, user=user))
    return qs.order_by("next_contact_at", "pk")


def pool_entry_for_phone(*, store: Store, phone: str) -> PoolEntry | None:
    """The store's customer in the competitor pool or on the nurture list (still in it) with this whole (raw)
    phone, or None: the visit form's hint. A partial or invalid phone matches nothing."""
    from leads.phones import phone_normalize

    try:
        phone = phone_normalize(phone)
    except ValidationError:
        return None
    if not phone:
        return None
    return (PoolEntry.objects.filter(store=store, lead__phone=phone, status=PoolStatus.IN_POOL)
            .select_related("lead", "competitor_series__brand").first())


def lead_defeat_events(*, lead: Lead) -> list[DefeatEvent]:
    """Every step of the defeat workflow on the lead, newest first, each with its application (kind, competitor,
    price gap, verdict) and the application's reasons: the lead's timeline shows them. Two queries (the events with
    their people and application; the applications' reasons), whatever the lead's history."""
    return list(
        DefeatEvent.objects.filter(lead=lead)
        .select_related("by", "to_user", "application__competitor_brand", "application__competitor_series__brand")
        .prefetch_related(Prefetch("application__reasons", queryset=Reason.objects.order_by("sort_order", "pk")))
        .order_by("-at", "-pk")
    )


def lead_defeat_entries(lead: Lead):
    """The lead timeline's hook (leads.extensions.TimelineKind): ``(at, event)`` per step of the defeat workflow."""
    return [(event.at, event) for event in lead_defeat_events(lead=lead)]


def talk_tracks_for(*, group_id: int, reason_ids, series_id: int | None = None) -> list[TalkTrack]:
    """For each reason, the track written for the series if there is one, else the reason's general track."""
    rows = list(TalkTrack.objects.filter(group_id=group_id, reason_id__in=list(reason_ids))
                .filter(Q(series__isnull=True) | Q(series_id=series_id))
                .select_related("reason", "series"))
    best = {}
    for row in rows:
        if row.reason_id not in best or row.series_id is not None:
            best[row.reason_id] = row
    return sorted(best.values(), key=lambda t: (t.reason.sort_order, t.reason_id))


def pending_counts(*, user: User, stores: list[Store] | None = None, older_than_days: int | None = None) -> int:
    qs = Application.objects.visible_to(user).filter(status=ApplicationStatus.PENDING)
    if stores is not None:
        qs = qs.filter(store__in=stores)
    if older_than_days is not None:
        qs = qs.filter(applied_at__lt=timezone.now() - timedelta(days=older_than_days))
    return qs.count()


# --- figures --------------------------------------------------------------------------------------------------------


@dataclass
class Period:
    start: date
    end: date  # inclusive

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        tz = timezone.get_current_timezone()
        return (datetime.combine(self.start, time.min, tzinfo=tz),
                datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz))

    def year_before(self) -> Period:
        def back(d: date) -> date:
            try:
                return d.replace(year=d.year - 1)
            except ValueError:  # 29 February
                return d.replace(year=d.year - 1, day=28)

        return Period(back(self.start), back(self.end))


def _rates(row: dict) -> dict:
    deals, defeats, rejected = row.get("deals"), row.get("defeats") or 0, row.get("rejected") or 0
    row.setdefault("quasi_defeats", 0)
    decided = defeats + (row["quasi_defeats"] or 0) + rejected
    row["decided"] = decided
    if deals is None:
        row["defeat_rate"] = None
    else:
        row["defeat_rate"] = round(defeats / (deals + defeats), 4) if deals + defeats else None
    row["false_defeat_rate"] = round(rejected / decided, 4) if decided else None
    return row


def _scoped_apps(user: User, stores, consultant, series=None):
    qs = Application.objects.visible_to(user)
    if stores:
        qs = qs.filter(store__in=stores)
    if consultant is not None:
        qs = qs.filter(consultant=consultant)
    if series is not None:
        qs = qs.filter(our_series=series)
    return qs


def _scoped_deals(user: User, stores, consultant, series=None):
    # A lead with a deal is always won (deal_record, lead_merge): saying so lets PostgreSQL read the store's won
    # leads (index defeats_lead_store_won) instead of all its leads.
    qs = Deal.objects.visible_to(user).filter(lead__status=LeadStatus.WON)
    if stores:
        qs = qs.filter(lead__store__in=stores)
    if consultant is not None:
        qs = qs.filter(lead__assigned_to=consultant)
    if series is not None:
        qs = qs.filter(series=series)
    return qs


def _scoped_winbacks(user: User, stores, consultant, series=None):
    qs = DefeatEvent.objects.filter(kind=EventKind.WON_BACK,
                                    application__in=_scoped_apps(user, stores, consultant, series).values("pk"))
    return qs


def _app_aggregates(lo, hi) -> dict:
    applied = Q(applied_at__gte=lo, applied_at__lt=hi)
    decided = Q(decided_at__gte=lo, decided_at__lt=hi)
    # No DISTINCT: grouped by reason, an application is one row per reason (unique per application and reason).
    return {
        "applications": Count("pk", filter=applied),
        "pending": Count("pk", filter=applied & Q(status=ApplicationStatus.PENDING)),
        "defeats": Count("pk", filter=decided & Q(status=ApplicationStatus.CONFIRMED, kind=Kind.DEFEAT)),
        "quasi_defeats": Count("pk", filter=decided & Q(status=ApplicationStatus.CONFIRMED, kind=Kind.QUASI)),
        "rejected": Count("pk", filter=decided & Q(status=ApplicationStatus.REJECTED)),
    }


def defeat_metrics(*, user: User, period: Period, stores: list[Store] | None = None, consultant: User | None = None,
                   group_by: str | None = None, with_reasons: bool = True, total: dict | None = None,
                   series: VehicleSeries | None = None) -> dict:
    """The figures (module docstring) as ``{...figures, "by_reason": [...]}``; with ``group_by``
    ``{"results": [{"key", "label", ...figures}], "total": {...}}``. ``total``: the ungrouped figures when the caller
    has them already (three queries saved). ``series``: one of our series (applications of its leads, its deals)."""
    if group_by is not None and group_by not in GROUP_BY:
        raise ValueError(f"unknown group_by {group_by!r}")
    lo, hi = period.bounds
    apps = _scoped_apps(user, stores, consultant, series).filter(
        Q(applied_at__gte=lo, applied_at__lt=hi) | Q(decided_at__gte=lo, decided_at__lt=hi))
    deals = _scoped_deals(user, stores, consultant, series).filter(ordered_at__gte=period.start,
                                                                   ordered_at__lte=period.end)
    winbacks = _scoped_winbacks(user, stores, consultant, series).filter(at__gte=lo, at__lt=hi)

    if group_by is None and with_reasons and total is None and connection.vendor == "postgresql":
        return _figures_with_reasons(apps, deals, winbacks, lo, hi)  # one statement; elsewhere the general path
    # By month every application, deal and win-back of the period falls in exactly one month: the total is the sum
    # of the months (three queries saved).
    total_from_months = group_by == "month" and total is None
    if total is None and not total_from_months:
        total = apps.aggregate(**_app_aggregates(lo, hi))
        total["deals"] = deals.count()
        total["win_backs"] = winbacks.count()
        total = _rates(total)
    if group_by is None:
        if with_reasons:
            total["by_reason"] = defeat_metrics(user=user, period=period, stores=stores, consultant=consultant,
                                                group_by="reason", with_reasons=False, total=total,
                                                series=series)["results"]
        return total

    rows: dict = defaultdict(lambda: {"applications": 0, "pending": 0, "defeats": 0, "quasi_defeats": 0,
                                      "rejected": 0, "deals": 0, "win_backs": 0})
    if group_by == "price_cause":
        apps = apps.exclude(price_cause="")
        winbacks = winbacks.exclude(application__price_cause="")
    if group_by == "month":
        tz = timezone.get_current_timezone()
        applied = (apps.filter(applied_at__gte=lo, applied_at__lt=hi)
                   .annotate(k=TruncMonth("applied_at", tzinfo=tz)).values("k")
                   .annotate(applications=Count("pk"),
                             pending=Count("pk", filter=Q(status=ApplicationStatus.PENDING))))
        for r in applied:
            key = r["k"].date().isoformat()[:7]
            rows[key]["applications"] += r["applications"]
            rows[key]["pending"] += r["pending"]
        decided = (apps.filter(decided_at__gte=lo, decided_at__lt=hi)
                   .annotate(k=TruncMonth("decided_at", tzinfo=tz)).values("k")
                   .annotate(defeats=Count("pk", filter=Q(status=ApplicationStatus.CONFIRMED, kind=Kind.DEFEAT)),
                             quasi_defeats=Count("pk", filter=Q(status=ApplicationStatus.CONFIRMED,
                                                                kind=Kind.QUASI)),
                             rejected=Count("pk", filter=Q(status=ApplicationStatus.REJECTED))))
        for r in decided:
            key = r["k"].date().isoformat()[:7]
            rows[key]["defeats"] += r["defeats"]
            rows[key]["quasi_defeats"] += r["quasi_defeats"]
            rows[key]["rejected"] += r["rejected"]
        for r in deals.annotate(k=TruncMonth("ordered_at")).values("k").annotate(n=Count("pk")):
            rows[r["k"].isoformat()[:7]]["deals"] += r["n"]
        for r in winbacks.annotate(k=TruncMonth("at", tzinfo=tz)).values("k").annotate(n=Count("pk")):
            rows[r["k"].date().isoformat()[:7]]["win_backs"] += r["n"]
        labels = {k: k for k in rows}
    else:
        app_key, deal_key, wb_key = _KEYS[group_by]
        for r in apps.values(app_key).annotate(**_app_aggregates(lo, hi)):
            k = r.pop(app_key)
            for f, v in r.items():
                rows[k][f] += v
        if deal_key is not None:
            for r in deals.values(deal_key).annotate(n=Count("pk")):
                rows[r[deal_key]]["deals"] += r["n"]
        for r in winbacks.values(wb_key).annotate(n=Count("pk")):
            rows[r[wb_key]]["win_backs"] += r["n"]
        labels = _labels(group_by, list(rows))
        if deal_key is None:
            for r in rows.values():
                r["deals"] = None
    if total_from_months:
        total = _rates({f: sum(row[f] for row in rows.values())
                        for f in ("applications", "pending", "defeats", "quasi_defeats", "rejected", "deals",
                                  "win_backs")})
    results = []
    for key, row in rows.items():
        row = _rates(dict(row))
        results.append({"key": key, "label": labels.get(key, ""), **row})
    if group_by == "month":
        results.sort(key=lambda r: r["key"])
    else:
        results.sort(key=lambda r: (-(r["defeats"] or 0), -(r["applications"] or 0), str(r["label"])))
    if group_by == "competitor_brand":
        _attach_brand_reasons(results, apps.filter(status=ApplicationStatus.CONFIRMED, kind=Kind.DEFEAT,
                                                   decided_at__gte=lo, decided_at__lt=hi))
    if group_by in stages.STAGE_KEYS:
        stages.attach_reasons(results, apps, key=group_by, start_at=lo, end_at=hi)
    if group_by in ("reason", "reason_category", "price_cause"):
        codes = labels.get("codes", {})
        for r in results:
            r["code"] = codes.get(r["key"], "")
            r["deals"] = None
            r["defeat_rate"] = None
        total_nodeals = {k: v for k, v in total.items() if k != "by_reason"}
    else:
        total_nodeals = total
    return {"results": results, "total": total_nodeals}


def funnel_figures(*, user: User, period: Period, stores: list[Store] | None = None,
                   consultant: User | None = None) -> dict:
    """The funnel dashboard's defeat figures (control point 7, sales capability) for its slice: ``total`` (the
    figures of ``defeat_metrics`` without by_reason, plus ``pending_now``: applications awaiting a verdict today,
    whenever filed) and ``rows``: the same per consultant (who held the lead when it was filed; for deals, who holds
    the won lead), for the control-point table. Three queries (applications by consultant; deals by holder;
    win-backs), whatever the number of consultants: the KPI cards and the table share them. For one store (no
    consultant) also ``target``: the store's defeat-rate target line of ``target_progress`` for the year of the
    period's end, up to the period's end (three queries more)."""
    lo, hi = period.bounds
    pending = Q(status=ApplicationStatus.PENDING)
    apps = _scoped_apps(user, stores, consultant).filter(
        Q(applied_at__gte=lo, applied_at__lt=hi) | Q(decided_at__gte=lo, decided_at__lt=hi) | pending)
    empty = {"applications": 0, "pending": 0, "defeats": 0, "quasi_defeats": 0, "rejected": 0, "pending_now": 0,
             "deals": 0}
    rows: dict = defaultdict(lambda: dict(empty))
    for r in (apps.values("consultant").annotate(**_app_aggregates(lo, hi), pending_now=Count("pk", filter=pending))
              .order_by()):
        rows[r.pop("consultant")].update(r)
    deals = _scoped_deals(user, stores, consultant).filter(ordered_at__gte=period.start, ordered_at__lte=period.end)
    for r in deals.values("lead__assigned_to").annotate(n=Count("pk")).order_by():
        rows[r["lead__assigned_to"]]["deals"] = r["n"]
    total = {k: sum(row[k] for row in rows.values()) for k in empty}
    total["win_backs"] = _scoped_winbacks(user, stores, consultant).filter(at__gte=lo, at__lt=hi).count()
    out = {"total": _rates(total), "rows": {k: _rates(row) for k, row in rows.items()}}
    if stores and len(stores) == 1 and consultant is None:
        # The store's defeat-rate target for the year of the period's end, its progress so far and against last
        # year (three queries): the dashboard's target card.
        today = min(timezone.localdate(), period.end)
        out["target"] = target_progress(user=user, year=period.end.year, stores=stores, today=today)["rows"][0]
    return out


# The ungrouped figures and the figures by reason in one statement: the period's applications are read once (a
# materialised CTE), the deals and the win-backs are scalar subqueries, and the win-backs by reason a last branch.
# ``part`` 0 is the total, 1 the applications by reason, 2 the win-backs by reason.
_WITH_REASONS = """
WITH a AS MATERIALIZED ({apps}),
w AS MATERIALIZED ({winbacks})
SELECT 0, NULL::bigint,
  count(*) FILTER (WHERE a.applied_at >= %s AND a.applied_at < %s),
  count(*) FILTER (WHERE a.applied_at >= %s AND a.applied_at < %s AND a.status = 'pending'),
  count(*) FILTER (WHERE a.decided_at >= %s AND a.decided_at < %s AND a.status = 'confirmed' AND a.kind = 'defeat'),
  count(*) FILTER (WHERE a.decided_at >= %s AND a.decided_at < %s AND a.status = 'confirmed' AND a.kind = 'quasi'),
  count(*) FILTER (WHERE a.decided_at >= %s AND a.decided_at < %s AND a.status = 'rejected'),
  (SELECT count(*) FROM ({deals}) d), (SELECT count(*) FROM w), NULL, NULL, NULL
FROM a
UNION ALL
SELECT 1, r.reason_id,
  count(*) FILTER (WHERE a.applied_at >= %s AND a.applied_at < %s),
  count(*) FILTER (WHERE a.applied_at >= %s AND a.applied_at < %s AND a.status = 'pending'),
  count(*) FILTER (WHERE a.decided_at >= %s AND a.decided_at < %s AND a.status = 'confirmed' AND a.kind = 'defeat'),
  count(*) FILTER (WHERE a.decided_at >= %s AND a.decided_at < %s AND a.status = 'confirmed' AND a.kind = 'quasi'),
  count(*) FILTER (WHERE a.decided_at >= %s AND a.decided_at < %s AND a.status = 'rejected'), NULL, NULL,
  min(rr.code), min(rr.name), min(rr.name_en)
FROM a JOIN defeats_applicationreason r ON r.application_id = a.id JOIN defeats_reason rr ON rr.id = r.reason_id
GROUP BY r.reason_id
UNION ALL
SELECT 2, r.reason_id, NULL, NULL, NULL, NULL, NULL, NULL, count(*), min(rr.code), min(rr.name), min(rr.name_en)
FROM w JOIN defeats_applicationreason r ON r.application_id = w.application_id
JOIN defeats_reason rr ON rr.id = r.reason_id
GROUP BY r.reason_id
"""


def _figures_with_reasons(apps, deals, winbacks, lo, hi) -> dict:
    """``defeat_metrics`` ungrouped with ``by_reason``, as the grouped path computes them, in one query (instead of
    six): the API's default answer (one store-month: see benchmarks/README.md, "Defeats")."""
    apps_sql, apps_params = apps.order_by().values("id", "status", "kind", "applied_at", "decided_at").query.sql_with_params()
    deals_sql, deals_params = deals.order_by().values("pk").query.sql_with_params()
    wb_sql, wb_params = winbacks.order_by().values("application_id").query.sql_with_params()
    period = [lo, hi] * 5
    with connection.cursor() as cursor:
        cursor.execute(_WITH_REASONS.format(apps=apps_sql, winbacks=wb_sql, deals=deals_sql),
                       [*apps_params, *wb_params, *period, *deals_params, *period])
        fetched = cursor.fetchall()
    total: dict = {}
    rows: dict = defaultdict(lambda: {"applications": 0, "pending": 0, "defeats": 0, "quasi_defeats": 0,
                                      "rejected": 0, "deals": None, "win_backs": 0})
    names: dict = {}
    for part, key, applications, pending, defeats, quasi, rejected, deals_n, win_backs, code, name, name_en in fetched:
        if part == 0:
            total = _rates({"applications": applications, "pending": pending, "defeats": defeats,
                            "quasi_defeats": quasi, "rejected": rejected, "deals": deals_n, "win_backs": win_backs})
            continue
        names[key] = (code, Reason(name=name, name_en=name_en).label)
        if part == 1:
            rows[key].update(applications=applications, pending=pending, defeats=defeats, quasi_defeats=quasi,
                             rejected=rejected)
        else:
            rows[key]["win_backs"] = win_backs
    results = [{"key": key, "label": names[key][1], **_rates(dict(row)), "code": names[key][0],
                "defeat_rate": None} for key, row in rows.items()]
    results.sort(key=lambda r: (-(r["defeats"] or 0), -(r["applications"] or 0), str(r["label"])))
    total["by_reason"] = results
    return total


def _labels(group_by: str, keys: list) -> dict:
    ids = [k for k in keys if k is not None]
    if group_by == "store":
        names = dict(Store.objects.filter(pk__in=ids).values_list("pk", "name"))
    elif group_by == "consultant":
        names = {u.pk: str(u) for u in User.objects.filter(pk__in=ids)}
    elif group_by in ("our_series", "competitor_series"):
        names = {s.pk: f"{s.brand.label} {s.label}" for s in VehicleSeries.objects.filter(pk__in=ids)
                 .select_related("brand")}
    elif group_by == "competitor_brand":
        names = {b.pk: b.label for b in VehicleBrand.objects.filter(pk__in=ids)}
    elif group_by in ("reason", "reason_category"):
        rows = list(Reason.objects.filter(pk__in=ids))
        names = {r.pk: r.label for r in rows}
        names["codes"] = {r.pk: r.code for r in rows}
    elif group_by == "price_cause":
        names = {k: str(PriceCause(k).label) if k in PriceCause.values else k for k in ids}
        names["codes"] = {k: k for k in ids}
    elif group_by in stages.STAGE_KEYS:
        names = {k: str(Grade(k).label) for k in ids if k in Grade.values}
    else:
        from leads.models import Source

        names = {k: str(Source(k).label) if k in Source.values else k for k in ids}
    names[None] = ""
    return names


def _attach_brand_reasons(results: list[dict], defeats) -> None:
    """Each competitor-brand row gets ``reasons``: that brand's own top reasons among ``defeats`` (the confirmed
    defeats of the period), ``BRAND_TOP_REASONS`` at most, by count, ties in the taxonomy's order. One aggregate."""
    per_brand: dict = defaultdict(list)
    for r in (defeats.exclude(reason_rows__reason=None).values("competitor_brand", "reason_rows__reason")
              .annotate(n=Count("pk")).order_by()):
        per_brand[r["competitor_brand"]].append((r["reason_rows__reason"], r["n"]))
    reasons = {x.pk: x for x in Reason.objects.filter(pk__in={k for v in per_brand.values() for k, _n in v})}
    for row in results:
        row["reasons"] = [{"code": reasons[k].code, "label": reasons[k].label, "defeats": n}
                          for k, n in _top(per_brand.get(row["key"], []), reasons)]


def _top(pairs, reasons) -> list:
    return sorted(pairs, key=lambda kn: (-kn[1], reasons[kn[0]].sort_order, reasons[kn[0]].code))[:BRAND_TOP_REASONS]


USED_ROW, OTHER_ROW = "used", "other"


def competitor_table(*, user: User, period: Period, stores: list[Store] | None = None,
                     series: VehicleSeries | None = None) -> list[dict]:
    """The method's competitor table, per segment of ours (our series' segment; when the lead had no series of ours,
    the segment of the competitor's series bought: the customer was shopping in it): each competitor brand with
    its confirmed defeats in ``period`` and in the same days a year earlier, and *that brand's* main reasons (top
    ``BRAND_TOP_REASONS`` by count in ``period``, ties in the taxonomy's order); then the row 二手 (defeats to a used
    car: the reason ``bought_used``, no competitor brand) and the row 其他 (the other defeats without a competitor
    brand: lost contact). Confirmed defeats only (quasi-defeats have bought nothing). Two aggregates.

    Returns ``[{"segment", "segment_label", "rows": [{"key": brand id | "used" | "other", "label", "defeats",
    "previous", "change", "reasons": [{"code", "label", "defeats"}]}], "defeats", "previous"}]``, segments by
    their defeats, rows by defeats then name, 二手 and 其他 last."""
    from django.db.models import Exists, OuterRef
    from django.db.models.functions import Coalesce

    from dealercrm.models import Segment

    from .models import ApplicationReason

    prev = period.year_before()
    lo, hi = period.bounds
    plo, phi = prev.bounds
    now_q, prev_q = Q(decided_at__gte=lo, decided_at__lt=hi), Q(decided_at__gte=plo, decided_at__lt=phi)
    qs = _scoped_apps(user, stores, None).filter(status=ApplicationStatus.CONFIRMED, kind=Kind.DEFEAT).filter(
        now_q | prev_q)
    if series is not None:
        qs = qs.filter(our_series=series)
    qs = qs.annotate(used=Exists(ApplicationReason.objects.filter(application=OuterRef("pk"),
                                                                  reason__code=USED_REASON)),
                     segment=Coalesce("our_series__segment", "competitor_series__segment"))

    def row_key(brand, used):
        return brand if brand is not None else (USED_ROW if used else OTHER_ROW)

    table: dict = {}
    for r in (qs.values("segment", "competitor_brand", "used")
              .annotate(n=Count("pk", filter=now_q), p=Count("pk", filter=prev_q)).order_by()):
        seg = table.setdefault(r["segment"], {})
        row = seg.setdefault(row_key(r["competitor_brand"], r["used"]), {"defeats": 0, "previous": 0, "reasons": []})
        row["defeats"] += r["n"]
        row["previous"] += r["p"]
    for r in (qs.filter(now_q).exclude(reason_rows__reason=None)
              .values("segment", "competitor_brand", "used", "reason_rows__reason")
              .annotate(n=Count("pk")).order_by()):
        table[r["segment"]][row_key(r["competitor_brand"], r["used"])]["reasons"].append(
            (r["reason_rows__reason"], r["n"]))
    brand_ids = {k for seg in table.values() for k in seg if isinstance(k, int)}
    brands = {b.pk: b.label for b in VehicleBrand.objects.filter(pk__in=brand_ids)}
    reasons = {x.pk: x for x in Reason.objects.filter(pk__in={k for seg in table.values() for row in seg.values()
                                                              for k, _n in row["reasons"]})}
    special = {USED_ROW: (1, pgettext("competitor table row: used cars", "Used (二手)")),
               OTHER_ROW: (2, pgettext("competitor table row: other", "Other (其他)"))}
    out = []
    for segment, seg in table.items():
        rows = []
        for key, row in seg.items():
            rank, label = special.get(key, (0, brands.get(key, "")))
            rows.append({"key": key, "label": str(label), "rank": rank, "defeats": row["defeats"],
                         "previous": row["previous"], "change": row["defeats"] - row["previous"],
                         "reasons": [{"code": reasons[k].code, "label": reasons[k].label, "defeats": n}
                                     for k, n in _top(row["reasons"], reasons)]})
        rows.sort(key=lambda r: (r["rank"], -r["defeats"], -r["previous"], r["label"]))
        for r in rows:
            del r["rank"]
        out.append({"segment": segment or "",
                    "segment_label": str(Segment(segment).label) if segment in Segment.values else "—",
                    "rows": rows, "defeats": sum(r["defeats"] for r in rows),
                    "previous": sum(r["previous"] for r in rows)})
    out.sort(key=lambda seg: (-seg["defeats"], seg["segment_label"]))
    return out


def pool_figures(*, user: User, period: Period, stores: list[Store] | None = None) -> dict:
    """What the pool owner (and the consultants, for their nurture list) work on, as the lists' own figures, per list
    (``competitor``: the competitor pool; ``nurture``: the nurture list of quasi-defeats): ``in_list`` now,
    ``joined`` in the period, ``contacts`` logged in the period (win-backs included), ``due`` now (a nurture or
    replacement contact due), ``won_back`` in the period. Scoped like the pool page. Two aggregates."""
    lo, hi = period.bounds
    now = timezone.now()
    today = timezone.localdate(now)
    entries = PoolEntry.objects.visible_to(user)
    contacts = NurtureContact.objects.visible_to(user).filter(occurred_at__gte=lo, occurred_at__lt=hi)
    if stores:
        entries = entries.filter(store__in=stores)
        contacts = contacts.filter(entry__store__in=stores)
    in_pool = Q(status=PoolStatus.IN_POOL)
    out = {k: {"in_list": 0, "joined": 0, "contacts": 0, "due": 0, "won_back": 0} for k in PoolList.values}
    for r in (entries.values("list").annotate(
            in_list=Count("pk", filter=in_pool), joined=Count("pk", filter=Q(joined_at__gte=lo, joined_at__lt=hi)),
            due=Count("pk", filter=in_pool & (Q(next_contact_at__lte=now) | Q(replacement_due_on__lte=today))),
            won_back=Count("pk", filter=Q(status=PoolStatus.WON_BACK, won_back_at__gte=lo, won_back_at__lt=hi)))
              .order_by()):
        out[r.pop("list")].update(r)
    for r in contacts.values("entry__list").annotate(n=Count("pk")).order_by():
        out[r["entry__list"]]["contacts"] = r["n"]
    return out


def target_progress(*, user: User, year: int, stores: list[Store] | None = None,
                    today: date | None = None, series: VehicleSeries | None = None) -> dict:
    """The defeat-rate target's progress for ``year``, per store the user may see (or ``stores``): ``target`` (0..1,
    or None when none is set), ``defeat_rate`` over the year so far (1 January to today, or the whole year when
    past), ``last_year`` over the same days a year earlier, ``change_pp``: this year minus last in percentage points
    (negative: the rate fell, 较去年同比下降), ``gap_pp``: this year minus the target in percentage points (positive:
    above the target), with ``defeats``, ``quasi_defeats`` and ``deals`` (orders of the days). ``total``: the same
    over the stores together (no target). Three queries whatever the number of stores (the confirmed applications by
    store, this year and last, with conditional counts; the deals likewise; the targets)."""
    from .models import DefeatTarget

    today = today or timezone.localdate()
    period = Period(date(year, 1, 1), min(today, date(year, 12, 31)))
    prev = period.year_before()
    stores = list(stores) if stores else list(Store.objects.visible_to(user).order_by("name"))
    lo, hi = period.bounds
    plo, phi = prev.bounds
    now_q, prev_q = Q(decided_at__gte=lo, decided_at__lt=hi), Q(decided_at__gte=plo, decided_at__lt=phi)
    confirmed = Q(status=ApplicationStatus.CONFIRMED)
    counts: dict = defaultdict(lambda: {"defeats": 0, "quasi_defeats": 0, "deals": 0, "last_defeats": 0,
                                        "last_deals": 0})
    for r in (_scoped_apps(user, stores, None, series).filter(confirmed & (now_q | prev_q)).values("store")
              .annotate(d=Count("pk", filter=now_q & Q(kind=Kind.DEFEAT)),
                        q=Count("pk", filter=now_q & Q(kind=Kind.QUASI)),
                        p=Count("pk", filter=prev_q & Q(kind=Kind.DEFEAT))).order_by()):
        counts[r["store"]].update(defeats=r["d"], quasi_defeats=r["q"], last_defeats=r["p"])
    now_d = Q(ordered_at__gte=period.start, ordered_at__lte=period.end)
    prev_d = Q(ordered_at__gte=prev.start, ordered_at__lte=prev.end)
    for r in (_scoped_deals(user, stores, None, series).filter(now_d | prev_d).values("lead__store")
              .annotate(n=Count("pk", filter=now_d), p=Count("pk", filter=prev_d)).order_by()):
        counts[r["lead__store"]].update(deals=r["n"], last_deals=r["p"])
    targets = dict(DefeatTarget.objects.visible_to(user).filter(store__in=stores, year=year)
                   .values_list("store_id", "rate"))

    def rate(defeats, deals):
        return round(defeats / (deals + defeats), 4) if deals + defeats else None

    def pp(a, b):
        return None if a is None or b is None else round((float(a) - float(b)) * 100, 1)

    def line(c: dict, target) -> dict:
        this, last = rate(c["defeats"], c["deals"]), rate(c["last_defeats"], c["last_deals"])
        return {"target": float(target) if target is not None else None, "defeat_rate": this, "last_year": last,
                "change_pp": pp(this, last), "gap_pp": pp(this, target), "defeats": c["defeats"],
                "quasi_defeats": c["quasi_defeats"], "deals": c["deals"]}

    rows = [{"store": st.pk, "label": st.name, **line(counts[st.pk], targets.get(st.pk))} for st in stores]
    total = {k: sum(counts[st.pk][k] for st in stores) for k in ("defeats", "quasi_defeats", "deals",
                                                                  "last_defeats", "last_deals")}
    return {"year": year, "start": period.start, "end": period.end, "rows": rows, "total": line(total, None)}


def store_consultants(store: Store) -> QuerySet[User]:
    return User.objects.filter(store=store, is_active=True, role__in=[Role.CONSULTANT, Role.MANAGER]).order_by(
        "role", "username")


def last_follow_up_outcome(lead: Lead) -> str | None:
    return (FollowUp.objects.filter(lead=lead).order_by("-occurred_at", "-pk").values_list("outcome", flat=True)
            .first())

