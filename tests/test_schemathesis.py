"""Schemathesis against the live OpenAPI schema (/api/schema/), as each role: every operation of the API, whichever
app registers it, gets generated requests (valid and invalid), and every answer must be no server error and exactly
what the schema says (status code documented, body valid against the documented schema, content type).

Bounded for CI: ``SCHEMATHESIS_EXAMPLES`` examples per operation (default 3; derandomized, so a run is
reproducible). A failure names the role, the operation and schemathesis' own report (with the request to replay).
Run more with ``SCHEMATHESIS_EXAMPLES=100 make test PYTEST_ARGS=tests/test_schemathesis.py``.

Every operation of the schema is run (the test fails when one cannot be generated), with records of every kind planted
(leads, follow-ups, visits, base clients with vehicles, contacts and care tasks, defeat applications, pool entries,
imports): an operation with an ``{id}`` draws it from the ids of its view's model (the caller's and others', so the
details and actions run on real records as well as answer 404s). Each operation also gets schemathesis' negative
data (invalid path, query and body values), held to the same checks. Then every integer path parameter gets values of
the wrong kind (``abc``, ``-1``, ``2**63``, ``1e3``, ``1.5``): a 404 (403 where the role may not use the operation at
all), as documented, never a server error."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import schemathesis
from django.urls import resolve
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from baseclients.models import BaseClient
from baseclients.services import care_contact_log
from baseclients.tests.factories import buy
from dealercrm.models import User
from defeats import services as defeat_services
from defeats.postmortems import post_mortem_open
from defeats.tests.factories import pending_application
from leads.tests.factories import FollowUpFactory, LeadFactory, VisitFactory
from planning.services import work_plan_draft
from reports.models import ReportFile
from reports.services import imports

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "3"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ROLES = {"consultant": "consultant", "manager": "manager", "group_admin": "admin"}


BAD_IDS = ["abc", "-1", str(2**63), "1e3", "1.5"]
IMPORT_CSV = "姓名,电话,到店日期,来源,级别,销售顾问\n张三,13800000001,2026-03-01,,,\n".encode()


@pytest.fixture
def world(org):
    """Records for every role to find: leads held, pooled and won, follow-ups, visits; for each consultant a base
    client (a vehicle of no known series, care tasks, a logged call), a pending defeat application and a confirmed
    one (a pool entry); an import and a prepared export per store."""
    now = timezone.now()
    for holder in (org.consultant, org.consultant2, org.consultant_b):
        lead = LeadFactory(store=holder.store, assigned_to=holder, phone="")
        FollowUpFactory(lead=lead)
        VisitFactory(lead=lead)
        LeadFactory(store=holder.store, assigned_to=holder, next_follow_up_at=now - timedelta(days=20))
        client = BaseClient.objects.get(purchase_rows__deal=buy(store=holder.store, consultant=holder))
        care_contact_log(actor=holder, client=client, channel="phone", content="回访", outcome="reached")
        pending_application(org, lead=LeadFactory(store=holder.store, assigned_to=holder))
        confirmed = pending_application(org, lead=LeadFactory(store=holder.store, assigned_to=holder),
                                        kind="defeat", reasons=["lost_contact"])
        manager = org.manager if holder.store_id == org.store.pk else org.manager2
        defeat_services.application_decide(actor=manager, application=confirmed, verdict="confirm", comment="ok")
        # A post-mortem on the lost customer, and the consultant's plan for the week.
        post_mortem_open(actor=holder, lead=confirmed.lead)
        work_plan_draft(actor=holder, period="week", start=now.date() - timedelta(days=now.date().weekday()))
    LeadFactory(store=org.store, assigned_to=None, pooled_at=now - timedelta(days=1))
    LeadFactory(store=org.store, assigned_to=org.consultant, status="won")
    for manager in (org.manager, org.manager2):
        batch = imports.import_create(actor=manager, store=manager.store, kind="leads", file_name="leads.csv",
                                      content=IMPORT_CSV)
        imports.import_parse(batch.pk)
        # A prepared export of the store (the report-files routes: read it, ask to retry it: a 409, it is ready).
        ReportFile.objects.create(report="leads", group=org.group, store=manager.store, status=ReportFile.Status.READY,
                                  filename="leads.xlsx", content=b"x", size=1, created_by=manager)
    return org


# SCHEMATHESIS_PATHS=/api/v1/post-mortems/,/api/v1/work-plans/ fuzzes only the operations under those prefixes.
PATHS = tuple(p for p in os.environ.get("SCHEMATHESIS_PATHS", "").split(",") if p)


def _operations(schema):
    for result in schema.get_all_operations():
        operation = result.ok()
        if not PATHS or operation.path.startswith(PATHS):
            yield operation


def _integer_path_parameters(operation) -> list[str]:
    return [p.name for p in operation.path_parameters if p.definition.get("schema", {}).get("type") == "integer"]


def _ids_for(operation, caller) -> list[int]:
    """The ids of the records the operation's view serves (everyone's: the caller's answer 200, the others 404)."""
    view = resolve(operation.path.replace("{id}", "1")).func
    model = getattr(getattr(view, "cls", None), "queryset", None)
    if model is None:
        return []
    queryset = model.model.objects.order_by("pk")
    if model.model is User:  # never deactivate the caller: the rest of the run would be a 401
        queryset = queryset.exclude(pk=caller.pk)
    return list(queryset.values_list("pk", flat=True)[:30])


