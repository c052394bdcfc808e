"""bench_funnel: time the funnel API against the hand-written SQL that computes the same figures (the floor).

Run on the seed_bench data set (see benchmarks/README.md). For each case: the full API request in-process (DRF,
authentication with a real token, serialisation), the selector alone (ORM: since the rollups, a sum over the rollup
rows), and the live count it replaces (hand-written SQL through connection.cursor() counting the same figures from
the leads, the old floor); no figures cache is involved, p50 and p95 over repeated calls."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from dealercrm.models import DealerGroup, Role, Store, User
from funnel import selectors
from funnel.selectors import Slice

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
        p95 = samples[min(len(samples) - 1, int(round(0.95 * len(samples))) - 1)]
        return cls(name=name, p50=statistics.median(samples), p95=p95)


@dataclass
class Case:
    title: str
    goal: str
    api: Timing
    orm: Timing
    floor: Timing

    @property
    def ratio(self) -> float:
        return self.api.p50 / self.floor.p50 if self.floor.p50 else float("nan")


def _sql(statement: str, params: list) -> Callable[[], list]:
    def run():
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()

    return run


LEAD_FIGURES = """
    count(*) AS n,
    count(*) FILTER (WHERE l.source = 'walk_in') AS n_walk_in,
    count(*) FILTER (WHERE l.source = 'referral') AS n_referral,
    count(*) FILTER (WHERE l.source = 'outbound') AS n_outbound,
    count(*) FILTER (WHERE l.phone <> '' AND ({g} IS NOT NULL OR l.status = 'won')) AS valid,
    count(*) FILTER (WHERE l.phone <> '' AND ({g} IS NOT NULL OR l.status = 'won')
                     AND (l.first_follow_up_at IS NOT NULL OR l.status = 'won')) AS followed,
    count(*) FILTER (WHERE l.status = 'won') AS deals,
    count(*) FILTER (WHERE l.phone <> '' AND {g} = 'A') AS p_a,
    count(*) FILTER (WHERE l.phone <> '' AND {g} = 'B') AS p_b,
    count(*) FILTER (WHERE l.phone <> '' AND {g} = 'C') AS p_c,
    count(*) FILTER (WHERE l.phone <> '' AND {g} = 'D') AS p_d,
    count(*) FILTER (WHERE l.phone <> '' AND {g} = 'E') AS p_e
"""

# One store, one past month: the grade as of the month's end is the latest grade change before it, looked up only
# for the leads regraded since, once per lead (a derived table; inlined in each FILTER it would run once per figure).
STORE_MONTH_FLOOR = f"""
SELECT {LEAD_FIGURES.format(g="l.g")},
  (SELECT count(*) FROM leads_visit v WHERE v.store_id = %(store)s AND NOT v.is_first
      AND v.arrived_at >= %(start)s AND v.arrived_at < %(end)s) AS revisits,
  (SELECT sum(estimate) FROM funnel_marketestimate WHERE store_id = %(store)s AND month = %(month)s) AS m
