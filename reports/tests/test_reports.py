"""Every report's figures against the owning selectors, in every output (JSON, page, workbook, PDF), and the role
rules."""

import io
import subprocess
import tempfile
from datetime import date
from decimal import Decimal

import openpyxl
import pytest

from dealercrm.tests.clients import client_for
from funnel import selectors as funnel
from reports import catalogue
from reports.selectors import ReportParams
from reports.tables import cell_text

pytestmark = pytest.mark.django_db

OCTOBER = "start=2026-10-01&end=2026-10-31"


def _tables(payload: dict) -> dict:
    return {t["key"]: t for s in payload["sections"] for t in s["tables"]}


def test_monthly_pack_json_is_the_funnel_selectors_figures(cohort, api_as):
    org = cohort.org
    response = api_as(org.manager).get(f"/api/v1/reports/monthly-pack/?store={org.store.pk}&{OCTOBER}")
    assert response.status_code == 200, response.content
    tables = _tables(response.json())
    s = funnel.Slice(user=org.manager, start=date(2026, 10, 1), end=date(2026, 10, 31), stores=[org.store])
    figures = funnel.funnel_metrics(s)
    [row] = tables["funnel"]["rows"]
    assert (row["N"], row["valid"], row["K"], row["followed"], row["F"], row["deals"], row["C"], row["M"]) == (
        figures["N"], figures["valid"], figures["K"], figures["followed"], figures["F"], figures["deals"],
        figures["C"], figures["M"])
    assert row == {**row, "N": 6, "valid": 4, "K": 0.6667, "F": 0.75, "C": 0.6667, "M": 300, "penetration": 0.02}
    by_source = {r["label"]: r for r in tables["funnel_by_source"]["rows"]}
    for r in funnel.funnel_metrics(s, group_by="source")["results"]:
        assert by_source[r["label"]]["N"] == r["N"] and by_source[r["label"]]["C"] == r["C"]
    points = funnel.control_points(s)
    control = tables["control_points"]
    assert control["total"]["N"] == points.total.N == 6
    assert [r["follow_ups"] for r in control["rows"]] == [r.follow_ups for r in points.rows]
    promotion = tables["promotion"]["total"]
    assert promotion["E->D"] == points.total.promotion["E->D"]
    assert tables["ladder"]["total"]["B"] == points.total.ladder["B"]


