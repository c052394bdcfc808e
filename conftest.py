"""Fixtures shared by every app's tests. Tests run on PostgreSQL (make test); see README "Tests"."""

import os

import pytest
from pytest_django.fixtures import _set_suffix_to_test_databases
from rest_framework.test import APIClient

from dealercrm.tests.factories import build_org


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # One test database per pytest process (test_dealercrm_<pid>), so two runs on one machine never share
    # (and drop) each other's database.
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
