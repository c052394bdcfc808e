"""GET/PUT /api/v1/stores/{id}/levels/: who may, what is refused."""

import pytest

from leads.models import ConsultantLevel, LevelMember, LevelSettings

pytestmark = pytest.mark.django_db

BODY = {
    "handoff": "round_robin",
    "credit": "split",
    "levels": [
        {"name": "一级", "order": 1, "grades": ["A"], "capacity": 20},
        {"name": "二级", "order": 2, "grades": ["B"], "capacity": 40},
        {"name": "三级", "order": 3, "grades": ["E", "D", "C"], "capacity": 100},
    ],
}


def url(store):
    return f"/api/v1/stores/{store.pk}/levels/"


def test_a_manager_reads_the_default_three_levels_and_the_team(org, api_as):
    response = api_as(org.manager).get(url(org.store))
    assert response.status_code == 200
    body = response.json()
    assert (body["handoff"], body["credit"]) == ("off", "closer")
    assert [(lv["name"], lv["grades"]) for lv in body["levels"]] == [("一级", ["A"]), ("二级", ["B"]),
                                                                     ("三级", ["C", "D", "E"])]
    assert {c["consultant"] for c in body["consultants"]} == {org.consultant.pk, org.consultant2.pk}


def test_a_manager_sets_levels_rules_and_consultants(org, api_as):
    body = {**BODY, "consultants": [{"consultant": org.consultant.pk, "level": 3},
                                    {"consultant": org.consultant2.pk, "level": 2}]}
    response = api_as(org.manager).put(url(org.store), body, format="json")
    assert response.status_code == 200, response.json()
    got = response.json()
    assert [lv["consultants"] for lv in got["levels"]] == [[], [org.consultant2.pk], [org.consultant.pk]]
    assert LevelSettings.objects.get(store=org.store).credit == "split"
    assert LevelMember.objects.get(user=org.consultant).level.grades == "CDE"


def test_a_group_admin_sets_any_store_of_the_group(org, api_as):
    assert api_as(org.admin).put(url(org.store2), BODY, format="json").status_code == 200
    assert ConsultantLevel.objects.filter(store=org.store2).count() == 3


@pytest.mark.parametrize("change, field", [
    ({"levels": []}, "levels"),
    ({"levels": [BODY["levels"][0], {**BODY["levels"][1], "grades": ["B", "C"]}, BODY["levels"][2]]}, "levels"),
    ({"levels": [BODY["levels"][0], BODY["levels"][2]]}, "levels"),
    ({"levels": [{**BODY["levels"][0], "capacity": 0}, *BODY["levels"][1:]]}, "levels"),
    ({"levels": [{**BODY["levels"][0], "grades": ["F"]}, *BODY["levels"][1:]]}, "levels"),
    ({"handoff": "sometimes"}, "handoff"),
    ({"credit": "everyone"}, "credit"),
])
def test_bad_levels_are_a_400_with_field_messages_and_change_nothing(org, api_as, change, field):
    response = api_as(org.manager).put(url(org.store), {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert any(key == field or key.startswith(field + ".") for key in response.json())
    assert not ConsultantLevel.objects.filter(store=org.store).exists()


def test_a_consultant_of_another_store_is_refused(org, api_as):
    body = {**BODY, "consultants": [{"consultant": org.consultant_b.pk, "level": 3}]}
    response = api_as(org.manager).put(url(org.store), body, format="json")
    assert response.status_code == 400 and "consultants" in response.json()


def test_a_consultant_gets_403_on_their_store_and_404_elsewhere(org, api_as):
    client = api_as(org.consultant)
    assert client.get(url(org.store)).status_code == 403
    assert client.put(url(org.store), BODY, format="json").status_code == 403
    assert client.get(url(org.store2)).status_code == 404
    assert not ConsultantLevel.objects.exists()


def test_another_stores_manager_and_another_group_get_404(org, api_as):
    assert api_as(org.manager2).get(url(org.store)).status_code == 404
    assert api_as(org.manager2).put(url(org.store), BODY, format="json").status_code == 404
    assert api_as(org.other_admin).get(url(org.store)).status_code == 404
    assert api_as(org.other_manager).put(url(org.store), BODY, format="json").status_code == 404
    assert api_as(org.manager).get("/api/v1/stores/999999/levels/").status_code == 404
    assert not ConsultantLevel.objects.exists()


def test_anonymous_gets_401(org, api):
    assert api.get(url(org.store)).status_code == 401
