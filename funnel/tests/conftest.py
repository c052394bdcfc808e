"""A hand-built store whose funnel figures for October 2026 are known exactly (worked out in the docstring).

October cohort of org.store (first visits in October; L1–L4 held by org.consultant, L5–L6 by org.consultant2):
  L1 walk-in, phone, C on 10-03, follow-up 10-05, C→B 10-10, re-visit 10-15, won 11-05 (after the period)
  L2 walk-in, anonymous, ungraded                           → not valid
  L3 referral, phone, E on 10-20, no follow-up             → valid, not followed
  L4 outbound, phone, ungraded                             → not valid
  L5 walk-in, phone, D on 10-25, follow-up 10-28, D→C 11-02 → grade at the period's end: D
  L6 walk-in, phone, A on 10-30, follow-up and won 10-31
N 6 (walk-in 4, referral 1, outbound 1), valid 4 (K .6667), P A/B/D/E .25 each and C 0 (as of 10-31),
followed 3 (F .75), deals 2 (C .6667), re-visits 2 (L1 10-15, L7 10-12), M 300 → penetration .02.

Earlier leads (first visits in September), for the ladder and re-visits:
  L7  E 09-28, E→D 10-12, re-visit 10-12
  L9  B 09-01, B→A 10-05
  L10 E 09-20, E→D 10-02, D→C 10-06, C→B 10-09, B→A 10-15
  L11 E 09-01, E→D 09-05 (only D held during October)
  L12 C 09-10, C→D 10-08 (a demotion)
Promotion rates for October: E->D 2/3, D->C 1/5, C->B 2/3, B->A 2/3, E->A 1/3.
Noise that must not count: a merged lead and another store's lead in October; a lead first seen in November."""

import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction

from funnel.models import MarketEstimate
from leads.models import Deal, FollowUp, GradeChange, Lead, Visit

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=SH)


def at(month, day, hour=10):
    return datetime(2026, month, day, hour, 0, tzinfo=SH)


@dataclass
class Cohort:
    org: object
    leads: dict


def make_lead(store, consultant, name, *, first, source="walk_in", phone="", grades=(), follow_ups=(),
              revisits=(), won=None, status="active"):
    """A lead with its first visit, grade history [(grade, when)], follow-ups [when], re-visits and deal."""
    grade = grades[-1][0] if grades else None
    lead = Lead.objects.create(
        store=store, assigned_to=consultant, name=name, phone=phone, source=source, first_visit_at=first,
        grade=grade, grade_since=grades[-1][1] if grades else None, status="won" if won else status,
        first_follow_up_at=min(follow_ups) if follow_ups else None, created_by=consultant,
    )
    Visit.objects.create(lead=lead, arrived_at=first, is_first=True, recorded_by=consultant)
    for when in revisits:
        Visit.objects.create(lead=lead, arrived_at=when, is_first=False, recorded_by=consultant)
    previous = None
    for g, when in grades:
        GradeChange.objects.create(lead=lead, from_grade=previous, to_grade=g, changed_at=when, changed_by=consultant)
        previous = g
    for when in follow_ups:
        FollowUp.objects.create(lead=lead, occurred_at=when, method="phone", content="跟进", created_by=consultant)
    if won:
        Deal.objects.create(lead=lead, price=Decimal("150000.00"), ordered_at=won.date(), created_by=consultant)
    return lead


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def cohort(org, frozen):
    c1, c2, s = org.consultant, org.consultant2, org.store
    leads = {
        "L1": make_lead(s, c1, "L1", first=at(10, 3), phone="+8613800000001", grades=[("C", at(10, 3)), ("B", at(10, 10))],
                        follow_ups=[at(10, 5)], revisits=[at(10, 15)], won=at(11, 5)),
        "L2": make_lead(s, c1, "L2", first=at(10, 4)),
        "L3": make_lead(s, c1, "L3", first=at(10, 20), source="referral", phone="+8613800000003",
                        grades=[("E", at(10, 20))]),
        "L4": make_lead(s, c1, "L4", first=at(10, 21), source="outbound", phone="+8613800000004"),
        "L5": make_lead(s, c2, "L5", first=at(10, 25), phone="+8613800000005", grades=[("D", at(10, 25)), ("C", at(11, 2))],
                        follow_ups=[at(10, 28)]),
        "L6": make_lead(s, c2, "L6", first=at(10, 30), phone="+8613800000006", grades=[("A", at(10, 30))],
                        follow_ups=[at(10, 31, 9)], won=at(10, 31, 15)),
        "L7": make_lead(s, c1, "L7", first=at(9, 28), phone="+8613800000007", grades=[("E", at(9, 28)), ("D", at(10, 12))],
                        revisits=[at(10, 12)]),
        "L9": make_lead(s, c1, "L9", first=at(9, 1), phone="+8613800000009", grades=[("B", at(9, 1)), ("A", at(10, 5))]),
        "L10": make_lead(s, c2, "L10", first=at(9, 20), phone="+8613800000010",
                         grades=[("E", at(9, 20)), ("D", at(10, 2)), ("C", at(10, 6)), ("B", at(10, 9)), ("A", at(10, 15))]),
        "L11": make_lead(s, c2, "L11", first=at(9, 1), phone="+8613800000011", grades=[("E", at(9, 1)), ("D", at(9, 5))]),
        "L12": make_lead(s, c1, "L12", first=at(9, 10), phone="+8613800000012", grades=[("C", at(9, 10)), ("D", at(10, 8))]),
        # Noise.
        "merged": make_lead(s, c1, "merged", first=at(10, 7), phone="+8613800000099", grades=[("A", at(10, 7))],
                            status="merged"),
        "other_store": make_lead(org.store2, org.consultant_b, "other", first=at(10, 7), phone="+8613800000098",
                                 grades=[("C", at(10, 7))]),
        "november": make_lead(s, c1, "nov", first=at(11, 1), phone="+8613800000097", grades=[("E", at(11, 1))]),
    }
    MarketEstimate.objects.create(store=s, month=datetime(2026, 10, 1).date(), estimate=300)
    MarketEstimate.objects.create(store=s, month=datetime(2026, 9, 1).date(), estimate=240)
    return Cohort(org=org, leads=leads)


def in_flight(work):
    """Run ``work`` in a transaction of another connection and hold it open: (thread, release)."""
    holding, release = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                work()
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    return thread, release
