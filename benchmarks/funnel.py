"""bench_funnel: time the funnel API against the hand-written SQL that computes the same figures (the floor).

Run on the seed_bench data set (see benchmarks/README.md). For each case, p50 and p95 over repeated calls (no figures
cache is involved): the full API request in-process (DRF, authentication with a real token, serialisation), the
selector alone (ORM), and the floor. Each floor computes exactly the figures the API answers, and ``bench`` checks
that on the data before timing (funnel/tests/test_bench_floor.py holds them equal on hand-made data):

- metrics (one store-month; the whole group over 12 months by month): one statement over the tables the API reads,
  the rollups ``funnel_cohortday`` and ``funnel_revisitday`` summed over the store-days with no mark, the marked
  store-days counted live from the leads and visits (as funnel.selectors does, so the floor is exact whether or not
  the rollups are drained), and M, the market estimates prorated by the days of each month the period (or the month
  group) covers; grouped by month, with the total as a grouping set. Beside it, ``live``: the same figures counted
  from the leads and visits alone, what the API computed before the rollups.
- ladder (one store-year): the active leads per grade now and the promotion rates from the grade changes, the base
  tables the API reads.
- stage times: the selector's own statements replayed through the cursor."""


from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from dealercrm.models import DealerGroup, Role, Store, User
from funnel import calc, selectors
from funnel.selectors import RUNG_NAMES, Slice
from leads.models import Source, Status

BENCH_GROUP = "Bench Auto Group"


def token_client(user: User) -> APIClient:
    """An API client that authenticates as a REST client does: with the user's token in the Authorization header,
    checked by DRF's TokenAuthentication on every call (a user and token look-up), not force_authenticate."""
    from rest_framework.authtoken.models import Token

    token, _created = Token.objects.get_or_create(user=user)
    api = APIClient(SERVER_NAME="localhost")
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


@dataclass
class Timing:
    name: str
    p50: float
    p95: float

    @classmethod
    def measure(cls, name: str, fn: Callable[[], object], *, iterations: int, warmup: int = 3) -> Timing:
        for _ in range(warmup):
            fn()
        samples = []
        for _ in range(iterations):
            started = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        p95 = samples[min(len(samples) - 1, round(0.95 * len(samples)) - 1)]
        return cls(name=name, p50=statistics.median(samples), p95=p95)


@dataclass
class Case:
    title: str
    goal: str
    api: Timing
    orm: Timing
    floor: Timing
    live: Timing | None = None  # the metrics counted from the leads, as before the rollups

    @property
    def ratio(self) -> float:
        return self.api.p50 / self.floor.p50 if self.floor.p50 else float("nan")


def _sql(statement: str, params: list) -> Callable[[], list]:
    def run():
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()

    return run


# --- the metrics floor ---------------------------------------------------------------------------------------------

SOURCES = tuple(Source.values)
GRADES = ("A", "B", "C", "D", "E")
WON, MERGED = Status.WON.value, Status.MERGED.value
# The floor's count columns, in this order (the API's N, N by source, valid, followed, deals, P counts, units).
COUNTS = ("n", *(f"n_{source}" for source in SOURCES), "valid", "followed", "deals",
          *(f"p_{g.lower()}" for g in GRADES), "units")

_ROLLUP_SUMS = ", ".join([
    "sum(r.n) AS n",
    *(f"sum(r.n) FILTER (WHERE r.source = '{source}') AS n_{source}" for source in SOURCES),
    *(f"sum(r.{column}) AS {column}" for column in COUNTS[1 + len(SOURCES):]),
])
_VALID = f"l.phone <> '' AND (l.g IS NOT NULL OR l.status = '{WON}')"
_LEAD_COUNTS = ", ".join([
    "count(*) AS n",
    *(f"count(*) FILTER (WHERE l.source = '{source}') AS n_{source}" for source in SOURCES),
    f"count(*) FILTER (WHERE {_VALID}) AS valid",
    f"count(*) FILTER (WHERE {_VALID} AND (l.first_follow_up_at IS NOT NULL OR l.status = '{WON}')) AS followed",
    f"count(*) FILTER (WHERE l.status = '{WON}') AS deals",
    *(f"count(*) FILTER (WHERE l.phone <> '' AND l.g = '{g}') AS p_{g.lower()}" for g in GRADES),
    f"coalesce(sum(l.units) FILTER (WHERE l.status = '{WON}'), 0) AS units",
])

