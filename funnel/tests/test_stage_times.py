"""Time in stage (funnel.stage_times), worked by hand on a small store. Today is 2026-11-23 (conftest.NOW); the
period is October 2026.

  S1..S4  first visit 10-01, C on 10-01, B on 10-03 / 10-05 / 10-07 / 10-09: C stays of 2, 4, 6, 8 days (promoted);
          still active at B: open B stays aged 51, 49, 47, 45 days
  S5      first visit 09-05, C on 09-05, D on 10-05: a C stay of 30 days (demoted); open at D, aged 49 days
  S6      first visit 10-10, E on 10-10, a defeat filed 10-20 and confirmed: an E stay of 10 days (lost)
  S7      first visit 10-12, A on 10-12, deal ordered 10-15: an A stay of 3 days (deal)
  S8      first visit 09-20, graded E on 10-01 only, still E: open, aged 53 days, past E's max dwell (14)
  S9      first visit 10-02, E on 10-02, a defeat filing pending: frozen, neither open nor ended

C stays ended in October: 2, 4, 6, 8, 30 → n 5, median 6 (the 3rd of 5), p80 at rank 1 + 0.8·4 = 4.2: 8 + 0.2·(30 − 8)
= 12.4. Open B: 45, 47, 49, 51 → median 48, p80 at rank 3.4: 49 + 0.4·2 = 49.8.
Days to B (first reached in October): 2, 4, 6, 8 → median 5, p80 at rank 3.4: 6 + 0.4·2 = 6.8. Days to E: S6 0, S8 11,
S9 0 → median 0, p80 at rank 2.6: 0 + 0.6·11 = 6.6. Days to the deal: S7, 3."""

from datetime import date, datetime

import pytest

from defeats.models import Application
from funnel import stage_times
from funnel.selectors import Slice
from funnel.tests.conftest import SH, at, make_lead
from leads.models import Lead

pytestmark = pytest.mark.django_db

OCTOBER = {"start": date(2026, 10, 1), "end": date(2026, 10, 31)}


def _defeat(lead, user, when, *, status="confirmed"):
    return Application.objects.create(
        lead=lead, store=lead.store, consultant=lead.assigned_to, kind="defeat", status=status, applied_by=user,
        applied_at=when, from_status="active", decided_by=user if status != "pending" else None,
        decided_at=when if status != "pending" else None)


@pytest.fixture
def stays(org, frozen):
    c, s = org.consultant, org.store
    leads = {}
    for i, day in enumerate((3, 5, 7, 9), start=1):
        leads[f"S{i}"] = make_lead(s, c, f"S{i}", first=at(10, 1), phone=f"+86138000001{i:02d}",
                                   grades=[("C", at(10, 1)), ("B", at(10, day))])
    leads["S5"] = make_lead(s, c, "S5", first=at(9, 5), phone="+8613800000105",
                            grades=[("C", at(9, 5)), ("D", at(10, 5))])
    leads["S6"] = make_lead(s, org.consultant2, "S6", first=at(10, 10), phone="+8613800000106",
                            grades=[("E", at(10, 10))], status="defeated")
    _defeat(leads["S6"], org.manager, at(10, 20))
    leads["S7"] = make_lead(s, c, "S7", first=at(10, 12), phone="+8613800000107", grades=[("A", at(10, 12))],
                            won=at(10, 15))
    leads["S8"] = make_lead(s, c, "S8", first=at(9, 20), phone="+8613800000108", grades=[("E", at(10, 1))])
    leads["S9"] = make_lead(s, c, "S9", first=at(10, 2), phone="+8613800000109", grades=[("E", at(10, 2))],
                            status="defeat_pending")
    _defeat(leads["S9"], org.consultant, at(10, 22), status="pending")
    # Noise: another store's lead with a C stay in October.
    make_lead(org.other_store, None, "X", first=at(10, 1), phone="+8613800000199",
              grades=[("C", at(10, 1)), ("B", at(10, 2))])
    return leads


def _grade(figures, grade):
    return next(row for row in figures["grades"] if row["grade"] == grade)


def _to(figures, stage):
    return next(row for row in figures["days_to"] if row["stage"] == stage)


def test_ended_stays_median_and_p80_are_exact(org, stays):
    figures = stage_times.stage_times(Slice(user=org.manager, **OCTOBER))
    c = _grade(figures, "C")
    assert (c["n"], c["median_days"], c["p80_days"]) == (5, 6.0, 12.4)
    assert (c["promoted"], c["demoted"], c["lost"], c["deal"]) == (4, 1, 0, 0)
    e, a = _grade(figures, "E"), _grade(figures, "A")
    assert (e["n"], e["median_days"], e["lost"]) == (1, 10.0, 1)
    assert (a["n"], a["median_days"], a["deal"]) == (1, 3.0, 1)
    assert _grade(figures, "B")["n"] == 0 and _grade(figures, "B")["median_days"] is None


