"""A real Celery worker on the Redis at REDIS_URL (RELIABILITY.md: eager mode hides serialization, redelivery and
time-limit bugs). `make test` sets REDIS_URL; without it these tests are skipped."""

import os
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings


@pytest.fixture(scope="module")
def celery_worker(django_db_blocker):
    """A worker thread (solo pool) consuming a queue of its own, so parallel test runs sharing one Redis never take
    each other's tasks. Tasks are sent with ``apply_async(queue=celery_worker.queue)``."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (make test sets it)")
    from dealercrm.celery import app

    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url", "result_backend")}
    app.conf.update(task_always_eager=False, broker_url=settings.REDIS_URL, result_backend=settings.REDIS_URL)
    queue = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    app.loader.import_default_modules()
    with (
        django_db_blocker.unblock(),
        start_worker(app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30) as worker,
    ):
        worker.queue = queue
        yield worker
    app.conf.update(saved)
