"""The method's base-client figures against worked cases computed by hand: monthly effect (效果统计), referral
structure (推荐结构) and one brings one (一拓一) count under the tier held *at the time*, on local (Asia/Shanghai) months:
a referral lead at 00:30 and 23:30 local on the first and last day of a month lands in that month.

The history (year Y = last year, so nothing depends on today):

- R (referrer): general since Y-1; potential from Y-03-15 10:00 (scoring); premium from Y-05-10 (a referral deal).
  Referral leads: L1 Y-02-28 23:30 (won), L2 Y-03-01 00:30, L3 Y-03-31 23:30, L4 Y-06-01 00:30 (won).
  A repeat purchase ordered Y-05-01, recorded 00:30 that day: R was potential then.
- B: general since Y-1; a repeat purchase ordered Y-04-30, recorded 23:30, which made B premium a second later.
- C: general throughout, no referral.
- D: general, potential from Y-02-01 (scoring). Referral lead L5 Y-07-05 (won).
- Leads with no base client behind them: A1, a referral lead with no named referrer (Y-03-10); walk-ins W1
  (Y-02-01 00:30), W2 (Y-01-31 23:30), W3 (Y-03-20).

Today every referrer with a referral deal is premium: counted by today's tier, R's four referrals would all be
"premium" and the general column empty."""

from datetime import date, datetime

import pytest
from django.utils import timezone

from baseclients import selectors
from baseclients.models import BaseClient, Purchase, Referral, TierChange
from leads.models import Deal, Lead
from leads.tests.factories import LeadFactory

from .factories import buy

pytestmark = pytest.mark.django_db

Y = timezone.localdate().year - 1


def _local(month, day, hour=12, minute=0, second=0, year=None):
    return timezone.make_aware(datetime(year or Y, month, day, hour, minute, second))


def _history(client, *steps, current):
    """Replace the client's tier history: ``steps`` are (at, from, to, cause); the client's tier is ``current``."""
    TierChange.objects.filter(client=client).delete()
    TierChange.objects.create(client=client, from_tier="", to_tier="general", basis="scores", cause="initial",
                              at=_local(6, 1, year=Y - 1))
    for at, from_tier, to_tier, cause in steps:
        TierChange.objects.create(client=client, from_tier=from_tier, to_tier=to_tier, basis="scores", cause=cause,
                                  at=at, owner=client.assigned_to)
    BaseClient.objects.filter(pk=client.pk).update(tier=current, created_at=_local(6, 1, year=Y - 1))


def _repeat(client, ordered: date, recorded):
    purchase = Purchase.objects.get(client=client, is_repeat=True)
    Purchase.objects.filter(pk=purchase.pk).update(at=ordered)
    Deal.objects.filter(pk=purchase.deal_id).update(ordered_at=ordered, created_at=recorded)


def _lead(org, at, *, source="referral", won=False):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, source=source, first_visit_at=at)
    if won:
        Lead.objects.filter(pk=lead.pk).update(status="won")
    return lead


@pytest.fixture
def history(org):
    def client(phone, repeat=False):
        buy(store=org.store, consultant=org.consultant, phone=phone)
        if repeat:
            buy(store=org.store, consultant=org.consultant, phone=phone)
        c = BaseClient.objects.get(phone=phone)
        Purchase.objects.filter(client=c, is_repeat=False).update(at=date(Y - 1, 6, 1))
        return c

    r = client("+8613900000001", repeat=True)
    b = client("+8613900000002", repeat=True)
    c = client("+8613900000003")
    d = client("+8613900000004")
    _history(r, (_local(3, 15, 10), "general", "potential", "scoring"),
             (_local(5, 10), "potential", "premium", "referral_deal"), current="premium")
    _history(b, (_local(4, 30, 23, 30, 1), "general", "premium", "deal"), current="premium")
    _history(c, current="general")
    _history(d, (_local(2, 1), "general", "potential", "scoring"), current="potential")
    _repeat(r, date(Y, 5, 1), _local(5, 1, 0, 30))
    _repeat(b, date(Y, 4, 30), _local(4, 30, 23, 30))
    refs = [
        (r, _local(2, 28, 23, 30), True, ["old_user"], 1),
        (r, _local(3, 1, 0, 30), False, ["same_region", "old_user"], 2),
        (r, _local(3, 31, 23, 30), False, ["friends_family"], 3),
        (r, _local(6, 1, 0, 30), True, [], 4),
        (d, _local(7, 5), True, ["same_industry"], 1),
    ]
    for referrer, at, won, types, sequence in refs:
        Referral.objects.create(lead=_lead(org, at, won=won), referrer_client=referrer, types=types,
                                sequence=sequence)
    _lead(org, _local(3, 10))  # A1: a referral lead, no named referrer
    _lead(org, _local(2, 1, 0, 30), source="walk_in")  # W1
    _lead(org, _local(1, 31, 23, 30), source="walk_in")  # W2
    _lead(org, _local(3, 20), source="walk_in")  # W3
    return org


