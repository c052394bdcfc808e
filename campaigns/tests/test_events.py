"""Events end to end through the services and the API: the target list from filters (premium clients and the
competitor pool), idempotent invitations, answers by the guest's consultant, the door attendance scoring the events
criterion, and the results worked by hand; scoping denials and query counts."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from baseclients.models import BaseClient, ClientScore, Criterion, ScoreRecord
from baseclients.services import referral_set
from baseclients.tests.factories import a_vin
from campaigns import selectors, services
from campaigns.models import Answer, Invitation
from leads.services import deal_record, visit_log

pytestmark = pytest.mark.django_db


def _event(w, **kw):
    values = {"kind": "club", "title": "春季客户联谊会", "held_on": timezone.localdate(), "place": "店内展厅"}
    return services.event_create(actor=w.org.manager, store=w.org.store, **{**values, **kw})


def _inv(event, **lookup) -> Invitation:
    return Invitation.objects.get(event=event, **lookup)


def test_the_filters_pick_the_stores_premium_clients_and_its_competitor_pool(world):
    event = _event(world)
    assert selectors.target_counts(event, tiers=["premium"], pool_lists=["competitor"]) == {
        "base_clients": 2, "pool": 1, "total": 3, "new": 3}
    result = services.invite(actor=world.org.manager, event=event, tiers=["premium"], pool_lists=["competitor"])
    assert result == {"invited": 3, "already": 0, "total": 3}
    guests = set(Invitation.objects.filter(event=event).values_list("name", "source", "consultant"))
    # The sister store's premium client and the nurture list are not picked; each guest keeps their consultant
    # (the pool entry's owner is the store's pool owner: here the manager who confirmed, when none is set).
    d1_owner = world.d1.owner_id
    assert guests == {("张总", "base_client", world.org.consultant.pk), ("李总", "base_client", world.org.consultant2.pk),
                      ("陈先生", "competitor", d1_owner)}
    # Regions narrow the tiers; alone they pick every tier of the region.
    assert selectors.target_counts(event, regions=["浦东新区"])["base_clients"] == 2  # 张总 (premium), 王师傅 (general)
    assert selectors.target_counts(event, tiers=["premium"], industries=["建筑"])["base_clients"] == 1
    assert selectors.target_counts(event, regions=["浦东新区"])["new"] == 1  # 王师傅 only: 张总 is on the list


def test_inviting_again_changes_nothing(world):
    event = _event(world)
    services.invite(actor=world.org.manager, event=event, tiers=["premium"], pool_lists=["competitor"])
    p1 = _inv(event, client=world.p1)
    services.answer_set(actor=world.org.consultant, invitation=p1, answer=Answer.ACCEPTED)
    again = services.invite(actor=world.org.manager, event=event, tiers=["premium"], pool_lists=["competitor"],
                            client_ids=[world.p1.pk], pool_entry_ids=[world.d1.pk])
    assert again == {"invited": 0, "already": 3, "total": 3}  # a guest picked twice over is one guest
    assert _inv(event, client=world.p1).answer == Answer.ACCEPTED  # the answer survives the re-invitation
    assert services.invite(actor=world.org.manager, event=event, client_ids=[world.g1.pk])["invited"] == 1


def test_ids_outside_the_store_are_refused_and_nothing_is_written(world):
    from django.core.exceptions import ValidationError

    event = _event(world)
    with pytest.raises(ValidationError) as exc:
        services.invite(actor=world.org.manager, event=event, client_ids=[world.p1.pk, world.sister.pk])
    assert "client_ids" in exc.value.message_dict
    assert not Invitation.objects.filter(event=event).exists()


def test_worked_results_leads_referrals_and_deals(world):
    """Invited 4 (张总, 李总, 陈先生 from the filters; 王师傅 by id), answers 1 accepted and 1 declined; 张总 and
    陈先生 come, a walk-in 刘先生 too: attended 3. In the event's month: 张总 refers 孙先生 (a new lead: a lead and a
    referral), who buys (a deal); 陈先生 walks into the showroom again (his lead's visit: a lead, no referral); 李总,
    who declined, refers 吴女士 (not counted); a referral of 张总's made the day before the event is not counted
    either. Results: invited 4, accepted 1, declined 1, attended 3, walk-ins 1, leads 2, referrals 1, deals 1."""
    org = world.org
    event = _event(world)
    services.invite(actor=org.manager, event=event, tiers=["premium"], pool_lists=["competitor"])
    services.invite(actor=org.manager, event=event, client_ids=[world.g1.pk])
    services.answer_set(actor=org.consultant, invitation=_inv(event, client=world.p1), answer=Answer.ACCEPTED)
    services.answer_set(actor=org.consultant2, invitation=_inv(event, client=world.p2), answer=Answer.DECLINED)
    services.attendance_set(actor=org.consultant, invitation=_inv(event, client=world.p1))
    services.attendance_set(actor=org.consultant2, invitation=_inv(event, pool_entry=world.d1))
    walk_in = services.walk_in_add(actor=org.consultant, event=event, name="刘先生", phone="139 0000 0007")
    assert walk_in.walk_in and walk_in.arrived_at and walk_in.client_id is None

    before = visit_log(actor=org.consultant, store=org.store, name="郑先生", phone="+8613900000010",
                       source="referral", arrived_at=timezone.now() - timedelta(days=1), grade="C").lead
    referral_set(actor=org.consultant, lead=before, referrer_client=world.p1)
    sun = visit_log(actor=org.consultant, store=org.store, name="孙先生", phone="+8613900000011", source="referral",
                    grade="B").lead
    referral_set(actor=org.consultant, lead=sun, referrer_client=world.p1)
    wu = visit_log(actor=org.consultant2, store=org.store, name="吴女士", phone="+8613900000012", source="referral",
                   grade="C").lead
    referral_set(actor=org.consultant2, lead=wu, referrer_client=world.p2)
    came_back = visit_log(actor=org.consultant, store=org.store, name="陈先生", phone="+8613900000005",
                          source="walk_in", grade="C")
    assert came_back.is_revisit
    deal_record(actor=org.consultant, lead=sun, price=Decimal("168000.00"), ordered_at=timezone.localdate(),
                delivered_at=timezone.localdate(), vin=a_vin())

    assert selectors.event_results(event) == {"invited": 4, "accepted": 1, "declined": 1, "attended": 3,
                                              "walk_ins": 1, "leads": 2, "referrals": 1, "deals": 1}
    year = timezone.localdate().year
    by_kind = selectors.results_by_kind(user=org.manager, start=date(year, 1, 1), end=date(year, 12, 31))
    club = next(r for r in by_kind["rows"] if r["kind"] == "club")
    assert (club["events"], club["invited"], club["attended"], club["leads"], club["referrals"], club["deals"]) == (
        1, 4, 3, 2, 1, 1)
    assert by_kind["total"]["events"] == 1 and by_kind["total"]["deals"] == 1
    assert all(type(v) is int for v in by_kind["total"].values())  # whole numbers, not numeric sums
    # The API says the same.
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(org.admin)
    assert api.get(f"/api/v1/events/{event.pk}/results/").json() == selectors.event_results(event)
    answer = api.get(f"/api/v1/events/results-by-kind/?year={year}").json()
    assert answer["total"]["referrals"] == 1


def test_attendance_scores_the_events_criterion(world):
    """The events criterion (15 points, 5 an event) is scored from the door attendance: 张总 at two events has 10
    points; taking one arrival back leaves 5. A consultant cannot type it."""
    org = world.org
    loyalty_before = BaseClient.objects.get(pk=world.p1.pk).loyalty_score
    criterion = Criterion.objects.get(group=org.group, code="events")
    assert criterion.fact == "events"
    first, second = _event(world), _event(world, kind="launch", title="新品上市")
    for event in (first, second):
        services.invite(actor=org.manager, event=event, client_ids=[world.p1.pk])
        services.attendance_set(actor=org.consultant, invitation=_inv(event, client=world.p1))
    p1 = BaseClient.objects.get(pk=world.p1.pk)
    assert p1.events_attended == 2
    assert ClientScore.objects.get(client=p1, criterion=criterion).points == 10
    assert p1.loyalty_score == loyalty_before + 10
    assert ScoreRecord.objects.filter(client=p1, after__events=10).exists()
    services.attendance_set(actor=org.consultant, invitation=_inv(second, client=world.p1), arrived=False)
    p1.refresh_from_db()
    assert (p1.events_attended, p1.loyalty_score) == (1, loyalty_before + 5)
    from django.core.exceptions import ValidationError

    from baseclients.services import client_score

    with pytest.raises(ValidationError) as exc:
        client_score(actor=org.consultant, client=p1, scores={"events": 15})
    assert exc.value.message_dict["scores"][0].startswith("events:")


def test_a_walk_in_with_a_clients_phone_is_that_client(world):
    org = world.org
    event = _event(world)
    inv = services.walk_in_add(actor=org.consultant, event=event, name="王", phone="13900000003")
    assert inv.client_id == world.g1.pk and inv.walk_in
    assert BaseClient.objects.get(pk=world.g1.pk).events_attended == 1
    # The same phone again marks nothing twice.
    again = services.walk_in_add(actor=org.consultant, event=event, name="王", phone="+8613900000003")
    assert again.pk == inv.pk and Invitation.objects.filter(event=event).count() == 1


def test_who_may_do_what(world):
    org = world.org
    with pytest.raises(PermissionDenied):
        services.event_create(actor=org.consultant, store=org.store, kind="club", title="x", held_on=date(2026, 5, 1),
                              place="y")
    with pytest.raises(PermissionDenied):
        services.event_create(actor=org.manager2, store=org.store, kind="club", title="x", held_on=date(2026, 5, 1),
                              place="y")
    event = _event(world)
    with pytest.raises(PermissionDenied):
        services.invite(actor=org.consultant, event=event, tiers=["premium"])
    services.invite(actor=org.admin, event=event, tiers=["premium"])  # a group admin organises any store's
    p2 = _inv(event, client=world.p2)
    with pytest.raises(PermissionDenied):  # 李总 is consultant2's customer
        services.answer_set(actor=org.consultant, invitation=p2, answer=Answer.ACCEPTED)
    with pytest.raises(PermissionDenied):  # the sister store's consultant takes no attendance here
        services.attendance_set(actor=org.consultant_b, invitation=p2)
    services.attendance_set(actor=org.consultant, invitation=p2)  # any colleague of the store at the door


def test_the_event_keeps_its_month(world):
    event = _event(world, held_on=date(2026, 2, 10))
    assert event.results_until == date(2026, 2, 28)
    event = services.event_update(actor=world.org.manager, event=event, held_on=date(2028, 2, 10))
    assert event.results_until == date(2028, 2, 29)


# --- the API ---------------------------------------------------------------------------------------------------------

def test_api_create_invite_answer_and_door(world, api_as):
    org = world.org
    manager = api_as(org.manager)
    r = manager.post("/api/v1/events/", {"kind": "launch", "title": "新品上市发布会", "held_on": "2026-12-12",
                                         "place": "店内"}, format="json")
    assert r.status_code == 201, r.content
    pk = r.json()["id"]
    assert r.json()["store"] == org.store.pk and r.json()["results_until"] == "2026-12-31"
    r = manager.post(f"/api/v1/events/{pk}/target-count/", {"tiers": ["premium"], "pool_lists": ["competitor"]},
                     format="json")
    assert r.json() == {"base_clients": 2, "pool": 1, "total": 3, "new": 3}
    body = {"tiers": ["premium"], "pool_lists": ["competitor"]}
    assert manager.post(f"/api/v1/events/{pk}/invitations/", body, format="json").json() == {
        "invited": 3, "already": 0, "total": 3}
    assert manager.post(f"/api/v1/events/{pk}/invitations/", body, format="json").json() == {
        "invited": 0, "already": 3, "total": 3}
    consultant = api_as(org.consultant)
    assert consultant.post(f"/api/v1/events/{pk}/invitations/", body, format="json").status_code == 403
    rows = consultant.get(f"/api/v1/events/{pk}/invitations/").json()["results"]
    phones = {r["name"]: r["phone"] for r in rows}
    assert phones["张总"] == "139 0000 0001" and phones["李总"] == "139****0002"  # a colleague's guest: masked
    mine = consultant.get(f"/api/v1/events/{pk}/invitations/?mine=true").json()["results"]
    assert [r["name"] for r in mine] == ["张总"]
    p2 = next(r["id"] for r in rows if r["name"] == "李总")
    assert consultant.post(f"/api/v1/events/{pk}/answers/", {"invitation": p2, "answer": "accepted"},
                           format="json").status_code == 403
    r = consultant.post(f"/api/v1/events/{pk}/attendance/", {"invitation": p2}, format="json")
    assert r.status_code == 200 and r.json()["arrived"] is True
    r = consultant.post(f"/api/v1/events/{pk}/attendance/", {"name": "刘先生", "phone": "13900000007"}, format="json")
    assert r.status_code == 200 and r.json()["walk_in"] is True
    assert consultant.post(f"/api/v1/events/{pk}/attendance/", {}, format="json").status_code == 400
    assert consultant.post(f"/api/v1/events/{pk}/answers/", {"invitation": p2, "answer": "maybe"},
                           format="json").status_code == 400
    assert manager.post("/api/v1/events/", {"kind": "gala", "title": "", "held_on": "x"},
                        format="json").json().keys() >= {"kind", "title", "held_on", "place"}
    assert consultant.post("/api/v1/events/", {"kind": "club", "title": "x", "held_on": "2026-12-12",
                                               "place": "y"}, format="json").status_code == 403


def test_another_stores_or_groups_event_is_a_404(world, api_as):
    org = world.org
    event = _event(world)
    services.invite(actor=org.manager, event=event, tiers=["premium"])
    inv = _inv(event, client=world.p1)
    for user in (org.consultant_b, org.manager2, org.other_manager, org.other_admin):
        api = api_as(user)
        assert api.get(f"/api/v1/events/{event.pk}/").status_code == 404
        assert api.get(f"/api/v1/events/{event.pk}/results/").status_code == 404
        assert api.post(f"/api/v1/events/{event.pk}/attendance/", {"invitation": inv.pk},
                        format="json").status_code == 404
        assert api.post(f"/api/v1/events/{event.pk}/invitations/", {"tiers": ["premium"]},
                        format="json").status_code == 404
        assert event.pk not in [e["id"] for e in api.get("/api/v1/events/").json()["results"]]
    for user in (org.consultant, org.manager, org.admin):
        assert api_as(user).get(f"/api/v1/events/{event.pk}/").status_code == 200
    # A sister store's manager may not create events for this store either.
    r = api_as(org.manager2).post("/api/v1/events/", {"store": org.store.pk, "kind": "club", "title": "x",
                                                      "held_on": "2026-12-12", "place": "y"}, format="json")
    assert r.status_code == 400 and "store" in r.json()


def test_lists_count_a_fixed_number_of_queries(world, api_as, client, django_assert_max_num_queries):
    org = world.org
    events = [_event(world, title=f"活动{i}", held_on=timezone.localdate() - timedelta(days=i)) for i in range(4)]
    for event in events:
        services.invite(actor=org.manager, event=event, tiers=["premium", "general"], pool_lists=["competitor",
                                                                                                  "nurture"])
    api = api_as(org.manager)
    with django_assert_max_num_queries(6):
        assert api.get("/api/v1/events/").status_code == 200
    with django_assert_max_num_queries(8):
        assert api.get(f"/api/v1/events/{events[0].pk}/invitations/").status_code == 200
    client.force_login(org.manager)
    with django_assert_max_num_queries(12):
        assert client.get("/events/").status_code == 200
    with django_assert_max_num_queries(14):
        assert client.get(f"/events/{events[0].pk}/").status_code == 200
    with django_assert_max_num_queries(14):
        assert client.get(f"/events/{events[0].pk}/door/").status_code == 200
