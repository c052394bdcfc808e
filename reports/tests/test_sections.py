"""The defeats and base-client tables against their apps' selectors (one definition of each number)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from baseclients import selectors as bc
from baseclients.models import Tier
from baseclients.tests.factories import buy
from defeats import selectors as defeats
from defeats import services as defeat_services
from defeats.tests.factories import pending_application

pytestmark = pytest.mark.django_db


def _tables(payload: dict) -> dict:
    return {t["key"]: t for s in payload["sections"] for t in s["tables"]}


@pytest.fixture
def figures(org):
    """Two applications (one confirmed, one rejected), two deals, in the current month."""
    confirmed = pending_application(org, kind="defeat", reasons=("lost_contact",))
    defeat_services.application_decide(actor=org.manager, application=confirmed, verdict="confirm", comment="ok")
    rejected = pending_application(org)
    defeat_services.application_decide(actor=org.manager, application=rejected, verdict="reject",
                                       comment="still interested", grade="C")
    buy(store=org.store, consultant=org.consultant)
    buy(store=org.store, consultant=org.consultant2, district="浦东新区")
    return org


def test_the_pack_carries_defeats_tiers_care_and_referrals_from_their_selectors(figures, api_as):
    org = figures
    today = timezone.localdate()
    start = today - timedelta(days=10)  # the deals are ordered 5 days before today
    response = api_as(org.manager).get(
        f"/api/v1/reports/monthly-pack/?store={org.store.pk}&start={start}&end={today}", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200, response.content
    tables = _tables(response.json())
    total = defeats.defeat_metrics(user=org.manager, period=defeats.Period(start, today), stores=[org.store])
    pack_total = tables["defeats_by_consultant"]["total"]
    assert (pack_total["defeats"], pack_total["rejected"], pack_total["deals"]) == (
        total["defeats"], total["rejected"], total["deals"]) == (1, 1, 2)
    assert pack_total["defeat_rate"] == total["defeat_rate"]
    tiers = {r["tier"]: r for r in tables["tiers"]["rows"]}
    for row in bc.one_brings_one(user=org.manager, store=org.store):
        assert tiers[str(Tier(row["tier"]).label)]["clients"] == row["clients"]
    assert sum(r["clients"] for r in tables["tiers"]["rows"]) == 2
    care = bc.care_completion(user=org.manager, since=start, until=today, store=org.store)
    assert [r["planned"] for r in tables["care"]["rows"]] == [r["planned"] for r in care]
    structure = bc.referral_structure(user=org.manager, year=start.year, store=org.store)
    assert [r["n"] for r in tables["referral_structure"]["rows"]] == [r["n"] for r in structure["rows"]]
    assert tables["referral_structure"]["total"]["n"] == structure["total"]["n"]
    assert tables["care"]["rows"] == [] or 0 <= tables["care"]["rows"][0]["rate"] <= 1


def test_the_pack_carries_the_tier_movement_per_consultant_from_its_selector(figures, api_as):
    from baseclients import services as bc_services
    from baseclients.models import BaseClient

    org = figures
    today = timezone.localdate()
    client = BaseClient.objects.get(assigned_to=org.consultant)
    full = {"satisfaction": 15, "maintenance": 15, "repairs": 10, "word_of_mouth": 5,
            "reputation": 15, "business": 15, "trade_word": 12, "reach": 10, "plans": 12}
    bc_services.client_score(actor=org.consultant, client=client, scores=full)  # general -> potential: up
    bc_services.client_score(actor=org.consultant, client=client, scores=dict.fromkeys(full, 0))  # and down
    start = today - timedelta(days=10)
    response = api_as(org.manager).get(
        f"/api/v1/reports/monthly-pack/?store={org.store.pk}&start={start}&end={today}", HTTP_ACCEPT_LANGUAGE="en")
    table = _tables(response.json())["tier_movement"]
    expected = bc.tier_movement(user=org.manager, since=start, until=today, store=org.store)
    assert [(r["name"], r["up"], r["down"]) for r in table["rows"]] == [(r["name"], r["up"], r["down"])
                                                                      for r in expected]
    assert [(r["up"], r["down"]) for r in table["rows"]] == [(1, 1)]
    # The consultant filter keeps that consultant's line; a period before the changes has none.
    other = api_as(org.manager).get(f"/api/v1/reports/monthly-pack/?store={org.store.pk}&start={start}&end={today}"
                                    f"&consultant={org.consultant2.pk}").json()
    assert _tables(other)["tier_movement"]["rows"] == []
    before = api_as(org.manager).get(f"/api/v1/reports/monthly-pack/?store={org.store.pk}"
                                     f"&start={start - timedelta(days=60)}&end={start - timedelta(days=30)}").json()
    assert _tables(before)["tier_movement"]["rows"] == []


def test_defeat_analysis_and_concentration_reports(figures, api_as):
    org = figures
    today = timezone.localdate()
    client = api_as(org.admin)
    start = today - timedelta(days=10)
    response = client.get(f"/api/v1/reports/defeat-analysis/?start={start}&end={today}")
    assert response.status_code == 200
    tables = _tables(response.json())
    by_reason = defeats.defeat_metrics(user=org.admin, period=defeats.Period(start, today),
                                       group_by="reason")["results"]
    assert [r["defeats"] for r in tables["defeats_by_reason"]["rows"]] == [r["defeats"] for r in by_reason]
    response = client.get(f"/api/v1/reports/concentration/?end={today}")
    assert response.status_code == 200
    region = _tables(response.json())["region_concentration"]
    expected = bc.concentration(user=org.admin, by="region", year=today.year)
    assert [r["this_total"] for r in region["rows"]] == [r["this_year"]["total"] for r in expected]
    # The industry table once per segment of the clients' vehicles, each equal to the selector's.
    segments = bc.industry_by_segment(user=org.admin, year=today.year)
    assert segments
    tables = _tables(response.json())
    for seg in segments:
        table = tables[f"industry_concentration_{seg['segment'] or 'other'}"]
        assert [(r["key"], r["this_total"]) for r in table["rows"]] == [
            (r["key"] or "—", r["this_year"]["total"]) for r in seg["rows"]]
    assert api_as(org.consultant).get("/api/v1/reports/defeat-analysis/").status_code == 403
    assert client.get("/api/v1/reports/referrals/?format=xlsx").status_code == 200


def test_nothing_is_left_pending_in_the_pack(org):
    from reports.selectors import pending_pack_sections

    assert pending_pack_sections() == []


# The worked base-client history (baseclients/tests/test_method_figures.py): referrals and repeat purchases of last
# year under the tiers held at the time.
from baseclients.tests.test_method_figures import Y, history  # noqa: E402, F401


def test_the_base_client_figures_agree_in_the_pack_json_page_workbook_pdf_and_analyses(history, api_as):
    import io
    import subprocess

    import openpyxl

    from dealercrm.tests.clients import client_for

    org = history
    query = f"store={org.store.pk}&start={Y}-03-01&end={Y}-03-31"
    payload = api_as(org.manager).get(f"/api/v1/reports/monthly-pack/?{query}", HTTP_ACCEPT_LANGUAGE="en").json()
    tables = _tables(payload)
    structure = tables["referral_structure"]
    march = next(r for r in structure["rows"] if r["month"] == f"{Y}-03")
    assert (march["n"], march["referrals"], march["share_of_n"], march["close_rate"]) == (4, 3, 0.75, 0.0)
    assert (structure["total"]["referrals"], structure["total"]["share_of_n"],
            structure["total"]["close_rate"]) == (6, 0.667, 0.5)
    assert tables["referral_shares"]["rows"][0]["repeat"] == 0.5
    effect = next(r for r in tables["monthly_effect"]["rows"] if r["month"] == f"{Y}-03")
    assert (effect["referrals_premium"], effect["referrals_potential"], effect["referrals_general"]) == (0, 1, 1)
    # The pack carries the concentration tables, two years side by side per tier.
    region = tables["region_concentration"]
    assert {f"this_{t}" for t in ("premium", "potential", "general")} | {"last_total", "this_total"} <= {
        c["key"] for c in region["columns"]}
    # The page, the workbook, the PDF and the analyses page show the same figures.
    client = client_for(org.manager)
    page = client.get(f"/reports/monthly-pack/?{query}", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "66.7%" in page and "75.0%" in page
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/reports/monthly-pack/?{query}&format=xlsx",
                                                        HTTP_ACCEPT_LANGUAGE="en").content))
    sheet = book[f"Referral structure, {Y}"]
    headers = [c.value for c in sheet[1]]
    total = dict(zip(headers, [c.value for c in sheet[14]], strict=True))  # 12 months, then the total row
    assert total["Month"] == "Total" and total["Referral leads"] == 6
    assert total["Share of N"] == pytest.approx(0.667) and total["Referral close rate"] == pytest.approx(0.5)
    pdf = api_as(org.manager).get(f"/api/v1/reports/monthly-pack/?{query}&format=pdf", HTTP_ACCEPT_LANGUAGE="en")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True).stdout
    assert b"66.7%" in text
    analyses = client.get(f"/base-clients/analyses/?year={Y}&store={org.store.pk}").content.decode()
    assert "66.7%" in analyses and "75.0%" in analyses


def test_the_packs_base_client_sections_honour_the_series_filter(history, api_as):
    from baseclients.models import Referral, Vehicle
    from dealercrm.tests.factories import VehicleSeriesFactory
    from leads.models import Lead

    org = history
    series = VehicleSeriesFactory()
    l3 = Referral.objects.get(sequence=3).lead
    Lead.objects.filter(pk=l3.pk).update(series=series)
    referrer = Referral.objects.get(sequence=3).referrer_client
    Vehicle.objects.filter(client=referrer).update(series=series)
    query = f"store={org.store.pk}&start={Y}-03-01&end={Y}-03-31"
    tables = _tables(api_as(org.manager).get(f"/api/v1/reports/monthly-pack/?{query}&series={series.pk}").json())
    assert tables["referral_structure"]["total"]["n"] == 1 and tables["referral_structure"]["total"]["referrals"] == 1
    effect = next(r for r in tables["monthly_effect"]["rows"] if r["month"] == f"{Y}-03")
    assert effect["referrals"] == 1 and effect["referrals_potential"] == 1
    # One client owns a vehicle of the series: the tiers table counts it alone.
    assert sum(r["clients"] for r in tables["tiers"]["rows"]) == 1
    unfiltered = _tables(api_as(org.manager).get(f"/api/v1/reports/monthly-pack/?{query}").json())
    assert sum(r["clients"] for r in unfiltered["tiers"]["rows"]) == 4
