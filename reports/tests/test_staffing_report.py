"""The staffing report (page, JSON, workbook), its section in the monthly pack, and the scorecard's deals credited
after a handoff: the same figures as funnel.staffing and leads.selectors_levels."""

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

from dealercrm.tests.clients import client_for
from dealercrm.tests.factories import ConsultantFactory
from funnel.models import Target
from funnel.staffing import staffing_plan
from leads import services
from leads.models import Lead
from leads.services.levels import store_levels_set
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

LEVELS = [
    {"name": "一级", "order": 1, "grades": ["A"], "capacity": 5},
    {"name": "二级", "order": 2, "grades": ["B"], "capacity": 10},
    {"name": "三级", "order": 3, "grades": ["C", "D", "E"], "capacity": 40},
]


def _tables(payload: dict) -> dict:
    return {t["key"]: t for s in payload["sections"] for t in s["tables"]}


@pytest.fixture
def staffed(org):
    store_levels_set(actor=org.manager, store=org.store, levels=LEVELS, members={org.consultant.pk: 3})
    Target.objects.create(store=org.store, month=date(2026, 10, 1), units=12)
    return org


def test_the_staffing_report_is_the_planners_figures_in_every_output(staffed, api_as):
    org = staffed
    payload = api_as(org.manager).get(f"/api/v1/reports/staffing/?store={org.store.pk}&start=2026-10-01"
                                      f"&end=2026-10-31").json()
    table = _tables(payload)[f"staffing_{org.store.pk}"]
    plan = staffing_plan(user=org.manager, store=org.store, year=2026, month=10)
    assert [(r["label"], r["consultants"], r["consultants_needed"]) for r in table["rows"]] == [
        (p["level"].name, p["plan"].consultants, p["plan"].consultants_needed) for p in plan["levels"]]
    assert table["rows"][2]["consultants"] == 1 and table["total"]["consultants"] == 1
    workbook = client_for(org.manager).get(f"/reports/staffing/?store={org.store.pk}&start=2026-10-01"
                                           f"&end=2026-10-31&format=xlsx")
    assert workbook.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(workbook.content))
    cells = [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert "三级" in cells
    assert client_for(org.consultant).get(f"/reports/staffing/?store={org.store.pk}").status_code == 403
    assert api_as(org.manager2).get(f"/api/v1/reports/staffing/?store={org.store.pk}").status_code == 404


def test_the_monthly_pack_has_the_staffing_section(staffed, api_as):
    org = staffed
    payload = api_as(org.manager).get(f"/api/v1/reports/monthly-pack/?store={org.store.pk}&start=2026-10-01"
                                      f"&end=2026-10-31").json()
    assert "staffing" in [s["key"] for s in payload["sections"]]
    assert _tables(payload)[f"staffing_{org.store.pk}"]["rows"][0]["label"] == "一级"


def test_the_scorecard_counts_a_handed_off_deal_per_the_stores_rule(org, api_as):
    b1 = ConsultantFactory(username="b1", store=org.store, display_name="二级甲")
    store_levels_set(actor=org.manager, store=org.store, levels=LEVELS, handoff="round_robin", credit="split",
                     members={org.consultant.pk: 3, b1.pk: 2})
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="C")
    services.follow_up_log(actor=org.consultant, lead=lead, method="phone", content="谈了价格", grade_after="B")
    services.deal_record(actor=b1, lead=Lead.objects.get(pk=lead.pk), price=Decimal("150000.00"),
                         ordered_at=timezone.localdate())
    today = timezone.localdate()
    payload = api_as(org.manager).get(f"/api/v1/reports/consultant-scorecard/?store={org.store.pk}"
                                      f"&start={today.replace(day=1)}&end={today}").json()
    rows = {r["label"]: r for r in _tables(payload)["scorecard"]["rows"]}
    assert rows["二级甲"]["credited"] == "0.50"
    assert [r["credited"] for r in rows.values() if r["label"] != "二级甲" and r["credited"]] == ["0.50"]
