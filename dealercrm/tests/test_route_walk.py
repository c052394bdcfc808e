"""Every route, walked as each role, must never show or change a record the caller may not see.

The walk plants, once per module, secret records of every kind (walk.py): leads, follow-ups, visits, notifications,
base clients with vehicles, contacts, scores, care tasks and referrals, defeat applications, competitor-pool entries,
imports, report files and the team members who hold them, in the walker's store (a colleague's), the group's other
store and another group. It then walks the root URLconf, pages, htmx partials and the API alike (every URL pattern,
not only the router's viewsets): every integer parameter filled with the ids of the secret records the route is
about, GET and POST (and the API's PATCH/PUT), writes with a valid body aimed at the secret, lists with the query
parameters that pick a store, a consultant or a lead, and every search with the secrets' phones, VINs, plates and
names. A response that carries a secret's marker is a leak; a 500 is a failure; and nothing may be written on a
secret row (every field of each, and the number of rows of every table that point at them, are compared before and
after). Failures name the role, the method, the path, the secret record and the marker."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from django.db import transaction
from django.test import Client, override_settings
from rest_framework.test import APIClient

from dealercrm.tests import walk
from dealercrm.tests.clients import HTMX

# Who walks, and which secrets they must never see.
WALKERS = {
    "consultant": ("consultant", ["colleague", "store2", "group"]),
    "manager": ("manager", ["store2", "group"]),
    "group_admin": ("admin", ["group"]),
}

FAST = {"PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The org and its secrets, planted once for the module's tests and rolled back after them (each test runs in
    a savepoint of this transaction, so what one walk writes is gone before the next)."""
    from dealercrm.celery import app

    saved = app.conf.task_always_eager
    with django_db_blocker.unblock(), override_settings(**FAST):
        app.conf.task_always_eager = True
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield walk.plant_world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            app.conf.task_always_eager = saved


class Walker:
    """Sends the requests of one role's walk and collects what went wrong."""

    def __init__(self, who: str, world: walk.World):
        attr, hidden = WALKERS[who]
        self.who, self.user, self.world = who, getattr(world.org, attr), world
        self.hidden = [world.secrets[key] for key in hidden]
        self.page = Client(HTTP_ACCEPT_LANGUAGE="en", raise_request_exception=False)
        self.page.force_login(self.user)
        self.api = APIClient(HTTP_ACCEPT_LANGUAGE="en", raise_request_exception=False)
        self.api.force_authenticate(self.user)
        self.failures: list[str] = []
        self.requests = 0
        self.walked: set[str] = set()
        self.seconds: dict[str, float] = {}

    def ask(self, route: walk.Route, method: str, path: str, data: dict, *, htmx=False, about="",
            secrets=None, ignore=()):
        self.requests += 1
        self.walked.add(route.name)
        started = time.monotonic()
        if route.api:
            if method == "get":
                response = self.api.get(path, data)
            else:
                response = getattr(self.api, method)(path, data, format="json")
        else:
            response = getattr(self.page, method)(path, data, **(HTMX if htmx else {}))
        self.seconds[route.name] = self.seconds.get(route.name, 0) + time.monotonic() - started
        label = f"{self.who} {method.upper()}{' (htmx)' if htmx else ''} {path}"
        if about:
            label += f" [{about}]"
        if data and method == "get":
            label += f" {data}"
        if response.status_code >= 500:
            self.failures.append(f"{label}: {response.status_code}")
            return response
        # What the request itself sent may come back in a form or a search box: that is no leak.
        echoed = ({str(v) for v in data.values() if isinstance(v, (str, int))} | set(ignore)
                  | _author_exempt(route, path, self.world))
        leaked = walk.markers_in(walk.text_of(response), secrets or self.hidden, ignore=echoed)
        if leaked:
            self.failures.append(f"{label}: {response.status_code} shows {leaked}")
        return response


# A period that holds the secrets' records (the reports' default one may not).
PERIOD = {"start": (date.today() - timedelta(days=40)).isoformat(), "end": (date.today() + timedelta(days=1)).isoformat()}


