"""Periods cut at local midnight (Asia/Shanghai), not UTC: visits, grade changes, follow-ups and deals at 00:30 and
23:30 local time on the first and last days of October 2026 (and the last of September, the first of November) count
in the right month and day, in the selectors, on the page, in the API and in the workbook.

The other funnel tests build their times at 10:00 local, where a day cut in UTC (00:00–07:59 local belongs to the
day before) passes unnoticed. Here every edge is asymmetric: more records sit just after the month than just
inside its start, so a UTC cut changes each count rather than trading one record for another.

All times local; every lead held by org.consultant (phone, graded):

  cohort   S1 first 09-30 23:30, E then
           O1 first 10-01 00:30, C then, A 11-01 00:30; follow-up 10-31 23:30; deal recorded 11-01 00:30
           O2 first 10-31 23:30, B then; follow-up 11-01 00:30
           N1, N2 first 11-01 00:30, E then
  ladder   (first visits 08-10) G1 E, D 10-01 00:30; follow-up 09-30 23:30
           G2 E, D 09-30 23:30; follow-up 10-01 00:30
           G3 E, D 10-15, C 11-01 00:30; follow-up 11-01 00:30
           G4 E, D 10-15, C 10-31 23:30
           re-visits of G1 at 09-30 23:30, 10-01 00:30, 10-31 23:30 and twice 11-01 00:30
  orders   (first visits 08-10, A) deals recorded 09-30 23:30 (W1), 10-01 00:30 (W2), 10-31 23:30 (W3),
           11-01 00:30 (W4; O1's too)

October: N 2 (O1, O2), re-visits 2, valid 2, P B .5 / C .5 (O1 was still C at the month's end), followed 2 (O2's
follow-up after the month still counts for its cohort), deals 1 (O1, signed in November), M 310.
Promotion over October: E held by S1, G1, G3, G4, up G1, G3, G4 (3/4); D held by G1–G4, up G4 (1/4); C held by
O1, G4 (0/2); B by O2 (0/1). Follow-ups written in October: G2's 10-01 00:30 and O1's 10-31 23:30 (2).
Orders (calendar): September 1, October 2 (W2, W3), November 2 (W4, O1); October's target 4 → progress .5."""

import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
import time_machine
from django.urls import reverse

from dealercrm.tests.clients import client_for
from funnel import selectors
from funnel.models import MarketEstimate, Target
from funnel.selectors import Slice
from funnel.tests.conftest import SH, make_lead
from leads.services import deal_record

pytestmark = pytest.mark.django_db

OCTOBER = {"start": date(2026, 10, 1), "end": date(2026, 10, 31)}


def t(month, day, hour, minute=30):
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


EARLY_OCT, LATE_OCT = t(10, 1, 0), t(10, 31, 23)  # 00:30 on the 1st, 23:30 on the 31st
LATE_SEP, EARLY_NOV = t(9, 30, 23), t(11, 1, 0)
AUGUST = t(8, 10, 10, 0)