# The grade P, K and F read: the current one when the period reaches today, else the grade as of the period's end,
# looked up only for the leads regraded since (funnel.selectors._grade_as_of_end).
GRADE_NOW = "l.grade"
GRADE_AS_OF_END = (
    "CASE WHEN l.grade_since IS NULL OR l.grade_since < %(end)s THEN l.grade ELSE ("
    "SELECT gc.to_grade FROM leads_gradechange gc WHERE gc.lead_id = l.id AND gc.changed_at < %(end)s "
    "ORDER BY gc.changed_at DESC, gc.id DESC LIMIT 1) END"
)
# Which stores (``{a}``: the table's alias): one store, or every store of the group (the group admin's scope).
ONE_STORE = "{a}.store_id = %(store)s"
GROUP_STORES = "{a}.store_id IN (SELECT id FROM dealercrm_store WHERE group_id = %(group)s)"
_MARKED = ("EXISTS (SELECT FROM funnel_rollupmark m WHERE m.kind = '{kind}' AND m.store_id = {a}.store_id "
           "AND m.day = {day})")
_ARRIVAL_DAY = "(v.arrived_at AT TIME ZONE %(tz)s)::date"


def metrics_floor(*, stores: str, by_month: bool, grade: str, rollups: bool = True) -> str:
    """The funnel metrics (``funnel_metrics``, with ``group_by="month"`` when ``by_month``) as one statement. Rows:
    ``(total, month, *COUNTS, revisits, m)``, a row per month and the total (``total`` true); without ``by_month``
    the total alone. Parameters: store or group, start and end (aware: local midnight of the first day and of the
    day after the last), day0 and day1 (the first and last day), month0 (the first day's month), tz.

    ``rollups``: sum the rollup rows of the store-days with no mark, and count the marked store-days' leads and
    re-visits live, as the API does; otherwise count every lead and re-visit (``live``). M: each estimate of the
    months the period touches times the days of its month inside the period over the month's days, exact (numeric);
    rounded half to even when shaped, as Python's ``round`` does the API's sum."""
    def key(day: str) -> str:
        return f"date_trunc('month', {day})::date" if by_month else "NULL::date"

    leads = (f"SELECT l.first_visit_day, l.source, l.phone, l.status, l.first_follow_up_at, d.quantity AS units, "
             f"{grade} AS g FROM leads_lead l LEFT JOIN leads_deal d ON d.lead_id = l.id "
             f"WHERE {stores.format(a='l')} AND l.first_visit_at >= %(start)s AND l.first_visit_at < %(end)s "
             f"AND l.status <> '{MERGED}'")
    visits = (f"SELECT {key(_ARRIVAL_DAY)} AS k, count(*) AS revisits FROM leads_visit v "
              f"WHERE {stores.format(a='v')} AND NOT v.is_first AND v.arrived_at >= %(start)s "
              f"AND v.arrived_at < %(end)s")
    if rollups:
        leads += f" AND {_MARKED.format(kind='c', a='l', day='l.first_visit_day')}"
        visits += f" AND {_MARKED.format(kind='r', a='v', day=_ARRIVAL_DAY)}"
    # OFFSET 0: the grade look-up once per lead, not once per FILTER that reads it.
    cohort = [f"SELECT {key('l.first_visit_day')} AS k, {_LEAD_COUNTS} FROM ({leads} OFFSET 0) l GROUP BY 1"]
    revisits = [f"{visits} GROUP BY 1"]
    if rollups:
        days = f"{stores.format(a='r')} AND r.day >= %(day0)s AND r.day <= %(day1)s"
        cohort.insert(0, f"SELECT {key('r.day')} AS k, {_ROLLUP_SUMS} FROM funnel_cohortday r WHERE {days} "
                         f"AND r.as_of <= %(day1)s AND NOT {_MARKED.format(kind='c', a='r', day='r.day')} GROUP BY 1")
        revisits.insert(0, f"SELECT {key('r.day')} AS k, sum(r.n) AS revisits FROM funnel_revisitday r WHERE {days} "
                           f"AND NOT {_MARKED.format(kind='r', a='r', day='r.day')} GROUP BY 1")
    month_end = "((e.month + interval '1 month')::date - 1)"
    m = (f"SELECT {'e.month' if by_month else 'NULL::date'} AS k, e.estimate::numeric "
         f"* (LEAST({month_end}, %(day1)s) - GREATEST(e.month, %(day0)s) + 1) / ({month_end} - e.month + 1) AS m "
         f"FROM funnel_marketestimate e WHERE {stores.format(a='e')} AND e.month >= %(month0)s "
         f"AND e.month <= %(day1)s")
    zeros = ", ".join(f"0 AS {column}" for column in COUNTS)
    stacked = (f"SELECT k, {', '.join(COUNTS)}, 0 AS revisits, 0 AS m FROM cohort "
               f"UNION ALL SELECT k, {zeros}, revisits, 0 FROM revisits UNION ALL SELECT k, {zeros}, 0, m FROM m")
    sums = ", ".join([*(f"coalesce(sum({column}), 0)::bigint AS {column}" for column in (*COUNTS, "revisits")),
                      "coalesce(sum(m), 0) AS m"])
    head, group_by = (("GROUPING(k) = 1, k", " GROUP BY GROUPING SETS ((k), ())") if by_month
                      else ("true, NULL::date", ""))
    return (f"WITH cohort AS ({' UNION ALL '.join(cohort)}), revisits AS ({' UNION ALL '.join(revisits)}), "
            f"m AS ({m}) SELECT {head}, {sums} FROM ({stacked}) x{group_by}")


