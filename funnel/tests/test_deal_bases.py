"""The two deal counts (leads.deal_bases) keep their own names everywhere a deal count is shown: the funnel page,
the store comparison, the defeat summary, the workbooks and the API's field descriptions. One name per basis, so
"成交 1" never stands beside "成交（台）18" again."""

import io

import openpyxl
import pytest
from django.urls import reverse

from dealercrm.tests.clients import client_for
from funnel import calc

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("funnel:dashboard")
OCTOBER = {"period": "custom", "start": "2026-10-01", "end": "2026-10-31"}
COHORT = {"en": "Deals (cohort)", "zh-hans": "成交（本期新客）"}
CALENDAR = {"en": "Orders (calendar)", "zh-hans": "成交（本期订单）"}
UNITS = {"en": "Units (calendar)", "zh-hans": "台数（本期订单）"}


def page(user, language, **params):
    client = client_for(user)
    client.cookies["django_language"] = language
    response = client.get(DASHBOARD, {**OCTOBER, **params}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start:html.index("</section>", start)]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_funnel_page_names_its_cohort_deals_and_the_targets_orders(cohort, language):
    html = page(cohort.org.manager, language)
    kpis = html[html.index('class="row g-2 g-md-3 mb-3 fnl-kpis"'):]
    assert f">{COHORT[language]}</div>" in kpis[:kpis.index('data-kpi="deals"')]
    assert CALENDAR[language] in section(html, 'aria-labelledby="fnl-progress-title"')
    assert COHORT[language] in section(html, 'aria-labelledby="fnl-points-title"')
    # The defeat summary beside the funnel counts orders: "战败 0 · 成交（本期订单） 2".
    assert f"{CALENDAR[language]} " in html[html.index('id="dft-funnel-figures"'):]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_store_comparison_names_both_counts(cohort, language):
    html = page(cohort.org.admin, language, store="all")
    table = section(html, 'id="fnl-stores"')
    assert f">{COHORT[language]}</th>" in table
    # Against the unit target: the units of the month's orders (a fleet order counts its units).
    assert f">{UNITS[language]} / " in table
    assert ">成交</th>" not in table and ">Deals</th>" not in table


def _cells(content: bytes) -> list:
    book = openpyxl.load_workbook(io.BytesIO(content))
    return [c.value for sheet in book.worksheets for row in sheet.iter_rows() for c in row]


@pytest.mark.parametrize("report", ["store-comparison", "monthly-pack", "consultant-scorecard"])
def test_the_workbooks_name_each_count_by_its_basis(cohort, api_as, report):
    org = cohort.org
    user = org.admin
    url = f"/api/v1/reports/{report}/?start=2026-10-01&end=2026-10-31&format=xlsx"
    if report == "monthly-pack":
        url += f"&store={org.store.pk}"
    response = api_as(user).get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    cells = _cells(response.content)
    assert COHORT["zh-hans"] in cells and CALENDAR["zh-hans"] in cells and UNITS["zh-hans"] in cells
    # No bare name, and not the old "成交（台）" of the target columns.
    assert "成交" not in cells and "成交（台）" not in cells


def test_the_api_describes_each_count_by_its_basis(org, api_as):
    schema = api_as(org.manager).get("/api/schema/", {"format": "json"}, HTTP_ACCEPT_LANGUAGE="en").json()
    components = schema["components"]["schemas"]
    assert components["Figures"]["properties"]["deals"]["description"].startswith("Deals (cohort): ")
    assert components["DefeatFigures"]["properties"]["deals"]["description"].startswith("Orders (calendar): ")
    progress = schema["paths"]["/api/v1/funnel/progress/"]["get"]["description"]
    assert "`units` is Units (calendar): " in progress and "`orders` is Orders (calendar): " in progress


def test_the_ladder_divides_by_the_rate_where_the_methods_example_multiplies_by_three():
    # docs/domain.md and the planner's help set the two side by side: ×3 gives 150/450/1,350/4,050 from 50 A.
    plan = calc.plan_ladder(a=50, promotion_rates=dict.fromkeys(calc.RUNGS, 0.3))
    assert plan == {"A": 50, "B": 167, "C": 557, "D": 1857, "E": 6190}
