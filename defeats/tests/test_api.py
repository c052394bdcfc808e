"""The defeats API: the contract's names, every transition and denial, scoping (another store's record is a 404),
the schema, and query counts on the lists."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from defeats import services
from defeats.models import Application, PoolEntry
from leads import services as lead_services
from leads.models import Lead, Status
from leads.tests.factories import LeadFactory

from .factories import pending_application

pytestmark = pytest.mark.django_db

APPS = "/api/v1/defeats/applications/"


def _lead(org, **kw):
    return LeadFactory(store=org.store, assigned_to=kw.pop("assigned_to", org.consultant), **kw)


def test_reasons_carry_the_contract_fields(org, api_as):
    r = api_as(org.consultant).get("/api/v1/defeats/reasons/")
    assert r.status_code == 200
    rows = {row["code"]: row for row in r.json()}
    assert {"code", "name", "parent", "requires_note"} <= set(rows["unreasonable_demands"])
    assert rows["price_high"]["parent"] == "product" and rows["unreasonable_demands"]["requires_note"]
    assert rows["product"]["parent"] is None
    # Another group's reasons are not listed.
    services.reasons_for(org.other_group.pk)
    ids = {row["id"] for row in api_as(org.consultant).get("/api/v1/defeats/reasons/").json()}
    assert not ids & set(org.other_group.defeat_reasons.values_list("pk", flat=True))


def test_a_consultant_files_a_quasi_defeat(org, api_as, catalogue):
    lead = _lead(org)
    r = api_as(org.consultant).post(APPS, {"lead": lead.pk, "kind": "quasi", "reasons": ["funding_not_ready"],
                                           "competitor_series": None, "price_gap": "3000.00", "note": "资金没到位"},
                                    format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "pending" and body["id"] and body["reasons"] == ["funding_not_ready"]
    assert body["price_gap"] == "3000.00"
    lead_json = api_as(org.consultant).get(f"/api/v1/leads/{lead.pk}/").json()
    assert lead_json["status"] == "defeat_pending"
    # The lead list filters "application pending" by status.
    listed = api_as(org.manager).get("/api/v1/leads/", {"status": "defeat_pending"}).json()["results"]
    assert [row["id"] for row in listed] == [lead.pk]


@pytest.mark.parametrize("payload, field", [
    ({"reasons": ["nope"]}, "reasons"),
    ({"reasons": ["unreasonable_demands"]}, "note"),
    ({"reasons": ["price_high"], "kind": "quasi"}, "price_cause"),
    ({"reasons": ["model_unsatisfied"]}, "competitor_series"),
    ({"reasons": ["lost_contact"], "competitor_series": 987654}, "competitor_series"),
    ({"reasons": ["lost_contact"], "kind": "maybe"}, "kind"),
    ({"reasons": []}, "reasons"),
    ({"reasons": ["lost_contact"], "price_gap": "abc"}, "price_gap"),
])
def test_bad_applications_are_400_with_field_messages_and_nothing_written(org, api_as, payload, field):
    lead = _lead(org)
    r = api_as(org.consultant).post(APPS, {"lead": lead.pk, "kind": "defeat", **payload}, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()
    assert not Application.objects.exists()
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE


def test_defeating_a_won_lead_is_400(org, api_as):
    lead = _lead(org)
    lead_services.deal_record(actor=org.consultant, lead=lead, price=Decimal("100000"))
    r = api_as(org.consultant).post(APPS, {"lead": lead.pk, "kind": "defeat", "reasons": ["lost_contact"]},
                                    format="json")
    assert r.status_code == 400 and "lead" in r.json()


def test_a_second_application_is_409_and_a_stale_version_409(org, api_as):
    lead = _lead(org)
    client = api_as(org.consultant)
    r = client.post(APPS, {"lead": lead.pk, "kind": "quasi", "reasons": ["lost_contact"], "version": lead.version + 3},
                    format="json")
    assert r.status_code == 409 and r.json()["version"] == lead.version
    assert client.post(APPS, {"lead": lead.pk, "kind": "quasi", "reasons": ["lost_contact"]},
                       format="json").status_code == 201
    r = client.post(APPS, {"lead": lead.pk, "kind": "quasi", "reasons": ["lost_contact"]}, format="json")
    assert r.status_code == 409 and "lead" in r.json()


def test_filing_on_someone_elses_lead(org, api_as):
    lead = _lead(org)
    # A colleague cannot see it: 404; another store's manager: 404.
    for outsider in (org.consultant2, org.manager2, org.other_admin):
        r = api_as(outsider).post(APPS, {"lead": lead.pk, "kind": "quasi", "reasons": ["lost_contact"]},
                                  format="json")
        assert r.status_code == 404, outsider
    assert not Application.objects.exists()


def test_confirm_through_the_api(org, api_as, catalogue):
    app = pending_application(org, kind="defeat", reasons=["model_unsatisfied"], competitor_series=catalogue.accord)
    r = api_as(org.manager).post(f"{APPS}{app.pk}/verdict/", {"verdict": "confirm", "comment": "核实属实"},
                                 format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "confirmed"
    lead_json = api_as(org.manager).get(f"/api/v1/leads/{app.lead_id}/").json()
    assert lead_json["status"] == "defeated"
    pool = api_as(org.manager).get("/api/v1/defeats/pool/").json()["results"]
    assert [e["lead"] for e in pool] == [app.lead_id]
    assert pool[0]["competitor_series"] == catalogue.accord.pk and "*" not in pool[0]["phone"] and pool[0]["phone"]


def test_reject_through_the_api_reactivates_with_grade_and_consultant(org, api_as):
    app = pending_application(org)
    r = api_as(org.manager).post(f"{APPS}{app.pk}/verdict/", {"verdict": "reject", "comment": "虚战败，客户仍在比较",
                                                               "assign_to": org.consultant2.pk, "grade": "B"},
                                 format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "rejected"
    lead = Lead.objects.get(pk=app.lead_id)
    assert (lead.status, lead.grade, lead.assigned_to_id) == (Status.ACTIVE, "B", org.consultant2.pk)
    assert lead.next_follow_up_at <= timezone.now() + timedelta(days=2)


def test_verdict_denials(org, api_as):
    app = pending_application(org)
    url = f"{APPS}{app.pk}/verdict/"
    body = {"verdict": "confirm", "comment": "x"}
    assert api_as(org.consultant).post(url, body, format="json").status_code == 403  # sees it, may not decide
    assert api_as(org.consultant2).post(url, body, format="json").status_code == 404
    assert api_as(org.manager2).post(url, body, format="json").status_code == 404
    assert api_as(org.other_admin).post(url, body, format="json").status_code == 404
    assert api_as(org.manager).post(url, {"verdict": "confirm"}, format="json").status_code == 400
    assert api_as(org.manager).post(url, {"verdict": "confirm", "comment": "x", "grade": "B"},
                                    format="json").status_code == 400
    assert api_as(org.manager).post(url, {"verdict": "reject", "comment": "x", "assign_to": org.consultant_b.pk},
                                    format="json").status_code == 400
    assert api_as(org.manager).post(url, {**body, "version": 99}, format="json").status_code == 409
    app.refresh_from_db()
    assert app.status == "pending"
    assert api_as(org.manager).post(url, body, format="json").status_code == 200
    r = api_as(org.admin).post(url, {"verdict": "reject", "comment": "y"}, format="json")
    assert r.status_code == 409 and r.json()["decided"] == [app.pk]


def test_bulk_verdict(org, api_as):
    apps = [pending_application(org) for _ in range(3)]
    url = f"{APPS}bulk-verdict/"
    r = api_as(org.manager).post(url, {"ids": [a.pk for a in apps], "verdict": "confirm", "comment": "批量核实"},
                                 format="json")
    assert r.status_code == 200, r.json()
    assert [row["status"] for row in r.json()] == ["confirmed"] * 3
    r = api_as(org.manager).post(url, {"ids": [apps[0].pk], "verdict": "reject", "comment": "x"}, format="json")
    assert r.status_code == 409 and r.json()["decided"] == [apps[0].pk]


def test_bulk_verdict_denials_write_nothing(org, api_as):
    mine = pending_application(org)
    other = services.application_file(actor=org.consultant_b, lead=LeadFactory(store=org.store2,
                                                                                assigned_to=org.consultant_b),
                                      kind="quasi", reasons=["lost_contact"])
    url = f"{APPS}bulk-verdict/"
    body = {"ids": [mine.pk, other.pk], "verdict": "confirm", "comment": "x"}
    assert api_as(org.manager).post(url, body, format="json").status_code == 404  # other store: not visible
    assert api_as(org.consultant).post(url, {**body, "ids": [mine.pk]}, format="json").status_code == 403
    assert api_as(org.manager).post(url, {"ids": [], "verdict": "confirm", "comment": "x"},
                                    format="json").status_code == 400
    assert Application.objects.filter(status="pending").count() == 2


def test_application_list_is_scoped_filtered_and_cheap(org, api_as, django_assert_max_num_queries):
    for _ in range(5):
        pending_application(org)
    services.application_file(actor=org.consultant_b, lead=LeadFactory(store=org.store2,
                                                                        assigned_to=org.consultant_b),
                              kind="quasi", reasons=["lost_contact"])
    mine = pending_application(org, lead=_lead(org, assigned_to=org.consultant2), kind="quasi",
                               reasons=["slow_follow_up"])
    with django_assert_max_num_queries(6):
        r = api_as(org.manager).get(APPS, {"status": "pending", "ordering": "applied_at"})
    assert r.status_code == 200 and r.json()["count"] == 6
    assert api_as(org.admin).get(APPS).json()["count"] == 7
    assert api_as(org.other_admin).get(APPS).json()["count"] == 0
    assert [row["id"] for row in api_as(org.consultant2).get(APPS).json()["results"]] == [mine.pk]
    assert api_as(org.manager).get(APPS, {"reason": "slow_follow_up"}).json()["count"] == 1
    assert api_as(org.manager2).get(f"{APPS}{mine.pk}/").status_code == 404


def test_pool_contact_and_win_back_through_the_api(org, api_as):
    app = pending_application(org)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    entry = PoolEntry.objects.get(lead=app.lead)
    url = f"/api/v1/defeats/pool/{entry.pk}/contacts/"
    assert api_as(org.consultant).post(url, {"method": "phone", "content": "x"}, format="json").status_code == 404
    r = api_as(org.manager).post(url, {"method": "phone", "content": "新车发布会邀请"}, format="json")
    assert r.status_code == 201 and r.json()["status"] == "in_pool"
    r = api_as(org.manager).post(url, {"method": "phone", "content": "要换车", "came_back": True, "grade": "A",
                                       "assign_to": org.consultant.pk}, format="json")
    assert r.status_code == 201 and r.json()["status"] == "won_back"
    assert api_as(org.manager).post(url, {"method": "phone", "content": "x"}, format="json").status_code == 409
    lead = Lead.objects.get(pk=app.lead_id)
    assert lead.status == Status.ACTIVE and lead.assigned_to == org.consultant


def test_metrics_carry_the_contract_figures(org, api_as, catalogue):
    # Two deals, two confirmed defeats, one rejected, one pending, one win-back.
    for _ in range(2):
        lead_services.deal_record(actor=org.consultant, lead=_lead(org), price=Decimal("120000"))
    confirmed = []
    for _ in range(2):
        a = pending_application(org, kind="defeat", reasons=["model_unsatisfied"],
                                competitor_series=catalogue.accord)
        services.application_decide(actor=org.manager, application=a, verdict="confirm", comment="ok")
        confirmed.append(a)
    rejected = pending_application(org)
    services.application_decide(actor=org.manager, application=rejected, verdict="reject", comment="x")
    pending_application(org)
    services.nurture_contact_log(actor=org.manager, entry=PoolEntry.objects.get(lead=confirmed[0].lead),
                                 method="phone", content="回来了", came_back=True, grade="B")
    # Another store's figures are not counted.
    other = services.application_file(actor=org.consultant_b, lead=LeadFactory(store=org.store2,
                                                                                assigned_to=org.consultant_b),
                                      kind="quasi", reasons=["lost_contact"])
    services.application_decide(actor=org.manager2, application=other, verdict="confirm", comment="ok")

    r = api_as(org.manager).get("/api/v1/defeats/metrics/", {"compare": "true"})
    assert r.status_code == 200, r.json()
    m = r.json()
    assert {k: m[k] for k in ("deals", "defeats", "applications", "pending", "rejected", "win_backs")} == {
        "deals": 2, "defeats": 2, "applications": 4, "pending": 1, "rejected": 1, "win_backs": 1}
    assert m["defeat_rate"] == 0.5
    assert m["false_defeat_rate"] == round(1 / 3, 4)
    reasons = {row["code"]: row for row in m["by_reason"]}
    assert reasons["model_unsatisfied"]["defeats"] == 2
    assert m["previous"]["defeats"] == 0

    by_brand = api_as(org.manager).get("/api/v1/defeats/metrics/", {"group_by": "competitor_brand"}).json()
    assert by_brand["results"][0]["key"] == catalogue.accord.brand_id and by_brand["results"][0]["defeats"] == 2
    assert by_brand["results"][0]["deals"] is None
    by_store = api_as(org.admin).get("/api/v1/defeats/metrics/", {"group_by": "store"}).json()
    # Alpha South's confirmed application is a quasi-defeat: beside the defeats, never inside.
    assert {row["label"]: (row["defeats"], row["quasi_defeats"]) for row in by_store["results"]} == {
        "Alpha North": (2, 0), "Alpha South": (0, 1)}
    assert (by_store["total"]["defeats"], by_store["total"]["quasi_defeats"]) == (2, 1)
    by_month = api_as(org.manager).get("/api/v1/defeats/metrics/", {"group_by": "month"}).json()
    assert sum(row["defeats"] for row in by_month["results"]) == 2
    # A consultant gets their own figures; a store they cannot see is a 404; bad input a 400.
    assert api_as(org.consultant2).get("/api/v1/defeats/metrics/").json()["defeats"] == 0
    assert api_as(org.manager).get("/api/v1/defeats/metrics/", {"store": org.store2.pk}).status_code == 404
    assert api_as(org.manager).get("/api/v1/defeats/metrics/", {"group_by": "planet"}).status_code == 400
    assert api_as(org.manager).get("/api/v1/defeats/metrics/", {"start": "2026-05-01",
                                                                "end": "2026-04-01"}).status_code == 400


def test_talk_tracks_api(org, api_as, catalogue):
    url = "/api/v1/defeats/talk-tracks/"
    body = {"reason": "price_high", "series": catalogue.own.pk, "fact": "同级最全配置",
            "problem": "低价车保养贵", "viewpoint": "看总拥有成本"}
    services.reasons_for(org.group.pk)
    assert api_as(org.consultant).post(url, body, format="json").status_code == 403
    r = api_as(org.manager).post(url, body, format="json")
    assert r.status_code == 201, r.json()
    assert api_as(org.consultant).get(url).json()[0]["reason"] == "price_high"
    assert api_as(org.other_manager).get(url).json() == []
    assert api_as(org.manager).post(url, {**body, "fact": ""}, format="json").status_code == 400


def test_the_schema_documents_the_routes_and_figures(org, api_as):
    r = api_as(org.manager).get("/api/schema/", {"format": "json"})
    assert r.status_code == 200
    schema = r.json()
    paths = schema["paths"]
    for path in ("/api/v1/defeats/reasons/", "/api/v1/defeats/applications/",
                 "/api/v1/defeats/applications/{id}/verdict/", "/api/v1/defeats/applications/bulk-verdict/",
                 "/api/v1/defeats/pool/", "/api/v1/defeats/metrics/"):
        assert path in paths, path
    figures = schema["components"]["schemas"]["DefeatFigures"]["properties"]
    assert "deals + defeats" in figures["defeat_rate"]["description"]
    assert "rejected / decided" in figures["false_defeat_rate"]["description"]