@pytest.fixture
def edges(org, frozen):
    s, c = org.store, org.consultant
    phone = iter(f"+86139000000{i:02d}" for i in range(1, 99))

    def lead(name, **kwargs):
        return make_lead(s, c, name, phone=next(phone), **kwargs)

    leads = {
        "S1": lead("S1", first=LATE_SEP, grades=[("E", LATE_SEP)]),
        "O1": lead("O1", first=EARLY_OCT, grades=[("C", EARLY_OCT), ("A", EARLY_NOV)], follow_ups=[LATE_OCT]),
        "O2": lead("O2", first=LATE_OCT, grades=[("B", LATE_OCT)], follow_ups=[EARLY_NOV]),
        "N1": lead("N1", first=EARLY_NOV, grades=[("E", EARLY_NOV)]),
        "N2": lead("N2", first=EARLY_NOV, grades=[("E", EARLY_NOV)]),
        "G1": lead("G1", first=AUGUST, grades=[("E", AUGUST), ("D", EARLY_OCT)], follow_ups=[LATE_SEP],
                   revisits=[LATE_SEP, EARLY_OCT, LATE_OCT, EARLY_NOV, EARLY_NOV]),
        "G2": lead("G2", first=AUGUST, grades=[("E", AUGUST), ("D", LATE_SEP)], follow_ups=[EARLY_OCT]),
        "G3": lead("G3", first=AUGUST, grades=[("E", AUGUST), ("D", t(10, 15, 10, 0)), ("C", EARLY_NOV)],
                   follow_ups=[EARLY_NOV]),
        "G4": lead("G4", first=AUGUST, grades=[("E", AUGUST), ("D", t(10, 15, 10, 0)), ("C", LATE_OCT)]),
        **{f"W{i}": lead(f"W{i}", first=AUGUST, grades=[("A", AUGUST)]) for i in range(1, 5)},
    }
    # Deals recorded through the service at the moment itself: the order date is the local day of recording.
    for name, when in (("W1", LATE_SEP), ("W2", EARLY_OCT), ("W3", LATE_OCT), ("W4", EARLY_NOV), ("O1", EARLY_NOV)):
        with time_machine.travel(when, tick=False):
            deal_record(actor=c, lead=leads[name], price=Decimal("150000.00"))
    for month, estimate in ((9, 300), (10, 310), (11, 300)):
        MarketEstimate.objects.create(store=s, month=date(2026, month, 1), estimate=estimate)
    Target.objects.create(store=s, month=date(2026, 10, 1), units=4, revenue=0)
    return org


# --- the selectors -------------------------------------------------------------------------------------------------


def test_the_months_funnel_counts_local_midnight_to_local_midnight(edges):
    october = selectors.funnel_metrics(Slice(user=edges.manager, **OCTOBER))
    assert october == {
        "N": 2, "N_by_source": {"walk_in": 2, "referral": 0, "outbound": 0}, "revisits": 2, "valid": 2, "K": 1.0,
        "P": {"A": 0.0, "B": 0.5, "C": 0.5, "D": 0.0, "E": 0.0}, "followed": 2, "F": 1.0, "deals": 1, "units": 1, "C": 0.5,
        "M": 310, "penetration": 0.0065,
    }
    september = selectors.funnel_metrics(Slice(user=edges.manager, start=date(2026, 9, 1), end=date(2026, 9, 30)))
    assert (september["N"], september["revisits"], september["M"]) == (1, 1, 300)
    november = selectors.funnel_metrics(Slice(user=edges.manager, start=date(2026, 11, 1), end=date(2026, 11, 30)))
    assert (november["N"], november["revisits"]) == (2, 2)


@pytest.mark.parametrize(("day", "n", "revisits"), [
    (date(2026, 9, 30), 1, 1), (date(2026, 10, 1), 1, 1), (date(2026, 10, 31), 1, 1), (date(2026, 11, 1), 2, 2),
])
def test_a_single_day_holds_its_own_00_30_and_23_30(edges, day, n, revisits):
    figures = selectors.funnel_metrics(Slice(user=edges.manager, start=day, end=day))
    assert (figures["N"], figures["revisits"]) == (n, revisits)


def test_grouped_by_day_and_month_the_edges_fall_on_their_local_day(edges):
    by_day = selectors.funnel_metrics(Slice(user=edges.manager, start=date(2026, 9, 30), end=date(2026, 11, 1)),
                                      group_by="day")
    counted = {r["key"]: (r["N"], r["revisits"]) for r in by_day["results"] if r["N"] or r["revisits"]}
    assert counted == {"2026-09-30": (1, 1), "2026-10-01": (1, 1), "2026-10-31": (1, 1), "2026-11-01": (2, 2)}
    by_month = selectors.funnel_metrics(Slice(user=edges.manager, start=date(2026, 9, 1), end=date(2026, 11, 30)),
                                        group_by="month")
    months = {r["key"]: (r["N"], r["revisits"], r["deals"], r["M"]) for r in by_month["results"]}
    assert months == {"2026-09-01": (1, 1, 0, 300), "2026-10-01": (2, 2, 1, 310), "2026-11-01": (2, 2, 0, 300)}