def test_open_stays_are_counted_apart_with_their_age(org, stays):
    figures = stage_times.stage_times(Slice(user=org.manager, **OCTOBER))
    b, d, e = _grade(figures, "B"), _grade(figures, "D"), _grade(figures, "E")
    assert (b["open"], b["open_median_days"], b["open_p80_days"], b["open_over_max_dwell"]) == (4, 48.0, 49.8, 0)
    assert (d["open"], d["open_median_days"]) == (1, 49.0)
    # S8 is open at E past the max dwell; S9 (pending) is frozen and S6 (lost) closed: neither is open.
    assert (e["open"], e["open_median_days"], e["open_over_max_dwell"], e["max_dwell_days"]) == (1, 53.0, 1, 14)


def test_days_to_each_grade_and_to_the_deal(org, stays):
    figures = stage_times.stage_times(Slice(user=org.manager, **OCTOBER))
    assert (_to(figures, "B")["n"], _to(figures, "B")["median_days"], _to(figures, "B")["p80_days"]) == (4, 5.0, 6.8)
    assert (_to(figures, "E")["n"], _to(figures, "E")["median_days"], _to(figures, "E")["p80_days"]) == (3, 0.0, 6.6)
    assert (_to(figures, "D")["n"], _to(figures, "D")["median_days"]) == (1, 30.0)  # S5: first visit 09-05
    assert (_to(figures, "deal")["n"], _to(figures, "deal")["median_days"]) == (1, 3.0)
    # S5 first reached C in September: not in October's days to C.
    assert _to(figures, "C")["n"] == 4


def test_sqlite_formulation_agrees_with_percentile_cont(org, stays):
    """The window formulation the embedded SQLite default runs gives PostgreSQL's percentile_cont, group by group."""
    from django.db import connection

    values = "(VALUES (1, 2), (1, 4), (1, 6), (1, 8), (1, 30), (2, 5), (3, 1), (3, 2), (4, 7), (4, 7), (4, 9))"
    source = f"WITH src AS (SELECT g, d AS days, NULL AS how FROM {values} AS v(g, d)) "
    results = []
    for vendor in ("postgresql", "sqlite"):
        with connection.cursor() as cursor:
            cursor.execute(source + stage_times.percentile_select("g", "src", vendor=vendor) + " ORDER BY g")
            results.append([(g, n, round(float(m), 4), round(float(p), 4)) for g, n, m, p, *_ in cursor.fetchall()])
    assert results[0] == results[1] == [(1, 5, 6.0, 12.4), (2, 1, 5.0, 5.0), (3, 2, 1.5, 1.8), (4, 3, 7.0, 8.2)]


def test_a_consultant_gets_his_own_stays_and_group_by_consultant(org, stays):
    own = stage_times.stage_times(Slice(user=org.consultant2, **OCTOBER))
    assert [(_grade(own, g)["n"]) for g in "ABCDE"] == [0, 0, 0, 0, 1]  # only S6
    grouped = stage_times.stage_times(Slice(user=org.manager, **OCTOBER), group_by="consultant")
    rows = {row["key"]: row for row in grouped["results"]}
    assert set(rows) == {org.consultant.pk, org.consultant2.pk}
    assert _grade(rows[org.consultant.pk], "C")["n"] == 5
    assert _grade(rows[org.consultant2.pk], "E")["n"] == 1
    assert _grade(grouped, "C")["median_days"] == 6.0  # the totals beside the groups


def test_one_query_for_the_figures(org, stays, django_assert_max_num_queries):
    s = Slice(user=org.manager, stores=[org.store], **OCTOBER)
    with django_assert_max_num_queries(2):  # the grade rules, the figures
        stage_times.stage_times(s)


