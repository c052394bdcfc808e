"""Consultant levels: setting them, the handoff of a promoted lead (round-robin, held for the manager's pick), the
deal credit per rule, and the load of each level."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from dealercrm.tests.factories import ConsultantFactory
from leads import services
from leads.models import AssignmentChange, ConsultantLevel, GradeChange, Handoff, Lead, LevelMember
from leads.selectors_levels import deal_credit, level_loads, waiting_handoffs
from leads.services.levels import handoff_pick, levels_validate, store_levels, store_levels_set
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """The services' messages are read in English here (the catalogue is checked by dealercrm/tests/test_i18n.py)."""
    with translation.override("en"):
        yield

THREE = [
    {"name": "一级", "order": 1, "grades": ["A"], "capacity": 20},
    {"name": "二级", "order": 2, "grades": ["B"], "capacity": 40},
    {"name": "三级", "order": 3, "grades": ["C", "D", "E"], "capacity": 100},
]


@pytest.fixture
def team(org):
    """The north store with three levels: consultant (third level), consultant2 and two more: second level (b1,
    b2), first level (a1)."""
    o = org
    o.b1 = ConsultantFactory(username="b1", store=o.store)
    o.b2 = ConsultantFactory(username="b2", store=o.store)
    o.a1 = ConsultantFactory(username="a1", store=o.store)
    store_levels_set(actor=o.manager, store=o.store, levels=THREE, handoff="round_robin", credit="closer",
                     members={o.consultant.pk: 3, o.consultant2.pk: 3, o.b1.pk: 2, o.b2.pk: 2, o.a1.pk: 1})
    return o


def promote(o, lead, to_grade, actor=None):
    return services.follow_up_log(actor=actor or lead.assigned_to, lead=lead, method="phone", content="试驾后有意向",
                                  grade_after=to_grade)


# --- setting the levels -------------------------------------------------------------------------------------------


def test_a_store_starts_with_the_methods_three_levels(org):
    levels = store_levels(org.store)
    assert [(lv.order, lv.name, lv.grades) for lv in levels] == [(1, "一级", "A"), (2, "二级", "B"),
                                                                 (3, "三级", "CDE")]


def test_setting_levels_keeps_a_levels_consultants_when_only_its_name_changes(team):
    o = team
    renamed = [dict(THREE[0]), dict(THREE[1], name="资深"), dict(THREE[2])]
    store_levels_set(actor=o.manager, store=o.store, levels=renamed)
    assert LevelMember.objects.get(user=o.b1).level.name == "资深"
    assert ConsultantLevel.objects.filter(store=o.store).count() == 3


def test_dropping_a_level_removes_its_consultants_places(team):
    o = team
    two = [dict(THREE[0], grades=["A", "B"]), dict(THREE[2])]
    two[1]["order"] = 2
    store_levels_set(actor=o.manager, store=o.store, levels=two)
    # Rank 2 is now the former third level's grades: the second level's consultants keep rank 2's row, renamed.
    assert [(lv.order, lv.grades) for lv in ConsultantLevel.objects.filter(store=o.store)] == [(1, "AB"), (2, "CDE")]
    assert not ConsultantLevel.objects.filter(store=o.store, order=3).exists()
    assert not LevelMember.objects.filter(user=o.consultant).exists()


@pytest.mark.parametrize("levels, field, words", [
    ([], "levels", "at least one"),
    ([dict(THREE[0]), dict(THREE[1], grades=["B", "C"]), dict(THREE[2])], "levels", "C are in more than one"),
    ([dict(THREE[0]), dict(THREE[2])], "levels", "B are in none"),
    ([dict(THREE[0], grades=["C", "D", "E"]), dict(THREE[1]), dict(THREE[2], grades=["A"])], "levels",
     "higher grades"),
    ([dict(THREE[0]), dict(THREE[1], name="一级"), dict(THREE[2])], "levels", "same name"),
    ([dict(THREE[0]), dict(THREE[1], order=1), dict(THREE[2])], "levels", "same rank"),
    ([dict(THREE[0], capacity=0), dict(THREE[1]), dict(THREE[2])], "levels.0.capacity", "from 1"),
    ([dict(THREE[0], name="  "), dict(THREE[1]), dict(THREE[2])], "levels.0.name", "Name the level"),
    ([dict(THREE[0], grades=["Z"]), dict(THREE[1]), dict(THREE[2])], "levels.0.grades", "each once"),
])
def test_bad_levels_are_refused_with_a_message_on_the_field(levels, field, words):
    with pytest.raises(ValidationError) as exc:
        levels_validate(levels)
    assert words in " ".join(exc.value.message_dict[field])


