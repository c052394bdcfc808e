"""bench_pages: time the pages people open, per role, on the seed_bench data set (benchmarks/README.md).

For each case: the full request in-process (middleware, the view, the template; Django's test client, logged in as
the role's bench user; API cases with the user's token, as a REST client sends it), p50 and p95 over repeated calls;
the queries the page ran (captured once) and the same SQL replayed through ``connection.cursor()`` (the page's SQL
floor), so the ratio says whether the time goes to the database or to Python. A dashboard counts whatever it shows
on every request (there is no figures cache: its funnel, control points, defeat figures and panels from their
rollups and kept counts). A write case (a consultant logging a follow-up) runs inside a transaction that is rolled
back, so the data set is unchanged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from benchmarks.funnel import Timing, token_client
from dealercrm.models import DealerGroup, Role, Store, User
from leads.models import Lead, Status

BENCH_GROUP = "Bench Auto Group"


@dataclass
class Row:
    page: str
    role: str
    goal_ms: float
    p50: float
    p95: float
    queries: int
    sql_p50: float

    @property
    def ratio(self) -> float:
        return self.p50 / self.sql_p50 if self.sql_p50 else float("nan")

    @property
    def verdict(self) -> str:
        return "ok" if self.p95 < self.goal_ms else "MISS"

    def line(self) -> str:
        return (f"{self.page:<58} {self.role:<12} {self.p50:>8.1f} {self.p95:>8.1f} {self.goal_ms:>6.0f} "
                f"{self.queries:>7} {self.sql_p50:>8.1f} {self.ratio:>7.2f}x {self.verdict}")


def _replay(captured: list[tuple[str, object]]) -> Callable[[], None]:
    statements = [(sql, params) for sql, params in captured
                  if not sql.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))]

    # A write's statements are replayed in a transaction rolled back at the end: in autocommit the follow-up's floor
    # committed its INSERTs and UPDATEs, a follow-up and its rollup marks left on the bench per replay, undrained (and
    # the dashboards timed after it counted those days live). Reads keep autocommit: a read's own transaction
    # (the rollups' REPEATABLE READ snapshot) must start with its SET TRANSACTION.
    writes = any(sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for sql, _params in statements)

    def execute(cursor):
        for sql, params in statements:
            cursor.execute(sql, params)
            if cursor.description:
                cursor.fetchall()

    def run():
        if not writes:
            with connection.cursor() as cursor:
                execute(cursor)
            return
        with transaction.atomic(), connection.cursor() as cursor:
            execute(cursor)
            transaction.set_rollback(True)

    return run


def _capture(fetch: Callable[[], None]) -> list[tuple[str, object]]:
    """The statements one request runs, with their parameters. An execute wrapper, not CaptureQueriesContext:
    with DEBUG off the request's start resets the connection's query log, and the capture came back empty."""
    captured = []

    def record(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        fetch()
    return captured


def _get(client: Client, url: str) -> Callable[[], None]:
    def fetch():
        response = client.get(url)
        if response.streaming:
            for _ in response.streaming_content:
                pass
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")

    return fetch


def _case(page: str, role: str, goal_ms: float, client: Client, fetch: Callable[[], None], iterations: int) -> Row:
    # Once before capturing: a page that drafts something on its first open (today's work plan) is captured as
    # every later open finds it, so its replayed SQL holds no INSERT that the first open already made.
    fetch()
    captured = _capture(fetch)
    page_time = Timing.measure(page, fetch, iterations=iterations, warmup=2)
    sql_time = Timing.measure(page, _replay(captured), iterations=iterations, warmup=2)
    return Row(page, role, goal_ms, page_time.p50, page_time.p95, len(captured), sql_time.p50)


def _follow_up_write(client: Client, lead: Lead) -> Callable[[], None]:
    url = f"/leads/{lead.pk}/follow-up/"

    def post():
        with transaction.atomic():
            response = client.post(url, {"method": "phone", "outcome": "reached", "content": "bench follow-up",
                                         "grade_after": lead.grade or "C"})
            if response.status_code >= 400 or b"is-invalid" in response.content:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
            transaction.set_rollback(True)

    return post


def bench(*, iterations: int, out: Callable[[str], None], only: str | None = None) -> list[Row]:
    group = DealerGroup.objects.get(name=BENCH_GROUP)
    store = Store.objects.filter(group=group).order_by("pk").first()
    manager = User.objects.filter(store=store, role=Role.MANAGER).first()
    admin = User.objects.filter(dealer_group=group, role=Role.GROUP_ADMIN).first()
    consultant = User.objects.filter(store=store, role=Role.CONSULTANT).order_by("pk").first()
    # A graded lead: the follow-up keeps its grade (no grade change), so replaying its SQL writes no history row
    # pointing at the rolled-back follow-up.
    lead = (Lead.objects.filter(assigned_to=consultant, status=Status.ACTIVE, grade__isnull=False)
            .order_by("-pk").first())
    today = timezone.localdate()
    clients = {}
    for role, user in (("manager", manager), ("group admin", admin), ("consultant", consultant)):
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        clients[role] = client
    apis = {"manager": token_client(manager), "group admin": token_client(admin)}
    month_end = today.replace(day=1) - timedelta(days=1)
    month = f"start={month_end.replace(day=1).isoformat()}&end={month_end.isoformat()}"
    year = f"start={(today.replace(day=1) - timedelta(days=335)).replace(day=1).isoformat()}&end={today.isoformat()}"

    cases = [
        ("funnel dashboard, one store, last month", "manager", 300, f"/funnel/?store={store.pk}&period=last_month"),
        ("funnel dashboard, whole group, this month", "group admin", 1000, "/funnel/?store=all&period=this_month"),
        ("funnel dashboard, whole group, 12 months", "group admin", 1000, "/funnel/?store=all&period=last_12"),
        ("workspace /", "consultant", 150, "/"),
        ("workspace /", "manager", 300, "/"),
        ("workspace /", "group admin", 1000, "/"),
        ("reviews", "manager", 300, "/leads/reviews/"),
        ("reviews", "group admin", 1000, "/leads/reviews/"),
        ("allocation", "manager", 300, "/leads/allocation/"),
        ("allocation", "group admin", 1000, f"/leads/allocation/?store={store.pk}"),
        ("lead list page 1", "consultant", 150, "/leads/"),
        ("lead list page 1", "manager", 300, "/leads/"),
        ("lead list page 1", "group admin", 1000, "/leads/"),
        ("lead list, grade B", "manager", 300, "/leads/?grade=B"),
        ("GET /api/v1/leads/ page 1 (token)", "group admin", 1000, "/api/v1/leads/"),
        ("GET /api/v1/funnel/metrics/ store-month (token)", "manager", 50,
         f"/api/v1/funnel/metrics/?store={store.pk}&{month}"),
        ("GET /api/v1/funnel/metrics/ group 12 months by month (token)", "group admin", 1000,
         f"/api/v1/funnel/metrics/?{year}&group_by=month"),
        # Time in stage and loss by stage (the dashboard panels' figures; the dashboards above include them).
        ("GET /api/v1/funnel/stage-times/, store", "manager", 1000,
         f"/api/v1/funnel/stage-times/?store={store.pk}&start={today - timedelta(days=364)}&end={today}"),
        ("GET /api/v1/funnel/stage-times/trend/", "group admin", 2000, "/api/v1/funnel/stage-times/trend/"),
        ("GET /api/v1/defeats/metrics/ by grade at filing", "manager", 300,
         f"/api/v1/defeats/metrics/?store={store.pk}&group_by=grade_at_filing"),
        # The team by the ladder, post-mortems and work plans (what a store's manager and consultants open).
        ("staffing planner", "manager", 300, f"/funnel/staffing/?store={store.pk}"),
        ("GET /api/v1/funnel/staffing/ (token)", "manager", 300,
         f"/api/v1/funnel/staffing/?store={store.pk}&year={today.year}"),
        ("GET /api/v1/stores/{id}/levels/ (token)", "manager", 300, f"/api/v1/stores/{store.pk}/levels/"),
        ("consultant levels settings", "manager", 300, "/settings/levels/"),
        ("post-mortem library", "manager", 300, "/defeats/post-mortems/"),
        ("GET /api/v1/post-mortems/ (token)", "manager", 300, "/api/v1/post-mortems/"),
        ("work plans", "manager", 300, "/plans/"),
        ("work plans", "consultant", 150, "/plans/"),
        ("today's plan panel", "consultant", 150, "/plans/today/"),
        ("GET /api/v1/work-plans/ (token)", "manager", 300, "/api/v1/work-plans/"),
        ("funnel dashboard, one store, last month", "consultant", 300, "/funnel/?period=last_month"),
        ("stale queue", "manager", 300, "/leads/stale/"),
        ("stale queue", "group admin", 1000, "/leads/stale/"),
        ("pool", "manager", 300, "/leads/pool/"),
        ("pool", "group admin", 1000, "/leads/pool/"),
    ]
    rows = []
    out(f"{'page':<58} {'role':<12} {'p50 ms':>8} {'p95 ms':>8} {'goal':>6} {'queries':>7} {'SQL ms':>8} "
        f"{'page/SQL':>8}")
    for page, role, goal, url in cases:
        if only and only not in page:
            continue
        client = apis[role] if url.startswith("/api/") else clients[role]
        try:
            row = _case(page, role, goal, client, _get(client, url), iterations)
        except SystemExit as failed:  # one page that fails is reported, and the others are still timed
            out(f"{page:<58} {role:<12} FAILED: {failed}")
            continue
        rows.append(row)
        out(row.line())
    if lead is not None and (not only or only in "follow-up"):
        row = _case("log a follow-up (POST, rolled back)", "consultant", 100, clients["consultant"],
                    _follow_up_write(clients["consultant"], lead), iterations)
        rows.append(row)
        out(row.line())
    if not only or only in "export":
        fetch = _get(clients["manager"], "/leads/export.csv")
        started = time.perf_counter()
        fetch()
        seconds = time.perf_counter() - started
        count = Lead.objects.filter(store=store).count()
        out(f"{'store CSV export':<58} {'manager':<12} {seconds:>7.2f}s for {count:,} leads (goal < 5 s)")
    return rows