# One store, one past month (the grade as of the month's end); the whole group, twelve months to today, by month.
STORE_MONTH_FLOOR = metrics_floor(stores=ONE_STORE, by_month=False, grade=GRADE_AS_OF_END)
STORE_MONTH_LIVE = metrics_floor(stores=ONE_STORE, by_month=False, grade=GRADE_AS_OF_END, rollups=False)
GROUP_YEAR_FLOOR = metrics_floor(stores=GROUP_STORES, by_month=True, grade=GRADE_NOW)
GROUP_YEAR_LIVE = metrics_floor(stores=GROUP_STORES, by_month=True, grade=GRADE_NOW, rollups=False)


def _figures(row: tuple) -> dict:
    counts = dict(zip((*COUNTS, "revisits", "m"), row[2:], strict=True))
    n, valid, followed, deals = counts["n"], counts["valid"], counts["followed"], counts["deals"]
    graded = sum(counts[f"p_{g.lower()}"] for g in GRADES)
    # M is exact here (Decimal): round() of a Decimal rounds half to even, as round() of the API's float sum does.
    m = round(counts["m"]) if counts["m"] else None
    return {
        "N": n, "N_by_source": {source: counts[f"n_{source}"] for source in SOURCES},
        "revisits": counts["revisits"], "valid": valid, "K": calc.rate(valid, n),
        "P": {g: calc.rate(counts[f"p_{g.lower()}"], graded) for g in GRADES},
        "followed": followed, "F": calc.rate(followed, valid), "deals": deals, "units": int(counts["units"]),
        "C": calc.rate(deals, followed), "M": m, "penetration": calc.rate(n, m) if m else None,
    }


