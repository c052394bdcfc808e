"""The funnel API: shapes, scoping and denials, validation, planners, targets and market estimates."""

from datetime import date

import pytest

pytestmark = pytest.mark.django_db

METRICS = "/api/v1/funnel/metrics/"
LADDER = "/api/v1/funnel/ladder/"
OCT = {"start": "2026-10-01", "end": "2026-10-31"}


def test_metrics_for_a_store_month(cohort, api_as):
    org = cohort.org
    resp = api_as(org.manager).get(METRICS, {"store": org.store.pk, **OCT})
    assert resp.status_code == 200
    body = resp.json()
    assert (body["N"], body["valid"], body["K"], body["F"], body["C"], body["M"]) == (6, 4, 0.6667, 0.75, 0.6667, 300)
    assert body["N_by_source"] == {"walk_in": 4, "referral": 1, "outbound": 1}


def test_metrics_grouped_answer_results_and_total(cohort, api_as):
    org = cohort.org
    resp = api_as(org.admin).get(METRICS, {"store": [org.store.pk, org.store2.pk], "group_by": "store", **OCT})
    body = resp.json()
    assert {row["label"] for row in body["results"]} == {"Alpha North", "Alpha South"}
    assert body["total"]["N"] == 7


@pytest.mark.parametrize(
    "params,field",
    [
        ({"start": "2026-13-01"}, "start"),
        ({"start": "2026-10-31", "end": "2026-10-01"}, "start"),
        ({"group_by": "planet"}, "group_by"),
        ({"source": "tv"}, "source"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "end"),
        ({"store": "abc"}, "store"),
    ],
)
def test_bad_queries_are_400_with_a_message(cohort, api_as, params, field):
    resp = api_as(cohort.org.manager).get(METRICS, params)
    assert resp.status_code == 400
    assert field in resp.json()


def test_a_store_the_caller_may_not_see_is_404(cohort, api_as):
    org = cohort.org
    assert api_as(org.manager).get(METRICS, {"store": org.store2.pk}).status_code == 404
    assert api_as(org.other_admin).get(LADDER, {"store": org.store.pk}).status_code == 404
    assert api_as(org.consultant).get(METRICS, {"consultant": org.consultant2.pk}).status_code == 404
    assert api_as(org.manager).get(METRICS, {"consultant": org.consultant_b.pk}).status_code == 404


def test_a_consultant_gets_only_their_own_numbers_even_for_their_store(cohort, api_as):
    org = cohort.org
    body = api_as(org.consultant).get(METRICS, {"store": org.store.pk, **OCT}).json()
    assert body["N"] == 4


def test_anonymous_is_refused(client):
    assert client.get(METRICS).status_code == 401


def test_ladder_api(cohort, api_as):
    body = api_as(cohort.org.manager).get(LADDER, {"store": cohort.org.store.pk, **OCT}).json()
    assert body["promotion_rates"] == {"E->D": 0.6667, "D->C": 0.2, "C->B": 0.6667, "B->A": 0.6667, "E->A": 0.3333}
    assert body["counts"] == {"A": 2, "B": 0, "C": 1, "D": 3, "E": 2}


def test_plan_api(api_as, org):
    resp = api_as(org.manager).post("/api/v1/funnel/plan/",
                                    {"target_units": 90, "N": 1500, "K": 0.6, "F": 0.4, "C": 0.2}, format="json")
    assert resp.status_code == 200
    assert resp.json() == {"projected_units": 72.0, "required": {"N": 1875, "K": 0.75, "F": 0.5, "C": 0.25},
                           "unreachable": []}


@pytest.mark.parametrize(
    "body,field",
    [({"target_units": -1, "N": 1, "K": 0.5, "F": 0.5, "C": 0.5}, "target_units"),
     ({"target_units": 1, "N": 1, "K": 1.5, "F": 0.5, "C": 0.5}, "K"),
     ({"target_units": 1, "N": 1, "K": 0.5, "F": -0.1, "C": 0.5}, "F"),
     ({"target_units": 1, "K": 0.5, "F": 0.5, "C": 0.5}, "N")],
)
def test_plan_api_validation(api_as, org, body, field):
    resp = api_as(org.manager).post("/api/v1/funnel/plan/", body, format="json")
    assert resp.status_code == 400 and field in resp.json()


def test_ladder_plan_api_with_given_rates_and_revenue(api_as, org):
    body = {"target_revenue": "2700000", "average_order_value": "200000",
            "promotion_rates": {"B->A": 0.5, "C->B": 0.4, "D->C": 0.3, "E->D": 0.2}}
    resp = api_as(org.manager).post("/api/v1/funnel/ladder-plan/", body, format="json")
    assert resp.status_code == 200
    assert {g: resp.json()[g] for g in "ABCDE"} == {"A": 14, "B": 28, "C": 70, "D": 234, "E": 1170}


