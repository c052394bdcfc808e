"""The cache is an accelerator, not a dependency: with Redis unreachable, the app keeps answering.

``ResilientRedisCache`` is Django's Redis back-end with one difference: when Redis cannot be reached (connection
refused, reset or timed out), the operation goes to a small local-memory cache of this process instead of failing.
So the API's throttles count in local memory (per process, a looser limit than the shared one, never a 500). After a
failure Redis is left alone for ``RETRY_SECONDS``, so a dead or unroutable Redis costs one short timeout (settings:
``socket_connect_timeout``) per process every few seconds, not one per cache call; and the log says "Redis
unreachable" once per ``LOG_EVERY_SECONDS``, not once per request.

Sessions live in the database and django-axes records in the database too, so logins do not depend on Redis."""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
LOG_EVERY_SECONDS = 60.0
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)


class _State:
    """Process-wide (Django makes one cache object per thread): when to try Redis again, when we last said so."""

    lock = threading.Lock()
    down_until = 0.0
    logged_at: float | None = None

    @classmethod
    def reset(cls) -> None:
        with cls.lock:
            cls.down_until, cls.logged_at = 0.0, None
        _fallback().clear()


def _fallback() -> LocMemCache:
    # One store per process: LocMemCache instances with one name share their entries.
    return LocMemCache("dealercrm-redis-fallback", {"OPTIONS": {"MAX_ENTRIES": 5000}})


def _went_down(location: str, exc: Exception) -> None:
    now = time.monotonic()
    with _State.lock:
        _State.down_until = now + RETRY_SECONDS
        should_log = _State.logged_at is None or now - _State.logged_at >= LOG_EVERY_SECONDS
        if should_log:
            _State.logged_at = now
    if should_log:
        logger.warning("Redis unreachable: %s (%s); the cache falls back to local memory: throttles count per "
                       "process and figures are counted live. Retrying every %g s.",
                       exc, _safe(location), RETRY_SECONDS)


def _safe(location: str) -> str:
    """The Redis URL without its password, for the log."""
    scheme, sep, rest = location.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def _guarded(name: str):
    def method(self, *args, **kwargs):
        if _State.down_until > time.monotonic():
            return getattr(_fallback(), name)(*args, **kwargs)
        try:
            return getattr(RedisCache, name)(self, *args, **kwargs)
        except UNREACHABLE as exc:
            _went_down(self._location, exc)
            return getattr(_fallback(), name)(*args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"RedisCache.{name}, or the local fallback while Redis is unreachable."
    return method


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._location = server if isinstance(server, str) else ",".join(server)

    add = _guarded("add")
    get = _guarded("get")
    set = _guarded("set")
    touch = _guarded("touch")
    delete = _guarded("delete")
    get_many = _guarded("get_many")
    has_key = _guarded("has_key")
    incr = _guarded("incr")
    set_many = _guarded("set_many")
    delete_many = _guarded("delete_many")
    clear = _guarded("clear")