def metrics_figures(rows: list[tuple]) -> dict:
    """The metrics API's answer (as JSON) from a metrics floor's one row. The rates are the counts' quotients
    (``calc.rate``, as the API)."""
    (total,) = rows
    return _figures(total)


def monthly_figures(rows: list[tuple]) -> dict:
    """The metrics API's answer with ``group_by=month`` (as JSON) from a by-month floor's rows: each month's figures
    and the total's."""
    total = next(row for row in rows if row[0])
    months = sorted((row for row in rows if not row[0]), key=lambda row: row[1])
    return {"results": [{"key": row[1].isoformat(), "label": row[1].isoformat(), **_figures(row)} for row in months],
            "total": _figures(total)}


# --- the ladder floor ----------------------------------------------------------------------------------------------

# One store, one year: promotion rates from the grade-change spells, and the current ladder counts.
LADDER_FLOOR = f"""
WITH spells AS (
  SELECT gc.lead_id, gc.to_grade AS grade, gc.changed_at AS since,
         LEAD(gc.changed_at) OVER (PARTITION BY gc.lead_id ORDER BY gc.changed_at, gc.id) AS until,
         LEAD(gc.to_grade) OVER (PARTITION BY gc.lead_id ORDER BY gc.changed_at, gc.id) AS next_grade
  FROM leads_gradechange gc JOIN leads_lead l ON l.id = gc.lead_id
  WHERE l.store_id = %(store)s AND l.status <> '{MERGED}' AND gc.changed_at < %(end)s
), held AS (SELECT * FROM spells WHERE until IS NULL OR until >= %(start)s),
e_held AS (SELECT lead_id, min(since) AS e_since FROM held WHERE grade = 'E' GROUP BY lead_id),
a_last AS (SELECT lead_id, max(since) AS a_since FROM spells WHERE grade = 'A' GROUP BY lead_id)
SELECT 'rung', grade, count(DISTINCT lead_id),
       count(DISTINCT lead_id) FILTER (WHERE until IS NOT NULL AND next_grade =
         CASE grade WHEN 'E' THEN 'D' WHEN 'D' THEN 'C' WHEN 'C' THEN 'B' WHEN 'B' THEN 'A' END)
FROM held WHERE grade IN ('E', 'D', 'C', 'B') GROUP BY grade
UNION ALL
SELECT 'rung', 'E->A', count(*), count(*) FILTER (WHERE a.a_since > e.e_since)
FROM e_held e LEFT JOIN a_last a ON a.lead_id = e.lead_id
UNION ALL
SELECT 'now', coalesce(grade, '-'), count(*), NULL FROM leads_lead
WHERE store_id = %(store)s AND status = '{Status.ACTIVE.value}' GROUP BY grade
"""


def ladder_figures(rows: list[tuple]) -> dict:
    """The ladder API's answer (as JSON, without ``by_consultant``) from the ladder floor's rows."""
    rungs = [*RUNG_NAMES.values(), "E->A"]
    held, promoted = dict.fromkeys(rungs, 0), dict.fromkeys(rungs, 0)
    counts, ungraded = dict.fromkeys(GRADES, 0), 0
    for tag, name, first, second in rows:
        if tag == "now" and name == "-":
            ungraded = first
        elif tag == "now":
            counts[name] = first
        else:
            held[RUNG_NAMES.get(name, name)], promoted[RUNG_NAMES.get(name, name)] = first, second
    return {"counts": counts, "ungraded": ungraded, "held": held, "promoted": promoted,
            "promotion_rates": {rung: calc.rate(promoted[rung], held[rung]) for rung in rungs}}


# --- the cases -----------------------------------------------------------------------------------------------------


