"""An optional read replica for the heavy reads (dashboards, reports, exports, analyses).

With ``DATABASE_REPLICA_URL`` set, settings add a ``replica`` database and this router. A request reads from the
replica only when all of these hold:

- it is a GET or HEAD whose path starts with one of ``settings.REPLICA_READ_PATHS`` (the aggregate pages and exports:
  figures that may lag by the replica's replay delay, typically well under a second on one network);
- the user wrote nothing in the last ``settings.REPLICA_PIN_SECONDS`` (any POST/PUT/PATCH/DELETE sets a short-lived
  cookie that pins the user's reads to the primary, so a user never misses a row they have just written);
- the read is not inside a transaction on the primary, and the model is not one of the session / token / login
  tables (those are read on every request and must see the primary's state).

Everything else, every write, and every read of every other page goes to the primary (``default``). Without a
replica the router is not installed and nothing changes."""

from __future__ import annotations

from contextvars import ContextVar

from django.conf import settings
from django.db import connections

REPLICA = "replica"
PIN_COOKIE = "db_pin"
SAFE_METHODS = {"GET", "HEAD"}
# Read on every request, right after a login or a token change: always from the primary.
PRIMARY_ONLY_APPS = {"sessions", "authtoken", "axes", "contenttypes", "auth"}

_reads_from_replica: ContextVar[bool] = ContextVar("reads_from_replica", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def request_reads_from_replica(request) -> bool:
    """Whether this request's reads may go to the replica (see the module docstring)."""
    if not replica_configured() or request.method not in SAFE_METHODS or request.COOKIES.get(PIN_COOKIE):
        return False
    return request.path.startswith(tuple(settings.REPLICA_READ_PATHS))


def _reading_from_replica(chunks):
    token = _reads_from_replica.set(True)
    try:
        yield from chunks
    finally:
        _reads_from_replica.reset(token)


class ReplicaRouter:
    """Reads of a replica-eligible request go to ``replica``; every write, and every other read, to ``default``."""

    def db_for_read(self, model, **hints):
        if not _reads_from_replica.get() or model._meta.app_label in PRIMARY_ONLY_APPS:
            return "default"
        if connections["default"].in_atomic_block:
            return "default"
        return REPLICA

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica is a copy of the primary: the same rows on both

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"


class ReplicaMiddleware:
    """Decides per request whether reads may go to the replica, and pins a user who writes to the primary."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        replica = request_reads_from_replica(request)
        token = _reads_from_replica.set(replica)
        try:
            response = self.get_response(request)
        finally:
            _reads_from_replica.reset(token)
        if replica and response.streaming:
            # A streamed export runs its queries while the server sends the body, after this method returned.
            response.streaming_content = _reading_from_replica(response.streaming_content)
        if replica_configured() and request.method not in SAFE_METHODS:
            response.set_cookie(PIN_COOKIE, "1", max_age=settings.REPLICA_PIN_SECONDS, httponly=True,
                                samesite="Lax", secure=request.is_secure())
        return response
