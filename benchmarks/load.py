"""bench_load: a small mixed load against a running server on this machine (127.0.0.1 only), bounded in time.

Consultants loop over their day (workspace, one of their leads, a follow-up logged on it) and managers over theirs
(the store's dashboard, the lead list, allocation, reviews), each with 0.5–1.5 s of think time, for ``duration``
seconds (default 360, longer than the figures cache's life), starting cold. Prints, per request type, the count, p50 and p95, and the requests per second overall.

The users are the bench data set's; their sessions are created directly in the database the command runs against
(the server's), so no password is sent. Follow-ups are real writes: run it on the bench database, not on real data."""

from __future__ import annotations

import http.client
import random
import re
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from urllib.parse import urlencode, urlparse

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from dealercrm.models import DealerGroup, Role, Store, User
from leads.models import Lead, Status

from .pages import BENCH_GROUP

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def _session_for(user: User) -> str:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


class Agent:
    def __init__(self, base: str, user: User, record: Callable[[str, float, int], None]):
        parsed = urlparse(base)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.cookies = {settings.SESSION_COOKIE_NAME: _session_for(user)}
        self.record = record

    def request(self, kind: str, method: str, path: str, body: dict | None = None) -> bytes:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "Host": "localhost"}
        data = None
        if body is not None:
            data = urlencode(body)
            headers.update({"Content-Type": "application/x-www-form-urlencoded",
                            "X-CSRFToken": self.cookies.get("csrftoken", ""), "Referer": f"http://localhost{path}"})
        started = time.perf_counter()
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            status = response.status
            for header, value in response.getheaders():
                if header.lower() == "set-cookie":
                    name, _, rest = value.partition("=")
                    self.cookies[name.strip()] = rest.split(";", 1)[0]
        except OSError:
            payload, status = b"", 599
        finally:
            conn.close()
        self.record(kind, (time.perf_counter() - started) * 1000, status)
        return payload


def run(*, base: str, duration: float, consultants: int, managers: int, out: Callable[[str], None]) -> dict:
    host = urlparse(base).hostname
    if host not in LOOPBACK:
        raise SystemExit(f"bench_load only sends traffic to this machine (127.0.0.1), not to {host!r}.")
    group = DealerGroup.objects.get(name=BENCH_GROUP)
    stores = list(Store.objects.filter(group=group).order_by("pk"))
    store_managers = list(User.objects.filter(store__in=stores, role=Role.MANAGER).order_by("store_id")[:managers])
    sales = list(User.objects.filter(store=stores[0], role=Role.CONSULTANT).order_by("pk")[:consultants])
    leads = {u.pk: list(Lead.objects.filter(assigned_to=u, status=Status.ACTIVE).values_list("pk", "grade")[:50])
             for u in sales}

    # No figures cache: every dashboard request counts what it shows from the rollups and the kept counts
    # (funnel.figures), and the consultants' follow-ups mark their store-days: a thread here drains them every
    # ROLLUPS_DRAIN_SECONDS, as the worker would.
    # Each gunicorn worker's first requests load code, translations and templates and open its database connection;
    # served once before the clock starts, so the figures are the steady state, not three cold starts.
    for user, paths in ((sales[:1], ["/", "/leads/"]), (store_managers[:1], ["/leads/allocation/", "/leads/reviews/",
                                                                               "/funnel/"])):
        for person in user:
            warm = Agent(base, person, lambda *args: None)
            for path in paths * 3:
                warm.request("warm-up", "GET", path)

    samples: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    lock = threading.Lock()

    def record(kind: str, ms: float, status: int) -> None:
        with lock:
            samples[kind].append(ms)
            if status >= 400:
                errors[kind] += 1

    deadline = time.monotonic() + duration
    rng = random.Random(1)

    def think():
        time.sleep(rng.uniform(0.5, 1.5))

    def consultant_day(user: User):
        agent = Agent(base, user, record)
        mine = leads[user.pk]
        while time.monotonic() < deadline and mine:
            agent.request("consultant: workspace", "GET", "/")
            think()
            pk, grade = rng.choice(mine)
            page = agent.request("consultant: lead page", "GET", f"/leads/{pk}/")
            think()
            token = CSRF.search(page)
            if token:
                agent.request("consultant: log a follow-up", "POST", f"/leads/{pk}/follow-up/", {
                    "csrfmiddlewaretoken": token.group(1).decode(), "method": "phone", "outcome": "reached",
                    "content": "load test follow-up", "grade_after": grade or "C"})
            think()

    def manager_day(user: User):
        agent = Agent(base, user, record)
        pages = [("manager: funnel dashboard", f"/funnel/?store={user.store_id}&period=last_month"),
                 ("manager: lead list", "/leads/"), ("manager: allocation", "/leads/allocation/"),
                 ("manager: reviews", "/leads/reviews/")]
        while time.monotonic() < deadline:
            kind, path = rng.choice(pages)
            agent.request(kind, "GET", path)
            think()

    drains: list[int] = []

    def drainer():
        from django.db import connection

        from funnel import lead_now, rollups, rollups_stays

        try:
            while time.monotonic() < deadline:
                drains.append(rollups.drain())
                rollups_stays.drain()  # the time-in-stage rows of the leads the follow-ups regraded
                lead_now.compact()  # the state-now counts' folding (every minute in production)
                time.sleep(settings.ROLLUPS_DRAIN_SECONDS)
        finally:
            connection.close()

    threads = [threading.Thread(target=drainer)]
    threads += [threading.Thread(target=consultant_day, args=(u,)) for u in sales]
    threads += [threading.Thread(target=manager_day, args=(u,)) for u in store_managers]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 120)
    elapsed = time.monotonic() - started

    total = sum(len(v) for v in samples.values())
    out(f"{len(sales)} consultants, {len(store_managers)} managers, {elapsed:.0f} s: {total} requests, "
        f"{total / elapsed:.1f} requests/s")
    out(f"drains: {len(drains)}, {sum(drains)} store-days recounted")
    out(f"{'request':<32} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'errors':>6}")
    result = {}
    for kind in sorted(samples):
        values = sorted(samples[kind])
        p95 = values[min(len(values) - 1, max(0, round(0.95 * len(values)) - 1))]
        p50 = statistics.median(values)
        result[kind] = (len(values), p50, p95, errors[kind])
        out(f"{kind:<32} {len(values):>6} {p50:>8.0f} {p95:>8.0f} {errors[kind]:>6}")
    return result