def test_rising_flag_compares_the_last_three_months_with_the_nine_before(org, frozen):
    """C: five stays of 10 days ended in the prior nine months, five of 13 in the last three: 13 >= 1.2 x 10, rising.
    D: 10 then 11 days: not rising. B: rising figures but only four recent stays: too few to say."""
    c, s = org.consultant, org.store
    n = 0

    def stay(grade, start, days, then):
        nonlocal n
        n += 1
        end = start.replace(day=start.day + days) if start.day + days <= 28 else None
        assert end is not None
        make_lead(s, c, f"R{n}", first=start, phone=f"+86139000{n:05d}", grades=[(grade, start), (then, end)])

    for month in (1, 2, 3, 4, 5):
        stay("C", at(month, 2), 10, "B")
        stay("D", at(month, 2), 10, "C")
        stay("B", at(month, 2), 10, "A")
    for month in (9, 10, 11, 9, 10):
        stay("C", at(month, 3), 13, "B")
        stay("D", at(month, 3), 11, "C")
    for month in (9, 10, 11, 9):
        stay("B", at(month, 3), 20, "A")
    # History before the 12 months (a customer of 2024): stays up to 600 days long count in the comparison.
    make_lead(s, c, "OLD", first=datetime(2024, 3, 1, 10, tzinfo=SH), phone="+8613900099999",
              grades=[("E", datetime(2024, 3, 1, 10, tzinfo=SH))], won=datetime(2024, 3, 20, 10, tzinfo=SH))
    figures = stage_times.stage_times(Slice(user=org.manager, start=date(2026, 11, 1), end=date(2026, 11, 23)))
    cg, dg, bg = _grade(figures, "C"), _grade(figures, "D"), _grade(figures, "B")
    assert (cg["prior_median_days"], cg["recent_median_days"], cg["rising"]) == (10.0, 13.0, True)
    assert (dg["prior_median_days"], dg["recent_median_days"], dg["rising"]) == (10.0, 11.0, False)
    assert (bg["recent_median_days"], bg["rising"]) == (20.0, False)
    trend = figures["trend"]
    assert trend["months"][0] == "2025-12" and trend["months"][-1] == "2026-11"
    # Without the 2024 customer the history starts inside the 12 months: no comparison is fair yet, no flag.
    Lead.objects.filter(name="OLD").update(status="merged")
    young = stage_times.stage_times(Slice(user=org.manager, start=date(2026, 11, 1), end=date(2026, 11, 23)))
    assert (_grade(young, "C")["rising"], _grade(young, "C")["prior_median_days"]) == (False, None)
    c_by_month = {row["month"]: (row["n"], row["median_days"]) for row in trend["grades"]["C"]}
    assert c_by_month["2026-01"] == (1, 10.0) and c_by_month["2026-09"] == (2, 13.0)
    assert c_by_month["2026-06"] == (0, None)


# --- the API ---------------------------------------------------------------------------------------------------

STAGES = "/api/v1/funnel/stage-times/"
TREND = "/api/v1/funnel/stage-times/trend/"
OCT = {"start": "2026-10-01", "end": "2026-10-31"}


def test_api_answers_the_figures(org, stays, api_as):
    resp = api_as(org.manager).get(STAGES, {"store": org.store.pk, **OCT})
    assert resp.status_code == 200
    body = resp.json()
    c = next(row for row in body["grades"] if row["grade"] == "C")
    assert (c["n"], c["median_days"], c["p80_days"], c["open"]) == (5, 6.0, 12.4, 0)
    assert [row["stage"] for row in body["days_to"]] == ["E", "D", "C", "B", "A", "deal"]
    assert "results" not in body and "trend" not in body


def test_api_group_by_source_and_series(org, stays, api_as):
    body = api_as(org.manager).get(STAGES, {"group_by": "source", **OCT}).json()
    assert [(row["key"], row["label"]) for row in body["results"]] == [("walk_in", "自来")]
    assert api_as(org.manager).get(STAGES, {"group_by": "series", **OCT}).status_code == 200


def test_api_trend(org, stays, api_as):
    body = api_as(org.manager).get(TREND, {"end": "2026-10-31"}).json()
    assert body["months"][0] == "2025-11" and body["months"][-1] == "2026-10"
    october = body["grades"]["C"][-1]
    assert (october["month"], october["n"], october["median_days"]) == ("2026-10", 5, 6.0)
    assert body["rising"] == []


def test_api_scoping_and_denials(org, stays, api_as):
    # A consultant sees his own leads only, even naming his store; another consultant's slice is a 404.
    body = api_as(org.consultant2).get(STAGES, {"store": org.store.pk, **OCT}).json()
    assert [row["n"] for row in body["grades"]] == [0, 0, 0, 0, 1]
    assert api_as(org.consultant).get(STAGES, {"consultant": org.consultant2.pk}).status_code == 404
    assert api_as(org.consultant).get(TREND, {"consultant": org.consultant2.pk}).status_code == 404
    # A manager: not the sister store, not another store's consultant; another group's admin: nothing of ours.
    assert api_as(org.manager).get(STAGES, {"store": org.store2.pk}).status_code == 404
    assert api_as(org.manager).get(STAGES, {"consultant": org.consultant_b.pk}).status_code == 404
    assert api_as(org.other_admin).get(STAGES, {"store": org.store.pk}).status_code == 404
    other = api_as(org.other_admin).get(STAGES, OCT).json()  # only the noise lead of his group: one C stay, 1 day
    assert [(row["grade"], row["n"], row["median_days"]) for row in other["grades"] if row["n"]] == [("C", 1, 1.0)]


