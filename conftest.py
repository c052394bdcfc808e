"""Fixtures shared by every app's tests. Tests run on PostgreSQL (make test); see README "Tests".

`make test` runs the suite in two processes (pytest-xdist, ``--dist loadgroup``): each has its own test database,
Redis database, Celery queues, ports and temporary directory; the hooks below keep what must stay together on one
process."""

import inspect
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from pytest_django.fixtures import _set_suffix_to_test_databases
from rest_framework.test import APIClient

from dealercrm.tests.factories import build_org

ROOT = Path(__file__).resolve().parent

# Tests kept in one process (test file or directory prefixes). The integration tests start Celery workers and
# PostgreSQL servers, kill workers and wait on real time: one at a time, not beside each other. The files after them
# share a module-scoped fixture (a seeded demo, a planted world), set up once in the process that runs them.
# Collection fails when a module-scoped fixture appears in a file not listed here.
TOGETHER = [
    "tests/integration/",
    "dealercrm/tests/test_route_walk.py",
    "dealercrm/tests/test_seed_demo.py",
    "leads/tests/test_demo.py",
    "tests/test_seed_bench.py",
    "defeats/tests/test_bench_seed.py",
    "defeats/tests/test_bench_seed_deferred.py",
    "baseclients/tests/test_bench_seed.py",
]

# The slowest work first, so that neither process is left with a long test at the end while the other idles;
# pytest-django then orders the plain database tests before the transactional ones, keeping this order in each kind.
SLOW_FIRST = [
    "dealercrm/tests/test_route_walk.py",
    "tests/integration/",
    "tests/test_embedded_default.py",
    "dealercrm/tests/test_seed_demo.py",
    "tests/test_schemathesis.py",
    "leads/tests/test_demo.py",
]


def pytest_configure(config):
    _redis_database_per_worker()


def _redis_database_per_worker() -> None:
    """Under pytest-xdist, worker gwN uses Redis database <REDIS_URL's database> + N (make test's default
    redis://127.0.0.1:6379/0: databases 0 and 1), so the two processes never see each other's broker queues, results
    or cache keys. Django's settings are loaded before this file, so they are changed here too; child processes
    (the integration tests' workers) inherit the environment."""
    worker, url = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("REDIS_URL")
    if not (url and worker.startswith("gw")):
        return
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    mine = urlunsplit(parts._replace(path=f"/{database}"))
    os.environ["REDIS_URL"] = mine
    from django.conf import settings

    from dealercrm.celery import app
    from dealercrm.settings import redis_cache

    if settings.REDIS_URL == url:
        settings.REDIS_URL = settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = mine
        settings.CACHES = redis_cache(mine)
    if app.configured:
        app.conf.update(broker_url=mine, result_backend=mine)


def _prefix(nodeid: str, prefixes: list[str]) -> int:
    return next((i for i, prefix in enumerate(prefixes) if nodeid.startswith(prefix)), len(prefixes))


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` (pyproject.toml), with the groups read from TOGETHER: pytest-xdist 3.8 marks a group by a
    suffix on the test's id, which pytest 9 no longer lets it set, so ``xdist_group`` marks would be ignored."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Together(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            at = _prefix(nodeid, TOGETHER)
            return TOGETHER[at] if at < len(TOGETHER) else super()._split_scope(nodeid)

    return Together(config, log)


def _project_fixture(fixturedef) -> bool:
    """Defined in this repository (a conftest or a test module), not by a plugin."""
    try:
        path = Path(inspect.getfile(fixturedef.func)).resolve()
    except TypeError:
        return False
    return path.is_relative_to(ROOT) and "site-packages" not in path.parts


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    # A wrapper, so this runs before the other hooks: pytest-django sorts by kind of database use (plain,
    # transactional, none) after it, stably, so the slow-first order holds inside each kind; pytest-xdist hands the
    # tests out in that order, so each process runs its transactional tests, whose flush empties the tables, after
    # its plain database tests.
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        for fixturedefs in info.name2fixturedefs.values() if info else ():
            fixturedef = fixturedefs[-1]
            if (fixturedef.scope in ("module", "class", "package") and _project_fixture(fixturedef)
                    and _prefix(item.nodeid, TOGETHER) == len(TOGETHER)):
                raise pytest.UsageError(f"{item.nodeid} uses the {fixturedef.scope}-scoped fixture "
                                        f"{fixturedef.argname!r}: add its file to TOGETHER in conftest.py")
    items.sort(key=lambda item: _prefix(item.nodeid, SLOW_FIRST))
    return (yield)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # One test database per pytest process (test_dealercrm_<pid>; under pytest-xdist test_dealercrm_gw0_<pid>, ...),
    # so two runs on one machine never share (and drop) each other's database.
    _set_suffix_to_test_databases(suffix=str(os.getpid()))


@pytest.fixture(scope="session", autouse=True)
def _require_postgresql(django_db_setup, django_db_blocker):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.exit(
            f"The test suite runs on PostgreSQL, not {connection.vendor}: use `make test` "
            "(or set DATABASE_URL=postgres://...).",
            returncode=3,
        )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness would dominate the suite's run time; the hasher is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    # Throttle counters and cached values must not leak between tests (or into a developer's Redis).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def tasks_in_process():
    """Celery tasks run in-process (as in the embedded default), whatever REDIS_URL says. Celery reads its
    configuration once, so this changes the app's own setting, not Django's."""
    from dealercrm.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def org(db):
    """Two stores in one group and a store in another group, with staff in each (``build_org``).

    Attributes: group, store, store2, other_group, other_store, consultant, consultant2 (store),
    consultant_b (store2), manager (store), manager2 (store2), admin (group), other_manager, other_admin."""
    return build_org()


@pytest.fixture
def api():
    """An API client; `api.force_authenticate(user)` or use `api_as(user)`."""
    return APIClient()


@pytest.fixture
def api_as():
    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make