def _queries(route: walk.Route, hidden: list[walk.Secret]) -> list[tuple[dict, walk.Secret | None]]:
    """The GET queries of a route without parameters: none, then per secret the store picker, a consultant or a
    lead (merge's keep/absorb, bulk move's from_user), and for the searches each phone, VIN, plate and name."""
    queries = [({}, None)]
    for s in hidden:
        o = s.objects
        queries.append(({"store": s.store.pk}, s))
        queries.append(({**PERIOD, "consultant": s.holder.pk, "from_user": s.holder.pk, "assigned_to": s.holder.pk,
                         "keep": o["lead"].pk, "absorb": o["lead"].pk, "lead": o["lead"].pk,
                         "client": o["client"].pk, "base_client": o["client"].pk}, s))
        if route.name in walk.SEARCH_ROUTES:
            for term in (o["client"].phone[3:], o["lead"].phone[3:], o["vehicle"].vin, o["vehicle"].plate,
                         o["client"].name, o["client"].phone[-4:]):
                queries.append(({"q": term}, s))
    return queries


def _exempt(route: walk.Route, secret: walk.Secret) -> set[str]:
    """Markers a route may show by design: the referrer search finds the group's base clients by name or complete
    phone (a referral is credited to them), and the visit form's hint names the group's base client a complete
    phone belongs to (a deal is then a repeat purchase); the digit-growing test below holds the search to that."""
    if route.name in ("baseclients:referrer_search", "baseclients:visit_hint") and secret.in_group:
        return {m for m, what in secret.markers.items() if what.startswith("base client")}
    return set()


# The colleague wrote a follow-up on the consultant's own lead (walk.plant_world): the lists and the export of the
# consultant's follow-ups name its author. Anywhere else the colleague's name is a leak.
AUTHOR_SHOWN = {"follow-up-list", "/reports/exports/follow-ups/"}


def _author_exempt(route: walk.Route, path: str, world) -> set[str]:
    if route.name in AUTHOR_SHOWN or path in AUTHOR_SHOWN:
        return {world.org.consultant2.display_name}
    return set()


def walk_routes(walker: Walker, *, api: bool) -> None:
    hidden = walker.hidden
    for route in walk.routes():
        if route.api != api:
            continue
        kinds = walk.kinds_for(route)
        int_params = [p for p in route.params if p not in ("name", "kind")]
        slug_params = [p for p in route.params if p in ("name", "kind")]
        if slug_params:
            for value in walk.slug_values(route, slug_params[0]) or []:
                path = route.fill({slug_params[0]: value})
                # The reports are heavy: their default period and filters, then each secret's store and consultant
                # over a period that holds the secrets' records.
                walker.ask(route, "get", path, {}, htmx=True)
                for s in hidden:
                    walker.ask(route, "get", path, {**PERIOD, "store": s.store.pk, "consultant": s.holder.pk})
                for s in hidden[:1]:  # the reports and exports take no writes: one POST says so
                    walker.ask(route, "post", path, walk.body_for(route, walker.world, s, None, walker.user),
                               about=s.tag)
            continue
        if int_params:
            for s in hidden:
                for n, (kind, pk) in enumerate(s.ids(kinds)):
                    obj = s.objects[kind]
                    path = route.fill({p: pk for p in int_params})
                    about = f"{kind} #{pk} of {s.tag}"
                    ignore = _exempt(route, s)
                    for method in route.methods:
                        if method == "get":
                            walker.ask(route, "get", path, {}, about=about, ignore=ignore)
                            if not api and n == 0:  # the partial of the route's first kind of record per secret
                                walker.ask(route, "get", path, {}, htmx=True, about=about, ignore=ignore)
                            continue
                        body = walk.body_for(route, walker.world, s, obj, walker.user)
                        walker.ask(route, method, path, body, about=about, ignore=ignore)
                        if not api:
                            walker.ask(route, method, path, body, htmx=True, about=about, ignore=ignore)
            if api and "pk" in int_params and "get" in route.methods:
                # A path id that is no number is a 404, not a 500.
                walker.ask(route, "get", route.fill({"pk": "x1"}), {}, about="non-numeric id")
            continue
        for query, secret in _queries(route, hidden):
            if "get" in route.methods:
                walker.ask(route, "get", "/" + route.fill({}).lstrip("/"), query,
                           ignore=_exempt(route, secret) if secret else ())
        if not api and "get" in route.methods:
            walker.ask(route, "get", route.fill({}), {}, htmx=True)
        for method in route.methods:
            if method == "get":
                continue
            for s in hidden:
                body = walk.body_for(route, walker.world, s, None, walker.user)
                walker.ask(route, method, route.fill({}), body, about=f"body aimed at {s.tag}",
                           ignore=_exempt(route, s))
                if not api:
                    walker.ask(route, method, route.fill({}), body, htmx=True, about=f"body aimed at {s.tag}",
                               ignore=_exempt(route, s))