def test_m_over_two_days_across_the_month_end_takes_a_day_of_each_month(edges):
    figures = selectors.funnel_metrics(Slice(user=edges.manager, start=date(2026, 10, 31), end=date(2026, 11, 1)))
    # 310 / 31 + 300 / 30; N: O2 (23:30) and N1, N2 (00:30).
    assert (figures["M"], figures["N"], figures["penetration"]) == (20, 3, 0.15)


def test_promotion_rates_over_the_month_take_the_changes_at_its_edges(edges):
    october = selectors.promotion_rates(Slice(user=edges.manager, **OCTOBER))
    assert october["held"] == {"E->D": 4, "D->C": 4, "C->B": 2, "B->A": 1, "E->A": 4}
    assert october["promoted"] == {"E->D": 3, "D->C": 1, "C->B": 0, "B->A": 0, "E->A": 0}
    assert october["rates"] == {"E->D": 0.75, "D->C": 0.25, "C->B": 0.0, "B->A": 0.0, "E->A": 0.0}


def test_control_points_count_the_months_follow_ups_and_cohort(edges):
    points = selectors.control_points(Slice(user=edges.manager, **OCTOBER))
    row = next(r for r in points.rows if r.consultant_id == edges.consultant.pk)
    assert (row.N, row.valid, row.followed, row.deals, row.follow_ups, points.days) == (2, 2, 2, 1, 2, 31)
    assert (row.promotion["E->D"], row.promotion["D->C"]) == (0.75, 0.25)
    assert points.total.follow_ups == 2
    first_day = selectors.control_points(Slice(user=edges.manager, start=date(2026, 10, 1), end=date(2026, 10, 1)))
    assert (first_day.total.N, first_day.total.follow_ups) == (1, 1)


def test_target_progress_counts_the_orders_of_the_local_month(edges):
    def units(month):
        return selectors.target_progress(user=edges.manager, store=edges.store, month=month)["store"]["units"]

    assert (units(date(2026, 9, 1)), units(date(2026, 10, 1)), units(date(2026, 11, 1))) == (1, 2, 2)
    october = selectors.target_progress(user=edges.manager, store=edges.store, month=date(2026, 10, 1))["store"]
    assert (october["target_units"], october["progress"]) == (4, 0.5)
    [line] = selectors.target_progress_by_store(user=edges.manager, stores=[edges.store], month=date(2026, 10, 1))
    assert (line["units"], line["progress"]) == (2, 0.5)


# --- the page, the API and the workbook ----------------------------------------------------------------------------


def test_the_page_shows_octobers_edges_in_october(edges):
    response = client_for(edges.manager).get(
        reverse("funnel:dashboard"), {"period": "custom", "start": "2026-10-01", "end": "2026-10-31"})
    html = response.content.decode()
    m = response.context["metrics"]
    assert (m["N"], m["revisits"], m["deals"], m["P"]["C"], m["M"]) == (2, 2, 1, 0.5, 310)
    assert 'data-kpi="N">2<' in html and 'data-kpi="deals">1<' in html and "+2 re-visits" in html
    assert 'data-figure="units">2<' in html  # October's orders, against its target of 4
    total = response.context["points"].total
    assert (total.follow_ups, total.promotion["E->D"], total.promotion["D->C"]) == (2, 0.75, 0.25)
    first_day = client_for(edges.manager).get(
        reverse("funnel:dashboard"), {"period": "custom", "start": "2026-10-01", "end": "2026-10-01"})
    assert first_day.context["metrics"]["N"] == 1