def test_ladder_plan_api_falls_back_to_measured_rates(cohort, api_as):
    resp = api_as(cohort.org.manager).post("/api/v1/funnel/ladder-plan/",
                                           {"target_units": 6, "store": cohort.org.store.pk}, format="json")
    assert resp.status_code == 200
    body = resp.json()
    assert body["A"] == 6 and set(body["promotion_rates"]) >= {"E->D", "D->C", "C->B", "B->A"}


@pytest.mark.parametrize(
    "body,field",
    [({}, "target_units"), ({"target_units": -3}, "target_units"),
     ({"target_units": 5, "promotion_rates": {"B->A": 1.2}}, "promotion_rates"),
     ({"target_revenue": "100", "average_order_value": "0"}, "target_units")],
)
def test_ladder_plan_api_validation(api_as, org, body, field):
    resp = api_as(org.manager).post("/api/v1/funnel/ladder-plan/", body, format="json")
    assert resp.status_code == 400 and field in resp.json()


def test_ladder_plan_for_a_hidden_store_is_404(api_as, org):
    resp = api_as(org.manager).post("/api/v1/funnel/ladder-plan/", {"target_units": 5, "store": org.store2.pk},
                                    format="json")
    assert resp.status_code == 404


# --- targets and market estimates -------------------------------------------------------------------------------


def test_manager_sets_and_replaces_a_store_target_and_reads_progress(cohort, api_as):
    org = cohort.org
    client = api_as(org.manager)
    body = {"store": org.store.pk, "month": "2026-11-01", "units": 12, "revenue": "1800000.00"}
    assert client.post("/api/v1/funnel/targets/", body, format="json").status_code == 201
    body["units"] = 15
    assert client.post("/api/v1/funnel/targets/", body, format="json").status_code == 201
    listed = client.get("/api/v1/funnel/targets/").json()["results"]
    assert [(t["units"], t["average_order_value"]) for t in listed] == [(15, "120000.00")]
    progress = client.get("/api/v1/funnel/progress/", {"store": org.store.pk, "month": "2026-11"}).json()
    assert (progress["store"]["target_units"], progress["store"]["units"]) == (15, 1)


@pytest.mark.parametrize(
    "body,field",
    [({"units": -1}, "units"), ({"revenue": "-5"}, "revenue"), ({"month": "2026-11-15"}, "month"),
     ({"month": "nope"}, "month")],
)
def test_target_validation(org, api_as, body, field):
    payload = {"store": org.store.pk, "month": "2026-11-01", "units": 5, **body}
    resp = api_as(org.manager).post("/api/v1/funnel/targets/", payload, format="json")
    assert resp.status_code == 400 and field in resp.json()


def test_target_denials(org, api_as):
    payload = {"store": org.store.pk, "month": "2026-11-01", "units": 5}
    assert api_as(org.consultant).post("/api/v1/funnel/targets/", payload, format="json").status_code == 403
    assert api_as(org.manager2).post("/api/v1/funnel/targets/", payload, format="json").status_code == 400
    other = {**payload, "consultant": org.consultant_b.pk}
    assert api_as(org.admin).post("/api/v1/funnel/targets/", other, format="json").status_code == 400


def test_a_consultant_sees_only_their_own_targets(org, api_as):
    from funnel import services

    services.target_set(actor=org.manager, store=org.store, month=date(2026, 11, 1), units=9)
    services.target_set(actor=org.manager, store=org.store, month=date(2026, 11, 1), units=3,
                        consultant=org.consultant)
    mine = api_as(org.consultant).get("/api/v1/funnel/targets/").json()["results"]
    assert [t["units"] for t in mine] == [3]
    assert api_as(org.manager2).get("/api/v1/funnel/targets/").json()["count"] == 0


def test_market_estimates(org, api_as):
    client = api_as(org.manager)
    resp = client.post("/api/v1/funnel/market-estimates/",
                       {"store": org.store.pk, "month": "2026-11-01", "estimate": 800}, format="json")
    assert resp.status_code == 201
    client.post("/api/v1/funnel/market-estimates/", {"store": org.store.pk, "month": "2026-11-01", "estimate": 900},
                format="json")
    assert [e["estimate"] for e in client.get("/api/v1/funnel/market-estimates/").json()["results"]] == [900]
    assert api_as(org.consultant).post("/api/v1/funnel/market-estimates/",
                                       {"store": org.store.pk, "month": "2026-11-01", "estimate": 1},
                                       format="json").status_code == 403
    bad = client.post("/api/v1/funnel/market-estimates/", {"store": org.store.pk, "month": "2026-11-01",
                                                           "estimate": -4}, format="json")
    assert bad.status_code == 400 and "estimate" in bad.json()
    assert api_as(org.manager2).get("/api/v1/funnel/market-estimates/").json()["count"] == 0
