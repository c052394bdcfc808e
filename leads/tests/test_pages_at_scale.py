"""What keeps the managers' pages cheap at a million leads (benchmarks/pages.py measures them): the queries' shape,
checked on the SQL they send, and the figures they give checked by hand."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dealercrm.tests.clients import client_for
from dealercrm.tests.factories import ConsultantFactory
from leads import selectors
from leads.models import FollowUp, ReviewStatus, local_day_start

from .factories import FollowUpFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_a_follow_up_keeps_its_leads_store_and_is_scoped_by_it(org):
    north = FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    south = FollowUpFactory(lead=LeadFactory(store=org.store2, assigned_to=org.consultant_b))
    assert (north.store_id, south.store_id) == (org.store.pk, org.store2.pk)
    assert list(FollowUp.objects.visible_to(org.manager)) == [north]
    assert set(FollowUp.objects.visible_to(org.admin)) == {north, south}
    assert not FollowUp.objects.visible_to(org.other_admin).exists()
    assert list(FollowUp.objects.visible_to(org.consultant)) == [north]
    assert not FollowUp.objects.visible_to(org.consultant2).exists()  # a colleague's lead


def test_the_pending_review_count_reads_follow_ups_alone(org):
    for _ in range(3):
        FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant), review_status=ReviewStatus.APPROVED)
    FollowUpFactory(lead=LeadFactory(store=org.store2, assigned_to=org.consultant_b))
    with CaptureQueriesContext(connection) as queries:
        workspace = selectors.workspace(user=org.manager)
    assert workspace.pending_reviews == 3
    count = next(q["sql"] for q in queries if "leads_followup" in q["sql"] and "COUNT" in q["sql"])
    assert "leads_lead" not in count  # no join to the leads: one range of the (store, occurred_at) pending index


def test_the_group_review_queue_is_oldest_first_across_stores_and_filters_by_store(org):
    old = FollowUpFactory(lead=LeadFactory(store=org.store2, assigned_to=org.consultant_b))
    new = FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    FollowUp.objects.filter(pk=old.pk).update(occurred_at=new.occurred_at - timedelta(days=2))
    page = client_for(org.admin).get(reverse("leads:reviews"))
    assert [f.pk for f in page.context["page"]] == [old.pk, new.pk]
    only = client_for(org.admin).get(reverse("leads:reviews"), {"store": org.store.pk})
    assert [f.pk for f in only.context["page"]] == [new.pk]


def test_the_grade_filter_picks_leads_without_distinct(org):
    b = LeadFactory(store=org.store, assigned_to=org.consultant, grade="B")
    c = LeadFactory(store=org.store, assigned_to=org.consultant, grade="C")
    LeadFactory(store=org.store, assigned_to=org.consultant, grade="A")
    with CaptureQueriesContext(connection) as queries:
        page = client_for(org.manager).get(reverse("leads:list"), {"grade": ["B", "C"]})
    assert {lead.pk for lead in page.context["page"]} == {b.pk, c.pk}
    assert not [q for q in queries if "leads_lead" in q["sql"] and "DISTINCT" in q["sql"]]


def test_the_allocation_matrix_is_three_queries_whatever_the_people(org, django_assert_num_queries):
    for i in range(4):
        person = ConsultantFactory(username=f"extra{i}", store=org.store)
        LeadFactory(store=org.store, assigned_to=person, grade="B",
                    next_follow_up_at=local_day_start() - timedelta(days=2))
    LeadFactory(store=org.store2, assigned_to=org.consultant_b, grade="A")  # another store: not counted
    with django_assert_num_queries(3):  # the store in scope, its counts per holder (the state-now rows), the people
        rows = selectors.allocation_matrix(user=org.manager, store=org.store)
    extra = {r.consultant.username: r for r in rows if r.consultant.username.startswith("extra")}
    assert len(extra) == 4
    assert all((r.grades["B"], r.active, r.overdue) == (1, 1, 1) for r in extra.values())
    assert org.consultant_b.pk not in {r.consultant.pk for r in rows}
