"""Schemathesis against the live OpenAPI schema (/api/schema/), as each role: every operation of the API, whichever
app registers it, gets generated requests (valid and invalid), and every answer must be no server error and exactly
what the schema says (status code documented, body valid against the documented schema, content type).

Bounded for CI: ``SCHEMATHESIS_EXAMPLES`` examples per operation (default 3; derandomized, so a run is
reproducible). A failure names the role, the operation and schemathesis' own report (with the request to replay).
Run more with ``SCHEMATHESIS_EXAMPLES=100 make test PYTEST_ARGS=tests/test_schemathesis.py``."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leads.tests.factories import FollowUpFactory, LeadFactory, VisitFactory

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "3"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ROLES = {"consultant": "consultant", "manager": "manager", "group_admin": "admin"}


@pytest.fixture
def world(org):
    """Records for every role to find: leads held, pooled and won, follow-ups, visits."""
    now = timezone.now()
    for holder in (org.consultant, org.consultant2, org.consultant_b):
        lead = LeadFactory(store=holder.store, assigned_to=holder, phone="")
        FollowUpFactory(lead=lead)
        VisitFactory(lead=lead)
        LeadFactory(store=holder.store, assigned_to=holder, next_follow_up_at=now - timedelta(days=20))
    LeadFactory(store=org.store, assigned_to=None, pooled_at=now - timedelta(days=1))
    LeadFactory(store=org.store, assigned_to=org.consultant, status="won")
    return org


def _operations(schema):
    for result in schema.get_all_operations():
        yield result.ok()


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

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, print_blob=False,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected: one run names every failure
            failures.append(f"[{role}] {operation.label}:\n{exc}")
    assert operations >= 30
    assert not failures, f"{len(failures)} of {operations} operations failed:\n\n" + "\n\n".join(failures)