def test_monthly_effect_counts_under_the_tier_held_at_the_time(history, django_assert_max_num_queries):
    org = history
    with django_assert_max_num_queries(2):
        rows = {r["month"]: r for r in selectors.monthly_effect(user=org.manager, year=Y)}

    def refs(m):
        return tuple(rows[m][f"referrals_{t}"] for t in ("premium", "potential", "general"))

    def reps(m):
        return tuple(rows[m][f"repeats_{t}"] for t in ("premium", "potential", "general"))

    # L1 (28 Feb 23:30) and L2 (1 Mar 00:30): R was general; L3 (31 Mar 23:30): potential; L4 (1 Jun 00:30):
    # premium; L5: D potential.
    assert refs(2) == (0, 0, 1) and refs(3) == (0, 1, 1) and refs(6) == (1, 0, 0) and refs(7) == (0, 1, 0)
    assert sum(rows[m]["referrals"] for m in rows) == 5
    # B bought on 30 April as a general client (the deal made it premium after); R on 1 May as a potential one.
    assert reps(4) == (0, 0, 1) and reps(5) == (0, 1, 0)
    assert sum(rows[m]["repeats"] for m in rows) == 2
    # The other store's manager sees none of it.
    assert not any(r["referrals"] or r["repeats"] for r in selectors.monthly_effect(user=org.manager2, year=Y))


def test_referral_structure_by_hand_and_the_funnel_agrees(history, django_assert_max_num_queries):
    from funnel.selectors import Slice, funnel_metrics

    org = history
    with django_assert_max_num_queries(2):
        table = selectors.referral_structure(user=org.manager, year=Y, store=org.store)
    rows = {r["month"]: r for r in table["rows"]}
    # January: W2 (31 Jan 23:30 local is still January). February: L1, W1 (1 Feb 00:30).
    assert (rows[1]["n"], rows[1]["referrals"], rows[1]["share_of_n"], rows[1]["close_rate"]) == (1, 0, 0.0, None)
    assert (rows[2]["n"], rows[2]["referrals"], rows[2]["referral_deals"]) == (2, 1, 1)
    assert (rows[2]["share_of_n"], rows[2]["close_rate"]) == (50.0, 100.0)
    # March: L2, L3, A1 (anonymous referral: a referral lead all the same) and W3.
    assert (rows[3]["n"], rows[3]["referrals"], rows[3]["referral_deals"]) == (4, 3, 0)
    assert (rows[3]["share_of_n"], rows[3]["close_rate"]) == (75.0, 0.0)
    assert (rows[3]["first_time"], rows[3]["repeat"], rows[3]["old_user"], rows[3]["same_region"]) == (0, 2, 1, 1)
    assert (rows[6]["referrals"], rows[7]["referrals"], rows[7]["first_time"], rows[7]["same_industry"]) == (1, 1, 1, 1)
    # 合计 and 比例.
    total = table["total"]
    assert (total["n"], total["referrals"], total["referral_deals"], total["first_time"], total["repeat"]) == (
        9, 6, 3, 2, 3)
    assert (total["share_of_n"], total["close_rate"]) == (66.7, 50.0)
    assert table["shares"] == {"referral_deals": 50.0, "first_time": 33.3, "repeat": 50.0, "old_user": 33.3,
                               "same_industry": 16.7, "same_region": 16.7, "friends_family": 16.7}
    # One definition: the funnel's referral N of a month is the table's referral leads of that month.
    for month, last in ((2, 28), (3, 31)):
        figures = funnel_metrics(Slice(user=org.manager, start=date(Y, month, 1), end=date(Y, month, last),
                                       stores=[org.store]))
        assert (figures["N"], figures["N_by_source"]["referral"]) == (rows[month]["n"], rows[month]["referrals"])