@pytest.mark.parametrize("params,field", [
    ({"group_by": "store"}, "group_by"),
    ({"start": "2026-10-31", "end": "2026-10-01"}, "start"),
    ({"source": "tv"}, "source"),
    ({"channel": "x"}, "channel"),
])
def test_api_bad_queries_are_400(org, api_as, params, field):
    resp = api_as(org.manager).get(STAGES, params)
    assert resp.status_code == 400 and field in resp.json()


def test_api_query_count(org, stays, api_as, django_assert_max_num_queries):
    client = api_as(org.manager)
    with django_assert_max_num_queries(8):  # the session/auth, the store, the grade rules, the figures, the labels
        assert client.get(STAGES, {"store": org.store.pk, "group_by": "consultant", **OCT}).status_code == 200


# --- the dashboard's panels --------------------------------------------------------------------------------------

DASHBOARD = "/funnel/"
OCTOBER_PAGE = {"period": "custom", "start": "2026-10-01", "end": "2026-10-31"}


def _with_reason(org, application, code):
    from defeats import services as defeat_services
    from defeats.models import ApplicationReason

    reason = next(r for r in defeat_services.reasons_for(org.group.pk) if r.code == code)
    ApplicationReason.objects.create(application=application, reason=reason, parent_id=reason.parent_id or reason.pk)
    Application.objects.filter(pk=application.pk).update(grade_at_filing="E", highest_grade="E")


def test_the_dashboard_shows_both_panels(org, stays, settings):
    from dealercrm.tests.clients import client_for

    _with_reason(org, Application.objects.get(lead=stays["S6"]), "lost_contact")
    response = client_for(org.manager).get(DASHBOARD, {**OCTOBER_PAGE, "store": org.store.pk},
                                           HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert 'data-testid="stage-times"' in html and 'data-testid="loss-by-stage"' in html
    panel = response.context["stage_panel"]
    c = next(row for row in panel["rows"] if row["grade"] == "C")
    assert (c["median"], c["p80"], c["n"]) == ("6.0", "12.4", 5)
    e = next(row for row in panel["rows"] if row["grade"] == "E")
    assert (e["open"], e["open_over_max_dwell"]) == (1, 1)
    loss = response.context["loss_panel"]
    assert [(row["grade"], row["lost"], row["cells"]) for row in loss["rows"]] == [("E", 1, [1])]
    assert [col["label"] for col in loss["columns"]] == ["Lost contact"]
    assert "Time in stage" in html and "Loss by stage" in html
    zh = client_for(org.manager).get(DASHBOARD, {**OCTOBER_PAGE, "store": org.store.pk},
                                     HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "级别停留时长" in zh and "各级别战败" in zh


def test_a_consultant_sees_his_own_panels(org, stays, settings):
    from dealercrm.tests.clients import client_for

    response = client_for(org.consultant2).get(DASHBOARD, OCTOBER_PAGE)
    panel = response.context["stage_panel"]
    assert [row["n"] for row in panel["rows"]] == [0, 0, 0, 0, 1]
    assert [(row["grade"], row["lost"]) for row in response.context["loss_panel"]["rows"]] == [(None, 1)]
    # Another consultant's dashboard is not his to open.
    assert client_for(org.consultant2).get(DASHBOARD, {"consultant": org.consultant.pk}).status_code == 404


def test_the_monthly_pack_has_both_tables(org, stays, api_as):
    _with_reason(org, Application.objects.get(lead=stays["S6"]), "lost_contact")
    pack = api_as(org.manager).get("/api/v1/reports/monthly-pack/", {"store": org.store.pk, **OCT},
                                   HTTP_ACCEPT_LANGUAGE="en").json()
    tables = {t["key"]: t for s in pack["sections"] for t in s["tables"]}
    c = next(row for row in tables["stage_times"]["rows"] if row["label"].startswith("C"))
    assert (c["median_days"], c["p80_days"], c["n"]) == (6.0, 12.4, 5)
    assert [(row["label"], row["lost"], row["reasons"]) for row in tables["loss_by_stage"]["rows"]] == [
        ("E", 1, "Lost contact 1")]