@dataclass
class Spec:
    """One case: the API request (``path``, ``params`` as ``user``), the selector (``orm``), and the floor, whose rows
    ``figures`` turns into the API's answer (``answer`` picks that part of the API's JSON). ``live``: the same figures
    counted from the base tables (same parameters). ``few``: timed over a fifth of the calls."""

    title: str
    goal: str
    user: User
    path: str
    params: dict
    orm: Callable[[], object]
    floor: str
    floor_params: dict
    figures: Callable[[list[tuple]], dict]
    live: str | None = None
    few: bool = False
    drop: tuple[str, ...] = ()

    def floor_answer(self, statement: str | None = None) -> dict:
        return self.figures(_sql(statement or self.floor, self.floor_params)())

    def answer(self, api_json: dict) -> dict:
        return {name: value for name, value in api_json.items() if name not in self.drop}


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def specs(group: DealerGroup, *, today: date | None = None) -> list[Spec]:
    """The SQL cases for ``group``: its largest store's last full month, the whole group's twelve months to today by
    month (the group admin), the largest store's year of ladder (its manager)."""
    admin = User.objects.filter(dealer_group=group, role=Role.GROUP_ADMIN).order_by("pk").first()
    store = max(Store.objects.filter(group=group).order_by("pk"), key=lambda st: st.leads.count())
    manager = User.objects.filter(store=store, role=Role.MANAGER).order_by("pk").first()
    today = today or timezone.localdate()
    month_end = today.replace(day=1) - timedelta(days=1)
    month_start = month_end.replace(day=1)
    year_start = (today.replace(day=1) - timedelta(days=335)).replace(day=1)
    tz = timezone.get_current_timezone_name()
    metrics = "/api/v1/funnel/metrics/"

    s_month = Slice(user=manager, start=month_start, end=month_end, stores=[store])
    s_year = Slice(user=admin, start=year_start, end=today)
    ladder_start = today - timedelta(days=364)
    s_ladder = Slice(user=manager, start=ladder_start, end=today, stores=[store])
    return [
        Spec(
            title=f"metrics, one store-month ({store.name}, {month_start:%Y-%m}, "
                  f"N={selectors.funnel_metrics(s_month)['N']})",
            goal="p95 < 50 ms", user=manager, path=metrics,
            params={"store": store.pk, "start": month_start.isoformat(), "end": month_end.isoformat()},
            orm=lambda: selectors.funnel_metrics(s_month),
            floor=STORE_MONTH_FLOOR, live=STORE_MONTH_LIVE, figures=metrics_figures,
            floor_params={"store": store.pk, "start": _aware(month_start),
                          "end": _aware(month_end + timedelta(days=1)), "day0": month_start, "day1": month_end,
                          "month0": month_start, "tz": tz},
        ),
        Spec(
            title=f"metrics, whole group, 12 months by month (N={selectors.funnel_metrics(s_year)['N']})",
            goal="p95 < 1 s", user=admin, path=metrics, few=True,
            params={"start": year_start.isoformat(), "end": today.isoformat(), "group_by": "month"},
            orm=lambda: selectors.funnel_metrics(s_year, group_by="month"),
            floor=GROUP_YEAR_FLOOR, live=GROUP_YEAR_LIVE, figures=monthly_figures,
            floor_params={"group": group.pk, "start": _aware(year_start), "end": _aware(today + timedelta(days=1)),
                          "day0": year_start, "day1": today, "month0": year_start, "tz": tz},
        ),
        Spec(
            title=f"ladder, one store-year ({store.name})",
            goal="within 1.5x the floor", user=manager, path="/api/v1/funnel/ladder/", few=True,
            params={"store": store.pk, "start": ladder_start.isoformat(), "end": today.isoformat()},
            orm=lambda: (selectors.ladder_counts(s_ladder), selectors.promotion_rates(s_ladder)),
            floor=LADDER_FLOOR, figures=ladder_figures, drop=("by_consultant",),
            floor_params={"store": store.pk, "start": _aware(ladder_start), "end": _aware(today + timedelta(days=1))},
        ),
    ]


