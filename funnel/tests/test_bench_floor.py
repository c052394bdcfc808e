"""The funnel benchmark's floors (benchmarks/funnel.py) compute exactly what the API answers: an API/floor ratio is
only honest if both answer the same question. Each floor of ``bench_funnel`` runs for the slice its case asks the API
for, on the worked October store (conftest.py) and a year around it with market estimates, a fleet order and
re-visits across the group's two stores: with the rollups' marks pending (the floor counts those store-days live, as
the API does), after the drain (the rollup sums), and as the live count from the leads."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from benchmarks.funnel import BENCH_GROUP, bench, specs
from dealercrm.models import DealerGroup
from dealercrm.tests.factories import ConsultantFactory
from funnel import rollups
from funnel.models import CohortDay, MarketEstimate, RollupMark
from leads.models import Deal

from .conftest import at, make_lead

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def year(cohort):
    """The worked store and, around it, the twelve months to today (2026-11-23) of the group admin's case."""
    org = cohort.org
    for store, month, estimate in [
        (org.store, date(2025, 11, 1), 999),  # before the twelve months: not in M
        (org.store, date(2025, 12, 1), 200),
        (org.store2, date(2026, 10, 1), 150),
        (org.store, date(2026, 11, 1), 301),  # November to the 23rd: 23/30 of each
        (org.store2, date(2026, 11, 1), 100),
        (org.other_store, date(2026, 11, 1), 500),  # another group's
    ]:
        MarketEstimate.objects.create(store=store, month=month, estimate=estimate)
    fleet = make_lead(org.store2, org.consultant_b, "fleet", first=at(11, 3), phone="+8613800000050",
                      grades=[("A", at(11, 3))], follow_ups=[at(11, 4)], revisits=[at(11, 10)], won=at(11, 6))
    Deal.objects.filter(lead=fleet).update(quantity=3)
    # The twelve months' edges, local time: the first minute of 2025-12-01 counts, the last of 11-30 does not; a
    # re-visit at 00:30 on 11-01 is November's (October's in UTC).
    make_lead(org.store, org.consultant, "first minute", first=datetime(2025, 12, 1, 0, 1, tzinfo=SH),
              phone="+8613800000051", grades=[("D", datetime(2025, 12, 1, 0, 1, tzinfo=SH))],
              revisits=[datetime(2026, 11, 1, 0, 30, tzinfo=SH)])
    make_lead(org.store, org.consultant, "the day before", first=datetime(2025, 11, 30, 23, 59, tzinfo=SH),
              phone="+8613800000052", grades=[("C", datetime(2025, 11, 30, 23, 59, tzinfo=SH))])
    beta = ConsultantFactory(username="c_beta", store=org.other_store)
    make_lead(org.other_store, beta, "beta", first=at(10, 9), phone="+8613800000053", grades=[("B", at(10, 9))],
              revisits=[at(10, 20)])
    return cohort


def _api_answer(spec, api_as) -> dict:
    response = api_as(spec.user).get(spec.path, spec.params)
    assert response.status_code == 200, response.content[:300]
    return spec.answer(response.json())


def _every_floor_answers_as_the_api(cases, api_as) -> list[dict]:
    answers = []
    for spec in cases:
        answer = _api_answer(spec, api_as)
        assert spec.floor_answer() == answer, spec.title
        if spec.live:
            assert spec.floor_answer(spec.live) == answer, spec.title
        answers.append(answer)
    return answers


def test_every_floor_computes_the_apis_figures_marked_and_drained(year, api_as):
    cases = specs(year.org.group)
    assert [(spec.user, spec.path) for spec in cases] == [
        (year.org.manager, "/api/v1/funnel/metrics/"), (year.org.admin, "/api/v1/funnel/metrics/"),
        (year.org.manager, "/api/v1/funnel/ladder/")]

    assert RollupMark.objects.exists()  # nothing drained yet: every store-day is counted live
    pending = _every_floor_answers_as_the_api(cases, api_as)
    rollups.drain()
    assert not RollupMark.objects.exists() and CohortDay.objects.exists()
    drained = _every_floor_answers_as_the_api(cases, api_as)
    assert drained == pending

    month, group_year, ladder = drained
    # The worked October (conftest.py): the figures are the hand-computed ones, not an agreement on nothing.
    assert (month["N"], month["valid"], month["followed"], month["deals"], month["revisits"], month["M"]) == (
        6, 4, 3, 2, 2, 300)
    # M prorated per month: November to the 23rd of 30 days, 401 × 23 / 30 = 307.43; the year 200 + 240 + 450 +
    # 307.43 = 1,197.43. Units: the fleet order's 3 and two single cars.
    assert {row["key"]: row["M"] for row in group_year["results"]} == {
        "2025-12-01": 200, "2026-09-01": 240, "2026-10-01": 450, "2026-11-01": 307}
    total = group_year["total"]
    assert (total["M"], total["units"], total["deals"], total["N"]) == (1197, 5, 3, 15)
    november = next(row for row in group_year["results"] if row["key"] == "2026-11-01")
    assert november["revisits"] == 2  # the fleet's, and the one at 00:30 local on 11-01
    assert ladder["held"]["E->D"] and ladder["counts"]["A"]


def test_the_benchmark_runs_and_checks_its_floors(year):
    DealerGroup.objects.filter(pk=year.org.group.pk).update(name=BENCH_GROUP)
    lines = []
    with override_settings(ALLOWED_HOSTS=["localhost"], SECURE_SSL_REDIRECT=False):
        cases = bench(iterations=1, out=lines.append)
    assert len(cases) == 5 and "api/floor" in lines[0] and len(lines) == 6
    assert all(case.live for case in cases[:2]) and not any(case.live for case in cases[2:])