def _strategy(operation, caller, mode):
    """Valid data (``positive``) on real ids where the operation has an ``{id}``; invalid data (``negative``: wrong
    types and values in the path, query and body) as schemathesis makes it."""
    ids = _ids_for(operation, caller) if "id" in _integer_path_parameters(operation) else []
    if not ids or mode is GenerationMode.NEGATIVE:
        return operation.as_strategy(generation_mode=mode)
    return st.sampled_from(ids).flatmap(lambda pk: operation.as_strategy(path_parameters={"id": pk}))


@pytest.fixture
def in_test_transaction():
    """Requests through the WSGI app run on the test's connection, inside its transaction: Django must not close
    that connection at the end of a request (its test client disconnects the same handlers)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.parametrize("role", list(ROLES))
def test_every_operation_answers_as_the_schema_says(world, role, in_test_transaction):
    from dealercrm.wsgi import application

    user = getattr(world, ROLES[role])
    token = Token.objects.get_or_create(user=user)[0].key
    headers = {"Authorization": f"Token {token}", "Accept-Language": "en"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)

    failures, operations = [], 0
    for operation in _operations(schema):
        operations += 1

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, print_blob=False,
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
            @given(case=_strategy(operation, user, mode))
            def run(case):
                response = case.call(headers=headers)
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing of it can be made invalid
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected: one run names every failure
                failures.append(f"[{role}] {operation.label} ({mode.value} data):\n{exc}")

        # Path parameters of the wrong kind: not found (or not allowed at all), as documented; never a server error.
        for name in _integer_path_parameters(operation):
            for bad in BAD_IDS:
                case = operation.Case(path_parameters={name: bad},
                                      body={} if operation.body else NOT_SET,
                                      media_type="application/json" if operation.body else None)
                try:
                    response = case.call(headers=headers)
                    case.validate_response(response, checks=CHECKS, headers=headers)
                    assert response.status_code in (403, 404), f"{bad!r}: {response.status_code} {response.text}"
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001
                    failures.append(f"[{role}] {operation.label} with {name}={bad!r}:\n{exc}")
    documented = sum(len(methods) for path, methods in schema.raw_schema["paths"].items()
                     if not PATHS or path.startswith(PATHS))
    assert operations == documented >= (1 if PATHS else 80), (operations, documented)
    assert not failures, f"{len(failures)} of {operations} operations failed:\n\n" + "\n\n".join(failures)
