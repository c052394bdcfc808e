"""The demo's consultant levels (seed_demo): the three levels in every store, the consultants at their levels, and in
浦东店 handoffs held for the manager's pick, most handed, a few waiting, two of the handed won (split credit)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dealercrm.tests.factories import ConsultantFactory, DealerGroupFactory, ManagerFactory, StoreFactory
from funnel.demo_staffing import demo_targets_seed
from funnel.models import Target
from leads.demo.levels import demo_levels_seed
from leads.models import ConsultantLevel, GradeChange, Handoff, LevelMember, LevelSettings
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_the_demo_levels_and_handoffs():
    group = DealerGroupFactory(name="Demo Auto Group")
    pudong, minhang = StoreFactory(group=group, name="浦东店"), StoreFactory(group=group, name="闵行店")
    for store, prefix in ((pudong, "pudong"), (minhang, "minhang")):
        ManagerFactory(username=f"{prefix}_manager", store=store)
        for i in range(1, 5):
            ConsultantFactory(username=f"{prefix}_sales{i}", store=store)
    when = timezone.now() - timedelta(days=5)
    holder = pudong.staff.get(username="pudong_sales3")
    for grade, previous in [("B", "C")] * 4 + [("A", "B")] * 3:
        lead = LeadFactory(store=pudong, assigned_to=holder, grade=grade, grade_since=when)
        GradeChange.objects.create(lead=lead, from_grade=previous, to_grade=grade, changed_at=when)
    result = demo_levels_seed(stores=[pudong, minhang])
    assert result.stores == 2
    for store in (pudong, minhang):
        assert [lv.grades for lv in ConsultantLevel.objects.filter(store=store)] == ["A", "B", "CDE"]
        ranks = dict(LevelMember.objects.filter(level__store=store).values_list("user__username", "level__order"))
        assert sorted(ranks.values()) == [1, 2, 3, 3]
    assert LevelSettings.objects.get(store=pudong).handoff == "hold"
    assert not LevelSettings.objects.filter(store=minhang, handoff__in=["hold", "round_robin"]).exists()
    assert (result.handed, result.waiting) == (4, 3)
    assert Handoff.objects.filter(status="done", lead__status="won").count() == 2
    # Idempotent: a second seed hands nothing more.
    assert demo_levels_seed(stores=[pudong, minhang]).handed == 0
    assert demo_targets_seed(stores=[pudong]) == 12
    assert Target.objects.filter(store=pudong, consultant__isnull=True).count() == 12
    assert demo_targets_seed(stores=[pudong]) == 0