FROM (
  SELECT l.source, l.phone, l.status, l.first_follow_up_at,
    CASE WHEN l.grade_since IS NULL OR l.grade_since < %(end)s THEN l.grade ELSE (
      SELECT gc.to_grade FROM leads_gradechange gc
      WHERE gc.lead_id = l.id AND gc.changed_at < %(end)s ORDER BY gc.changed_at DESC, gc.id DESC LIMIT 1) END AS g
  FROM leads_lead l
  WHERE l.store_id = %(store)s AND l.first_visit_at >= %(start)s AND l.first_visit_at < %(end)s
    AND l.status <> 'merged'
  OFFSET 0
) l
"""

# The whole group, twelve months to today, by month: the current grade is the grade as of the period's end.
GROUP_YEAR_FLOOR = f"""
WITH leads AS (
  SELECT date_trunc('month', l.first_visit_day)::date AS k, {LEAD_FIGURES.format(g="l.grade")}
  FROM leads_lead l
  WHERE l.store_id IN (SELECT id FROM dealercrm_store WHERE group_id = %(group)s)
    AND l.first_visit_at >= %(start)s AND l.first_visit_at < %(end)s AND l.status <> 'merged'
  GROUP BY 1
), revisits AS (
  SELECT date_trunc('month', v.arrived_at AT TIME ZONE %(tz)s)::date AS k, count(*) AS revisits
  FROM leads_visit v
  WHERE v.store_id IN (SELECT id FROM dealercrm_store WHERE group_id = %(group)s) AND NOT v.is_first
    AND v.arrived_at >= %(start)s AND v.arrived_at < %(end)s
  GROUP BY 1
), m AS (
  SELECT month AS k, sum(estimate) AS m FROM funnel_marketestimate e JOIN dealercrm_store s ON s.id = e.store_id
  WHERE s.group_id = %(group)s AND month >= %(day0)s AND month <= %(day1)s GROUP BY 1
)
SELECT * FROM leads FULL JOIN revisits USING (k) FULL JOIN m USING (k)
"""

# One store, one year: promotion rates from the grade-change spells, and the current ladder counts.
LADDER_FLOOR = """
WITH spells AS (
  SELECT gc.lead_id, gc.to_grade AS grade, gc.changed_at AS since,
         LEAD(gc.changed_at) OVER (PARTITION BY gc.lead_id ORDER BY gc.changed_at, gc.id) AS until,
         LEAD(gc.to_grade) OVER (PARTITION BY gc.lead_id ORDER BY gc.changed_at, gc.id) AS next_grade
  FROM leads_gradechange gc JOIN leads_lead l ON l.id = gc.lead_id
  WHERE l.store_id = %(store)s AND l.status <> 'merged' AND gc.changed_at < %(end)s
), held AS (SELECT * FROM spells WHERE until IS NULL OR until >= %(start)s),
e_held AS (SELECT lead_id, min(since) AS e_since FROM held WHERE grade = 'E' GROUP BY lead_id),
a_last AS (SELECT lead_id, max(since) AS a_since FROM spells WHERE grade = 'A' GROUP BY lead_id)
SELECT grade, count(DISTINCT lead_id),
       count(DISTINCT lead_id) FILTER (WHERE until IS NOT NULL AND next_grade =
         CASE grade WHEN 'E' THEN 'D' WHEN 'D' THEN 'C' WHEN 'C' THEN 'B' WHEN 'B' THEN 'A' END)
