"""A showroom visit with the phone of a lost customer: a defeated lead in the competitor pool is won back, a lead
awaiting a defeat verdict has its application closed as a false defeat. Through the visit page (leads) and the
API's re-visit endpoint, in the visit's transaction; the same phone in another store is another customer."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from dealercrm.models import Notification
from dealercrm.tests.clients import client_for
from defeats import services
from defeats.models import Application, ApplicationStatus, DefeatEvent, PoolEntry, PoolStatus
from defeats.selectors import Period, defeat_metrics, pending_counts
from leads import services as lead_services
from leads.models import Lead, Status, Visit
from leads.tests.factories import LeadFactory

PHONE = "+8613500135000"


def _defeated(org, catalogue):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="钱先生", phone=PHONE, grade="C")
    app = services.application_file(actor=org.consultant, lead=lead, kind="defeat", reasons=["model_unsatisfied"],
                                    competitor_series=catalogue.accord)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="已提车")
    lead.refresh_from_db()
    # The pool owner (the store's manager by default) works the entry; the lead stays with the consultant.
    assert lead.status == Status.DEFEATED and lead.assigned_to == org.consultant
    return lead


def _pending(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="孙女士", phone=PHONE, grade="C")
    services.application_file(actor=org.consultant, lead=lead, kind="quasi", reasons=["funding_not_ready"])
    lead.refresh_from_db()
    assert lead.status == Status.DEFEAT_PENDING
    return lead


def _today(org):
    today = timezone.localdate()
    return Period(today, today)


@pytest.mark.django_db
def test_a_consultant_logging_a_defeated_customers_visit_wins_them_back(org, catalogue):
    lead = _defeated(org, catalogue)
    c = client_for(org.consultant2)
    r = c.post(reverse("leads:visit"), {"name": "钱", "phone": "13500135000", "source": "walk_in"}, follow=True)
    assert r.redirect_chain[-1][0] == reverse("leads:detail", args=[lead.pk])
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE and lead.assigned_to == org.consultant2  # who received the customer
    assert lead.next_follow_up_at is not None and lead.grade == "C"
    assert Visit.objects.filter(lead=lead, is_first=False).count() == 1
    assert Lead.objects.filter(phone=PHONE).count() == 1  # no second lead: the history stays on this one
    entry = PoolEntry.objects.get(lead=lead)
    assert entry.status == PoolStatus.WON_BACK and entry.won_back_at is not None
    event = DefeatEvent.objects.get(lead=lead, kind="won_back")
    assert (event.by, event.to_user, event.from_status, event.to_status) == (org.consultant2, org.consultant2,
                                                                              "defeated", "active")
    assert defeat_metrics(user=org.manager, period=_today(org))["win_backs"] == 1
    # The pool owner (the store's manager) hears of it; the consultant who logged it needs no message.
    assert Notification.objects.filter(recipient=org.manager, kind="defeat_came_back").count() == 1
    assert not Notification.objects.filter(recipient=org.consultant2, kind="defeat_came_back").exists()
    # The page the consultant lands on shows the win-back in the lead's timeline.
    page = r.content.decode()
    assert "Won back" in page[page.index('id="lead-timeline"'):]


@pytest.mark.django_db
def test_a_manager_logging_the_visit_picks_the_consultant_and_the_grade(org, catalogue):
    lead = _defeated(org, catalogue)
    c = client_for(org.manager)
    c.post(reverse("leads:visit"), {"name": "钱", "phone": "13500135000", "source": "walk_in", "grade": "B",
                                    "assigned_to": org.consultant.pk})
    lead.refresh_from_db()
    assert (lead.status, lead.assigned_to, lead.grade) == (Status.ACTIVE, org.consultant, "B")
    assert lead.next_follow_up_at <= timezone.now() + timedelta(minutes=1)  # due now, not after B's interval
    assert Notification.objects.filter(recipient=org.consultant, kind="defeat_came_back").count() == 1


@pytest.mark.django_db
def test_a_visit_on_a_pending_application_closes_it_as_a_false_defeat(org):
    lead = _pending(org)
    client_for(org.consultant2).post(reverse("leads:visit"), {"name": "孙", "phone": "13500135000",
                                                               "source": "walk_in"})
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE and lead.assigned_to == org.consultant  # stays with its consultant
    assert lead.next_follow_up_at <= timezone.now() + timedelta(days=2, minutes=1)  # the second follow-up
    app = Application.objects.get(lead=lead)
    assert app.status == ApplicationStatus.REJECTED and app.decided_by == org.consultant2 and app.comment
    assert not PoolEntry.objects.exists()
    figures = defeat_metrics(user=org.manager, period=_today(org))
    assert (figures["rejected"], figures["defeats"], figures["false_defeat_rate"], figures["win_backs"]) == (
        1, 0, 1.0, 0)
    assert set(Notification.objects.filter(kind="defeat_came_back_pending").values_list("recipient", flat=True)) \
        == {org.manager.pk, org.consultant.pk}
    # Nothing left for the manager to decide.
    assert not pending_counts(user=org.manager)


@pytest.mark.django_db
def test_the_api_revisit_of_a_defeated_lead_is_a_win_back_held_by_the_consultant_who_lost_them(org, catalogue,
                                                                                                  api_as):
    lead = _defeated(org, catalogue)
    # A colleague of the consultant who lost them does not see the lead: 404, nothing written.
    assert api_as(org.consultant2).post(f"/api/v1/leads/{lead.pk}/visits/", {}, format="json").status_code == 404
    assert api_as(org.manager2).post(f"/api/v1/leads/{lead.pk}/visits/", {}, format="json").status_code == 404
    assert PoolEntry.objects.get(lead=lead).status == PoolStatus.IN_POOL
    r = api_as(org.manager).post(f"/api/v1/leads/{lead.pk}/visits/", {}, format="json")
    assert r.status_code == 201
    lead.refresh_from_db()
    # The manager (the pool owner) logged the visit: the customer goes back to the consultant who lost them, not to
    # the pool owner (no consultant).
    assert lead.status == Status.ACTIVE and lead.assigned_to == org.consultant
    assert PoolEntry.objects.get(lead=lead).status == PoolStatus.WON_BACK
    assert api_as(org.manager).get(f"/api/v1/leads/{lead.pk}/").json()["status"] == "active"


@pytest.mark.django_db
def test_a_customer_whose_consultant_left_comes_back_to_the_pool_owner(org, catalogue, api_as):
    lead = _defeated(org, catalogue)
    org.consultant.is_active = False
    org.consultant.save(update_fields=["is_active"])
    assert api_as(org.manager).post(f"/api/v1/leads/{lead.pk}/visits/", {}, format="json").status_code == 201
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE and lead.assigned_to == org.manager


@pytest.mark.django_db
def test_the_api_revisit_of_a_pending_lead_closes_the_application(org, api_as):
    lead = _pending(org)
    r = api_as(org.consultant).post(f"/api/v1/leads/{lead.pk}/visits/", {}, format="json")
    assert r.status_code == 201
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE
    assert Application.objects.get(lead=lead).status == ApplicationStatus.REJECTED
    steps = [e["step"] for e in api_as(org.consultant).get(f"/api/v1/leads/{lead.pk}/timeline/").json()
             if e["kind"] == "defeat"]
    assert steps == ["rejected", "applied"]


@pytest.mark.django_db
def test_the_same_phone_in_another_store_is_another_customer(org, catalogue):
    lead = _defeated(org, catalogue)
    result = lead_services.visit_log(actor=org.consultant_b, store=org.store2, name="钱先生", source="walk_in",
                                     phone="13500135000")
    assert not result.is_revisit and result.lead.pk != lead.pk
    lead.refresh_from_db()
    assert lead.status == Status.DEFEATED and PoolEntry.objects.get(lead=lead).status == PoolStatus.IN_POOL


@pytest.mark.django_db
def test_a_bad_visit_writes_nothing(org, catalogue):
    lead = _defeated(org, catalogue)
    r = client_for(org.consultant2).post(reverse("leads:visit"), {"name": "钱", "phone": "13500135000",
                                                                   "source": "walk_in",
                                                                   "arrived_at": "2999-01-01T10:00"})
    assert r.status_code == 200
    lead.refresh_from_db()
    assert lead.status == Status.DEFEATED and PoolEntry.objects.get(lead=lead).status == PoolStatus.IN_POOL
    assert not DefeatEvent.objects.filter(kind="won_back").exists()


@pytest.mark.django_db(transaction=True)
def test_a_verdict_being_written_at_the_same_moment_stands(org):
    """A manager holds the application's lock (deciding it) while the customer walks in: the visit does not wait for
    the application (that order could deadlock), it is recorded as a plain re-visit and the verdict stands."""
    lead = _pending(org)
    app = Application.objects.get(lead=lead)
    locked, release = threading.Event(), threading.Event()

    def manager():
        try:
            with transaction.atomic():
                Application.objects.select_for_update().get(pk=app.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    t = threading.Thread(target=manager)
    t.start()
    locked.wait(10)
    try:
        result = lead_services.visit_log(actor=org.consultant, store=org.store, name="孙", source="walk_in",
                                         phone="13500135000")
    finally:
        release.set()
        t.join()
    assert result.is_revisit
    lead.refresh_from_db()
    assert lead.status == Status.DEFEAT_PENDING
    assert Application.objects.get(pk=app.pk).status == ApplicationStatus.PENDING


@pytest.mark.django_db
def test_an_imported_batch_with_a_lost_customers_visit_wins_them_back_as_one_visit_does(org, catalogue):
    """The imports log visits in batches (leads.services.visit_log_many): a row with a defeated customer's phone is
    their return, as on the visit page: won back, in the row's place among the results."""
    lead = _defeated(org, catalogue)
    rows = [{"name": "李女士", "phone": "13600136000", "source": "walk_in"},
            {"name": "钱", "phone": "13500135000", "source": "walk_in"},
            {"name": "周先生", "phone": "13700137000", "source": "walk_in"}]
    results = lead_services.visit_log_many(actor=org.consultant2, store=org.store, rows=rows)
    assert [r.lead.phone for r in results] == ["+8613600136000", PHONE, "+8613700137000"]
    assert [r.is_revisit for r in results] == [False, True, False]
    assert results[1].came_back_from == "defeated" and results[1].lead.pk == lead.pk
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE and lead.assigned_to == org.consultant2
    assert PoolEntry.objects.get(lead=lead).status == PoolStatus.WON_BACK
    assert DefeatEvent.objects.filter(lead=lead, kind="won_back").count() == 1
    assert Lead.objects.filter(phone=PHONE).count() == 1
    assert Visit.objects.filter(lead=lead, is_first=False).count() == 1


@pytest.mark.django_db
def test_an_imported_batch_with_a_pending_customers_visit_closes_the_application_as_one_visit_does(org):
    lead = _pending(org)
    results = lead_services.visit_log_many(actor=org.consultant, store=org.store, rows=[
        {"name": "孙", "phone": "13500135000", "source": "walk_in"}])
    assert results[0].is_revisit and results[0].came_back_from == "defeat_pending"
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE
    assert Application.objects.get(lead=lead).status != ApplicationStatus.PENDING
