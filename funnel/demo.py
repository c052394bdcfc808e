"""The demo stores' market estimates M (seed_demo calls it after the lead history): each store's manager entered one
for every month of the history and the current one, so penetration (N/M) is a figure on every dashboard period.

M is the month's first visits the store would expect at its usual traffic divided by a penetration of about a
quarter to a third (a store that knows its market), with the season's swing and a little noise; rounded to tens as
a manager would enter it."""

from __future__ import annotations

import random
from datetime import date, datetime

from django.utils import timezone

from dealercrm.models import Role, Store, User
from leads.demo.params import BASE_PER_DAY, MONTHS, SEASON, STORE_TRAFFIC, WEEKDAY

from .models import MarketEstimate
from .services import market_estimate_set

SEED = 20261206
PENETRATION = (0.26, 0.34)
NOTES = ["", "", "", "按区域上险数据估算", "参考去年同期上险量", "区域新盘交付，潜在客户增加"]


def demo_market_estimates_seed(*, stores: list[Store], now: datetime | None = None) -> int:
    """Set M for each of ``stores`` and each of the last ``MONTHS`` months and the current one, where none is set.
    Returns the number of estimates written."""
    rng = random.Random(SEED)
    today = timezone.localdate(now or timezone.now())
    written = 0
    for position, store in enumerate(stores):
        manager = User.objects.filter(store=store, role=Role.MANAGER, is_active=True).order_by("pk").first()
        if manager is None:
            continue
        have = set(MarketEstimate.objects.filter(store=store).values_list("month", flat=True))
        for back in range(MONTHS, -1, -1):
            index = today.year * 12 + today.month - 1 - back
            month = date(index // 12, index % 12 + 1, 1)
            if month in have:
                continue
            visits = BASE_PER_DAY * sum(WEEKDAY) / 7 * 30.4 * SEASON[month.month] * STORE_TRAFFIC[position % 2]
            estimate = round(visits / rng.uniform(*PENETRATION) / 10) * 10
            market_estimate_set(actor=manager, store=store, month=month, estimate=estimate, note=rng.choice(NOTES))
            written += 1
    return written
