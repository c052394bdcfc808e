"""The fleet sales manager (批售经理) and the competitor pool: confirmed defeats reach him, he hands them out to the
store's consultants (one or several), and a change of the store's pool owner moves the open customers with a history
row each. Denials: a consultant cannot hand out, another store's fleet manager cannot touch the pool (404)."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from dealercrm.models import Notification, User
from dealercrm.tests.factories import ConsultantFactory
from defeats import services
from defeats.models import DefeatEvent, EventKind, PoolEntry, PoolOwner
from defeats.tests.factories import pending_application
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _pooled(org, n, *, consultant=None):
    """``n`` confirmed defeats of org.store (filed by ``consultant``), each a pool entry."""
    entries = []
    for _ in range(n):
        lead = LeadFactory(store=org.store, assigned_to=consultant or org.consultant)
        app = pending_application(org, lead=lead)
        services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="核实")
        entries.append(PoolEntry.objects.get(lead=lead))
    return entries


@pytest.fixture
def fleet(org):
    """org.consultant2 made the store's pool owner by its manager: the fleet sales manager."""
    services.pool_owner_set(actor=org.manager, store=org.store, user=org.consultant2)
    org.consultant2.refresh_from_db()
    return org.consultant2


def test_naming_a_consultant_pool_owner_makes_him_the_fleet_manager(org, fleet):
    assert fleet.fleet_manager and fleet.is_fleet_manager
    assert services.pool_owner_for(org.store) == fleet
    # Another consultant named later takes the title; a manager named owner holds none.
    services.pool_owner_set(actor=org.manager, store=org.store, user=org.consultant)
    assert list(User.objects.filter(fleet_manager=True)) == [org.consultant]
    services.pool_owner_set(actor=org.manager, store=org.store, user=org.manager)
    assert not User.objects.filter(fleet_manager=True).exists()


def test_confirmed_defeats_go_to_the_fleet_manager_to_distribute(org, fleet):
    entries = _pooled(org, 2)
    assert {e.owner for e in entries} == {fleet}
    # The lead stays with the consultant who lost it.
    assert {e.lead.assigned_to for e in entries} == {org.consultant}


def test_he_hands_one_and_then_several_out_with_history(org, fleet):
    a, b, c = _pooled(org, 3)
    assert services.pool_entries_reassign(actor=fleet, entries=[a], to_user=org.consultant) == 1
    assert services.pool_entries_reassign(actor=fleet, entries=[b, c], to_user=org.consultant,
                                          comment="按区域分") == 2
    assert set(PoolEntry.objects.values_list("owner", flat=True)) == {org.consultant.pk}
    events = DefeatEvent.objects.filter(kind=EventKind.REASSIGNED).order_by("pk")
    assert [(e.lead_id, e.by, e.to_user, e.comment) for e in events] == [
        (a.lead_id, fleet, org.consultant, "Handed out by the pool owner"),
        (b.lead_id, fleet, org.consultant, "按区域分"), (c.lead_id, fleet, org.consultant, "按区域分")]
    assert Notification.objects.filter(recipient=org.consultant, kind="defeat_pool_handed").count() == 2


def test_a_consultant_cannot_hand_out_and_nothing_moves(org, fleet):
    (entry,) = _pooled(org, 1)
    services.pool_entries_reassign(actor=fleet, entries=[entry], to_user=org.consultant)
    with pytest.raises(PermissionDenied):
        services.pool_entries_reassign(actor=org.consultant, entries=[entry], to_user=fleet)
    entry.refresh_from_db()
    assert entry.owner == org.consultant


def test_the_owner_change_moves_the_open_entries_with_a_history_row_each(org, fleet):
    held = _pooled(org, 3)
    handed = held.pop()
    services.pool_entries_reassign(actor=fleet, entries=[handed], to_user=org.consultant)
    new = ConsultantFactory(store=org.store)
    moved = services.pool_owner_set(actor=org.manager, store=org.store, user=new)
    assert moved == 2
    assert {e.pk for e in PoolEntry.objects.filter(owner=new)} == {e.pk for e in held}
    # The customer the fleet manager had already handed out stays with its consultant.
    handed.refresh_from_db()
    assert handed.owner == org.consultant
    history = DefeatEvent.objects.filter(kind=EventKind.REASSIGNED, to_user=new)
    assert sorted(history.values_list("lead_id", flat=True)) == sorted(e.lead_id for e in held)
    assert set(history.values_list("by", "comment")) == {(org.manager.pk, "The store's pool owner changed")}
    assert PoolOwner.objects.get(store=org.store).user == new


def test_only_a_manager_or_admin_changes_the_owner(org, fleet):
    with pytest.raises(PermissionDenied):
        services.pool_owner_set(actor=fleet, store=org.store, user=org.consultant)
    with pytest.raises(PermissionDenied):
        services.pool_owner_set(actor=org.manager2, store=org.store, user=org.consultant)
    services.pool_owner_set(actor=org.admin, store=org.store, user=None)
    assert services.pool_owner_for(org.store) == org.manager


# --- the API --------------------------------------------------------------------------------------------------------