def test_only_the_stores_manager_or_a_group_admin_sets_levels(org):
    for outsider in (org.consultant, org.manager2, org.other_admin):
        with pytest.raises(PermissionDenied):
            store_levels_set(actor=outsider, store=org.store, levels=THREE)
    store_levels_set(actor=org.admin, store=org.store, levels=THREE)
    assert ConsultantLevel.objects.filter(store=org.store).count() == 3


def test_a_consultant_of_another_store_cannot_be_given_a_level(org):
    with pytest.raises(ValidationError) as exc:
        store_levels_set(actor=org.manager, store=org.store, levels=THREE, members={org.consultant_b.pk: 3})
    assert "consultants" in exc.value.message_dict
    assert not ConsultantLevel.objects.filter(store=org.store).exists()  # nothing half-written


# --- the handoff ---------------------------------------------------------------------------------------------------


def test_a_lead_promoted_from_c_to_b_by_a_third_level_consultant_goes_to_a_second_level_one(team):
    """The done-when case: the third level's C lead becomes B and moves to the least-loaded second-level consultant,
    with its grade change, assignment change, field history and a handoff row, in the one transaction."""
    o = team
    LeadFactory(store=o.store, assigned_to=o.b1, grade="B")  # b1 holds one: b2 is the least loaded
    lead = LeadFactory(store=o.store, assigned_to=o.consultant, grade="C")
    promote(o, lead, "B")
    lead.refresh_from_db()
    assert (lead.grade, lead.assigned_to) == ("B", o.b2)
    change = GradeChange.objects.get(lead=lead, to_grade="B")
    moved = AssignmentChange.objects.get(lead=lead, to_user=o.b2)
    assert (moved.from_user, moved.changed_by, moved.reason) == (o.consultant, o.consultant,
                                                               "Handed to the next level after a promotion")
    handoff = Handoff.objects.get(lead=lead)
    assert (handoff.status, handoff.from_user, handoff.to_user, handoff.grade_change, handoff.assignment_change,
            handoff.level.order) == ("done", o.consultant, o.b2, change, moved, 2)
    assert lead.history.first().assigned_to_id == o.b2.pk  # the field history (simple-history) has the move
    assert o.b2.notifications.filter(kind="assigned").count() == 1


def test_round_robin_alternates_between_the_next_levels_consultants(team):
    o = team
    leads = [LeadFactory(store=o.store, assigned_to=o.consultant, grade="C") for _ in range(4)]
    for lead in leads:
        promote(o, lead, "B")
    holders = [Lead.objects.get(pk=lead.pk).assigned_to for lead in leads]
    # b1 and b2 both hold none: the longest-serving (b1, created first) takes the first, then the least loaded.
    assert holders == [o.b1, o.b2, o.b1, o.b2]


def test_a_promotion_within_the_holders_range_stays_and_off_hands_nothing(team):
    o = team
    lead = LeadFactory(store=o.store, assigned_to=o.consultant, grade="E")
    promote(o, lead, "D")
    assert Lead.objects.get(pk=lead.pk).assigned_to == o.consultant
    store_levels_set(actor=o.manager, store=o.store, levels=THREE, handoff="off")
    promote(o, lead, "C")
    promote(o, Lead.objects.get(pk=lead.pk), "B")
    assert Lead.objects.get(pk=lead.pk).assigned_to == o.consultant
    assert not Handoff.objects.exists()


def test_a_consultant_without_a_level_keeps_the_lead(team):
    o = team
    LevelMember.objects.filter(user=o.consultant).delete()
    lead = LeadFactory(store=o.store, assigned_to=o.consultant, grade="C")
    promote(o, lead, "B")
    assert Lead.objects.get(pk=lead.pk).assigned_to == o.consultant


def test_held_for_the_managers_pick_waits_then_moves_on_the_pick(team, django_assert_max_num_queries):
    o = team
    store_levels_set(actor=o.manager, store=o.store, levels=THREE, handoff="hold")
    lead = LeadFactory(store=o.store, assigned_to=o.consultant, grade="C")
    promote(o, lead, "B")
    lead.refresh_from_db()
    assert (lead.grade, lead.assigned_to) == ("B", o.consultant)  # stays with its holder meanwhile
    waiting = list(waiting_handoffs(user=o.manager, store=o.store))
    assert [(h.lead, h.from_user, h.level.order) for h in waiting] == [(lead, o.consultant, 2)]
    assert list(waiting_handoffs(user=o.manager2, store=o.store)) == []  # another store's manager sees none
    handoff_pick(actor=o.manager, handoff=waiting[0], to_user=o.b1)
    lead.refresh_from_db()
    assert lead.assigned_to == o.b1
    h = Handoff.objects.get(pk=waiting[0].pk)
    assert (h.status, h.to_user, h.decided_by) == ("done", o.b1, o.manager)
    assert AssignmentChange.objects.filter(lead=lead, from_user=o.consultant, to_user=o.b1).exists()
    with pytest.raises(ValidationError):
        handoff_pick(actor=o.manager, handoff=h, to_user=o.b2)


