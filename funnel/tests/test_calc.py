"""The funnel's arithmetic, without a database."""

from datetime import date
from decimal import Decimal

import pytest

from funnel import calc


def test_rate_rounds_to_four_decimals_and_is_none_without_a_denominator():
    assert calc.rate(2, 3) == 0.6667
    assert calc.rate(0, 5) == 0.0
    assert calc.rate(3, 0) is None


def test_the_domain_example_projects_72_and_prices_each_lever_for_90():
    # DOMAIN §4: N 1500, K 60%, F 40%, C 20% → 72 sales; the target is 90.
    plan = calc.plan_levers(target_units=90, N=1500, K=0.6, F=0.4, C=0.2)
    assert plan.projected_units == 72.0
    assert plan.required == {"N": 1875, "K": 0.75, "F": 0.5, "C": 0.25}
    assert plan.unreachable == []


def test_a_lever_above_one_is_unreachable_and_a_zero_partner_gives_none():
    plan = calc.plan_levers(target_units=500, N=1500, K=0.6, F=0.4, C=0.2)
    assert plan.required["K"] == 4.1667 and {"K", "F", "C"} <= set(plan.unreachable)
    assert plan.required["N"] == 10417
    zero = calc.plan_levers(target_units=10, N=100, K=0.5, F=0, C=0.2)
    assert zero.required["N"] is None and zero.required["K"] is None and zero.required["C"] is None
    assert zero.required["F"] == 1.0


def test_ladder_plan_ceils_at_every_step():
    a = calc.a_needed(target_revenue=Decimal("2700000"), average_order_value=Decimal("200000"))
    assert a == 14
    plan = calc.plan_ladder(a=a, promotion_rates={"B->A": 0.5, "C->B": 0.4, "D->C": 0.3, "E->D": 0.2})
    assert plan == {"A": 14, "B": 28, "C": 70, "D": 234, "E": 1170}


def test_ladder_plan_is_exact_where_floats_are_not():
    # 135 / 0.6 is 225.00000000000003 in floating point; its ceiling must still be 225.
    assert calc.plan_ladder(a=135, promotion_rates={"B->A": 0.6, "C->B": 1, "D->C": 1, "E->D": 1})["B"] == 225


def test_ladder_plan_stops_at_a_missing_rate():
    plan = calc.plan_ladder(a=10, promotion_rates={"B->A": 0.5, "C->B": 0, "D->C": 0.5, "E->D": 0.5})
    assert plan == {"A": 10, "B": 20, "C": None, "D": None, "E": None}
    assert calc.a_needed(target_units=7) == 7


@pytest.mark.parametrize(
    "today,expected",
    [(date(2026, 11, 10), 30.0), (date(2026, 12, 2), 10.0), (date(2026, 10, 31), 0.0), (date(2026, 11, 30), 10.0)],
)
def test_run_rate(today, expected):
    assert calc.run_rate(done=10, month=date(2026, 11, 1), today=today) == expected


def test_prorate_and_month_bounds():
    assert calc.month_bounds(date(2024, 2, 10)) == (date(2024, 2, 1), date(2024, 2, 29))
    assert calc.prorate(300, month=date(2026, 10, 1), start=date(2026, 10, 1), end=date(2026, 10, 31)) == 300
    assert calc.prorate(310, month=date(2026, 10, 1), start=date(2026, 10, 25), end=date(2026, 11, 5)) == 70
