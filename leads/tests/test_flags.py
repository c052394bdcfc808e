"""The flags people change (keep a stale lead, move a lead to the pool, claim from it) through the services and the
API, the pool's visibility, the ``stale`` filter, two claims at once, and the notifications services send."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from dealercrm.models import Notification
from dealercrm.tests.factories import ConsultantFactory
from leads import services
from leads.models import AssignmentChange, FlagEvent, Lead
from leads.services import jobs
from leads.tests.factories import FollowUpFactory, LeadFactory

LEADS = "/api/v1/leads/"
POOL = "/api/v1/leads/pool/"


def url(lead, suffix):
    return f"{LEADS}{lead.pk}/{suffix}/"


def stale_lead(user, **kwargs):
    return LeadFactory(store=user.store, assigned_to=user, grade="E",
                       grade_since=timezone.now() - timedelta(days=30), **kwargs)


def pooled(store, **kwargs):
    return LeadFactory(store=store, assigned_to=None, pooled_at=timezone.now() - timedelta(hours=2), **kwargs)


# --- services -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_keep_needs_a_reason_and_a_stale_lead_and_the_manager(org):
    lead = stale_lead(org.consultant)
    with pytest.raises(ValidationError):
        services.lead_keep(actor=org.manager, lead=lead, reason="x")  # not flagged yet
    jobs.leads_flag_stale()
    with pytest.raises(ValidationError):
        services.lead_keep(actor=org.manager, lead=lead, reason="  ")
    with pytest.raises(PermissionDenied):
        services.lead_keep(actor=org.consultant, lead=lead, reason="客户在等年终奖")
    with pytest.raises(PermissionDenied):
        services.lead_keep(actor=org.manager2, lead=lead, reason="客户在等年终奖")
    services.lead_keep(actor=org.manager, lead=lead, reason="客户在等年终奖")
    lead.refresh_from_db()
    assert lead.stale_since is None and lead.dwell_kept_at is not None
    kept = FlagEvent.objects.get(lead=lead, action="kept")
    assert (kept.by, kept.reason) == (org.manager, "客户在等年终奖")


@pytest.mark.django_db
def test_move_to_pool_and_claim_write_the_assignment_history(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, next_follow_up_at=timezone.now() - timedelta(days=3))
    with pytest.raises(PermissionDenied):
        services.lead_move_to_pool(actor=org.consultant, lead=lead)
    services.lead_move_to_pool(actor=org.manager, lead=lead, reason="客户要求换顾问")
    lead.refresh_from_db()
    assert lead.assigned_to is None and lead.pooled_at is not None
    with pytest.raises(PermissionDenied):
        services.lead_claim(actor=org.consultant_b, lead=lead)  # another store
    with pytest.raises(PermissionDenied):
        services.lead_claim(actor=org.manager, lead=lead)  # managers assign, consultants claim
    services.lead_claim(actor=org.consultant2, lead=lead)
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant2 and lead.pooled_at is None
    assert lead.next_follow_up_at >= timezone.now() - timedelta(minutes=1)  # falls due today, not overdue
    moves = list(AssignmentChange.objects.filter(lead=lead).order_by("pk").values_list("from_user", "to_user"))
    assert moves == [(org.consultant.pk, None), (None, org.consultant2.pk)]
    with pytest.raises(services.AlreadyClaimed):
        services.lead_claim(actor=org.consultant, lead=lead)


# --- immediate notifications ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_assignment_notifies_the_new_holder(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="周先生")
    services.lead_assign(actor=org.manager, lead=lead, to_user=org.consultant2)
    n = Notification.objects.get()
    assert (n.recipient, n.kind, n.params) == (org.consultant2, "assigned", {"count": 1, "name": "周先生"})
    assert n.url == f"/leads/{lead.pk}/"
    services.lead_assign(actor=org.manager, lead=lead, to_user=None)  # to the pool: nobody to tell
    assert Notification.objects.count() == 1


@pytest.mark.django_db
def test_assigning_from_the_pool_notifies_too(org):
    lead = pooled(org.store)
    services.lead_assign(actor=org.manager, lead=lead, to_user=org.consultant)
    assert Notification.objects.get().recipient == org.consultant


@pytest.mark.django_db
def test_round_robin_and_bulk_moves_notify_each_target_once_with_the_count(org):
    for _ in range(4):
        LeadFactory(store=org.store, assigned_to=None)
    services.leads_round_robin(actor=org.manager, store=org.store)
    counts = dict(Notification.objects.values_list("recipient_id", "params__count"))
    assert counts == {org.consultant.pk: 2, org.consultant2.pk: 2}

    Notification.objects.all().delete()
    third = ConsultantFactory(store=org.store)
    services.leads_bulk_reassign(actor=org.manager, from_user=org.consultant, to_user=third)
    n = Notification.objects.get()
    assert (n.recipient, n.params["count"]) == (third, 2)


@pytest.mark.django_db
def test_a_rejected_follow_up_notifies_its_author_and_an_approved_one_does_not(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="吴女士")
    rejected = FollowUpFactory(lead=lead)
    approved = FollowUpFactory(lead=lead)
    services.follow_up_review(actor=org.manager, follow_up=approved, approve=True)
    assert not Notification.objects.exists()
    services.follow_up_review(actor=org.manager, follow_up=rejected, approve=False, comment="没写客户异议")
    n = Notification.objects.get()
    assert (n.recipient, n.kind) == (org.consultant, "review_rejected")
    assert n.params == {"name": "吴女士", "comment": "没写客户异议"}


@pytest.mark.django_db
def test_a_failed_assignment_notifies_nobody(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    with pytest.raises(ValidationError):
        services.lead_assign(actor=org.manager, lead=lead, to_user=org.consultant_b)  # another store's consultant
    assert not Notification.objects.exists()


# --- API: the pool --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_pool_is_the_callers_stores(org, api_as):
    ours = pooled(org.store)
    south = pooled(org.store2)
    beta = pooled(org.other_store)
    LeadFactory(store=org.store, assigned_to=None)  # unassigned but never pooled: not in the pool

    def ids(user):
        resp = api_as(user).get(POOL)
        assert resp.status_code == 200, resp.content
        return {row["id"] for row in resp.json()["results"]}

    assert ids(org.consultant) == {ours.pk}
    assert ids(org.manager) == {ours.pk}
    assert ids(org.consultant_b) == {south.pk}
    assert ids(org.admin) == {ours.pk, south.pk}
    assert ids(org.other_manager) == {beta.pk}


@pytest.mark.django_db
def test_pool_phones_are_masked_for_consultants(org, api_as):
    pooled(org.store, phone="+8613800138000")
    row = api_as(org.consultant).get(POOL).json()["results"][0]
    assert row["phone"] == "138****8000"
    assert api_as(org.manager).get(POOL).json()["results"][0]["phone"] == "138 0013 8000"


@pytest.mark.django_db
def test_the_pool_list_takes_a_constant_number_of_queries(org, api_as, django_assert_max_num_queries):
    for _ in range(3):
        pooled(org.store)
    client = api_as(org.consultant)
    with django_assert_max_num_queries(8) as small:
        client.get(POOL)
    for _ in range(20):
        pooled(org.store)
    with django_assert_max_num_queries(len(small.captured_queries)):
        resp = client.get(POOL)
    assert resp.json()["count"] == 23


@pytest.mark.django_db
def test_claim_through_the_api(org, api_as):
    lead = pooled(org.store)
    resp = api_as(org.consultant).post(url(lead, "claim"))
    assert resp.status_code == 200, resp.content
    assert resp.json()["assigned_to"] == org.consultant.pk and resp.json()["pooled_at"] is None
    # A colleague who still had the pool page open: 409, not 404.
    again = api_as(org.consultant2).post(url(lead, "claim"))
    assert again.status_code == 409
    assert "lead" in again.json()


@pytest.mark.django_db
def test_claim_denials(org, api_as):
    lead = pooled(org.store)
    assert api_as(org.consultant_b).post(url(lead, "claim")).status_code == 404  # another store
    assert api_as(org.other_manager).post(url(lead, "claim")).status_code == 404  # another group
    assert api_as(org.manager).post(url(lead, "claim")).status_code == 403  # managers assign instead
    colleague = LeadFactory(store=org.store, assigned_to=org.consultant2)  # never pooled: not the caller's to see
    assert api_as(org.consultant).post(url(colleague, "claim")).status_code == 404
    lead.refresh_from_db()
    assert lead.assigned_to is None


@pytest.mark.django_db
def test_a_pool_lead_is_not_readable_by_a_consultant_through_the_lead_routes(org, api_as):
    lead = pooled(org.store)
    assert api_as(org.consultant).get(f"{LEADS}{lead.pk}/").status_code == 404


@pytest.mark.django_db
def test_manager_moves_a_lead_to_the_pool_and_assigns_from_it(org, api_as):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    assert api_as(org.consultant).post(url(lead, "pool")).status_code == 403
    assert api_as(org.manager2).post(url(lead, "pool")).status_code == 404
    resp = api_as(org.manager).post(url(lead, "pool"), {"reason": "顾问休假"}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["assigned_to"] is None and resp.json()["pooled_at"]
    assert AssignmentChange.objects.get(lead=lead).reason == "顾问休假"
    resp = api_as(org.manager).post(url(lead, "assign"), {"assigned_to": org.consultant2.pk}, format="json")
    assert resp.status_code == 200 and resp.json()["pooled_at"] is None


# --- API: stale ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_stale_filter_and_keep_through_the_api(org, api_as):
    lead = stale_lead(org.consultant)
    fresh = LeadFactory(store=org.store, assigned_to=org.consultant)
    jobs.leads_flag_stale()
    manager = api_as(org.manager)
    listed = manager.get(LEADS, {"stale": "true"}).json()["results"]
    assert [row["id"] for row in listed] == [lead.pk]
    assert listed[0]["stale_max_dwell_days"] == 14 and listed[0]["stale_since"]
    assert [r["id"] for r in manager.get(LEADS, {"stale": "false"}).json()["results"]] == [fresh.pk]
    assert api_as(org.manager2).get(LEADS, {"stale": "true"}).json()["results"] == []

    assert manager.post(url(lead, "keep"), {}, format="json").status_code == 400
    assert api_as(org.consultant).post(url(lead, "keep"), {"reason": "x"}, format="json").status_code == 403
    assert api_as(org.manager2).post(url(lead, "keep"), {"reason": "x"}, format="json").status_code == 404
    assert api_as(org.other_admin).post(url(lead, "keep"), {"reason": "x"}, format="json").status_code == 404
    resp = manager.post(url(lead, "keep"), {"reason": "客户在等新款"}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["stale_since"] is None and resp.json()["dwell_kept_at"]
    assert manager.post(url(lead, "keep"), {"reason": "again"}, format="json").status_code == 400  # not stale


# --- two claims at once ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_consultants_claiming_one_pool_lead_at_once_exactly_one_wins(org):
    lead = pooled(org.store)
    barrier = threading.Barrier(2)
    won, lost, errors = [], [], []

    def claim(actor):
        try:
            barrier.wait()
            services.lead_claim(actor=actor, lead=Lead.objects.get(pk=lead.pk))
            won.append(actor.pk)
        except services.AlreadyClaimed:
            lost.append(actor.pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(who,)) for who in (org.consultant, org.consultant2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(won) == 1 and len(lost) == 1
    lead.refresh_from_db()
    assert lead.assigned_to_id == won[0] and lead.pooled_at is None
    assert AssignmentChange.objects.filter(lead=lead).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_api_claims_at_once_give_one_200_and_one_409(org):
    from rest_framework.test import APIClient

    lead = pooled(org.store)
    barrier = threading.Barrier(2)
    codes = []

    def claim(actor):
        client = APIClient()
        client.force_authenticate(actor)
        try:
            barrier.wait()
            codes.append(client.post(url(lead, "claim")).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(who,)) for who in (org.consultant, org.consultant2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409]
