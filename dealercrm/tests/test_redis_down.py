"""Redis is an accelerator: with it unreachable the API and the pages answer, the dashboard's figures are the same
and the log says so once; with it up, the cache is Redis (dealercrm/cache.py).

These run against real Redis clients: a closed port for "down" (redis://127.0.0.1:1/0, refused at once) and REDIS_URL
from the environment for "up" (make test sets it)."""

import logging
import os

import pytest
from rest_framework.test import APIClient

from dealercrm.cache import _State
from dealercrm.settings import redis_cache
from dealercrm.tests.clients import client_for
from dealercrm.tests.factories import TEST_PASSWORD
from leads.tests.factories import FollowUpFactory, LeadFactory

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings):
    """The production cache settings, pointed at a Redis nobody listens on."""
    settings.CACHES = redis_cache(DEAD_REDIS)
    _State.reset()
    yield
    _State.reset()


@pytest.fixture
def redis_up(settings):
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set (make test sets it)")
    settings.CACHES = redis_cache(url)
    # A prefix of this process's own, so the test never reads (or clears) another run's keys.
    settings.CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}"
    _State.reset()
    from django.core.cache import caches

    cache = caches["default"]
    yield cache
    cache.delete_many(["probe"])


@pytest.fixture
def leads(org):
    for grade in ("A", "B", "C"):
        FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant, grade=grade))
    return org


def _healthy_figures(org):
    """/funnel/'s figures for the manager with the test suite's local cache (a healthy cache)."""
    response = client_for(org.manager).get("/funnel/")
    assert response.status_code == 200
    return response.context["figures"]["metrics"]


def test_with_redis_down_the_api_answers_list_detail_and_token(leads, redis_down):
    org = leads
    api = APIClient()
    api.force_authenticate(org.manager)
    listed = api.get("/api/v1/leads/")
    assert listed.status_code == 200, listed.content
    assert listed.json()["count"] == 3
    lead_id = listed.json()["results"][0]["id"]
    assert api.get(f"/api/v1/leads/{lead_id}/").status_code == 200
    assert api.get("/api/v1/funnel/metrics/").status_code == 200
    token = APIClient().post("/api/v1/auth/token/", {"username": org.manager.username, "password": TEST_PASSWORD},
                             format="json")
    assert token.status_code == 200, token.content


def test_with_redis_down_the_funnel_page_and_dashboard_count_figures_live_equal_to_a_healthy_run(leads, settings):
    org = leads
    healthy = _healthy_figures(org)
    settings.CACHES = redis_cache(DEAD_REDIS)
    _State.reset()
    try:
        manager = client_for(org.manager)
        response = manager.get("/funnel/")
        assert response.status_code == 200
        assert response.context["figures"]["metrics"] == healthy
        assert healthy["N"] == 3
        assert manager.get("/").status_code == 200
        assert client_for(org.consultant).get("/").status_code == 200
        assert client_for(org.consultant).get("/funnel/").status_code == 200
    finally:
        _State.reset()


def test_with_redis_down_one_warning_is_logged_not_one_per_request(leads, redis_down, caplog):
    api = APIClient()
    api.force_authenticate(leads.manager)
    with caplog.at_level(logging.WARNING, logger="dealercrm.cache"):
        for _ in range(3):
            assert api.get("/api/v1/leads/").status_code == 200
        assert client_for(leads.manager).get("/funnel/").status_code == 200
        # Past the retry pause, Redis is tried again (and still refuses): the log stays quiet for a minute.
        _State.down_until = 0.0
        assert api.get("/api/v1/leads/").status_code == 200
    warnings = [r for r in caplog.records if r.name == "dealercrm.cache"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].getMessage().startswith("Redis unreachable: ")
    assert "127.0.0.1:1" in warnings[0].getMessage()


def test_with_redis_down_the_throttle_counts_in_local_memory(leads, redis_down, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"anon": "60/minute", "user": "3/minute"}}
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    # DRF reads its rates once, at class creation: give them the test's rates.
    saved = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    try:
        api = APIClient()
        api.force_authenticate(leads.manager)
        codes = [api.get("/api/v1/leads/").status_code for _ in range(4)]
    finally:
        SimpleRateThrottle.THROTTLE_RATES = saved
    assert codes == [200, 200, 200, 429]


def test_with_redis_down_a_dead_redis_costs_milliseconds(redis_down):
    import time

    from django.core.cache import caches

    cache = caches["default"]
    started = time.monotonic()
    for i in range(50):
        assert cache.get(f"probe-{i}") is None
        cache.set(f"probe-{i}", i)
    # A hundred calls well inside one connect timeout: Redis is not asked again on every call.
    assert time.monotonic() - started < 0.3
    assert cache.get("probe-7") == 7  # kept in local memory meanwhile
    assert redis_cache(DEAD_REDIS)["default"]["OPTIONS"]["socket_connect_timeout"] <= 0.5


def test_with_redis_up_the_cache_is_redis(leads, redis_up):
    cache = redis_up
    cache.set("probe", {"N": 3})
    assert cache.get("probe") == {"N": 3}
    # It is Redis that holds it, not the local fallback.
    assert type(cache).__name__ == "ResilientRedisCache"
    assert cache._cache.get_client().exists(cache.make_and_validate_key("probe"))
    assert _State.down_until == 0.0


def test_with_redis_up_the_funnel_page_counts_the_same_figures_each_time(leads, redis_up):
    manager = client_for(leads.manager)
    first = manager.get("/funnel/")
    second = manager.get("/funnel/")
    assert first.status_code == second.status_code == 200
    assert second.context["figures"]["metrics"] == first.context["figures"]["metrics"]
