"""Aggregate figures that many people read and that are expensive to count: kept in Django's cache (Redis when
REDIS_URL is set) for FIGURES_MAX_AGE seconds and kept warm by a periodic job, so a manager's dashboard is served
from memory instead of counting a store's (or a group's) leads on every open.

What is cached is raw figures (selector results), never HTML or translated text, under a key that names the scope
exactly (a store, or a dealer group, plus the filters): two users see the same cached figures only when they would
have counted the same rows. Pages that show cached figures say so ("as of 10:42") and offer a refresh; a user's own
lists (due, overdue, recent leads, the queues) are never cached, so what was just logged appears at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

# Bump when the shape of a cached value changes: old entries are then never read.
VERSION = 2


@dataclass(frozen=True)
class Figures:
    value: Any
    computed_at: datetime
    cached: bool  # True: read from the cache; False: counted for this request
    shared: bool = True  # False: counted live for this reader alone (nothing cached, the page says nothing)


def max_age() -> int:
    return settings.FIGURES_MAX_AGE


def key(name: str, *parts) -> str:
    # The database's name too: two installations (or the bench and a dev copy) may share one Redis, and their
    # store ids coincide.
    raw = repr((VERSION, connection.settings_dict["NAME"], name, *parts))
    return f"figures:{name}:{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


def get(name: str, parts: tuple, compute: Callable[[], Any], *, refresh: bool = False,
        enabled: bool = True) -> Figures:
    """The figures under (name, parts): from the cache when present and younger than FIGURES_MAX_AGE, else
    computed now and stored. ``refresh`` recomputes (the page's refresh link); ``enabled=False`` always counts
    live and stores nothing (a consultant's own page, a superuser's cross-group view)."""
    if not enabled or max_age() <= 0:
        return Figures(compute(), timezone.now(), cached=False, shared=False)
    cache_key = key(name, *parts)
    if not refresh:
        hit = cache.get(cache_key)
        if hit is not None:
            computed_at, value = hit
            return Figures(value, computed_at, cached=True)
    return put(cache_key, compute())


def put(cache_key: str, value) -> Figures:
    now = timezone.now()
    cache.set(cache_key, (now, value), timeout=max_age())
    return Figures(value, now, cached=False)
