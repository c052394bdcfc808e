"""Run by tests/integration/test_import_worker.py as a process of its own: a real Celery worker (prefork pool, one
child) on the queue given as the first argument, against the database in DATABASE_URL (the test's database).

Only the pace changes, so that a test can kill the worker in the middle of a run: imports commit in batches of
SLOW_BATCH_ROWS rows with SLOW_SECONDS between batches, the lead export pauses SLOW_SECONDS every 20 rows (and beats
every 20). The prefork child is forked from this process, so it inherits the pace. WORKER_UNACKED_KEY gives the
worker's unacknowledged messages keys of their own in Redis, and WORKER_VISIBILITY_TIMEOUT the delay after which it
redelivers them: a fresh worker redelivers a killed one's message without touching anyone else's."""

import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dealercrm.settings")

import django

django.setup()

from dealercrm.celery import app
from reports.services import exports, imports

PAUSE = float(os.environ.get("SLOW_SECONDS", "0.1"))
imports.BATCH_ROWS = int(os.environ.get("SLOW_BATCH_ROWS", "10"))
_commit_batch = imports._commit_batch


def _slow_commit_batch(*args, **kwargs):
    _commit_batch(*args, **kwargs)
    time.sleep(PAUSE)


imports._commit_batch = _slow_commit_batch

exports.PROGRESS_EVERY = 20
_lead_rows = exports.EXPORTS["leads"].rows


def _slow_lead_rows(user, qs):
    for n, row in enumerate(_lead_rows(user, qs), start=1):
        if n % 20 == 0:
            time.sleep(PAUSE)
        yield row


exports.EXPORTS["leads"] = dataclasses.replace(exports.EXPORTS["leads"], rows=_slow_lead_rows)

key = os.environ["WORKER_UNACKED_KEY"]
app.conf.broker_transport_options = {
    "visibility_timeout": int(os.environ.get("WORKER_VISIBILITY_TIMEOUT", "3600")),
    "unacked_key": key, "unacked_index_key": f"{key}_index", "unacked_mutex_key": f"{key}_mutex",
    "unacked_restore_interval": 1, "unacked_restore_throttle": 1,
}

if __name__ == "__main__":
    app.worker_main(["worker", "--pool=prefork", "--concurrency=1", "-Q", sys.argv[1], "-n", f"{sys.argv[1]}@%h",
                     "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"])
