"""The lead services: visits and re-visits by phone, grade history, follow-ups, assignment, merge, deals."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from dealercrm.tests.factories import ConsultantFactory
from leads import services
from leads.models import AssignmentChange, Deal, FollowUp, GradeChange, GradeRule, Lead, Status, Visit
from leads.tests.factories import FollowUpFactory, LeadFactory, VisitFactory

pytestmark = pytest.mark.django_db


def walk_in(org, actor=None, **kwargs):
    args = {"actor": actor or org.consultant, "store": org.store, "name": "王先生", "source": "walk_in"}
    args.update(kwargs)
    return services.visit_log(**args)


# --- visits ----------------------------------------------------------------------------------------------


def test_a_first_visit_creates_a_lead_with_its_history(org):
    result = walk_in(org, phone="138 0013 8000", grade="C", steps=["test_drive", "quote"])
    lead = result.lead
    assert not result.is_revisit
    assert (lead.phone, lead.grade, lead.assigned_to, lead.status) == ("+8613800138000", "C", org.consultant, "active")
    assert lead.grade_since == lead.first_visit_at == result.visit.arrived_at
    assert result.visit.is_first and result.visit.test_drive and result.visit.quote and not result.visit.trade_in
    assert list(lead.grade_changes.values_list("from_grade", "to_grade")) == [(None, "C")]
    assert list(lead.assignment_changes.values_list("from_user", "to_user")) == [(None, org.consultant.pk)]
    # A new customer is called back within the group's first follow-up window (24 h, at a working hour), not after
    # C's 14-day interval (issue 14, item 9; leads/tests/test_first_follow_up.py).
    from leads.rules import first_follow_up_due

    assert lead.next_follow_up_at == first_follow_up_due(lead.first_visit_at)
    assert lead.next_follow_up_at <= lead.first_visit_at + timedelta(days=1, hours=12)


def test_an_anonymous_walk_in_is_still_a_lead(org):
    lead = walk_in(org, phone="").lead
    assert lead.phone == "" and lead.grade is None
    assert lead.next_follow_up_at is None  # nobody to call back


def test_a_known_phone_records_a_revisit_not_a_second_lead(org):
    first = walk_in(org, phone="13800138000").lead
    again = walk_in(org, phone="+86 138 0013 8000", name="王总")
    assert again.is_revisit and again.lead.pk == first.pk
    assert Lead.objects.count() == 1
    assert list(Visit.objects.filter(lead=first).order_by("arrived_at").values_list("is_first", flat=True)) == [True, False]
    assert Lead.objects.get().name == "王先生"


def test_the_same_phone_in_another_store_is_another_customer(org):
    walk_in(org, phone="13800138000")
    other = walk_in(org, actor=org.consultant_b, store=org.store2, phone="13800138000")
    assert not other.is_revisit
    assert Lead.objects.count() == 2


def test_lead_create_refuses_a_duplicate_phone_and_names_the_existing_lead(org):
    first = walk_in(org, phone="13800138000").lead
    with pytest.raises(services.DuplicatePhone) as exc:
        services.lead_create(actor=org.consultant, store=org.store, name="x", source="walk_in", phone="13800138000")
    assert exc.value.lead_id == first.pk
    assert Lead.objects.count() == 1


@pytest.mark.parametrize(
    "kwargs,field",
    [({"phone": "12345"}, "phone"), ({"name": "  "}, "name"), ({"source": "tv"}, "source"), ({"grade": "F"}, "grade")],
)
def test_bad_visit_input_writes_nothing(org, kwargs, field):
    with pytest.raises(ValidationError) as exc:
        walk_in(org, **kwargs)
    assert field in exc.value.message_dict
    assert not Lead.objects.exists() and not Visit.objects.exists()


def test_a_visit_cannot_end_before_it_starts_and_rolls_back_the_lead(org):
    now = timezone.now()
    with pytest.raises(ValidationError):
        walk_in(org, arrived_at=now, left_at=now - timedelta(minutes=5))
    assert not Lead.objects.exists()


def test_a_consultant_cannot_log_for_someone_else_or_another_store(org):
    with pytest.raises(PermissionDenied):
        walk_in(org, assigned_to=org.consultant2)
    with pytest.raises(PermissionDenied):
        walk_in(org, store=org.store2)


def test_a_manager_walk_in_goes_round_robin_to_the_least_loaded_consultant(org):
    LeadFactory(store=org.store, assigned_to=org.consultant)
    lead = walk_in(org, actor=org.manager).lead
    assert lead.assigned_to == org.consultant2


# --- grades and follow-ups ---------------------------------------------------------------------------------


def test_grade_change_records_history_and_restarts_the_dwell_clock(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="E")
    with time_machine.travel(timezone.now() + timedelta(days=5), tick=False):
        lead = services.lead_grade_change(actor=org.consultant, lead=lead, to_grade="D", reason="有购车计划")
        assert lead.grade_since == timezone.now()
        assert lead.next_follow_up_at == timezone.now() + timedelta(days=30)
    change = GradeChange.objects.get(lead=lead)
    assert (change.from_grade, change.to_grade, change.changed_by, change.reason) == ("E", "D", org.consultant, "有购车计划")
    assert change.is_promotion


def test_same_grade_is_not_a_change(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="C")
    services.lead_grade_change(actor=org.consultant, lead=lead, to_grade="C")
    assert not GradeChange.objects.exists()


def test_a_follow_up_that_promotes_records_the_grade_change_and_uses_the_new_interval(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="C")
    fu = services.follow_up_log(actor=org.consultant, lead=lead, method="phone", content="约周六试驾", grade_after="B")
    lead.refresh_from_db()
    assert (fu.grade_before, fu.grade_after, lead.grade) == ("C", "B", "B")
    assert GradeChange.objects.get(lead=lead).follow_up == fu
    assert lead.next_follow_up_at == fu.occurred_at + timedelta(days=7)
    assert lead.last_contact_at == fu.occurred_at
    assert fu.review_status == "pending"


def test_the_groups_own_interval_is_used(org):
    services.grade_rules_for(org.group.pk)
    GradeRule.objects.filter(group=org.group, grade="C").update(follow_up_days=10)
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="C")
    fu = services.follow_up_log(actor=org.consultant, lead=lead, method="wechat", content="发送车型资料")
    assert fu.next_follow_up_at == fu.occurred_at + timedelta(days=10)


def test_a_given_next_follow_up_wins_and_must_be_later(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    due = timezone.now() + timedelta(days=2)
    services.follow_up_log(actor=org.consultant, lead=lead, method="sms", content="短信邀约", next_follow_up_at=due)
    lead.refresh_from_db()
    assert lead.next_follow_up_at == due
    with pytest.raises(ValidationError) as exc:
        services.follow_up_log(actor=org.consultant, lead=lead, method="sms", content="x",
                               next_follow_up_at=timezone.now() - timedelta(hours=1))
    assert "next_follow_up_at" in exc.value.message_dict


def test_follow_up_denials_and_bad_input(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    with pytest.raises(PermissionDenied):
        services.follow_up_log(actor=org.consultant2, lead=lead, method="phone", content="x")
    with pytest.raises(PermissionDenied):
        services.follow_up_log(actor=org.manager2, lead=lead, method="phone", content="x")
    with pytest.raises(ValidationError) as exc:
        services.follow_up_log(actor=org.consultant, lead=lead, method="fax", content="", grade_after="Z")
    assert {"method", "content", "grade_after"} <= set(exc.value.message_dict)
    assert not FollowUp.objects.exists()


def test_a_manager_may_follow_up_any_lead_of_the_store(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    services.follow_up_log(actor=org.manager, lead=lead, method="phone", content="经理回访")
    assert FollowUp.objects.filter(lead=lead, created_by=org.manager).exists()


def test_follow_up_review(org):
    fu = FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    with pytest.raises(PermissionDenied):
        services.follow_up_review(actor=org.consultant, follow_up=fu, approve=True)
    with pytest.raises(ValidationError):
        services.follow_up_review(actor=org.manager, follow_up=fu, approve=False, comment=" ")
    fu = services.follow_up_review(actor=org.manager, follow_up=fu, approve=False, comment="内容太简单，请写清客户顾虑")
    assert (fu.review_status, fu.reviewed_by) == ("rejected", org.manager)
    with pytest.raises(ValidationError):
        services.follow_up_review(actor=org.manager, follow_up=fu, approve=True)


# --- deals ------------------------------------------------------------------------------------------------


def test_a_deal_wins_the_lead_in_one_transaction(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="A")
    deal = services.deal_record(actor=org.consultant, lead=lead, price=Decimal("189800.00"))
    lead.refresh_from_db()
    assert lead.status == Status.WON and lead.next_follow_up_at is None
    assert deal.price == Decimal("189800.00") and deal.ordered_at == timezone.localdate()
    with pytest.raises(ValidationError):
        services.deal_record(actor=org.consultant, lead=lead, price=Decimal("1"))
    with pytest.raises(ValidationError):
        services.follow_up_log(actor=org.consultant, lead=lead, method="phone", content="x")


def test_a_failed_deal_leaves_the_lead_active(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    today = timezone.localdate()
    for bad in [dict(price=Decimal("-1")), dict(price=Decimal("1"), ordered_at=today, delivered_at=today - timedelta(days=1))]:
        with pytest.raises(ValidationError):
            services.deal_record(actor=org.consultant, lead=lead, **bad)
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE and not Deal.objects.exists()


# --- edits and concurrency --------------------------------------------------------------------------------


def test_lead_update_checks_the_version_and_keeps_field_history(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    version = lead.version
    services.lead_update(actor=org.consultant, lead=lead, expected_version=version, district="浦东新区")
    with pytest.raises(services.StaleVersion):
        services.lead_update(actor=org.manager, lead=lead, expected_version=version, district="闵行区")
    lead.refresh_from_db()
    assert lead.district == "浦东新区" and lead.version == version + 1
    assert lead.history.first().district == "浦东新区"


def test_lead_update_refuses_grade_owner_and_store(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    with pytest.raises(ValidationError) as exc:
        services.lead_update(actor=org.consultant, lead=lead, store=org.store2, grade="A")
    assert {"store", "grade"} <= set(exc.value.message_dict)


def test_lead_update_phone_is_normalised_and_unique(org):
    a = LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613800138000")
    b = LeadFactory(store=org.store, assigned_to=org.consultant, phone="")
    with pytest.raises(services.DuplicatePhone) as exc:
        services.lead_update(actor=org.consultant, lead=b, phone="138 0013 8000")
    assert exc.value.lead_id == a.pk
    services.lead_update(actor=org.consultant, lead=b, phone="139 1234 5678")
    b.refresh_from_db()
    assert b.phone == "+8613912345678"


# --- assignment -------------------------------------------------------------------------------------------


def test_lead_assign_by_manager_writes_history(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    services.lead_assign(actor=org.manager, lead=lead, to_user=org.consultant2, reason="客户要求")
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant2
    change = AssignmentChange.objects.get(lead=lead)
    assert (change.from_user, change.to_user, change.changed_by) == (org.consultant, org.consultant2, org.manager)


def test_lead_assign_denials(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    with pytest.raises(PermissionDenied):
        services.lead_assign(actor=org.consultant, lead=lead, to_user=org.consultant2)
    with pytest.raises(PermissionDenied):
        services.lead_assign(actor=org.manager2, lead=lead, to_user=org.consultant_b)
    with pytest.raises(ValidationError):
        services.lead_assign(actor=org.manager, lead=lead, to_user=org.consultant_b)  # another store's consultant
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant and not AssignmentChange.objects.exists()


def test_bulk_reassign_moves_everything_a_departing_consultant_holds(org):
    third = ConsultantFactory(username="c3_north", store=org.store)
    mine = [LeadFactory(store=org.store, assigned_to=org.consultant) for _ in range(5)]
    won = LeadFactory(store=org.store, assigned_to=org.consultant, status=Status.WON)
    theirs = LeadFactory(store=org.store, assigned_to=org.consultant2)
    org.consultant.is_active = False
    org.consultant.save()
    moved = services.leads_bulk_reassign(actor=org.manager, from_user=org.consultant)
    assert moved == 5
    owners = list(Lead.objects.filter(pk__in=[lead.pk for lead in mine]).values_list("assigned_to", flat=True))
    assert set(owners) == {org.consultant2.pk, third.pk}
    assert AssignmentChange.objects.filter(from_user=org.consultant).count() == 5
    won.refresh_from_db()
    theirs.refresh_from_db()
    assert won.assigned_to == org.consultant and theirs.assigned_to == org.consultant2
    assert Lead.objects.get(pk=mine[0].pk).history.first().history_change_reason == "Bulk move of a consultant's leads"


def test_round_robin_shares_unassigned_leads_evenly(org):
    pool = [LeadFactory(store=org.store, assigned_to=None, created_by=org.manager) for _ in range(6)]
    assert services.leads_round_robin(actor=org.manager, store=org.store) == 6
    counts = sorted(Lead.objects.filter(pk__in=[p.pk for p in pool]).values_list("assigned_to", flat=True))
    assert counts.count(org.consultant.pk) == counts.count(org.consultant2.pk) == 3


# --- merge ------------------------------------------------------------------------------------------------


def test_merge_keeps_every_visit_follow_up_and_history_row_of_both(org):
    now = timezone.now()
    anonymous = LeadFactory(store=org.store, assigned_to=org.consultant, phone="", grade=None, name="张先生",
                            first_visit_at=now - timedelta(days=10))
    known = LeadFactory(store=org.store, assigned_to=org.consultant2, phone="+8613800138000", name="张先生",
                        first_visit_at=now - timedelta(days=2), grade="B")
    VisitFactory(lead=anonymous)
    VisitFactory(lead=known)
    FollowUpFactory(lead=anonymous)
    FollowUpFactory(lead=known)
    GradeChange.objects.create(lead=known, from_grade=None, to_grade="B")
    AssignmentChange.objects.create(lead=anonymous, to_user=org.consultant)
    kept = services.lead_merge(actor=org.manager, keep=known, absorb=anonymous)
    assert kept.visits.count() == 2 and kept.follow_ups.count() == 2
    assert kept.grade_changes.count() == 1 and kept.assignment_changes.count() == 1
    assert kept.first_visit_at == now - timedelta(days=10)
    assert list(kept.visits.order_by("arrived_at").values_list("is_first", flat=True)) == [True, False]
    anonymous.refresh_from_db()
    assert anonymous.status == Status.MERGED and anonymous.merged_into == kept
    assert not Visit.objects.filter(lead=anonymous).exists()


def test_merge_fills_blanks_and_hands_the_phone_over(org):
    keep = LeadFactory(store=org.store, assigned_to=org.consultant, phone="", district="")
    absorb = LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613800138000", district="徐汇区")
    kept = services.lead_merge(actor=org.manager, keep=keep, absorb=absorb)
    assert (kept.phone, kept.district) == ("+8613800138000", "徐汇区")
    # The phone now identifies the survivor: a visit with it is a re-visit of the kept lead.
    assert walk_in(org, phone="13800138000").lead.pk == kept.pk


def test_merge_refusals(org):
    a = LeadFactory(store=org.store, assigned_to=org.consultant)
    b = LeadFactory(store=org.store2, assigned_to=org.consultant_b)
    with pytest.raises(ValidationError):
        services.lead_merge(actor=org.admin, keep=a, absorb=b)
    with pytest.raises(ValidationError):
        services.lead_merge(actor=org.manager, keep=a, absorb=a)
    c = LeadFactory(store=org.store, assigned_to=org.consultant)
    with pytest.raises(PermissionDenied):
        services.lead_merge(actor=org.consultant, keep=a, absorb=c)
    for lead in (a, c):
        services.deal_record(actor=org.manager, lead=lead, price=Decimal("100000"))
    with pytest.raises(ValidationError):
        services.lead_merge(actor=org.manager, keep=a, absorb=c)
    assert not Lead.objects.filter(status=Status.MERGED).exists()


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"budget": Decimal("-1")}, "budget"),
        ({"companions": -2}, "companions"),
        ({"arrived_at": timezone.now() + timedelta(days=1)}, "arrived_at"),
    ],
)
def test_more_bad_visit_input_is_a_field_error_not_a_database_error(org, kwargs, field):
    with pytest.raises(ValidationError) as exc:
        walk_in(org, **kwargs)
    assert field in exc.value.message_dict
    assert not Lead.objects.exists()


def test_a_merged_lead_cannot_be_worked(org):
    keep = LeadFactory(store=org.store, assigned_to=org.consultant)
    absorb = LeadFactory(store=org.store, assigned_to=org.consultant, phone="")
    services.lead_merge(actor=org.manager, keep=keep, absorb=absorb)
    for call in (
        lambda: services.lead_update(actor=org.manager, lead=absorb, district="x"),
        lambda: services.visit_add(actor=org.manager, lead=absorb),
        lambda: services.follow_up_log(actor=org.manager, lead=absorb, method="phone", content="x"),
        lambda: services.lead_merge(actor=org.manager, keep=keep, absorb=absorb),
    ):
        with pytest.raises(ValidationError):
            call()


def test_first_follow_up_is_kept_on_the_lead(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, first_visit_at=timezone.now() - timedelta(days=5))
    assert lead.first_follow_up_at is None
    first = services.follow_up_log(actor=org.consultant, lead=lead, method="phone", content="一",
                                   occurred_at=timezone.now() - timedelta(days=2))
    services.follow_up_log(actor=org.consultant, lead=lead, method="phone", content="二")
    lead.refresh_from_db()
    assert lead.first_follow_up_at == first.occurred_at