def _run(world, who: str, *, api: bool):
    walker = Walker(who, world)
    before = walk.snapshot(walker.hidden)
    started = time.monotonic()
    walk_routes(walker, api=api)
    seconds = time.monotonic() - started
    changed = walk.snapshot_diff(before, walk.snapshot(walker.hidden))
    slowest = sorted(walker.seconds.items(), key=lambda kv: -kv[1])[:8]
    print(f"\n{who} {'API' if api else 'pages'}: {walker.requests} requests in {seconds:.1f} s; slowest routes:",
          ", ".join(f"{name} {s:.1f}" for name, s in slowest))
    return walker, changed


@pytest.mark.django_db
@pytest.mark.parametrize("who", list(WALKERS))
def test_no_page_or_htmx_partial_shows_or_changes_a_record_the_caller_may_not_see(world, who):
    walker, changed = _run(world, who, api=False)
    problems = walker.failures + [f"{who}: a page wrote on a secret record: {c}" for c in changed]
    assert not problems, f"{len(problems)} failures:\n" + "\n".join(problems)
    # The walk met the routes keyed by each kind of record, not just the lists.
    assert {"leads:detail", "leads:pool_claim", "notification_read", "team_member", "baseclients:detail",
            "baseclients:care_done", "defeats:decide", "defeats:pool_contact", "reports:file", "reports:import",
            "baseclients:referrer_search", "baseclients:visit_hint", "reports:report"} <= walker.walked


@pytest.mark.django_db
@pytest.mark.parametrize("who", list(WALKERS))
def test_no_api_route_shows_or_changes_a_record_the_caller_may_not_see(world, who):
    walker, changed = _run(world, who, api=True)
    problems = walker.failures + [f"{who}: an API call wrote on a secret record: {c}" for c in changed]
    assert not problems, f"{len(problems)} failures:\n" + "\n".join(problems)
    assert {"lead-detail", "base-client-detail", "care-task-done", "defeat-application-verdict", "defeat-pool-contacts",
            "import-commit", "user-deactivate", "funnel-metrics", "defeat-metrics", "report-detail",
            "base-client-analytics"} <= walker.walked


@pytest.mark.django_db
def test_the_referrer_search_finds_a_client_by_the_complete_phone_only(world):
    """Digit-growing: a consultant types 4, 5, ... 10 leading digits of a colleague's and another store's client's
    phone; no answer may name the client (or carry its id) until the complete number is sent."""
    walker = Walker("consultant", world)
    route = next(r for r in walk.routes() if r.name == "baseclients:referrer_search")
    found_early = []
    for key in ("colleague", "store2"):
        secret = world.secrets[key]
        client = secret.objects["client"]
        digits = client.phone.removeprefix("+86")
        for length in range(4, len(digits)):
            response = walker.ask(route, "post", route.fill({}), {"referrer_q": digits[:length]}, htmx=True,
                                  about=f"{length} leading digits of the {key} client's phone", secrets=[secret])
            if f'value="{client.pk}"' in walk.text_of(response):
                found_early.append(f"{length} leading digits of the {key} client's phone offer it (id {client.pk})")
        response = walker.ask(route, "post", route.fill({}), {"referrer_q": digits}, htmx=True,
                              secrets=[secret], ignore=_exempt(route, secret))
        assert f'value="{client.pk}"' in walk.text_of(response), f"the complete phone finds the {key} client"
    assert not walker.failures + found_early, "\n".join(walker.failures + found_early)