def test_round_robin_with_nobody_in_the_next_level_waits_for_the_manager(team):
    o = team
    LevelMember.objects.filter(level__order=2).delete()
    lead = LeadFactory(store=o.store, assigned_to=o.consultant, grade="C")
    promote(o, lead, "B")
    assert Handoff.objects.get(lead=lead).status == "waiting"


def test_only_a_manager_picks_and_only_a_consultant_of_the_store(team):
    o = team
    store_levels_set(actor=o.manager, store=o.store, levels=THREE, handoff="hold")
    lead = LeadFactory(store=o.store, assigned_to=o.consultant, grade="C")
    promote(o, lead, "B")
    handoff = Handoff.objects.get(lead=lead)
    with pytest.raises(PermissionDenied):
        handoff_pick(actor=o.consultant, handoff=handoff, to_user=o.b1)
    with pytest.raises(PermissionDenied):
        handoff_pick(actor=o.manager2, handoff=handoff, to_user=o.b1)
    with pytest.raises(ValidationError):
        handoff_pick(actor=o.manager, handoff=handoff, to_user=o.consultant_b)


# --- deal credit -----------------------------------------------------------------------------------------------------


def _handed_and_won(o):
    """One deal closed by b1 after a handoff from the third level, one closed by the consultant without handoff."""
    lead = LeadFactory(store=o.store, assigned_to=o.consultant, grade="C")
    promote(o, lead, "B")
    handed = Lead.objects.get(pk=lead.pk)
    assert handed.assigned_to == o.b1
    services.deal_record(actor=o.b1, lead=handed, price=Decimal("150000.00"), ordered_at=timezone.localdate())
    own = LeadFactory(store=o.store, assigned_to=o.consultant, grade="A")
    services.deal_record(actor=o.consultant, lead=own, price=Decimal("120000.00"), ordered_at=timezone.localdate())


@pytest.mark.parametrize("rule, closer, original", [
    ("closer", Decimal("1.00"), Decimal("1.00")),   # the consultant's own deal only
    ("both", Decimal("1.00"), Decimal("2.00")),     # own deal + the handed one
    ("split", Decimal("0.50"), Decimal("1.50")),    # own deal + half the handed one
])
def test_deal_credit_per_rule(team, rule, closer, original):
    o = team
    _handed_and_won(o)
    store_levels_set(actor=o.manager, store=o.store, levels=THREE, credit=rule)
    today = timezone.localdate()
    credit = deal_credit(user=o.manager, stores=[o.store], start=today.replace(day=1), end=today)
    assert credit[o.b1.pk] == closer
    assert credit[o.consultant.pk] == original
    # A consultant sees the deals of their own leads only: b1 sees the handed deal, not the consultant's own one.
    assert set(deal_credit(user=o.b1, stores=None, start=today.replace(day=1), end=today)) <= {o.b1.pk,
                                                                                             o.consultant.pk}


# --- the levels' load --------------------------------------------------------------------------------------------------


def test_each_levels_load_against_its_capacity(team, django_assert_max_num_queries):
    o = team
    for grade in ("C", "D", "E"):
        LeadFactory(store=o.store, assigned_to=o.consultant, grade=grade)
    LeadFactory(store=o.store, assigned_to=o.b1, grade="B")
    LeadFactory(store=o.store, assigned_to=None, grade="E")  # nobody holds it: in the third level's grades, not held
    LeadFactory(store=o.store2, assigned_to=o.consultant_b, grade="E")  # another store
    LeadFactory(store=o.store, assigned_to=o.a1, grade="C")  # the first level filling down: held, not at its grades
    with django_assert_max_num_queries(2):
        loads = level_loads(user=o.manager, store=o.store)
    rows = [(r.level.order, r.consultants, r.capacity, r.held, r.held_at_grades, r.at_grades, r.load) for r in loads]
    # First: 1 × 20, holding the C lead (0.05), none at A. Third: 2 × 100 = 200, holding 3 (0.015); leads at C–E:
    # 3 held by the third level + 1 nobody's + the first level's C = 5.
    assert rows == [(1, 1, 20, 1, 0, 0, 0.05), (2, 2, 80, 1, 1, 1, 0.0125), (3, 2, 200, 3, 3, 5, 0.015)]


def test_a_merge_moves_the_handoffs_so_the_credit_follows(team):
    o = team
    lead = LeadFactory(store=o.store, assigned_to=o.consultant, grade="C")
    promote(o, lead, "B")
    keep = LeadFactory(store=o.store, assigned_to=o.b1, grade="B", name=lead.name)
    services.lead_merge(actor=o.manager, keep=keep, absorb=Lead.objects.get(pk=lead.pk))
    assert list(Handoff.objects.values_list("lead", flat=True)) == [keep.pk]
