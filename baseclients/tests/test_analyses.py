"""Region/industry concentration and its per-segment breakdown against a hand count: the clients *produced* in a
year (first purchase in it), this year and last side by side; tiers at a year's end come from the tier history (the
latest change before then, else the first change's "from", else today's tier)."""

from datetime import datetime

import pytest
from django.utils import timezone

from baseclients import selectors
from baseclients.models import BaseClient, Purchase, TierChange, Vehicle
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
    Purchase.objects.filter(client=client).update(at=timezone.localtime(created).date())
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
    a = _client(org, industry="物流", tier="premium", created=_at(y - 1, 1, 5), segments=["pickup"],
                changes=[(_at(y - 1, 6, 1), "general", "potential"), (_at(y, 1, 2), "potential", "premium")])
    b = _client(org, industry="物流", tier="general", created=_at(y - 1, 3, 1), segments=["pickup", "suv"])
    c = _client(org, industry="建筑", tier="potential", created=_at(y, 1, 3), segments=["suv"])
    d = _client(org, industry="物流", tier="potential", created=_at(y - 1, 2, 1), segments=[""],
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
    # One statement (inside a savepoint with its work_mem: savepoint, SET LOCAL, the statement, release), and the
    # group's rank cut-offs (its tier rule: two look-ups).
    with django_assert_max_num_queries(6):
        rows = {r["key"]: r for r in selectors.concentration(user=org.admin, by="industry")}
    assert set(rows) == {"物流", "建筑"}  # the other group's client is not counted
    # Produced this year: e (物流, general), c (建筑, potential). Last year: a, b, d, under their tiers at its end:
    # a potential (changed to premium only this year), b general, d general (its first change starts from general).
    assert _counts(rows["物流"], "this") == (0, 0, 1, 1) and _counts(rows["物流"], "last") == (0, 1, 2, 3)
    assert _counts(rows["建筑"], "this") == (0, 1, 0, 1) and _counts(rows["建筑"], "last") == (0, 0, 0, 0)
    assert rows["物流"]["this_year_share"]["general"] == 100.0 and rows["物流"]["rank"] == "important"
    # A past year: the clients produced in it under their tiers at its end; the year before produced none.
    y = timezone.localdate().year
    past = {r["key"]: r for r in selectors.concentration(user=org.admin, by="industry", year=y - 1)}
    assert set(past) == {"物流"}
    assert _counts(past["物流"], "this") == (0, 1, 2, 3) and _counts(past["物流"], "last") == (0, 0, 0, 0)
    # The manager of the first store sees its clients only (e is the second store's).
    mine = {r["key"]: r for r in selectors.concentration(user=org.manager, by="industry")}
    assert _counts(mine["物流"], "this") == (0, 0, 0, 0) and _counts(mine["物流"], "last") == (0, 1, 2, 3)


def test_industry_per_segment_by_hand(org, clients, api_as):
    with pytest.raises(AssertionError):
        selectors.concentration(user=org.admin, by="industry_segment")
    segments = {s["segment"]: s for s in selectors.industry_by_segment(user=org.admin)}
    assert set(segments) == {"pickup", "suv", ""}
    pickup = {r["key"]: r for r in segments["pickup"]["rows"]}
    assert set(pickup) == {"物流"}
    # This year e (general); last year a (potential at its end) and b (general).
    assert _counts(pickup["物流"], "this") == (0, 0, 1, 1) and _counts(pickup["物流"], "last") == (0, 1, 1, 2)
    suv = {r["key"]: r for r in segments["suv"]["rows"]}
    # b owns a pickup and an SUV: counted in both segments.
    assert _counts(suv["物流"], "last") == (0, 0, 1, 1) and _counts(suv["建筑"], "this") == (0, 1, 0, 1)
    assert [r["key"] for r in segments["suv"]["rows"]] == ["建筑", "物流"]  # by this year's count
    unknown = {r["key"]: r for r in segments[""]["rows"]}
    assert _counts(unknown["物流"], "this") == (0, 0, 0, 0) and _counts(unknown["物流"], "last") == (0, 0, 1, 1)
    assert segments["pickup"]["clients"] == 1 and segments["pickup"]["segment_label"] == str(Segment.PICKUP.label)
    # The API and the page; another store's filter is a 404 for a manager.
    r = api_as(org.manager).get("/api/v1/base-clients/analytics/industry-segment/")
    assert r.status_code == 200
    seg = {s["segment"]: s for s in r.data["segments"]}
    assert seg["pickup"]["rows"][0]["last_year"]["total"] == 2  # a and b: e is the other store's
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


def test_the_rank_rule_reproduces_the_methods_example():
    """Six regions of 120/100/60/55/15/12 clients at the default 60 % / 90 %: the first two make up 60 % (the second
    crosses it), the next two reach 90 % (the fourth crosses it), the last two are weak."""
    from baseclients.selectors import rank_regions

    assert rank_regions([120, 100, 60, 55, 15, 12]) == ["important"] * 2 + ["ordinary"] * 2 + ["weak"] * 2
    # The group's cut-offs: 50 % / 95 %.
    assert rank_regions([120, 100, 60, 55, 15, 12], important_pct=50, ordinary_pct=95) == [
        "important", "important", "ordinary", "ordinary", "ordinary", "weak"]
    assert rank_regions([]) == [] and rank_regions([0, 0]) == ["weak", "weak"]


def test_concentration_counts_clients_by_their_first_purchase_and_the_groups_cut_offs(org):
    """A client imported this year whose purchase was two years ago is not this year's; ranks follow the rule."""
    from baseclients.services import tier_rule_for

    y = timezone.localdate().year
    sizes = {"A区": 120, "B区": 100, "C区": 60, "D区": 55, "E区": 15, "F区": 12}
    for region, n in sizes.items():
        # One real card per region, then its count as rows: the ranks need the numbers, not n deals each.
        client = _client(org, industry="", tier="general", created=_at(y, 3, 1))
        BaseClient.objects.filter(pk=client.pk).update(region=region)
        clones = []
        for i in range(n - 1):
            clones.append(BaseClient(group=org.group, store=org.store, assigned_to=org.consultant, name=f"{region}{i}",
                                     region=region, created_at=_at(y, 3, 1)))
        BaseClient.objects.bulk_create(clones)
    old = _client(org, industry="", tier="general", created=_at(y - 2, 5, 1))
    BaseClient.objects.filter(pk=old.pk).update(region="A区", created_at=timezone.now())  # imported today
    rows = selectors.concentration(user=org.manager, by="region")
    assert [(r["key"], r["this_year"]["total"], r["rank"]) for r in rows] == [
        ("A区", 120, "important"), ("B区", 100, "important"), ("C区", 60, "ordinary"), ("D区", 55, "ordinary"),
        ("E区", 15, "weak"), ("F区", 12, "weak")]
    rule = tier_rule_for(org.group.pk)
    rule.important_pct, rule.ordinary_pct = 30, 60
    rule.save()
    assert [r["rank"] for r in selectors.concentration(user=org.manager, by="region")] == [
        "important", "ordinary", "weak", "weak", "weak", "weak"]  # B crosses 60 %: C lies beyond it


def test_a_card_without_a_purchase_counts_from_its_local_day(org):
    """31 December 23:30 local (15:30 UTC) is last year's; 1 January 00:30 local (16:30 UTC on 31 December) this
    year's."""
    y = timezone.localdate().year
    late = timezone.make_aware(datetime(y - 1, 12, 31, 23, 30))
    early = timezone.make_aware(datetime(y, 1, 1, 0, 30))
    BaseClient.objects.bulk_create([
        BaseClient(group=org.group, store=org.store, assigned_to=org.consultant, name="甲", region="崇明区",
                   created_at=late),
        BaseClient(group=org.group, store=org.store, assigned_to=org.consultant, name="乙", region="崇明区",
                   created_at=early),
        BaseClient(group=org.group, store=org.store, assigned_to=org.consultant, name="丙", region="崇明区",
                   created_at=early),
    ])
    [row] = selectors.concentration(user=org.manager, by="region")
    assert (row["this_year"]["total"], row["last_year"]["total"]) == (2, 1)
