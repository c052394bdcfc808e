"""The staffing planner on a worked case computed by hand, its arithmetic alone, and its API's denials."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dealercrm.tests.factories import ConsultantFactory
from funnel import staffing
from funnel.models import Target
from leads.models import GradeChange
from leads.services.levels import store_levels_set
from leads.tests.factories import LeadFactory

LEVELS = [
    {"name": "一级", "order": 1, "grades": ["A"], "capacity": 5},
    {"name": "二级", "order": 2, "grades": ["B"], "capacity": 10},
    {"name": "三级", "order": 3, "grades": ["C", "D", "E"], "capacity": 40},
]


# --- the arithmetic, without a database --------------------------------------------------------------------------------


def test_level_plan_by_hand():
    # 10 units in a month; the third level holds C, D, E: 30 + 40 + 50 = 120 leads; 2 consultants of capacity 40.
    plan = staffing.level_plan(units=10, months=1, needed={"A": 10, "B": 20, "C": 30, "D": 40, "E": 50},
                               grades="CDE", capacity=40, consultants=2)
    # ceil(120 × 1.1 / 40) = ceil(3.3) = 4; uncovered 120 − 80 = 40; lost 10 × 40 / 120 = 3.33 → 3.3.
    assert plan == staffing.LevelPlan(120, 120, 4, 2, 2, 40, Decimal("3.3"))


def test_a_year_is_planned_on_its_average_month():
    # 24 units over 2 months with a target; A needs 24 → 12 a month; capacity 5 → ceil(12 × 1.1 / 5) = ceil(2.64) = 3.
    plan = staffing.level_plan(units=24, months=2, needed={"A": 24}, grades="A", capacity=5, consultants=3)
    assert (plan.monthly_load, plan.consultants_needed, plan.missing, plan.uncovered, plan.units_lost) == (
        12, 3, 0, 0, Decimal("0.0"))


def test_an_unknown_rate_leaves_the_level_unknown():
    plan = staffing.level_plan(units=10, months=1, needed={"A": 10, "B": None}, grades="B", capacity=5, consultants=1)
    assert plan.consultants_needed is None and plan.units_lost is None


# --- the worked case, end to end ----------------------------------------------------------------------------------------


def _climb(store, holder, grades: str, start):
    """A lead that started at E and climbed one rung a day through ``grades`` (its history in GradeChange)."""
    lead = LeadFactory(store=store, assigned_to=holder, grade=grades[-1], first_visit_at=start)
    previous = None
    for i, grade in enumerate(grades):
        GradeChange.objects.create(lead=lead, from_grade=previous, to_grade=grade, changed_at=start + timedelta(days=i))
        previous = grade
    return lead


@pytest.fixture
def worked(org):
    """The north store: five leads that started at E and stopped at E, D, C, B and A. Measured rates: E→D 4/5 = 0.8,
    D→C 3/4 = 0.75, C→B 2/3 = 0.6667, B→A 1/2 = 0.5. A unit target of 10 for March 2026.
    The ladder: A 10, B ceil(10/0.5) = 20, C ceil(20/0.6667) = ceil(29.9985) = 30, D ceil(30/0.75) = 40,
    E ceil(40/0.8) = 50. The team: one first-level, one second-level and two third-level consultants."""
    o = org
    o.a1 = ConsultantFactory(username="a1", store=o.store)
    o.b1 = ConsultantFactory(username="b1", store=o.store)
    store_levels_set(actor=o.manager, store=o.store, levels=LEVELS,
                     members={o.a1.pk: 1, o.b1.pk: 2, o.consultant.pk: 3, o.consultant2.pk: 3})
    start = timezone.now() - timedelta(days=60)
    for path in ("E", "ED", "EDC", "EDCB", "EDCBA"):
        _climb(o.store, o.consultant, path, start)
    Target.objects.create(store=o.store, month=date(2026, 3, 1), units=10)
    Target.objects.create(store=o.store, consultant=o.consultant, month=date(2026, 3, 1), units=99)  # not the store's
    Target.objects.create(store=o.store2, month=date(2026, 3, 1), units=500)  # another store
    return o


def test_the_planner_on_the_worked_case(worked, django_assert_max_num_queries):
    o = worked
    with django_assert_max_num_queries(7):
        plan = staffing.staffing_plan(user=o.manager, store=o.store, year=2026, month=3)
    assert plan["units"] == 10
    assert plan["rates"]["E->D"] == 0.8 and plan["rates"]["C->B"] == 0.6667
    assert plan["needed"] == {"A": 10, "B": 20, "C": 30, "D": 40, "E": 50}
    rows = [(r["level"].order, r["plan"]) for r in plan["levels"]]
    # First: load 10, ceil(10 × 1.1 / 5) = ceil(2.2) = 3 needed, 1 there: 2 missing; 10 − 5 = 5 uncovered → 10×5/10 = 5.
    # Second: load 20, ceil(20 × 1.1 / 10) = 3, 1 there; 20 − 10 = 10 uncovered → 10 × 10 / 20 = 5.0.
    # Third: load 120, ceil(132 / 40) = 4, 2 there; 120 − 80 = 40 uncovered → 10 × 40 / 120 = 3.3.
    assert rows == [
        (1, staffing.LevelPlan(10, 10, 3, 1, 2, 5, Decimal("5.0"))),
        (2, staffing.LevelPlan(20, 20, 3, 1, 2, 10, Decimal("5.0"))),
        (3, staffing.LevelPlan(120, 120, 4, 2, 2, 40, Decimal("3.3"))),
    ]
    assert (plan["consultants_needed"], plan["consultants"], plan["missing"], plan["units_lost"]) == (
        10, 4, 6, Decimal("5.0"))
    assert plan["tightest"].order == 1


def test_the_api_answers_the_worked_case_with_every_figure(worked, api_as):
    body = api_as(worked.manager).get("/api/v1/funnel/staffing/", {"year": 2026, "month": 3}).json()
    assert body["units"] == 10 and body["needed"]["E"] == 50
    assert [(lv["order"], lv["consultants_needed"], lv["consultants"], lv["units_lost"]) for lv in body["levels"]] == [
        (1, 3, 1, "5.0"), (2, 3, 1, "5.0"), (3, 4, 2, "3.3")]
    assert (body["units_lost"], body["tightest_level"], body["consultants_without_level"]) == ("5.0", 1, 0)


def test_the_year_adds_the_months_with_a_target(worked, api_as):
    Target.objects.create(store=worked.store, month=date(2026, 4, 1), units=14)
    body = api_as(worked.manager).get("/api/v1/funnel/staffing/", {"year": 2026}).json()
    # 24 units: A 24, B 48, C ceil(48/0.6667) = ceil(71.9964) = 72, D 96, E 120; the first level's month: 12.
    assert (body["units"], body["months"], body["needed"]["C"]) == (24, 2, 72)
    assert body["levels"][0]["monthly_load"] == 12
    assert body["levels"][2]["monthly_load"] == (72 + 96 + 120) // 2  # 144


def test_no_target_says_so_with_nulls(org, api_as):
    body = api_as(org.manager).get("/api/v1/funnel/staffing/", {"year": 2026}).json()
    assert body["units"] is None and body["units_lost"] is None
    assert all(lv["consultants_needed"] is None for lv in body["levels"])


def test_planner_denials(worked, api_as):
    assert api_as(worked.consultant).get("/api/v1/funnel/staffing/").status_code == 403
    assert api_as(worked.manager2).get("/api/v1/funnel/staffing/", {"store": worked.store.pk}).status_code == 404
    assert api_as(worked.other_admin).get("/api/v1/funnel/staffing/", {"store": worked.store.pk}).status_code == 404
    assert api_as(worked.admin).get("/api/v1/funnel/staffing/", {"store": worked.store.pk, "year": 2026,
                                                                  "month": 3}).json()["units"] == 10
    assert api_as(worked.manager).get("/api/v1/funnel/staffing/", {"month": 13}).status_code == 400
