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
    with django_db_blocker.unblock():
        # Celery's Django fix-up runs the system checks here; a generated column's check asks the server's version.
        app.loader.import_default_modules()
    with (
        django_db_blocker.unblock(),
        start_worker(app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30) as worker,
    ):
        worker.queue = queue
        yield worker
    app.conf.update(saved)


class PreforkWorkers:
    """Real ``celery worker --pool=prefork --concurrency=1`` processes (tests/integration/slow_worker.py) on a queue of
    their own, against the test database (committed data: ``django_db(transaction=True)``). The reports' tasks sent
    from the test go to that queue. ``start()`` returns the worker's process; ``kill_child`` SIGKILLs its pool child
    (the worker's parent sees it lost and puts the message back), ``kill`` SIGKILLs the whole worker (nothing acks
    or puts back its message: it waits for the broker's visibility timeout)."""

    def __init__(self, queue: str, env: dict, logs):
        self.queue, self.env, self.logs, self.procs = queue, env, logs, []

    def start(self, *, visibility_timeout: int = 3600):
        import subprocess
        import sys
        import time

        log = self.logs / f"worker-{len(self.procs)}.log"
        env = {**self.env, "WORKER_VISIBILITY_TIMEOUT": str(visibility_timeout)}
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "tests.integration.slow_worker", self.queue], env=env,
                                    cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        proc.log = log
        self.procs.append(proc)
        deadline = time.monotonic() + 40
        while b" ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        return proc

    @staticmethod
    def child(proc) -> int:
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            children = [int(pid) for pid in f.read().split()]
        assert len(children) == 1, children
        return children[0]

    def kill_child(self, proc) -> None:
        import signal

        os.kill(self.child(proc), signal.SIGKILL)

    @staticmethod
    def kill(proc) -> None:
        import signal

        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture
def prefork_workers(tmp_path):
    """Start real prefork workers for the reports' tasks (imports, exports): see PreforkWorkers."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (make test sets it)")
    from urllib.parse import quote

    from django.db import connection

    from dealercrm.celery import app

    queue = f"test-prefork-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    url = (f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or '127.0.0.1'}:"
           f"{db['PORT'] or 5432}/{db['NAME']}")
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, "DEBUG": "1",
           "SECRET_KEY": "test-only", "JOBS_WORKERS": "1", "SLOW_BATCH_ROWS": "10", "SLOW_SECONDS": "0.2",
           "WORKER_UNACKED_KEY": f"unacked-{queue}", "PYTHONUNBUFFERED": "1"}
    keys = ("task_always_eager", "broker_url", "result_backend", "task_routes")
    saved = {key: app.conf[key] for key in keys}

    def reroute():
        # The router and the producer pool are made on first use: drop them so the next send reads the new conf.
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.update(task_always_eager=False, broker_url=settings.REDIS_URL, result_backend=settings.REDIS_URL,
                    task_routes={"reports.tasks.*": {"queue": queue}})
    reroute()
    workers = PreforkWorkers(queue, env, tmp_path)
    yield workers
    for proc in workers.procs:
        PreforkWorkers.kill(proc)
    app.conf.update(saved)
    reroute()
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(queue, f"unacked-{queue}", f"unacked-{queue}_index", f"unacked-{queue}_mutex")
