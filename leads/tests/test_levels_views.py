"""The levels settings page, the allocation page's levels panel and handoffs waiting, the pick, and their query
counts."""

import pytest
from django.test import Client
from django.urls import reverse

from dealercrm.tests.factories import ConsultantFactory
from leads import services
from leads.models import ConsultantLevel, Handoff, Lead, LevelMember, LevelSettings
from leads.services.levels import store_levels_set
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

THREE = [
    {"name": "一级", "order": 1, "grades": ["A"], "capacity": 20},
    {"name": "二级", "order": 2, "grades": ["B"], "capacity": 40},
    {"name": "三级", "order": 3, "grades": ["C", "D", "E"], "capacity": 100},
]


def client_for(user):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def _post(org, rows, **more):
    data = {"level-TOTAL_FORMS": str(len(rows)), "level-INITIAL_FORMS": "0", "level-MIN_NUM_FORMS": "0",
            "level-MAX_NUM_FORMS": "5", "handoff": "hold", "credit": "both",
            f"c{org.consultant.pk}": "3", f"c{org.consultant2.pk}": "2"}
    for i, row in enumerate(rows):
        data[f"level-{i}-name"] = row["name"]
        data[f"level-{i}-order"] = str(row["order"])
        data[f"level-{i}-capacity"] = str(row["capacity"])
        data[f"level-{i}-grades"] = row["grades"]
    data.update(more)
    return data


def test_the_settings_page_shows_the_default_levels(org):
    response = client_for(org.manager).get(reverse("leads:levels"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "一级" in body and "三级" in body and str(org.consultant) in body


def test_the_manager_saves_levels_rules_and_consultants(org):
    response = client_for(org.manager).post(reverse("leads:levels"), _post(org, THREE))
    assert response.status_code == 302
    assert LevelSettings.objects.get(store=org.store).handoff == "hold"
    assert LevelMember.objects.get(user=org.consultant).level.order == 3
    assert LevelMember.objects.get(user=org.consultant2).level.name == "二级"


def test_overlapping_grades_are_shown_on_the_page_and_nothing_is_saved(org):
    rows = [THREE[0], dict(THREE[1], grades=["B", "C"]), THREE[2]]
    response = client_for(org.manager).post(reverse("leads:levels"), _post(org, rows))
    assert response.status_code == 200
    assert "C are in more than one" in response.content.decode()
    assert not LevelMember.objects.exists()
    assert not LevelSettings.objects.exists()


def test_a_bad_capacity_is_shown_on_its_field(org):
    rows = [dict(THREE[0], capacity=0), THREE[1], THREE[2]]
    response = client_for(org.manager).post(reverse("leads:levels"), _post(org, rows))
    assert response.status_code == 200
    assert response.context["formset"].forms[0].errors["capacity"]


def test_settings_page_denials(org):
    assert client_for(org.consultant).get(reverse("leads:levels")).status_code == 403
    assert client_for(org.manager).get(reverse("leads:levels"), {"store": org.store2.pk}).status_code == 404
    assert client_for(org.other_admin).get(reverse("leads:levels"), {"store": org.store.pk}).status_code == 404
    assert client_for(org.admin).get(reverse("leads:levels"), {"store": org.store2.pk}).status_code == 200
    response = client_for(org.manager2).post(f"{reverse('leads:levels')}?store={org.store.pk}", _post(org, THREE))
    assert response.status_code == 404
    assert not ConsultantLevel.objects.filter(store=org.store).exclude(name__in=["一级", "二级", "三级"]).exists()


@pytest.fixture
def waiting(org):
    o = org
    o.b1 = ConsultantFactory(username="b1", store=o.store)
    store_levels_set(actor=o.manager, store=o.store, levels=THREE, handoff="hold",
                     members={o.consultant.pk: 3, o.consultant2.pk: 3, o.b1.pk: 2})
    o.leads = []
    for _i in range(3):
        lead = LeadFactory(store=o.store, assigned_to=o.consultant, grade="C")
        services.follow_up_log(actor=o.consultant, lead=lead, method="phone", content="谈了价格", grade_after="B")
        o.leads.append(lead)
    return o


def test_the_allocation_page_shows_each_levels_load_and_the_handoffs_waiting(waiting):
    o = waiting
    response = client_for(o.manager).get(reverse("leads:allocation"))
    loads = {row.level.order: (row.consultants, row.held, row.capacity) for row in response.context["level_loads"]}
    # Third level: 2 consultants × 100 holding the 3 promoted leads (they wait with their holder); second: b1, none.
    assert loads == {1: (0, 0, 0), 2: (1, 0, 40), 3: (2, 3, 200)}
    assert [h.lead for h in response.context["handoffs_waiting"]] == o.leads
    assert "Handoffs waiting" in response.content.decode()


def test_the_manager_picks_from_the_list(waiting):
    o = waiting
    handoff = Handoff.objects.get(lead=o.leads[0])
    client = client_for(o.manager)
    response = client.post(reverse("leads:handoff_pick", args=[handoff.pk]), {"to_user": o.b1.pk})
    assert response.status_code == 302
    assert Lead.objects.get(pk=o.leads[0].pk).assigned_to == o.b1
    # A consultant of another store is refused; another store's manager and a consultant cannot pick at all.
    other = Handoff.objects.get(lead=o.leads[1])
    client.post(reverse("leads:handoff_pick", args=[other.pk]), {"to_user": o.consultant_b.pk})
    assert Lead.objects.get(pk=o.leads[1].pk).assigned_to == o.consultant
    assert client_for(o.manager2).post(reverse("leads:handoff_pick", args=[other.pk]),
                                       {"to_user": o.b1.pk}).status_code == 404
    assert client_for(o.consultant).post(reverse("leads:handoff_pick", args=[other.pk]),
                                         {"to_user": o.b1.pk}).status_code == 403
    assert Handoff.objects.get(pk=other.pk).status == "waiting"


@pytest.mark.parametrize("waiting_count", [1, 12])
def test_allocation_page_queries_do_not_grow_with_levels_or_handoffs(org, django_assert_max_num_queries,
                                                                     waiting_count):
    o = org
    b1 = ConsultantFactory(username="b1", store=o.store)
    store_levels_set(actor=o.manager, store=o.store, levels=THREE, handoff="hold",
                     members={o.consultant.pk: 3, o.consultant2.pk: 3, b1.pk: 2})
    for _i in range(waiting_count):
        lead = LeadFactory(store=o.store, assigned_to=o.consultant, grade="C")
        services.follow_up_log(actor=o.consultant, lead=lead, method="phone", content="谈了价格", grade_after="B")
    client = client_for(o.manager)
    # The allocation page's 16 (leads/tests/test_manager_views.py) + the levels' two + the handoffs + their levels.
    with django_assert_max_num_queries(20):
        response = client.get(reverse("leads:allocation"), {"consultant": o.consultant.pk})
    assert len(response.context["handoffs_waiting"]) == waiting_count

