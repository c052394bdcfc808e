"""The stale-lead queue (/leads/stale/) and the store's pool (/leads/pool/): who may open them, what they show, that
every action goes through its service (keep, regrade, reassign, move to the pool, claim, assign) and the query
counts stay flat. The flags are set directly on the leads: these pages read flags, whatever job set them."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dealercrm.tests.clients import HTMX, client_for
from dealercrm.tests.factories import UserFactory
from leads import services
from leads.models import AssignmentChange, FlagAction, FlagEvent, FlagKind, GradeChange, Lead

from .factories import FollowUpFactory, LeadFactory, StaleFlagFactory

pytestmark = pytest.mark.django_db


def stale_lead(store, consultant, *, grade="B", held=134, max_dwell=120, **kwargs):
    now = timezone.now()
    lead = LeadFactory(
        store=store, assigned_to=consultant, grade=grade, grade_since=now - timedelta(days=held),
        first_visit_at=now - timedelta(days=held + 5), **kwargs,
    )
    StaleFlagFactory(lead=lead, since=now - timedelta(days=held - max_dwell), max_dwell_days=max_dwell)
    return lead


def pool_lead(store, **kwargs):
    return LeadFactory(store=store, assigned_to=None, pooled_at=timezone.now() - timedelta(days=1), **kwargs)


# --- the stale queue: access -----------------------------------------------------------------------------------------


def test_consultant_gets_403_on_the_stale_queue_and_its_actions(org):
    lead = stale_lead(org.store, org.consultant)
    client = client_for(org.consultant)
    assert client.get(reverse("leads:stale")).status_code == 403
    response = client.post(reverse("leads:stale_action", args=[lead.pk]), {"action": "keep", "reason": "x"})
    assert response.status_code == 403
    lead.refresh_from_db()
    assert lead.stale_since is not None


def test_stale_queue_needs_a_login(org):
    response = Client().get(reverse("leads:stale"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", ["manager2", "other_manager", "other_admin"])
def test_acting_on_a_stale_lead_of_another_store_is_404(org, who):
    lead = stale_lead(org.store, org.consultant)
    response = client_for(getattr(org, who)).post(
        reverse("leads:stale_action", args=[lead.pk]), {"action": "keep", "reason": "waiting"}
    )
    assert response.status_code == 404
    lead.refresh_from_db()
    assert lead.stale_since is not None


def test_manager_cannot_open_another_stores_queue(org):
    assert client_for(org.manager).get(reverse("leads:stale"), {"store": org.store2.pk}).status_code == 404


# --- the stale queue: what it shows ----------------------------------------------------------------------------------


def test_queue_lists_the_stores_stale_leads_with_the_rule_and_the_evidence(org):
    lead = stale_lead(org.store, org.consultant, name="王建国", held=134, max_dwell=120)
    FollowUpFactory(lead=lead, occurred_at=timezone.now() - timedelta(days=40), method="wechat", outcome="no_answer")
    FollowUpFactory(lead=lead, occurred_at=timezone.now() - timedelta(days=20), method="phone", outcome="not_now")
    LeadFactory(store=org.store, assigned_to=org.consultant, name="李不滞留")  # not stale
    stale_lead(org.store2, org.consultant_b, name="南店客户")  # another store
    stale_lead(org.store, org.consultant, name="已成交", status="won")  # closed

    response = client_for(org.manager).get(reverse("leads:stale"))

    assert response.status_code == 200
    body = response.content.decode()
    assert [lead.pk for lead in response.context["page"]] == [lead.pk]
    assert "王建国" in body and "李不滞留" not in body and "南店客户" not in body and "已成交" not in body
    assert "B · held 134 days, max 120" in body
    assert "Phone call · Not interested now" in body  # the latest follow-up, not the older one
    assert str(org.consultant) in body


def test_queue_says_when_the_clock_restarted_with_a_keep(org):
    now = timezone.now()
    stale_lead(org.store, org.consultant, held=300, max_dwell=120, dwell_kept_at=now - timedelta(days=125))
    body = client_for(org.manager).get(reverse("leads:stale")).content.decode()
    assert "B · 125 days since kept, max 120" in body


def test_queue_oldest_stale_first_and_paginated(org):
    leads = [stale_lead(org.store, org.consultant, held=121 + i) for i in range(23)]
    client = client_for(org.manager)
    first = client.get(reverse("leads:stale"))
    assert first.context["stale_count"] == 23
    assert [lead.pk for lead in first.context["page"]][:2] == [leads[-1].pk, leads[-2].pk]
    assert len(first.context["page"]) == 20
    assert len(client.get(reverse("leads:stale"), {"page": 2}).context["page"]) == 3


def test_group_admin_picks_the_store(org):
    stale_lead(org.store2, org.consultant_b, name="南店客户")
    client = client_for(org.admin)
    assert "南店客户" not in client.get(reverse("leads:stale")).content.decode()
    assert "南店客户" in client.get(reverse("leads:stale"), {"store": org.store2.pk}).content.decode()
    assert client.get(reverse("leads:stale"), {"store": org.other_store.pk}).status_code == 404


@pytest.mark.parametrize("count", [2, 20])
def test_queue_runs_a_constant_number_of_queries(org, django_assert_max_num_queries, count):
    for i in range(count):
        lead = stale_lead(org.store, org.consultant if i % 2 else org.consultant2)
        FollowUpFactory(lead=lead)
    client = client_for(org.manager)
    # Session, user, stores, count, page (with the latest follow-up), consultants, the tab badge.
    with django_assert_max_num_queries(8):
        response = client.get(reverse("leads:stale"))
    assert len(response.context["page"]) == count


# --- the stale queue: actions ----------------------------------------------------------------------------------------


def test_keep_with_a_reason_clears_the_flag_and_the_card_says_so(org):
    lead = stale_lead(org.store, org.consultant)
    response = client_for(org.manager).post(
        reverse("leads:stale_action", args=[lead.pk]), {"action": "keep", "reason": "等五月新款上市"}, **HTMX
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and "Kept in grade B: 等五月新款上市" in body
    lead.refresh_from_db()
    assert lead.stale_since is None and lead.dwell_kept_at is not None
    event = FlagEvent.objects.get(lead=lead)
    assert (event.kind, event.action, event.by, event.reason) == (FlagKind.STALE, FlagAction.KEPT, org.manager,
                                                                  "等五月新款上市")
    # It has left the queue.
    assert not list(client_for(org.manager).get(reverse("leads:stale")).context["page"])


def test_keep_without_a_reason_shows_the_error_inline_and_changes_nothing(org):
    lead = stale_lead(org.store, org.consultant)
    response = client_for(org.manager).post(
        reverse("leads:stale_action", args=[lead.pk]), {"action": "keep", "reason": "  "}, **HTMX
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="stale-{lead.pk}"' in body and "is-invalid" in body
    assert "Say why the lead stays in its grade." in body
    lead.refresh_from_db()
    assert lead.stale_since is not None
    assert not FlagEvent.objects.exists()


def test_keep_without_htmx_redirects_with_a_message(org):
    lead = stale_lead(org.store, org.consultant)
    response = client_for(org.manager).post(
        reverse("leads:stale_action", args=[lead.pk]), {"action": "keep", "reason": "客户出国"}, follow=True
    )
    assert response.redirect_chain[-1][0].startswith(reverse("leads:stale"))
    assert "Kept in grade B" in response.content.decode()


def test_regrade_changes_the_grade_and_clears_the_flag(org):
    lead = stale_lead(org.store, org.consultant, grade="B")
    response = client_for(org.manager).post(
        reverse("leads:stale_action", args=[lead.pk]), {"action": "regrade", "grade": "C"}, **HTMX
    )
    assert "Now grade C." in response.content.decode()
    lead.refresh_from_db()
    assert lead.grade == "C" and lead.stale_since is None
    assert GradeChange.objects.get(lead=lead).changed_by == org.manager


def test_regrade_to_the_same_grade_is_refused(org):
    lead = stale_lead(org.store, org.consultant, grade="B")
    response = client_for(org.manager).post(
        reverse("leads:stale_action", args=[lead.pk]), {"action": "regrade", "grade": "B"}, **HTMX
    )
    assert "is-invalid" in response.content.decode()
    lead.refresh_from_db()
    assert lead.stale_since is not None and not GradeChange.objects.exists()


def test_reassign_gives_it_to_another_consultant(org):
    lead = stale_lead(org.store, org.consultant)
    response = client_for(org.manager).post(
        reverse("leads:stale_action", args=[lead.pk]), {"action": "reassign", "to_user": org.consultant2.pk}, **HTMX
    )
    assert f"Now with {org.consultant2}." in response.content.decode()
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant2
    assert AssignmentChange.objects.get(lead=lead).from_user == org.consultant


def test_reassign_to_a_consultant_of_another_store_is_refused(org):
    lead = stale_lead(org.store, org.consultant)
    response = client_for(org.manager).post(
        reverse("leads:stale_action", args=[lead.pk]), {"action": "reassign", "to_user": org.consultant_b.pk}, **HTMX
    )
    assert "is-invalid" in response.content.decode()
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant


def test_move_to_the_pool(org):
    lead = stale_lead(org.store, org.consultant)
    response = client_for(org.manager).post(
        reverse("leads:stale_action", args=[lead.pk]), {"action": "pool", "reason": ""}, **HTMX
    )
    assert "Moved to the store&#x27;s pool" in response.content.decode()
    lead.refresh_from_db()
    assert lead.assigned_to is None and lead.pooled_at is not None


def test_unknown_action_is_404(org):
    lead = stale_lead(org.store, org.consultant)
    assert client_for(org.manager).post(
        reverse("leads:stale_action", args=[lead.pk]), {"action": "delete"}
    ).status_code == 404


# --- the pool ----------------------------------------------------------------------------------------------------------


def test_consultant_sees_their_stores_pool_with_masked_phones(org):
    lead = pool_lead(org.store, name="公海客户", phone="+8613800138000")
    pool_lead(org.store2, name="南店公海")
    LeadFactory(store=org.store, assigned_to=None, name="未分配非公海")  # unassigned but never pooled
    LeadFactory(store=org.store, assigned_to=org.consultant2, name="同事的客户")

    response = client_for(org.consultant).get(reverse("leads:pool"))

    assert response.status_code == 200
    body = response.content.decode()
    assert [lead.pk for lead in response.context["page"]] == [lead.pk]
    assert "公海客户" in body and "138****8000" in body and "138 0013 8000" not in body
    assert "南店公海" not in body and "未分配非公海" not in body and "同事的客户" not in body
    assert reverse("leads:pool_claim", args=[lead.pk]) in body
    assert reverse("leads:pool_assign", args=[lead.pk]) not in body


def test_manager_sees_full_phones_and_an_assign_form(org):
    lead = pool_lead(org.store, phone="+8613800138000")
    body = client_for(org.manager).get(reverse("leads:pool")).content.decode()
    assert "138 0013 8000" in body
    assert reverse("leads:pool_assign", args=[lead.pk]) in body
    assert reverse("leads:pool_claim", args=[lead.pk]) not in body


def test_group_admin_picks_the_stores_pool(org):
    pool_lead(org.store2, name="南店公海")
    client = client_for(org.admin)
    assert "南店公海" in client.get(reverse("leads:pool"), {"store": org.store2.pk}).content.decode()
    assert client.get(reverse("leads:pool"), {"store": org.other_store.pk}).status_code == 404


def test_a_user_without_a_role_gets_403(org):
    nobody = UserFactory(username="norole", store=None, dealer_group=None, role="")
    assert client_for(nobody).get(reverse("leads:pool")).status_code == 403


def test_consultant_claims_a_pool_lead(org):
    lead = pool_lead(org.store)
    response = client_for(org.consultant).post(reverse("leads:pool_claim", args=[lead.pk]), **HTMX)
    assert response.status_code == 200
    assert "Yours now" in response.content.decode()
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant and lead.pooled_at is None
    assert AssignmentChange.objects.get(lead=lead).to_user == org.consultant


def test_the_pool_count_drops_with_a_claim_and_an_assignment(org):
    import re

    def count_in(html: str) -> int:
        block = re.search(r'<div id="pool-count"[^>]*>(.*?)</div>', html, re.S)
        assert block, "no pool count in the answer"
        return int(re.search(r'class="stat-value">(\d+)<', block.group(1)).group(1))

    leads = [pool_lead(org.store) for _ in range(3)]
    assert count_in(client_for(org.consultant).get(reverse("leads:pool")).content.decode()) == 3
    claimed = client_for(org.consultant).post(reverse("leads:pool_claim", args=[leads[0].pk]), **HTMX)
    assert 'hx-swap-oob="true"' in claimed.content.decode() and count_in(claimed.content.decode()) == 2
    assigned = client_for(org.manager).post(reverse("leads:pool_assign", args=[leads[1].pk]),
                                            {"to_user": org.consultant2.pk, "version": leads[1].version}, **HTMX)
    assert count_in(assigned.content.decode()) == 1


def test_a_lead_claimed_first_by_someone_else_says_so(org):
    lead = pool_lead(org.store)
    services.lead_claim(actor=org.consultant2, lead=lead)
    response = client_for(org.consultant).post(reverse("leads:pool_claim", args=[lead.pk]), **HTMX)
    # No longer in the pool: a 404 whose row (swapped in by htmx) says so, without the lead's details.
    assert response.status_code == 404
    assert "someone else has just claimed it" in response.content.decode()
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant2


def test_claiming_another_stores_pool_lead_is_404(org):
    lead = pool_lead(org.store2)
    assert client_for(org.consultant).post(reverse("leads:pool_claim", args=[lead.pk])).status_code == 404
    lead.refresh_from_db()
    assert lead.assigned_to is None


def test_a_manager_cannot_claim(org):
    lead = pool_lead(org.store)
    assert client_for(org.manager).post(reverse("leads:pool_claim", args=[lead.pk])).status_code == 403


def test_manager_assigns_from_the_pool(org):
    lead = pool_lead(org.store)
    response = client_for(org.manager).post(
        reverse("leads:pool_assign", args=[lead.pk]), {"to_user": org.consultant2.pk, "version": lead.version}, **HTMX
    )
    assert f"Now with {org.consultant2}" in response.content.decode()
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant2 and lead.pooled_at is None


def test_manager_assigning_a_lead_just_claimed_does_not_take_it_from_the_claimer(org):
    lead = pool_lead(org.store)
    version = lead.version
    services.lead_claim(actor=org.consultant, lead=lead)
    response = client_for(org.manager).post(
        reverse("leads:pool_assign", args=[lead.pk]), {"to_user": org.consultant2.pk, "version": version}, **HTMX
    )
    assert "Someone else has just claimed this lead." in response.content.decode()
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant


def test_consultant_cannot_assign_from_the_pool(org):
    lead = pool_lead(org.store)
    response = client_for(org.consultant).post(
        reverse("leads:pool_assign", args=[lead.pk]), {"to_user": org.consultant.pk}
    )
    assert response.status_code == 403
    assert Lead.objects.get(pk=lead.pk).assigned_to is None


@pytest.mark.parametrize("count", [2, 25])
def test_pool_runs_a_constant_number_of_queries(org, django_assert_max_num_queries, count):
    for _ in range(count):
        pool_lead(org.store)
    client = client_for(org.consultant)
    with django_assert_max_num_queries(5):  # session, user, count, page
        response = client.get(reverse("leads:pool"))
    assert len(response.context["page"]) == count
    manager = client_for(org.manager)
    with django_assert_max_num_queries(8):  # + stores, consultants, the tab badge
        assert len(manager.get(reverse("leads:pool")).context["page"]) == count


# --- nav links and the reclaim setting ---------------------------------------------------------------------------------


def test_nav_links_by_role(org):
    home = reverse("home")
    consultant = client_for(org.consultant).get(home).content.decode()
    assert reverse("leads:pool") in consultant and reverse("leads:stale") not in consultant
    assert reverse("job_runs") not in consultant
    manager = client_for(org.manager).get(home).content.decode()
    assert reverse("leads:pool") in manager and reverse("leads:stale") in manager
    assert reverse("job_runs") not in manager
    admin = client_for(org.admin).get(home).content.decode()
    assert reverse("job_runs") in admin


def test_group_admin_sets_the_reclaim_days_on_the_rules_page(org):
    client = client_for(org.admin)
    assert 'name="reclaim_after_days"' in client.get(reverse("leads:grade_rules")).content.decode()
    response = client.post(reverse("leads:grade_rules"), {"reclaim_after_days": "10"})
    assert response.status_code == 302
    org.group.refresh_from_db()
    assert org.group.reclaim_after_days == 10
    bad = client.post(reverse("leads:grade_rules"), {"reclaim_after_days": "0"})
    assert bad.status_code == 200 and "is-invalid" in bad.content.decode()
    org.group.refresh_from_db()
    assert org.group.reclaim_after_days == 10


def test_manager_cannot_set_the_reclaim_days(org):
    assert client_for(org.manager).post(reverse("leads:grade_rules"), {"reclaim_after_days": "3"}).status_code == 403
    org.group.refresh_from_db()
    assert org.group.reclaim_after_days == 7
