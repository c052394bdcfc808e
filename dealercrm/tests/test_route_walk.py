"""Every page view and htmx endpoint, walked as each role, must never show a record the caller may not see.

The API has its own walk (test_routes.py: every viewset is scoped). This one covers the pages and htmx partials,
whatever app they belong to: it walks the root URLconf, fills every integer parameter with the ids of records the
caller may not see (a colleague's lead, another store's, another group's, their follow-ups, visits and
notifications), and asks GET and POST, plain and htmx. A response that carries a secret record's name, phone or
follow-up text is a leak; a 500 is a failure too. Failures name the route, the method and the id.

Also the reverse: nothing may be written on a secret record by these requests (its version and holder stay)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from dealercrm.models import Notification
from dealercrm.tests.clients import HTMX
from leads.models import Lead
from leads.tests.factories import FollowUpFactory, LeadFactory, VisitFactory

pytestmark = pytest.mark.django_db

# Prefixes that are not the app's pages: Django's admin (superusers only), the API (test_routes.py and the
# schemathesis runs), the language switch, logout (it would end the walker's session) and the schema/docs.
SKIP_PREFIXES = ("admin/", "api/", "i18n/", "accounts/logout/", "static/", "__debug__/")


@dataclass
class Secret:
    lead: Lead
    markers: list[str] = field(default_factory=list)
    ids: set[int] = field(default_factory=set)


def _walk(patterns, prefix=""):
    """(route template, converters) for every URL pattern of the URLconf, in order."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.pattern.converters


def _routes():
    for route, converters in _walk(get_resolver().url_patterns):
        plain = route.lstrip("^")
        if plain.startswith(SKIP_PREFIXES) or "(?P" in plain:
            continue
        yield plain, converters


def _fill(route: str, converters, value) -> str | None:
    """The route with every parameter set to ``value``; None when a parameter is not an integer."""
    path = route
    for name, converter in converters.items():
        if type(converter).__name__ != "IntConverter":
            return None
        path = path.replace(f"<int:{name}>", str(value))
    return "/" + path.replace("$", "")


def _secret(org, store, holder, tag: str) -> Secret:
    name = f"Secret{tag}Lead"
    phone_digits = {"colleague": "13911110001", "store2": "13911110002", "group": "13911110003"}[tag]
    lead = LeadFactory(store=store, assigned_to=holder, name=name, phone=f"+86{phone_digits}")
    follow_up = FollowUpFactory(lead=lead, content=f"Secret{tag}Note")
    visit = VisitFactory(lead=lead)
    notification = Notification.objects.create(recipient=holder, kind=Notification.Kind.ASSIGNED,
                                               params={"count": 1}, url=f"/leads/{lead.pk}/")
    markers = [name, f"Secret{tag}Note", phone_digits, f"{phone_digits[:3]} {phone_digits[3:7]} {phone_digits[7:]}"]
    return Secret(lead=lead, markers=markers, ids={lead.pk, follow_up.pk, visit.pk, notification.pk})


@pytest.fixture
def secrets(org):
    from dealercrm.tests.factories import ConsultantFactory

    other_consultant = ConsultantFactory(username="c_beta", store=org.other_store)
    return {
        "colleague": _secret(org, org.store, org.consultant2, "colleague"),
        "store2": _secret(org, org.store2, org.consultant_b, "store2"),
        "group": _secret(org, org.other_store, other_consultant, "group"),
    }


# Who walks, and which secrets they must never see.
OBSERVERS = {
    "consultant": ("consultant", ["colleague", "store2", "group"]),
    "manager": ("manager", ["store2", "group"]),
    "group_admin": ("admin", ["group"]),
}


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def _requests(route, converters, hidden: list[Secret], org):
    """(method, path, data, htmx) to try on one route."""
    if converters:
        ids = sorted({i for secret in hidden for i in secret.ids})
        for value in ids:
            path = _fill(route, converters, value)
            if path is None:
                return
            for method in ("get", "post"):
                for htmx in (False, True):
                    yield method, path, {}, htmx
        return
    path = "/" + route.replace("$", "")
    # The query parameters pages take a record by: the store picker, a consultant, a lead (merge's keep/absorb,
    # bulk move's from_user). One variant per secret with the store, one with the rest.
    queries = [{}]
    for secret in hidden:
        lead = secret.lead
        queries.append({"store": lead.store_id})
        queries.append({"consultant": lead.assigned_to_id, "from_user": lead.assigned_to_id, "keep": lead.pk,
                        "absorb": lead.pk, "lead": lead.pk})
    for query in queries:
        yield "get", path, query, False
    yield "get", path, {}, True
    yield "post", path, {}, False
    yield "post", path, {}, True


@pytest.mark.parametrize("who", list(OBSERVERS))
def test_no_page_or_htmx_partial_shows_a_record_the_caller_may_not_see(org, secrets, who):
    attr, hidden_keys = OBSERVERS[who]
    user = getattr(org, attr)
    hidden = [secrets[key] for key in hidden_keys]
    before = {s.lead.pk: (s.lead.version, s.lead.assigned_to_id, s.lead.pooled_at) for s in hidden}
    client = Client(HTTP_ACCEPT_LANGUAGE="en", raise_request_exception=False)
    client.force_login(user)

    failures, walked = [], set()
    for route, converters in _routes():
        for method, path, data, htmx in _requests(route, converters, hidden, org):
            walked.add(route)
            headers = HTMX if htmx else {}
            response = getattr(client, method)(path, data, **headers)
            label = f"{method.upper()}{' (htmx)' if htmx else ''} {path} {data or ''}".strip()
            if response.status_code >= 500:
                failures.append(f"{label}: {response.status_code}")
                continue
            body = _body(response)
            leaked = [m for secret in hidden for m in secret.markers if m in body]
            if leaked:
                failures.append(f"{label}: {response.status_code} shows {leaked}")
    assert not failures, f"{who}:\n" + "\n".join(failures)

    after = {lead.pk: (lead.version, lead.assigned_to_id, lead.pooled_at)
             for lead in Lead.objects.filter(pk__in=before)}
    assert after == before, "a page wrote on a record its caller may not see"
    # The walk met the routes that take a lead id (claim, assign, detail...), not just the lists.
    assert {"leads/pool/<int:pk>/claim/", "leads/<int:pk>/", "notifications/<int:pk>/read/"} <= walked