def test_the_page_and_the_workbook_show_the_same_figures(cohort):
    org = cohort.org
    client = client_for(org.manager)
    page = client.get(f"/reports/monthly-pack/?store={org.store.pk}&{OCTOBER}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "66.7%" in html and "75.0%" in html  # K and C; F
    workbook = client.get(f"/reports/monthly-pack/?store={org.store.pk}&{OCTOBER}&format=xlsx")
    assert workbook.status_code == 200
    assert workbook["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(workbook.content))
    assert book.sheetnames[0] == "Cover"
    sheet = book["Funnel (M N P K F C)"]
    headers = [c.value for c in sheet[1]]
    values = dict(zip(headers, [c.value for c in sheet[2]], strict=True))
    assert values["N (first visits)"] == 6 and values["K retention"] == pytest.approx(0.6667)
    assert sheet.cell(2, headers.index("K retention") + 1).number_format == "0.0%"
    assert sheet.freeze_panes == "A2"
    assert f"{values['C close rate'] * 100:.1f}%" in html


def test_workbook_headers_follow_the_users_language(cohort):
    org = cohort.org
    client = client_for(org.manager)
    client.cookies["django_language"] = "zh-hans"
    response = client.get(f"/reports/monthly-pack/?store={org.store.pk}&{OCTOBER}&format=xlsx",
                          HTTP_ACCEPT_LANGUAGE="zh-hans")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames[0] == "封面"


def test_store_comparison_has_one_row_per_store(cohort, api_as):
    org = cohort.org
    response = api_as(org.admin).get(f"/api/v1/reports/store-comparison/?{OCTOBER}")
    assert response.status_code == 200
    table = _tables(response.json())["store_comparison"]
    assert [r["label"] for r in table["rows"]] == ["Alpha North", "Alpha South"]
    s = funnel.Slice(user=org.admin, start=date(2026, 10, 1), end=date(2026, 10, 31))
    by_store = {r["label"]: r for r in funnel.funnel_metrics(s, group_by="store")["results"]}
    assert table["rows"][0]["N"] == by_store["Alpha North"]["N"] == 6


def test_scorecard_of_a_consultant_is_their_own_line(cohort, api_as):
    org = cohort.org
    response = api_as(org.consultant).get(f"/api/v1/reports/consultant-scorecard/?{OCTOBER}")
    assert response.status_code == 200
    rows = _tables(response.json())["scorecard"]["rows"]
    assert [r["label"] for r in rows] == [str(org.consultant)]


def test_roles(org, api_as):
    assert api_as(org.consultant).get("/api/v1/reports/monthly-pack/").status_code == 403
    assert api_as(org.manager).get("/api/v1/reports/store-comparison/").status_code == 403
    assert api_as(org.manager).get(f"/api/v1/reports/monthly-pack/?store={org.store2.pk}").status_code == 404
    assert api_as(org.admin).get(f"/api/v1/reports/monthly-pack/?store={org.other_store.pk}").status_code == 404
    assert api_as(org.manager).get("/api/v1/reports/nope/").status_code == 404
    names = [r["name"] for r in api_as(org.manager).get("/api/v1/reports/").json()]
    assert names == ["monthly-pack", "consultant-scorecard", "defeat-analysis", "concentration", "referrals",
                     "work-plans", "staffing"]
    assert [r["name"] for r in api_as(org.consultant).get("/api/v1/reports/").json()] == ["consultant-scorecard"]
    assert client_for(org.consultant).get("/reports/monthly-pack/").status_code == 403


def test_bad_dates_are_a_400_with_messages_even_for_a_file(org, api_as):
    response = api_as(org.manager).get("/api/v1/reports/monthly-pack/?start=2026-10-31&end=2026-10-01&format=xlsx")
    assert response.status_code == 400
    assert "end" in response.json()


def test_injection_cells_are_text_in_the_workbook(org, api_as):
    org.consultant.display_name = "=HYPERLINK(\"http://x\")"
    org.consultant.save()
    response = api_as(org.manager).get("/api/v1/reports/consultant-scorecard/?format=xlsx", HTTP_ACCEPT_LANGUAGE="en")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    values = [c.value for row in book["Consultant scorecard"].iter_rows() for c in row]
    assert "'=HYPERLINK(\"http://x\")" in values
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)


def test_pdf_renders_with_chinese(cohort, api_as):
    org = cohort.org
    response = api_as(org.manager).get(f"/api/v1/reports/monthly-pack/?store={org.store.pk}&{OCTOBER}&format=pdf",
                                       HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    fonts = subprocess.run(["pdffonts", "-"], input=response.content, capture_output=True, check=False).stdout
    if not fonts:  # pdffonts (poppler-utils) reads a file, not stdin, on some versions
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(response.content)
            f.flush()
            fonts = subprocess.run(["pdffonts", f.name], capture_output=True, check=True).stdout
    assert b"Noto-Sans-CJK" in fonts or b"NotoSansCJK" in fonts  # the CJK font is embedded: Chinese, not boxes


def test_print_page_has_no_navigation_and_the_header(cohort):
    org = cohort.org
    response = client_for(org.manager).get(f"/reports/monthly-pack/print/?store={org.store.pk}&{OCTOBER}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "navbar" not in html and "size: A4 landscape" in html and "counter(pages)" in html
    assert "Alpha Auto" in html and "2026-10-01" in html
    # The print's styles are inline: the page's policy allows exactly this <style> by its nonce.
    nonce = response.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in html


def test_catalogue_entries_have_name_title_filters(org, api_as):
    entries = api_as(org.admin).get("/api/v1/reports/").json()
    assert {"name", "title", "filters"} <= set(entries[0])
    assert client_for(org.admin).get("/reports/").status_code == 200


def test_cell_text_formats():
    assert cell_text(0.6667, "pct") == "66.7%"
    assert cell_text(None, "pct") == "—"
    assert cell_text(1234, "int") == "1,234"


def test_every_report_builds_for_every_allowed_role(org):
    for user in (org.manager, org.admin, org.consultant):
        for report in catalogue.reports_for(user):
            params = ReportParams(user=user, start=date(2026, 10, 1), end=date(2026, 10, 31),
                                  stores=[org.store] if report.one_store else [])
            assert report.run(params).as_json()["sections"]


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
def test_pack_money_units_and_rates_read_the_same_on_the_page_the_print_and_the_workbook(cohort, lang):
    # Given October's cohort with a 150,000 deal and a store target of 7 units (a projection with decimals).
    from funnel.models import Target

    org = cohort.org
    Target.objects.create(store=org.store, month=date(2026, 10, 1), units=7, revenue=Decimal("3700300"))
    client = client_for(org.manager)
    client.cookies["django_language"] = lang
    url = f"/reports/monthly-pack/?store={org.store.pk}&{OCTOBER}"
    for path in (url, url.replace("/?", "/print/?")):
        html = client.get(path, HTTP_ACCEPT_LANGUAGE=lang).content.decode()
        assert "¥3,700,300.00" in html and "¥150,000.00" in html and "¥3700300" not in html
        assert "66.7%" in html
    book = openpyxl.load_workbook(io.BytesIO(client.get(url + "&format=xlsx", HTTP_ACCEPT_LANGUAGE=lang).content))
    formats = {c.number_format for sheet in book.worksheets for row in sheet.iter_rows(min_row=2) for c in row
               if isinstance(c.value, (int, float))}
    assert '"¥"#,##0.00' in formats and "0.0%" in formats and "#,##0" in formats