def bench(*, iterations: int = 100, out=print) -> list[Case]:
    group = DealerGroup.objects.get(name=BENCH_GROUP)
    few = max(5, iterations // 5)
    clients: dict[int, APIClient] = {}
    cases = []
    cases_specs = specs(group)
    for spec in cases_specs:
        api = clients.setdefault(spec.user.pk, token_client(spec.user))
        n = few if spec.few else iterations
        # A ratio is only honest if the floor answers what the API answers: checked on this data, every run.
        answer = spec.answer(_ok(api.get(spec.path, spec.params)).json())
        for name, statement in (("floor", spec.floor), ("live count", spec.live)):
            if statement and spec.floor_answer(statement) != answer:
                raise SystemExit(f"{spec.title}: the {name} does not compute what the API answers: "
                                 f"{spec.floor_answer(statement)} != {answer}")
        cases.append(Case(
            title=spec.title, goal=spec.goal,
            api=Timing.measure("api", lambda a=api, sp=spec: _ok(a.get(sp.path, sp.params)), iterations=n),
            orm=Timing.measure("orm", spec.orm, iterations=n),
            floor=Timing.measure("floor", _sql(spec.floor, spec.floor_params), iterations=n),
            live=(Timing.measure("live", _sql(spec.live, spec.floor_params), iterations=n) if spec.live else None),
        ))

    # Time in stage (funnel.stage_times): one store's year and the whole group's last month, against the selector's
    # own statement replayed through the cursor (the SQL floor: what is left is DRF and serialisation).
    from benchmarks.pages import _capture, _replay
    from funnel import stage_times

    month_case, year_case = cases_specs[0], cases_specs[1]
    manager, admin = month_case.user, year_case.user
    store = Store.objects.get(pk=month_case.params["store"])
    month_start, month_end = (date.fromisoformat(month_case.params[k]) for k in ("start", "end"))
    today = date.fromisoformat(year_case.params["end"])
    s_stage = Slice(user=manager, start=today - timedelta(days=364), end=today, stores=[store])
    s_stage_group = Slice(user=admin, start=month_start, end=month_end)
    for title, user, user_params, s_case, goal in (
        (f"stage-times, one store-year ({store.name})", manager,
         {"store": store.pk, "start": s_stage.start.isoformat(), "end": today.isoformat()}, s_stage, "p95 < 1 s"),
        ("stage-times, whole group, last month", admin,
         {"start": month_start.isoformat(), "end": month_end.isoformat()}, s_stage_group, "p95 < 2 s"),
    ):
        api = clients[user.pk]
        cases.append(Case(
            title=title, goal=goal,
            api=Timing.measure("api", lambda a=api, p=user_params: _ok(a.get("/api/v1/funnel/stage-times/", p)),
                               iterations=few),
            orm=Timing.measure("orm", lambda s=s_case: stage_times.stage_times(s), iterations=few),
            floor=Timing.measure("floor", _replay(_capture(lambda s=s_case: stage_times.stage_times(s))),
                                 iterations=few),
        ))

    out(f"{'case':<62} {'goal':<22} {'api p50/p95 ms':>16} {'orm p50/p95':>14} {'floor p50/p95':>15} "
        f"{'api/floor':>9} {'live count p50/p95':>19}")
    for case in cases:
        live = f"{case.live.p50:9.1f}/{case.live.p95:<9.1f}" if case.live else f"{'-':>19}"
        out(f"{case.title:<62} {case.goal:<22} {case.api.p50:7.1f}/{case.api.p95:<8.1f} "
            f"{case.orm.p50:6.1f}/{case.orm.p95:<7.1f} {case.floor.p50:7.1f}/{case.floor.p95:<7.1f} {case.ratio:8.2f}x "
            f"{live}")
    return cases


def _ok(response):
    assert response.status_code == 200, response.content[:300]
    return response
