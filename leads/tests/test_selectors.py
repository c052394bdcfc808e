"""Reads: workspace, ladder counts, allocation matrix, timeline, duplicates, phone visibility."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dealercrm.tests.factories import ConsultantFactory
from leads import selectors, services
from leads.models import local_day_start
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_grade_counts_in_one_query(org, django_assert_num_queries):
    for grade in ["A", "B", "B", "C", "C", "C", None]:
        LeadFactory(store=org.store, assigned_to=org.consultant, grade=grade)
    LeadFactory(store=org.store, assigned_to=org.consultant, grade="A", status="won")
    with django_assert_num_queries(1):
        counts = selectors.grade_counts(selectors.lead_list(user=org.consultant))
    assert counts == {"A": 1, "B": 2, "C": 3, "D": 0, "E": 0, "ungraded": 1}


def test_workspace_splits_overdue_and_due_today_per_consultant(org):
    today = local_day_start()
    overdue = LeadFactory(store=org.store, assigned_to=org.consultant, next_follow_up_at=today - timedelta(hours=3))
    due = LeadFactory(store=org.store, assigned_to=org.consultant, next_follow_up_at=today + timedelta(hours=15))
    LeadFactory(store=org.store, assigned_to=org.consultant, next_follow_up_at=today + timedelta(days=3))
    LeadFactory(store=org.store, assigned_to=org.consultant2, next_follow_up_at=today - timedelta(days=2))
    ws = selectors.workspace(user=org.consultant)
    assert [lead.pk for lead in ws.overdue] == [overdue.pk] and ws.overdue_count == 1
    assert [lead.pk for lead in ws.due_today] == [due.pk] and ws.due_today_count == 1
    manager_ws = selectors.workspace(user=org.manager)
    assert manager_ws.overdue_count == 2


def test_allocation_matrix_counts_per_consultant_and_keeps_departed_holders(org):
    LeadFactory(store=org.store, assigned_to=org.consultant, grade="A")
    LeadFactory(store=org.store, assigned_to=org.consultant, grade="E",
                next_follow_up_at=local_day_start() - timedelta(days=1))
    LeadFactory(store=org.store, assigned_to=org.consultant2, grade=None)
    gone = ConsultantFactory(username="gone", store=org.store, is_active=False)
    LeadFactory(store=org.store, assigned_to=gone, grade="C")
    ConsultantFactory(username="gone_empty", store=org.store, is_active=False)
    rows = {row.consultant.username: row for row in selectors.allocation_matrix(user=org.manager, store=org.store)}
    assert set(rows) == {"c_north", "c2_north", "gone"}
    assert rows["c_north"].grades == {"A": 1, "B": 0, "C": 0, "D": 0, "E": 1}
    assert (rows["c_north"].active, rows["c_north"].overdue) == (2, 1)
    assert rows["c2_north"].ungraded == 1
    assert rows["gone"].grades["C"] == 1


def test_timeline_has_every_kind_newest_first_in_six_queries(org, django_assert_num_queries):
    lead = services.visit_log(actor=org.consultant, store=org.store, name="钱先生", source="walk_in",
                              phone="13700137000", grade="B", arrived_at=timezone.now() - timedelta(days=2)).lead
    services.follow_up_log(actor=org.consultant, lead=lead, method="phone", content="报价", grade_after="A",
                           occurred_at=timezone.now() - timedelta(days=1))
    services.lead_assign(actor=org.manager, lead=lead, to_user=org.consultant2)
    services.deal_record(actor=org.manager, lead=lead, price=Decimal("219800"))
    with django_assert_num_queries(6):  # five kinds and the defeat steps (none: their reasons are not fetched)
        kinds = [entry.kind for entry in selectors.lead_timeline(lead=lead)]
    assert kinds[0] == "deal"
    assert kinds.count("grade") == 2 and kinds.count("assignment") == 2
    assert kinds[-2:] == ["assignment", "visit"]


def test_duplicate_candidates_pair_an_anonymous_walk_in_with_a_named_lead(org):
    a = LeadFactory(store=org.store, assigned_to=org.consultant, name="孙先生", phone="")
    b = LeadFactory(store=org.store, assigned_to=org.consultant2, name="孙先生")
    LeadFactory(store=org.store2, assigned_to=org.consultant_b, name="孙先生", phone="")
    LeadFactory(store=org.store, assigned_to=org.consultant, name="周女士")
    LeadFactory(store=org.store, assigned_to=org.consultant, name="周女士")  # both have phones: not a candidate
    LeadFactory(store=org.store, assigned_to=org.consultant, name="李女士", phone="")
    LeadFactory(store=org.store, assigned_to=org.consultant, name="李女士", phone="")  # both anonymous: not either
    pairs = selectors.duplicate_candidates(user=org.manager)
    assert [(p[0].pk, p[1].pk) for p in pairs] == [(b.pk, a.pk)]


def test_an_anonymous_walk_in_has_nothing_due_until_a_phone_is_added(org):
    lead = services.visit_log(actor=org.consultant, store=org.store, name="吴先生", source="walk_in").lead
    assert lead.next_follow_up_at is None
    lead = services.lead_update(actor=org.consultant, lead=lead, phone="13600136000")
    assert lead.next_follow_up_at is not None and lead.phone == "+8613600136000"


def test_phone_is_full_for_owner_and_managers_masked_for_others(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613800138000")
    assert selectors.lead_phone_for(user=org.consultant, lead=lead) == "138 0013 8000"
    assert selectors.lead_phone_for(user=org.manager, lead=lead) == "138 0013 8000"
    assert selectors.lead_phone_for(user=org.admin, lead=lead) == "138 0013 8000"
    assert selectors.lead_phone_for(user=org.consultant2, lead=lead) == "138****8000"
    assert selectors.lead_phone_for(user=org.manager2, lead=lead) == "138****8000"


def test_consultants_never_see_each_others_leads(org):
    mine = LeadFactory(store=org.store, assigned_to=org.consultant)
    LeadFactory(store=org.store, assigned_to=org.consultant2)
    LeadFactory(store=org.other_store, assigned_to=None)
    assert list(selectors.lead_list(user=org.consultant)) == [mine]
    assert selectors.lead_list(user=org.manager).count() == 2
    assert selectors.lead_list(user=org.admin).count() == 2
    assert selectors.lead_list(user=org.other_admin).count() == 1
