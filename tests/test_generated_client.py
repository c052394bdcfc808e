"""A client generated from the schema works: REST clients (the group's BI, the maker's systems) generate their code
from /api/schema/ with openapi-python-client, so this test does exactly that against a live server and runs a REST
client's journey with the generated functions and models: token → the lists and details → the figures → writes.

Each call goes through the generated code: a body is sent as the schema says (one content type), an answer is parsed
into the generated model (enums, required fields, ``oneOf``), and an undocumented status raises. The answers are
checked against what the fixtures planted and what the database holds after the writes."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from baseclients.models import BaseClient, CareTask
from baseclients.tests.factories import buy
from dealercrm.tests.factories import TEST_PASSWORD, VehicleBrandFactory, VehicleSeriesFactory
from defeats import services as defeat_services
from defeats.models import Application, PoolEntry
from defeats.tests.factories import pending_application
from leads.models import FollowUp, Lead
from leads.tests.factories import FollowUpFactory, LeadFactory, VisitFactory

pytestmark = [pytest.mark.django_db(transaction=True)]

PACKAGE = "dealer_crm_api_client"


def _generator() -> list[str]:
    script = Path(sys.executable).with_name("openapi-python-client")
    if script.exists():
        return [str(script)]
    found = shutil.which("openapi-python-client")
    if found is None:
        pytest.fail("openapi-python-client is not installed (requirements.txt pins it)")
    return [found]


@pytest.fixture
def generated(live_server, tmp_path):
    """The client package generated from the live server's schema, imported; removed from sys.modules after."""
    request = urllib.request.Request(f"{live_server.url}/api/schema/?format=json", headers={"Accept-Language": "en"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        schema = json.load(answer)
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    out = tmp_path / "client"
    done = subprocess.run([*_generator(), "generate", "--path", str(path), "--output-path", str(out / PACKAGE),
                           "--meta", "none"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(out))
    package = None
    try:
        package = importlib.import_module(PACKAGE)

        def operation(operation_id: str):
            [module] = [m for m in (out / PACKAGE / "api").glob(f"*/{operation_id}.py")]
            return importlib.import_module(f"{PACKAGE}.api.{module.parent.name}.{operation_id}")

        package.operation = operation
        package.models = importlib.import_module(f"{PACKAGE}.models")
        package.types = importlib.import_module(f"{PACKAGE}.types")
        package.opened = []
        package.schema = schema
        yield package
    finally:
        # Close the kept-alive connections, so the live server's request threads end (and their database sessions).
        for opened in getattr(package, "opened", []):
            opened.get_httpx_client().close()
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture
def planted(org):
    """The consultant's records: two open leads (one followed up), a customer who bought (a base client with a
    vehicle of no known series and its care tasks), a pending defeat application and a confirmed one (a pool
    entry the consultant, the store's pool owner, nurtures). A colleague's lead, which the consultant must not see."""
    me = org.consultant
    open_lead = LeadFactory(store=org.store, assigned_to=me)
    VisitFactory(lead=open_lead)
    follow_up = FollowUpFactory(lead=open_lead)
    LeadFactory(store=org.store, assigned_to=me)
    deal = buy(store=org.store, consultant=me)
    pending = pending_application(org)
    rival = VehicleSeriesFactory(brand=VehicleBrandFactory(name="本田G", name_en="Honda G", is_own=False),
                                 name="雅阁G", name_en="Accord G")
    confirmed = pending_application(org, kind="defeat", reasons=["model_unsatisfied"], competitor_series=rival)
    defeat_services.pool_owner_set(actor=org.admin, store=org.store, user=me)  # the confirmed customer comes to me
    defeat_services.application_decide(actor=org.manager, application=confirmed, verdict="confirm", comment="ok")
    LeadFactory(store=org.store, assigned_to=org.consultant2)
    return {"open_lead": open_lead, "follow_up": follow_up, "client": BaseClient.objects.get(purchase_rows__deal=deal),
            "pending": pending, "confirmed": confirmed, "pool": PoolEntry.objects.get(lead=confirmed.lead)}


def test_a_client_generated_from_the_schema_runs_a_rest_clients_journey(org, planted, generated, live_server):
    api, models = generated, generated.models

    def call(operation_id: str, expected: int = 200, **kwargs):
        response = api.operation(operation_id).sync_detailed(client=client, **kwargs)
        assert response.status_code == expected, (operation_id, response.status_code, response.content[:2000])
        return response.parsed

    # The token, with the generated request model (JSON, the one content type the schema offers).
    client = api.Client(base_url=live_server.url, raise_on_unexpected_status=True,
                        headers={"Accept-Language": "en"})
    api.opened.append(client)
    token = call("v1_auth_token_create", body=models.TokenRequestRequest(username=org.consultant.username,
                                                                         password=TEST_PASSWORD))
    assert isinstance(token, models.TokenResponse) and token.token
    client = api.AuthenticatedClient(base_url=live_server.url, token=token.token, prefix="Token",
                                     raise_on_unexpected_status=True, headers={"Accept-Language": "en"})
    api.opened.append(client)

    # Lists and details: what was planted, the consultant's own only.
    mine = set(Lead.objects.filter(assigned_to=org.consultant).values_list("pk", flat=True))
    leads = call("v1_leads_list", page_size=100)
    assert isinstance(leads, models.PaginatedLeadList)
    assert {lead.id for lead in leads.results} == mine and leads.count == len(mine) == 5
    lead = call("v1_leads_retrieve", id=planted["open_lead"].pk)
    assert isinstance(lead, models.Lead) and lead.name == planted["open_lead"].name

    follow_ups = call("v1_follow_ups_list")
    assert planted["follow_up"].pk in {f.id for f in follow_ups.results}
    assert call("v1_follow_ups_retrieve", id=planted["follow_up"].pk).content == planted["follow_up"].content

    clients = call("v1_base_clients_list")
    assert [c.id for c in clients.results] == [planted["client"].pk]
    detail = call("v1_base_clients_retrieve", id=planted["client"].pk)
    assert isinstance(detail, models.BaseClient)
    [vehicle] = detail.vehicles
    assert vehicle.series_name is None  # a vehicle of no known series: null, as documented
    contacts = call("v1_base_clients_contacts_list", id=planted["client"].pk)
    assert isinstance(contacts, models.PaginatedClientContactList) and contacts.count == 0

    tasks = call("v1_care_tasks_list", page_size=100)
    planned = set(CareTask.objects.filter(client=planted["client"]).values_list("pk", flat=True))
    assert planned and {t.id for t in tasks.results} == planned
    task = call("v1_care_tasks_retrieve", id=min(planned))
    assert isinstance(task, models.CareTask) and task.status == "pending"
    assert task.outcome == models.BlankEnum.VALUE_0  # no outcome yet: "", as documented

    applications = call("v1_defeats_applications_list")
    assert {a.id for a in applications.results} == {planted["pending"].pk, planted["confirmed"].pk}
    application = call("v1_defeats_applications_retrieve", id=planted["pending"].pk)
    assert application.status == "pending" and application.lead == planted["pending"].lead_id
    pool = call("v1_defeats_pool_list")
    assert [e.id for e in pool.results] == [planted["pool"].pk]
    assert call("v1_defeats_pool_retrieve", id=planted["pool"].pk).lead == planted["confirmed"].lead_id

    # The figures, parsed into the generated models.
    today = timezone.localdate()
    period = {"start": today - timedelta(days=30), "end": today}
    funnel = call("v1_funnel_metrics_retrieve", **period)
    assert isinstance(funnel, models.Figures)
    assert (funnel.n, funnel.deals) == (Lead.objects.filter(assigned_to=org.consultant).count(), 1)
    grouped = call("v1_funnel_metrics_retrieve", group_by=models.V1FunnelMetricsRetrieveGroupBy.SOURCE, **period)
    assert isinstance(grouped, models.GroupedMetrics)
    assert {row.key: row.n for row in grouped.results} == {"walk_in": funnel.n}
    defeats = call("v1_defeats_metrics_retrieve", **period)
    assert isinstance(defeats, models.DefeatMetrics)
    assert (defeats.applications, defeats.pending, defeats.defeats) == (2, 1, 1)
    [reason] = [r for r in defeats.by_reason if r.code == "model_unsatisfied"]
    assert reason.defeats == 1 and isinstance(reason.key, int)
    by_month = call("v1_defeats_metrics_retrieve", group_by=models.V1DefeatsMetricsRetrieveGroupBy.MONTH, **period)
    assert isinstance(by_month, models.DefeatGroupedMetrics) and by_month.total.applications == 2
    assert all(isinstance(row.key, str) for row in by_month.results)
    region = call("v1_base_clients_analytics_retrieve",
                  kind=models.V1BaseClientsAnalyticsRetrieveKind.ONE_BRINGS_ONE)
    assert isinstance(region, models.OneBringsOne)  # each analysis answers a documented shape
    assert region.kind.value == "one-brings-one"
    assert all(row.tier in ("premium", "potential", "general") for row in region.rows)

    # Every other read without a path parameter parses as well (the ladder, progress, the catalogues, the
    # notifications...): 200 with its model, or a documented 403 for what a consultant may not read.
    reads = [(path, methods["get"]["operationId"]) for path, methods in api.schema["paths"].items()
             if "get" in methods and "{" not in path]
    assert len(reads) > 20
    for path, operation_id in reads:
        response = api.operation(operation_id).sync_detailed(client=client)
        assert response.status_code in (200, 403), (path, response.status_code, response.content[:500])
        if response.status_code == 200 and response.headers["Content-Type"] == "application/json":
            assert response.parsed is not None, path

    # Writes: a lead, a follow-up on it, a defeat application on another lead.
    created = call("v1_leads_create", 201, body=models.LeadCreateRequest(
        name="生成客户", source=models.SourceEnum.WALK_IN, phone="13911112222", grade=models.GradeEnum.B))
    row = Lead.objects.get(pk=created.id)
    assert (row.store_id, row.assigned_to_id, row.name, row.grade) == (org.store.pk, org.consultant.pk, "生成客户", "B")
    logged = call("v1_leads_follow_ups_create", 201, id=created.id, body=models.FollowUpCreateRequest(
        method=models.MethodEnum.PHONE, content="约周六试驾"))
    assert FollowUp.objects.filter(pk=logged.id, lead=row, content="约周六试驾", created_by=org.consultant).exists()
    filed = call("v1_defeats_applications_create", 201, body=models.ApplicationCreateRequest(
        lead=planted["open_lead"].pk, kind=models.DefeatKindEnum.QUASI, reasons=["funding_not_ready"]))
    assert Application.objects.filter(pk=filed.id, lead=planted["open_lead"], status="pending",
                                      consultant=org.consultant).exists()
    assert Lead.objects.get(pk=planted["open_lead"].pk).status == "defeat_pending"
