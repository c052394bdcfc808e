"""Issue 10 items 3 and 6: the planners and the metrics answer out-of-range input with a 400 and a message, never
a server error; and hypothesis checks the planner arithmetic over the whole accepted input range."""

import json
import math
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnel import calc
from funnel.api.serializers import MAX_TRAFFIC, MAX_UNITS, MIN_RATE, LeverPlanInputSerializer

pytestmark = pytest.mark.django_db

PLAN = "/api/v1/funnel/plan/"
LADDER_PLAN = "/api/v1/funnel/ladder-plan/"


@pytest.mark.parametrize("lever", ["K", "F", "C"])
def test_a_denormal_rate_is_400_not_an_infinite_required_value(org, api_as, lever):
    body = {"target_units": 90, "N": 1500, "K": 0.6, "F": 0.4, "C": 0.2, lever: 1e-320}
    resp = api_as(org.manager).post(PLAN, body, format="json")
    assert resp.status_code == 400
    assert lever in resp.json()


@pytest.mark.parametrize("body,field", [
    ({"target_units": 10**400, "N": 1, "K": 0.5, "F": 0.5, "C": 0.5}, "target_units"),
    ({"target_units": 1, "N": 10**20, "K": 0.5, "F": 0.5, "C": 0.5}, "N"),
])
def test_huge_planner_numbers_are_400(org, api_as, body, field):
    resp = api_as(org.manager).post(PLAN, json.dumps(body), content_type="application/json")
    assert resp.status_code == 400 and field in resp.json()


def test_a_denormal_ladder_rate_is_400(org, api_as):
    body = {"target_units": 10, "promotion_rates": {"E->D": 1e-320, "D->C": 0.5, "C->B": 0.5, "B->A": 0.5}}
    resp = api_as(org.manager).post(LADDER_PLAN, body, format="json")
    assert resp.status_code == 400
    assert "promotion_rates" in resp.json()


@pytest.mark.parametrize("path", ["/api/v1/funnel/metrics/", "/api/v1/funnel/ladder/"])
@pytest.mark.parametrize("params", [{"start": "9999-12-01", "end": "9999-12-31"},
                                    {"start": "0001-01-01", "end": "0001-01-31"}])
def test_metrics_and_ladder_of_year_9999_or_1_are_400(org, api_as, path, params):
    resp = api_as(org.manager).get(path, params)
    assert resp.status_code == 400
    assert set(resp.json()) & {"start", "end"}


def test_progress_of_month_9999_12_is_400(org, api_as):
    resp = api_as(org.manager).get("/api/v1/funnel/progress/", {"month": "9999-12"})
    assert resp.status_code == 400 and "month" in resp.json()


def test_the_last_month_in_range_answers(org, api_as):
    resp = api_as(org.manager).get("/api/v1/funnel/metrics/", {"start": "2999-12-01", "end": "2999-12-31"})
    assert resp.status_code == 200
    assert api_as(org.manager).get("/api/v1/funnel/progress/", {"month": "2999-12"}).status_code == 200


# --- hypothesis: the lever planner over everything the API accepts ------------------------------------------------

rates = st.one_of(st.just(0.0), st.floats(min_value=MIN_RATE, max_value=1.0, allow_nan=False))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.integers(0, MAX_UNITS), n=st.integers(0, MAX_TRAFFIC), k=rates, f=rates, c=rates)
def test_lever_plan_is_finite_json_and_consistent(target, n, k, f, c):
    body = {"target_units": target, "N": n, "K": k, "F": f, "C": c}
    data = LeverPlanInputSerializer(data=body)
    assert data.is_valid(), data.errors
    plan = calc.plan_levers(**data.validated_data)
    json.dumps({"projected_units": plan.projected_units, "required": plan.required}, allow_nan=False)
    assert math.isclose(plan.projected_units, round(n * k * f * c, 2), rel_tol=1e-9, abs_tol=0.01)
    for lever, need in plan.required.items():
        if need is None:
            assert lever in plan.unreachable
            continue
        if lever == "N":
            assert isinstance(need, int) and need >= 0
            # Enough customers: the levers held, need·K·F·C reaches the target (and need − 1 does not).
            assert need * k * f * c >= target * (1 - 1e-9)
            if need > 0:
                assert (need - 1) * k * f * c < target * (1 + 1e-9)
        else:
            values = {"N": n, "K": k, "F": f, "C": c}
            others = Decimal(1)
            for other in "NKFC":
                if other != lever:
                    others *= Decimal(str(values[other]))
            exact = Decimal(target) / others
            assert need == round(float(exact), 4) and (lever in plan.unreachable) == (exact > 1)


@settings(max_examples=200, deadline=None)
@given(a=st.integers(0, MAX_UNITS),
       r=st.lists(st.one_of(st.none(), st.just(0.0), st.floats(min_value=MIN_RATE, max_value=1.0)),
                  min_size=4, max_size=4))
def test_ladder_plan_rounds_up_at_every_rung_and_stays_finite(a, r):
    plan = calc.plan_ladder(a=a, promotion_rates=dict(zip(calc.RUNGS, r, strict=True)))
    json.dumps(plan, allow_nan=False)
    higher = plan["A"]
    for grade, rung in zip("BCDE", reversed(calc.RUNGS), strict=True):
        rate = dict(zip(calc.RUNGS, r, strict=True))[rung]
        if higher is None or not rate:
            assert plan[grade] is None
        else:
            assert plan[grade] * rate >= higher * (1 - 1e-12)
        higher = plan[grade]