def test_api_hand_out_single_and_bulk(org, fleet, api_as):
    a, b, c = _pooled(org, 3)
    api = api_as(fleet)
    r = api.post(f"/api/v1/defeats/pool/{a.pk}/reassign/", {"to_user": org.consultant.pk}, format="json")
    assert r.status_code == 200 and r.json()["owner"] == org.consultant.pk
    r = api.post("/api/v1/defeats/pool/bulk-reassign/", {"ids": [b.pk, c.pk], "to_user": org.consultant.pk},
                 format="json")
    assert r.status_code == 200 and [row["owner"] for row in r.json()] == [org.consultant.pk] * 2


def test_api_denials(org, fleet, api_as):
    (entry,) = _pooled(org, 1)
    # A consultant who holds nothing in the pool does not see the entry: 404.
    r = api_as(org.consultant).post(f"/api/v1/defeats/pool/{entry.pk}/reassign/", {"to_user": org.consultant.pk},
                                    format="json")
    assert r.status_code == 404
    # The sister store's fleet manager: 404 on the entry, the bulk hand-out and the store's owner.
    services.pool_owner_set(actor=org.manager2, store=org.store2, user=org.consultant_b)
    sister = api_as(User.objects.get(pk=org.consultant_b.pk))
    assert sister.post(f"/api/v1/defeats/pool/{entry.pk}/reassign/", {"to_user": org.consultant_b.pk},
                       format="json").status_code == 404
    assert sister.post("/api/v1/defeats/pool/bulk-reassign/", {"ids": [entry.pk], "to_user": org.consultant_b.pk},
                       format="json").status_code == 404
    assert sister.put(f"/api/v1/stores/{org.store.pk}/pool-owner/", {"user": org.consultant_b.pk},
                      format="json").status_code == 404
    # A consultant handed the customer may not pass it on (403); the fleet manager may not name the owner (403).
    services.pool_entries_reassign(actor=fleet, entries=[entry], to_user=org.consultant)
    assert api_as(org.consultant).post(f"/api/v1/defeats/pool/{entry.pk}/reassign/", {"to_user": fleet.pk},
                                       format="json").status_code == 403
    assert api_as(fleet).put(f"/api/v1/stores/{org.store.pk}/pool-owner/", {"user": fleet.pk},
                             format="json").status_code == 403
    entry.refresh_from_db()
    assert entry.owner == org.consultant


def test_api_owner_change(org, fleet, api_as):
    _pooled(org, 2)
    api = api_as(org.manager)
    r = api.get(f"/api/v1/stores/{org.store.pk}/pool-owner/")
    assert r.json() == {"store": org.store.pk, "user": fleet.pk, "owner": fleet.pk, "owner_name": str(fleet),
                        "fleet_manager": True, "open_entries": 2}
    r = api.put(f"/api/v1/stores/{org.store.pk}/pool-owner/", {"user": org.consultant.pk}, format="json")
    assert r.status_code == 200
    assert (r.json()["owner"], r.json()["moved"], r.json()["open_entries"]) == (org.consultant.pk, 2, 2)
    r = api.put(f"/api/v1/stores/{org.store.pk}/pool-owner/", {"user": org.consultant_b.pk}, format="json")
    assert r.status_code == 400  # not a member of this store


# --- the page -------------------------------------------------------------------------------------------------------


def test_pool_page_hand_out_and_owner_form(org, fleet):
    a, b = _pooled(org, 2)
    page = Client(HTTP_ACCEPT_LANGUAGE="en")
    page.force_login(fleet)
    text = page.get("/defeats/pool/").content.decode()
    assert 'id="dft-hand-out"' in text and 'id="dft-pool-owner"' not in text
    r = page.post("/defeats/pool/hand-out/", {"ids": [a.pk, b.pk], "to_user": org.consultant.pk})
    assert r.status_code == 302
    assert set(PoolEntry.objects.values_list("owner", flat=True)) == {org.consultant.pk}
    manager = Client(HTTP_ACCEPT_LANGUAGE="en")
    manager.force_login(org.manager)
    assert 'id="dft-pool-owner"' in manager.get("/defeats/pool/").content.decode()
    r = manager.post("/defeats/pool/owner/", {"store": org.store.pk, "user": org.consultant.pk})
    assert r.status_code == 302 and services.pool_owner_for(org.store) == org.consultant
    consultant = Client()
    consultant.force_login(org.consultant2)  # no longer the owner: holds nothing
    assert consultant.post("/defeats/pool/hand-out/", {"ids": [a.pk], "to_user": org.consultant2.pk}
                           ).status_code == 404


def test_the_customers_of_a_fleet_manager_who_left_move_to_the_next_owner(org, fleet):
    _pooled(org, 2)
    fleet.is_active = False
    fleet.save()
    assert services.pool_owner_for(org.store) == org.manager  # meanwhile the manager owns the pool
    new = ConsultantFactory(store=org.store)
    assert services.pool_owner_set(actor=org.manager, store=org.store, user=new) == 2
    assert set(PoolEntry.objects.values_list("owner", flat=True)) == {new.pk}