def test_the_api_shows_octobers_edges_in_october(edges, api_as):
    api = api_as(edges.manager)
    metrics = api.get("/api/v1/funnel/metrics/", {"start": "2026-10-01", "end": "2026-10-31"}).json()
    assert (metrics["N"], metrics["revisits"], metrics["deals"], metrics["P"]["C"], metrics["M"]) == (2, 2, 1, 0.5, 310)
    by_day = api.get("/api/v1/funnel/metrics/", {"start": "2026-10-01", "end": "2026-10-31", "group_by": "day"}).json()
    assert {r["key"] for r in by_day["results"] if r["N"]} == {"2026-10-01", "2026-10-31"}
    ladder = api.get("/api/v1/funnel/ladder/", {"start": "2026-10-01", "end": "2026-10-31"}).json()
    assert (ladder["promotion_rates"]["E->D"], ladder["promotion_rates"]["D->C"]) == (0.75, 0.25)
    progress = api.get("/api/v1/funnel/progress/", {"store": edges.store.pk, "month": "2026-10"}).json()
    assert (progress["store"]["units"], progress["store"]["progress"]) == (2, 0.5)


def _sheets(content: bytes) -> dict:
    """Each sheet of the workbook as (headers, the rows below them as dicts), the headers found in the row that
    starts the table (the first row whose cells are all text)."""
    book = openpyxl.load_workbook(io.BytesIO(content))
    out = {}
    for sheet in book.worksheets[1:]:
        rows = [[c.value for c in row] for row in sheet.iter_rows()]
        header = rows[0]
        out[sheet.title] = [dict(zip(header, row, strict=False)) for row in rows[1:]]
    return out


def test_the_workbook_shows_octobers_edges_in_october(edges, api_as):
    response = api_as(edges.manager).get(
        f"/api/v1/reports/monthly-pack/?store={edges.store.pk}&start=2026-10-01&end=2026-10-31&format=xlsx",
        HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    sheets = _sheets(response.content)
    [funnel] = [rows for rows in sheets.values() if rows and "M market demand" in rows[0]]
    assert (funnel[0]["N (first visits)"], funnel[0]["Re-visits"], funnel[0]["Deals (cohort)"],
            funnel[0]["M market demand"]) == (2, 2, 1, 310)
    [targets] = [rows for rows in sheets.values() if rows and "Target (units)" in rows[0]]
    store_line = next(r for r in targets if r["Consultant"] == "Store")
    assert (store_line["Orders (calendar)"], store_line["Target (units)"]) == (2, 4)
    [promotion] = [rows for rows in sheets.values() if rows and "held E" in rows[0]]
    total = next(r for r in promotion if r["Consultant"] == "Total")
    assert (total["E→D"], total["D→C"], total["held E"]) == (0.75, 0.25, 4)
    [control] = [rows for rows in sheets.values() if rows and "Follow-ups rejected" in rows[0]
                 and "Consultant" in rows[0]]
    assert next(r for r in control if r["Consultant"] == "Total")["Follow-ups"] == 2


def test_at_00_45_on_the_first_the_default_period_is_the_new_month(edges, api_as):
    # "This month" and the API's default period start from today's local date: at 00:45 on 1 November it is still
    # 31 October in UTC.
    with time_machine.travel(t(11, 1, 0, 45), tick=False):
        response = client_for(edges.manager).get(reverse("funnel:dashboard"))
        assert (response.context["start"], response.context["end"]) == (date(2026, 11, 1), date(2026, 11, 1))
        assert (response.context["metrics"]["N"], response.context["metrics"]["revisits"]) == (2, 2)
        assert response.context["progress_store"]["units"] == 2  # W4 and O1, ordered at 00:30
        api = api_as(edges.manager)
        assert api.get("/api/v1/funnel/metrics/").json()["N"] == 2
        progress = api.get("/api/v1/funnel/progress/", {"store": edges.store.pk}).json()
        assert (progress["month"], progress["store"]["units"]) == ("2026-11-01", 2)
