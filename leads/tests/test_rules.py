"""Grade rules per dealer group: defaults, the group admin's page, denials."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from leads import services
from leads.models import GradeRule

pytestmark = pytest.mark.django_db

VALID = {
    f"{g}-{field}": value
    for g, (days, dwell) in {"A": (2, 60), "B": (7, 120), "C": (14, 150), "D": (30, 180), "E": (3, 14)}.items()
    for field, value in (("meaning", f"grade {g}"), ("follow_up_days", days), ("max_dwell_days", dwell))
}


def test_each_group_gets_the_domain_defaults_once(org):
    rules = services.grade_rules_for(org.group.pk)
    assert {g: (r.follow_up_days, r.max_dwell_days) for g, r in rules.items()} == {
        "A": (3, 90), "B": (7, 120), "C": (14, 150), "D": (30, 180), "E": (3, 14)}
    services.grade_rules_for(org.group.pk)
    assert GradeRule.objects.filter(group=org.group).count() == 5
    assert GradeRule.objects.filter(group=org.other_group).count() == 0


def test_group_admin_edits_the_rules_on_the_page(org, client):
    client.force_login(org.admin)
    assert client.get(reverse("leads:grade_rules")).status_code == 200
    resp = client.post(reverse("leads:grade_rules"), VALID)
    assert resp.status_code == 302
    assert GradeRule.objects.get(group=org.group, grade="A").follow_up_days == 2
    assert GradeRule.objects.get(group=org.group, grade="A").max_dwell_days == 60
    assert not GradeRule.objects.filter(group=org.other_group).exists()


def test_bad_rules_show_errors_and_change_nothing(org, client):
    client.force_login(org.admin)
    bad = dict(VALID, **{"E-follow_up_days": 30, "E-max_dwell_days": 14, "A-max_dwell_days": 0})
    resp = client.post(reverse("leads:grade_rules"), bad)
    assert resp.status_code == 200
    assert GradeRule.objects.get(group=org.group, grade="A").max_dwell_days == 90
    bad = dict(VALID, **{"E-follow_up_days": 30})
    resp = client.post(reverse("leads:grade_rules"), bad)
    assert resp.status_code == 200 and resp.context["rows"][4][1].errors
    assert GradeRule.objects.get(group=org.group, grade="E").follow_up_days == 3


@pytest.mark.parametrize("who", ["manager", "consultant"])
def test_only_group_admins_set_rules(org, client, who):
    client.force_login(getattr(org, who))
    assert client.get(reverse("leads:grade_rules")).status_code == 403
    assert client.post(reverse("leads:grade_rules"), VALID).status_code == 403
    with pytest.raises(PermissionDenied):
        services.grade_rules_update(actor=getattr(org, who), group=org.group,
                                    rules={"A": {"follow_up_days": 1, "max_dwell_days": 5}})


def test_another_groups_admin_cannot_set_our_rules(org):
    with pytest.raises(PermissionDenied):
        services.grade_rules_update(actor=org.other_admin, group=org.group,
                                    rules={"A": {"follow_up_days": 1, "max_dwell_days": 5}})
    with pytest.raises(ValidationError):
        services.grade_rules_update(actor=org.admin, group=org.group, rules={"Z": {}})


def test_lead_history_page_shows_who_changed_what(org, client):
    from leads.tests.factories import LeadFactory

    lead = LeadFactory(store=org.store, assigned_to=org.consultant, district="")
    services.lead_update(actor=org.consultant, lead=lead, district="静安区")
    assert lead.history.first().history_user == org.consultant
    client.force_login(org.consultant)
    resp = client.get(reverse("leads:history", args=[lead.pk]))
    assert resp.status_code == 200
    assert "静安区" in resp.content.decode()
    client.force_login(org.consultant2)
    assert client.get(reverse("leads:history", args=[lead.pk])).status_code == 404


def test_lead_history_names_people_and_choices_as_users_read_them(org, client):
    from leads.tests.factories import LeadFactory

    lead = LeadFactory(store=org.store, assigned_to=org.consultant, gender="")
    services.lead_update(actor=org.consultant, lead=lead, gender="female")
    services.lead_assign(actor=org.manager, lead=lead, to_user=org.consultant2)
    client.force_login(org.manager)
    text = client.get(reverse("leads:history", args=[lead.pk])).content.decode()
    # The new holder and the gender by their names, never by a stored id or code.
    assert str(org.consultant2) in text and str(org.consultant) in text
    assert "Female" in text and ">female<" not in text
    assert f"→ {org.consultant2.pk}<" not in text


def test_lead_history_without_edits_points_to_the_timeline(org, client):
    from leads.tests.factories import LeadFactory

    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    lead.history.all().delete()  # as the demo and the bench write leads: no field history rows
    client.force_login(org.consultant)
    text = client.get(reverse("leads:history", args=[lead.pk])).content.decode()
    assert "No edits of this customer" in text
    assert reverse("leads:detail", args=[lead.pk]) in text
