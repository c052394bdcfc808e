"""Run by tests/integration/test_replica.py in a process of its own, with DATABASE_URL pointing at a primary and
DATABASE_REPLICA_URL at its streaming replica (both started by the test). Prints one JSON object of observations.

It writes a lead on the primary, waits for the replica to replay it, pauses the replica's replay, writes a second
lead, and then reads through the real request stack: the lead export (a replica route) must see the replica's state,
the lead list API (a primary route) the primary's; after the user's own write, the export must read the primary."""

import csv
import io
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dealercrm.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from dealercrm.tests.factories import ManagerFactory, StoreFactory  # noqa: E402
from leads.services.visits import visit_log  # noqa: E402


def scalar(alias: str, sql: str):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def wait_for_replay(timeout: float = 30) -> float:
    """Seconds until the replica has replayed everything the primary wrote so far."""
    target = scalar("default", "SELECT pg_current_wal_lsn()::text")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if scalar("replica", f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
            return time.monotonic() - started
        time.sleep(0.02)
    raise SystemExit("the replica did not catch up")


def export_rows(client: Client) -> tuple[int, int]:
    """(data rows in the lead export, queries the replica served for it)."""
    with CaptureQueriesContext(connections["replica"]) as on_replica:
        response = client.get("/leads/export.csv")
        body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert response.status_code == 200, response.status_code
    return len(list(csv.reader(io.StringIO(body)))) - 1, len(on_replica.captured_queries)


def api_count(client: Client) -> int:
    response = client.get("/api/v1/leads/")
    assert response.status_code == 200, response.status_code
    return response.json()["count"]


def main() -> None:
    call_command("migrate", verbosity=0)
    store = StoreFactory(name="Replica store")
    manager = ManagerFactory(username="replica_manager", store=store)
    visit_log(actor=manager, store=store, name="First", source="walk_in", phone="13800138001",
              assigned_to=None)
    out = {"first_replay_seconds": round(wait_for_replay(), 3)}

    scalar("replica", "SELECT pg_wal_replay_pause()::text")
    try:
        visit_log(actor=manager, store=store, name="Second", source="walk_in", phone="13800138002")
        client = Client()
        client.force_login(manager)
        client.cookies.pop("db_pin", None)
        out["export_rows_paused"], out["export_replica_queries_paused"] = export_rows(client)
        out["api_count_paused"] = api_count(client)
        # The user's own write pins their reads to the primary for a while.
        response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
        out["pin_cookie_set"] = "db_pin" in response.cookies
        out["export_rows_pinned"], out["export_replica_queries_pinned"] = export_rows(client)
    finally:
        scalar("replica", "SELECT pg_wal_replay_resume()::text")
    out["second_replay_seconds"] = round(wait_for_replay(), 3)
    client.cookies.pop("db_pin", None)
    out["export_rows_resumed"], out["export_replica_queries_resumed"] = export_rows(client)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
