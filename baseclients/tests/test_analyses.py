"""Region/industry concentration and its per-segment breakdown against a hand count: tiers at a year's end come
from the tier history (the latest change before then, else the first change's "from", else today's tier)."""

from datetime import datetime

import pytest
from django.utils import timezone

from baseclients import selectors
from baseclients.models import BaseClient, TierChange, Vehicle
from dealercrm.models import Segment
from dealercrm.tests.factories import VehicleSeriesFactory

from .factories import buy

pytestmark = pytest.mark.django_db


def _at(year, month, day):
    return timezone.make_aware(datetime(year, month, day, 12))


def _client(org, *, store=None, consultant=None, actor=None, industry, tier, created, segments=(), changes=()):
    deal = buy(store=store or org.store, consultant=consultant, actor=actor or consultant or org.consultant,
               industry=industry) if store else buy(store=org.store, consultant=org.consultant, industry=industry)
    client = BaseClient.objects.get(purchase_rows__deal=deal)
    TierChange.objects.filter(client=client).delete()
    BaseClient.objects.filter(pk=client.pk).update(tier=tier, created_at=created)
    vehicles = list(client.vehicles.all())
    for i, segment in enumerate(segments):
        series = VehicleSeriesFactory(segment=segment) if segment else None
        if i < len(vehicles):
            Vehicle.objects.filter(pk=vehicles[i].pk).update(series=series)
        else:
            Vehicle.objects.create(client=client, series=series)
    for at, from_tier, to_tier in changes:
        TierChange.objects.create(client=client, from_tier=from_tier, to_tier=to_tier, basis="scores", at=at)
    return client


@pytest.fixture
def clients(org):
    y = timezone.localdate().year
    a = _client(org, industry="物流", tier="premium", created=_at(y - 2, 1, 5), segments=["pickup"],
                changes=[(_at(y - 1, 6, 1), "general", "potential"), (_at(y, 1, 2), "potential", "premium")])
    b = _client(org, industry="物流", tier="general", created=_at(y - 1, 3, 1), segments=["pickup", "suv"])
    c = _client(org, industry="建筑", tier="potential", created=_at(y, 1, 3), segments=["suv"])
    d = _client(org, industry="物流", tier="potential", created=_at(y - 2, 2, 1), segments=[""],
                changes=[(_at(y, 1, 4), "general", "potential")])
    e = _client(org, store=org.store2, consultant=org.consultant_b, industry="物流", tier="general",
                created=_at(y, 1, 5), segments=["pickup"])
    f = _client(org, store=org.other_store, actor=org.other_manager, industry="物流", tier="premium", created=_at(y, 1, 5),
                segments=["pickup"])
    return a, b, c, d, e, f


def _counts(row, year):
    side = row["this_year" if year == "this" else "last_year"]
    return side["premium"], side["potential"], side["general"], side["total"]


def test_industry_concentration_by_hand(org, clients, django_assert_max_num_queries):
    # One statement (inside a savepoint with its work_mem: savepoint, SET LOCAL, the statement, release).
    with django_assert_max_num_queries(4):
        rows = {r["key"]: r for r in selectors.concentration(user=org.admin, by="industry")}
    assert set(rows) == {"物流", "建筑"}  # the other group's client is not counted
    # 物流: a premium, d potential, b and e general; at last year's end a potential, b and d general (e: not yet).
    assert _counts(rows["物流"], "this") == (1, 1, 2, 4) and _counts(rows["物流"], "last") == (0, 1, 2, 3)
    assert _counts(rows["建筑"], "this") == (0, 1, 0, 1) and _counts(rows["建筑"], "last") == (0, 0, 0, 0)
    assert rows["物流"]["this_year_share"]["general"] == 50.0 and rows["物流"]["rank"] == "important"
    # A past year: its tiers at its end, and the year before's at that end (no change before: the first "from").
    y = timezone.localdate().year
    past = {r["key"]: r for r in selectors.concentration(user=org.admin, by="industry", year=y - 1)}
    assert set(past) == {"物流"}
    assert _counts(past["物流"], "this") == (0, 1, 2, 3) and _counts(past["物流"], "last") == (0, 0, 2, 2)
    # The manager of the first store sees its clients only.
    mine = {r["key"]: r for r in selectors.concentration(user=org.manager, by="industry")}
    assert _counts(mine["物流"], "this") == (1, 1, 1, 3)


def test_industry_per_segment_by_hand(org, clients, api_as):
    with pytest.raises(AssertionError):
        selectors.concentration(user=org.admin, by="industry_segment")
    segments = {s["segment"]: s for s in selectors.industry_by_segment(user=org.admin)}
    assert set(segments) == {"pickup", "suv", ""}
    pickup = {r["key"]: r for r in segments["pickup"]["rows"]}
    assert set(pickup) == {"物流"}
    # a premium, b and e general; last year a potential, b general.
    assert _counts(pickup["物流"], "this") == (1, 0, 2, 3) and _counts(pickup["物流"], "last") == (0, 1, 1, 2)
    suv = {r["key"]: r for r in segments["suv"]["rows"]}
    # b owns a pickup and an SUV: counted in both segments.
    assert _counts(suv["物流"], "this") == (0, 0, 1, 1) and _counts(suv["建筑"], "this") == (0, 1, 0, 1)
    assert [r["key"] for r in segments["suv"]["rows"]] == ["建筑", "物流"]  # equal totals: by name
    unknown = {r["key"]: r for r in segments[""]["rows"]}
    assert _counts(unknown["物流"], "this") == (0, 1, 0, 1) and _counts(unknown["物流"], "last") == (0, 0, 1, 1)
    assert segments["pickup"]["clients"] == 3 and segments["pickup"]["segment_label"] == str(Segment.PICKUP.label)
    # The API and the page; another store's filter is a 404 for a manager.
    r = api_as(org.manager).get("/api/v1/base-clients/analytics/industry-segment/")
    assert r.status_code == 200
    seg = {s["segment"]: s for s in r.data["segments"]}
    assert seg["pickup"]["rows"][0]["this_year"]["total"] == 2  # a and b: e is the other store's
    assert api_as(org.manager).get("/api/v1/base-clients/analytics/industry-segment/",
                                   {"store": org.store2.pk}).status_code == 404
    r = api_as(org.other_admin).get("/api/v1/base-clients/analytics/industry-segment/")
    assert [s["segment"] for s in r.data["segments"]] == ["pickup"] and r.data["segments"][0]["clients"] == 1


def test_the_analyses_page_shows_the_segment_table(org, clients):
    from dealercrm.tests.clients import client_for

    r = client_for(org.admin).get("/base-clients/analyses/")
    body = r.content.decode()
    assert r.status_code == 200 and 'data-segment="pickup"' in body and "data-segment=\"suv\"" in body


@pytest.mark.parametrize("by", ["region", "industry", "industry_segment"])
@pytest.mark.parametrize("year", [2025, 2026])
def test_the_portable_counts_equal_the_postgresql_statement(org, clients, by, year):
    """The embedded SQLite default counts concentrations in Python (``_concentration_counts_portable``): on the
    same data it gives exactly the PostgreSQL statement's rows."""
    from baseclients.selectors import _concentration_counts, _concentration_counts_portable, _scoped

    for user in (org.admin, org.manager):
        qs = _scoped(user, None, None)
        sql = sorted(_concentration_counts(qs, by, year), key=repr)
        assert sql and sorted(_concentration_counts_portable(qs, by, year), key=repr) == sql
