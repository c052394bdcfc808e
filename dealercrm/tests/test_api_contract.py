"""The API's contract with the clients generated from its schema: every ``{id}`` takes a bad id as a 404, the API
takes JSON (multipart only for an upload), and the shapes the schema gives are the answers' (docs/security.md, "API
contract"). schemathesis (tests/test_schemathesis.py) and a generated client (tests/test_generated_client.py) check
the whole API; these name each rule."""

import pytest
from django.urls import resolve
from rest_framework.test import APIClient

from dealercrm.tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
BAD_IDS = ["abc", "-1", str(2**63), "0x1", "1.5"]


@pytest.fixture
def schema(org, api_as):
    return api_as(org.admin).get("/api/schema/", {"format": "json"}).json()


def _id_operations(schema):
    for path, methods in schema["paths"].items():
        if "{id}" not in path:
            continue
        for method, operation in methods.items():
            if method in {"get", "post", "patch", "put", "delete"}:
                yield method, path, operation


def test_every_id_of_the_schema_is_an_integer(schema):
    operations = list(_id_operations(schema))
    assert len(operations) > 40
    for method, path, operation in operations:
        [param] = [p for p in operation["parameters"] if p["in"] == "path" and p["name"] == "id"]
        assert param["schema"]["type"] == "integer", (method, path)


def test_a_bad_id_is_a_404_on_every_id_route(org, api_as, schema):
    """A value the id cannot be (``abc``, ``0x1``), a negative one and one past the column's range: 404 with the
    API's JSON error, for every operation with an ``{id}``, whichever view serves it (the look-ups of base clients,
    care tasks and defeat applications used to let ``abc`` through to the database: a server error). ``1.5`` names
    no route at all (the router takes no dot): the API's JSON 404 too, not the site's HTML page."""
    client = api_as(org.admin)
    client.raise_request_exception = True
    checked = set()
    for method, path, _ in _id_operations(schema):
        for bad in BAD_IDS:
            url = path.replace("{id}", bad)
            answer = getattr(client, method)(url, {}, format="json") if method != "get" else client.get(url)
            assert answer.status_code == 404, (method, url, answer.status_code, answer.content[:300])
            assert answer["Content-Type"] == "application/json" and "detail" in answer.json(), (method, url)
        checked.add(resolve(path.replace("{id}", "1")).func.cls.__name__)
    assert {"BaseClientViewSet", "CareTaskViewSet", "ApplicationViewSet", "LeadViewSet"} <= checked


def test_the_api_takes_json_and_a_form_body_is_a_415(org):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    for format_ in ("multipart", None):
        form = client.post(TOKEN, {"username": "m_north", "password": TEST_PASSWORD}, format=format_,
                           **({} if format_ else {"content_type": "application/x-www-form-urlencoded"}))
        assert form.status_code == 415, form.content
    assert client.post(TOKEN, {"username": "m_north", "password": TEST_PASSWORD}, format="json").status_code == 200


def test_each_operation_with_a_body_offers_one_content_type(schema):
    """A generated client sends every content type an operation lists (openapi-python-client's ``auth/token`` sent
    form, multipart and JSON under one model, and got a 400): JSON, and multipart for the one upload."""
    bodies = {(method, path): list(operation["requestBody"]["content"])
              for path, methods in schema["paths"].items() for method, operation in methods.items()
              if isinstance(operation, dict) and "requestBody" in operation}
    assert len(bodies) > 20
    uploads = {key: types for key, types in bodies.items() if types != ["application/json"]}
    assert uploads == {("post", "/api/v1/imports/"): ["multipart/form-data"]}
    for (method, path) in bodies:
        assert "415" in schema["paths"][path][method]["responses"], (method, path)


def _component(schema, name):
    return schema["components"]["schemas"][name]


def test_a_vehicle_of_no_known_series_is_documented_nullable(schema):
    assert _component(schema, "Vehicle")["properties"]["series_name"].get("nullable") is True


def test_a_care_task_without_outcome_is_documented_blank(schema):
    outcome = _component(schema, "CareTask")["properties"]["outcome"]
    refs = {branch.get("$ref", "").rsplit("/", 1)[-1] for branch in outcome.get("oneOf", [])}
    assert refs == {"CareOutcomeEnum", "BlankEnum"}
    assert _component(schema, "BlankEnum")["enum"] == [""]


def test_a_clients_contacts_are_documented_and_answered_as_a_page(schema):
    answer = schema["paths"]["/api/v1/base-clients/{id}/contacts/"]["get"]["responses"]["200"]
    ref = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(_component(schema, ref)["properties"]) == {"count", "count_capped", "next", "previous", "results"}


@pytest.mark.parametrize("component", ["DefeatGroupRow", "GroupFigures"])
def test_a_grouped_rows_key_is_documented_as_an_id_or_a_string(schema, component):
    key = _component(schema, component)["properties"]["key"]
    assert key["oneOf"] == [{"type": "integer"}, {"type": "string"}] and key["nullable"] is True


def test_no_property_is_named_d(schema):
    """openapi-python-client parses an answer from a local named ``d``: a property ``D`` (or ``d``) overwrites it, and
    the generated client cannot read the answer (the funnel's grade shares and counts did this)."""
    for name, component in schema["components"]["schemas"].items():
        assert not {"d", "D"} & set(component.get("properties", {})), name


def test_a_notifications_kind_is_documented_as_an_open_set(org, api_as, schema):
    """Apps add notification kinds without a migration (a confirmed defeat notifies ``defeat_confirmed``): the kind
    is documented as a string, not as the model's five choices, which such an answer violated."""
    assert _component(schema, "Notification")["properties"]["kind"]["type"] == "string"
    assert "enum" not in _component(schema, "Notification")["properties"]["kind"]


def test_every_answer_with_a_body_documents_it(schema):
    """A 2xx described in words only gives a generated client nothing to parse (funnel progress and the ladder
    planner were): every JSON success documents its schema."""
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            for code, answer in operation["responses"].items():
                if code.startswith("2") and code != "204":
                    assert answer.get("content"), (method, path, code)


def test_the_schema_is_public_and_the_docs_page_needs_a_login(org):
    from django.test import Client

    anonymous = Client()
    assert anonymous.get("/api/schema/", {"format": "json"}).status_code == 200
    docs = anonymous.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/")
    assert anonymous.get("/api/v1/leads/").status_code == 401  # the calls need a token or a session
    member = Client()
    member.force_login(org.consultant)
    assert member.get("/api/docs/").status_code == 200