def test_one_brings_one_by_hand(history, django_assert_max_num_queries):
    org = history
    with django_assert_max_num_queries(2):
        rows = {r["tier"]: r for r in selectors.one_brings_one(user=org.manager, since=date(Y, 1, 1),
                                                               until=date(Y, 12, 31))}
    pick = ("clients", "referrals", "referral_deals", "close_rate", "per_client", "done")
    # Premium: R and B hold it at the end; one referral (L4) came while R was premium.
    assert tuple(rows["premium"][k] for k in pick) == (2, 1, 1, 100.0, 0.5, False)
    # Potential: D; L3 (R, potential then) and L5 (D).
    assert tuple(rows["potential"][k] for k in pick) == (1, 2, 1, 50.0, 2.0, True)
    # General: C; L1 and L2 (R, general then).
    assert tuple(rows["general"][k] for k in pick) == (1, 2, 1, 50.0, 2.0, True)
    # The roll-out goes premium first: its step is not done, so the phase is still premium.
    assert selectors.phase(list(rows.values())) == "premium"
    # A tier with no client is not done; all done: everyone.
    assert selectors.phase([{"tier": t, "done": True} for t in ("premium", "potential", "general")]) == "all"


def test_one_brings_one_defaults_to_the_groups_period(history):
    from baseclients.services import tier_rule_for

    org = history
    rule = tier_rule_for(org.group.pk)
    rule.one_brings_one_months = 6
    rule.save()
    rows = selectors.one_brings_one(user=org.manager, until=date(Y, 6, 30))
    # 1 Jan – 30 Jun: L1..L4 (L5 is July).
    assert (rows[0]["since"], rows[0]["until"]) == (date(Y, 1, 1), date(Y, 6, 30))
    assert sum(r["referrals"] for r in rows) == 4


def test_the_api_carries_the_figures_and_the_denials(history, api_as):
    org = history
    r = api_as(org.manager).get("/api/v1/base-clients/analytics/referrals/", {"year": Y})
    assert r.status_code == 200
    assert r.data["total"]["referrals"] == 6 and r.data["shares"]["repeat"] == 50.0
    r = api_as(org.manager).get("/api/v1/base-clients/analytics/one-brings-one/", {"until": f"{Y}-12-31"})
    assert r.status_code == 200 and r.data["phase"] in ("premium", "potential", "general", "all")
    # Another store: a 404 for a manager; the other group's admin sees nothing of it.
    assert api_as(org.manager).get("/api/v1/base-clients/analytics/monthly/",
                                   {"store": org.store2.pk}).status_code == 404
    other = api_as(org.other_admin).get("/api/v1/base-clients/analytics/referrals/", {"year": Y})
    assert other.data["total"]["n"] == 0


def test_care_completion_by_hand_on_local_days(org, django_assert_max_num_queries):
    """Care tasks due in March of year Y (local days): done at 23:30 local on the due day is on time, at 00:30 local
    the next day late (16:30 UTC, still the due day in UTC); one skipped, one still pending past its day (overdue),
    one due on 1 April (outside); the other store's task is not the manager's."""
    from baseclients.models import CareTask

    client = BaseClient.objects.get(purchase_rows__deal=buy(store=org.store, consultant=org.consultant))
    other = BaseClient.objects.get(purchase_rows__deal=buy(store=org.store2, consultant=org.consultant_b))
    CareTask.objects.all().delete()

    def task(c, due, status="pending", done_at=None):
        return CareTask.objects.create(client=c, store=c.store, assigned_to=c.assigned_to, kind="call",
                                       channel="phone", due_on=due, status=status, done_at=done_at,
                                       done_by=c.assigned_to if done_at else None)

    task(client, date(Y, 3, 1), "done", _local(3, 1, 23, 30))  # on time
    task(client, date(Y, 3, 31), "done", _local(4, 1, 0, 30))  # late: the next local day
    task(client, date(Y, 3, 15), "skipped", _local(3, 16))
    task(client, date(Y, 3, 20))  # overdue
    task(client, date(Y, 4, 1))  # outside the period
    task(other, date(Y, 3, 10), "done", _local(3, 10))
    with django_assert_max_num_queries(1):
        rows = selectors.care_completion(user=org.manager, since=date(Y, 3, 1), until=date(Y, 3, 31))
    [row] = rows
    assert (row["planned"], row["on_time"], row["late"], row["skipped"], row["overdue"]) == (4, 1, 1, 1, 1)
    assert row["rate"] == 50.0  # done (on time or late) / due
    # By region; the group admin sees both stores.
    [mine, theirs] = sorted(selectors.care_completion(user=org.admin, since=date(Y, 3, 1), until=date(Y, 3, 31)),
                            key=lambda r: -r["planned"])
    assert (mine["planned"], theirs["planned"], theirs["on_time"], theirs["rate"]) == (4, 1, 1, 100.0)
    assert sum(r["planned"] for r in selectors.care_completion(
        user=org.admin, since=date(Y, 3, 1), until=date(Y, 3, 31), by="region")) == 5