FROM held WHERE grade IN ('E', 'D', 'C', 'B') GROUP BY grade
UNION ALL
SELECT 'E->A', count(*), count(*) FILTER (WHERE a.a_since > e.e_since)
FROM e_held e LEFT JOIN a_last a ON a.lead_id = e.lead_id
UNION ALL
SELECT coalesce(grade, '-'), count(*), NULL FROM leads_lead
WHERE store_id = %(store)s AND status = 'active' GROUP BY grade
"""


def bench(*, iterations: int = 100, out=print) -> list[Case]:
    group = DealerGroup.objects.get(name=BENCH_GROUP)
    admin = User.objects.filter(dealer_group=group, role=Role.GROUP_ADMIN).first()
    store = max(Store.objects.filter(group=group), key=lambda st: st.leads.count())
    manager = User.objects.filter(store=store, role=Role.MANAGER).first()
    today = timezone.localdate()
    month_end = today.replace(day=1) - timedelta(days=1)
    month_start = month_end.replace(day=1)
    year_start = (today.replace(day=1) - timedelta(days=335)).replace(day=1)
    tz = timezone.get_current_timezone_name()

    client = token_client

    def aware(day: date):
        return timezone.make_aware(timezone.datetime.combine(day, timezone.datetime.min.time()))

    cases = []
    m_client = client(manager)
    params = {"store": store.pk, "start": month_start.isoformat(), "end": month_end.isoformat()}
    s_month = Slice(user=manager, start=month_start, end=month_end, stores=[store])
    cases.append(Case(
        title=f"metrics, one store-month ({store.name}, {month_start:%Y-%m}, "
              f"N={selectors.funnel_metrics(s_month)['N']})",
        goal="p95 < 50 ms",
        api=Timing.measure("api", lambda: _ok(m_client.get("/api/v1/funnel/metrics/", params)), iterations=iterations),
        orm=Timing.measure("orm", lambda: selectors.funnel_metrics(s_month), iterations=iterations),
        floor=Timing.measure("floor", _sql(STORE_MONTH_FLOOR, {
            "store": store.pk, "start": aware(month_start), "end": aware(month_end + timedelta(days=1)),
            "month": month_start, "day0": month_start, "day1": month_end}), iterations=iterations),
    ))

    a_client = client(admin)
    params = {"start": year_start.isoformat(), "end": today.isoformat(), "group_by": "month"}
    s_year = Slice(user=admin, start=year_start, end=today)
    few = max(5, iterations // 5)
    cases.append(Case(
        title=f"metrics, whole group, 12 months by month (N={selectors.funnel_metrics(s_year)['N']})",
        goal="p95 < 1 s",
        api=Timing.measure("api", lambda: _ok(a_client.get("/api/v1/funnel/metrics/", params)), iterations=few),
        orm=Timing.measure("orm", lambda: selectors.funnel_metrics(s_year, group_by="month"), iterations=few),
        floor=Timing.measure("floor", _sql(GROUP_YEAR_FLOOR, {
            "group": group.pk, "start": aware(year_start), "end": aware(today + timedelta(days=1)),
            "day0": year_start, "day1": today, "tz": tz}), iterations=few),
    ))

    params = {"store": store.pk, "start": (today - timedelta(days=364)).isoformat(), "end": today.isoformat()}
    s_ladder = Slice(user=manager, start=today - timedelta(days=364), end=today, stores=[store])
    cases.append(Case(
        title=f"ladder, one store-year ({store.name})",
        goal="within 1.5x the floor",
        api=Timing.measure("api", lambda: _ok(m_client.get("/api/v1/funnel/ladder/", params)), iterations=few),
        orm=Timing.measure("orm", lambda: (selectors.ladder_counts(s_ladder), selectors.promotion_rates(s_ladder)),
                           iterations=few),
        floor=Timing.measure("floor", _sql(LADDER_FLOOR, {
            "store": store.pk, "start": aware(today - timedelta(days=364)), "end": aware(today + timedelta(days=1))}),
            iterations=few),
    ))

    # Time in stage (funnel.stage_times): one store's year and the whole group's, against the selector's own
    # statement replayed through the cursor (the SQL floor: what is left is DRF and serialisation).
    from benchmarks.pages import _capture, _replay
    from funnel import stage_times

    s_stage = Slice(user=manager, start=today - timedelta(days=364), end=today, stores=[store])
    s_stage_group = Slice(user=admin, start=month_start, end=month_end)
    for title, user_client, user_params, s_case, goal in (
        (f"stage-times, one store-year ({store.name})", m_client,
         {"store": store.pk, "start": s_stage.start.isoformat(), "end": today.isoformat()}, s_stage, "p95 < 1 s"),
        ("stage-times, whole group, last month", a_client,
         {"start": month_start.isoformat(), "end": month_end.isoformat()}, s_stage_group, "p95 < 2 s"),
    ):
        cases.append(Case(
            title=title, goal=goal,
            api=Timing.measure("api", lambda c=user_client, p=user_params: _ok(c.get("/api/v1/funnel/stage-times/",
                                                                                    p)), iterations=few),
            orm=Timing.measure("orm", lambda s=s_case: stage_times.stage_times(s), iterations=few),
            floor=Timing.measure("floor", _replay(_capture(lambda s=s_case: stage_times.stage_times(s))),
                                 iterations=few),
        ))

    out(f"{'case':<62} {'goal':<22} {'api p50/p95 ms':>16} {'orm p50/p95':>14} {'floor p50/p95':>15} {'api/floor':>9}")
    for case in cases:
        out(f"{case.title:<62} {case.goal:<22} {case.api.p50:7.1f}/{case.api.p95:<8.1f} "
            f"{case.orm.p50:6.1f}/{case.orm.p95:<7.1f} {case.floor.p50:7.1f}/{case.floor.p95:<7.1f} {case.ratio:8.2f}x")
    return cases


def _ok(response):
    assert response.status_code == 200, response.content[:300]
    return response
