"""A consultant reads their own scorecard row, and nothing else, on every surface: the API's JSON, the report page,
its workbook, and "my control points" on the funnel page. The leak this guards against: a colleague who wrote a
follow-up on one of the consultant's leads (the lead changed hands) became a row of the consultant's table, and with
two rows the table grew a store total."""

import io

import openpyxl
import pytest

from dealercrm.tests.clients import client_for
from funnel.tests.conftest import at
from leads.models import FollowUp

pytestmark = pytest.mark.django_db

OCTOBER = "start=2026-10-01&end=2026-10-31"


@pytest.fixture
def handed_over(cohort):
    """L3 (org.consultant's, "李娜") was 陈静's (org.consultant2) before it changed hands: her follow-up on it stays."""
    org = cohort.org
    org.consultant.display_name, org.consultant2.display_name = "李娜", "陈静"
    org.consultant.save(update_fields=["display_name"])
    org.consultant2.save(update_fields=["display_name"])
    FollowUp.objects.create(lead=cohort.leads["L3"], occurred_at=at(10, 21), method="phone", content="跟进",
                            created_by=org.consultant2)
    return cohort


def test_scorecard_api_is_the_consultants_own_row(handed_over, api_as):
    org = handed_over.org
    response = api_as(org.consultant).get(f"/api/v1/reports/consultant-scorecard/?{OCTOBER}")
    assert response.status_code == 200
    [table] = [t for s in response.json()["sections"] for t in s["tables"] if t["key"] == "scorecard"]
    assert [r["label"] for r in table["rows"]] == ["李娜"]
    assert table["total"] is None
    assert "陈静" not in response.content.decode()


def test_scorecard_page_is_the_consultants_own_row(handed_over):
    org = handed_over.org
    response = client_for(org.consultant).get(f"/reports/consultant-scorecard/?{OCTOBER}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "李娜" in html and "陈静" not in html


def test_scorecard_workbook_is_the_consultants_own_row(handed_over):
    org = handed_over.org
    response = client_for(org.consultant).get(f"/reports/consultant-scorecard/?{OCTOBER}&format=xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    values = [c.value for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert "李娜" in values and "陈静" not in values


def test_my_control_points_on_the_funnel_page_is_one_row_without_a_total(handed_over):
    org = handed_over.org
    response = client_for(org.consultant).get("/funnel/", {"period": "custom", "start": "2026-10-01",
                                                           "end": "2026-10-31"})
    assert response.status_code == 200
    points = response.context["points"]
    assert [r.consultant_id for r in points.rows] == [org.consultant.pk]
    # The consultant's own follow-ups only (L1's on 10-05), not the colleague's on L3.
    assert points.rows[0].follow_ups == 1 and points.total.follow_ups == 1
    html = response.content.decode()
    assert "My control points" in html and "陈静" not in html
    assert "Store total" not in html and 'class="fnl-total-row"' not in html


def test_a_consultant_naming_a_colleague_still_reads_their_own_row(handed_over, api_as):
    org = handed_over.org
    response = api_as(org.consultant).get(f"/api/v1/reports/consultant-scorecard/?{OCTOBER}"
                                          f"&consultant={org.consultant2.pk}")
    assert response.status_code in (200, 400, 404)
    assert "陈静" not in response.content.decode()


def test_the_manager_still_reads_every_row(handed_over, api_as):
    org = handed_over.org
    response = api_as(org.manager).get(f"/api/v1/reports/consultant-scorecard/?{OCTOBER}&store={org.store.pk}")
    [table] = [t for s in response.json()["sections"] for t in s["tables"] if t["key"] == "scorecard"]
    assert {"李娜", "陈静"} <= {r["label"] for r in table["rows"]}
