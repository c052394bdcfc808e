"""The first follow-up rule (issue 14, item 9): a new walk-in with a phone falls due within the group's window
(default 24 h, moved to the next working hour), then the grade's cadence; the group admin sets it."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from dealercrm.tests.clients import client_for
from leads import services
from leads.models import FollowUpPolicy
from leads.rules import first_follow_up_due

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def t(day, hour, minute=0):
    return datetime(2026, 12, day, hour, minute, tzinfo=SH)


@pytest.mark.parametrize(("visit", "due"), [
    (t(2, 10), t(3, 10)),        # in working hours: 24 h later
    (t(2, 20, 30), t(3, 20, 30)),  # still inside the working day
    (t(2, 22), t(4, 9)),         # 22:00 the next day is after hours: the morning after
    (t(2, 3), t(3, 9)),          # 03:00 the next day is before hours: that morning
])
def test_the_first_follow_up_falls_at_a_working_hour(visit, due):
    assert first_follow_up_due(visit) == due


def test_a_window_of_four_hours():
    assert first_follow_up_due(t(2, 10), hours=4) == t(2, 14)
    assert first_follow_up_due(t(2, 19), hours=4) == t(3, 9)


def walk_in(org, **kwargs):
    return services.visit_log(actor=org.consultant, store=org.store, name="孙女士", source="walk_in", **kwargs).lead


def test_a_new_c_walk_in_is_due_the_next_day_not_in_14_days(org):
    with time_machine.travel(t(2, 10), tick=False):
        lead = walk_in(org, phone="13800138111", grade="C")
    assert lead.next_follow_up_at == t(3, 10)


def test_the_groups_own_window_applies(org):
    FollowUpPolicy.objects.create(group=org.group, first_follow_up_hours=4)
    with time_machine.travel(t(2, 10), tick=False):
        lead = walk_in(org, phone="13800138112", grade="B")
    assert lead.next_follow_up_at == t(2, 14)


def test_after_the_first_follow_up_the_grades_cadence_applies(org):
    with time_machine.travel(t(2, 10), tick=False):
        lead = walk_in(org, phone="13800138113", grade="C")
    with time_machine.travel(t(3, 10), tick=False):
        services.follow_up_log(actor=org.consultant, lead=lead, method="phone", content="已回访")
    lead.refresh_from_db()
    assert lead.next_follow_up_at == t(3, 10) + timedelta(days=14)


def test_an_anonymous_walk_in_starts_the_window_when_a_phone_is_added(org):
    with time_machine.travel(t(2, 10), tick=False):
        lead = walk_in(org, grade="C")
    assert lead.next_follow_up_at is None
    with time_machine.travel(t(2, 15), tick=False):
        lead = services.lead_update(actor=org.consultant, lead=lead, phone="13800138114")
    assert lead.next_follow_up_at == t(3, 15)


def test_the_group_admin_sets_the_window_on_the_rules_page(org):
    url = reverse("leads:grade_rules")
    client = client_for(org.admin)
    assert "The first follow-up" in client.get(url).content.decode()
    response = client.post(url, {"first_follow_up_hours": "12", "workday_start_hour": "8", "workday_end_hour": "20"})
    assert response.status_code == 302
    policy = FollowUpPolicy.objects.get(group=org.group)
    assert (policy.first_follow_up_hours, policy.workday_start_hour, policy.workday_end_hour) == (12, 8, 20)
    bad = client.post(url, {"first_follow_up_hours": "0", "workday_start_hour": "20", "workday_end_hour": "8"})
    assert bad.status_code == 200 and bad.context["first_form"].errors
    assert FollowUpPolicy.objects.get(group=org.group).first_follow_up_hours == 12
    assert client_for(org.manager).post(url, {"first_follow_up_hours": "2", "workday_start_hour": "9",
                                              "workday_end_hour": "21"}).status_code == 403
    assert FollowUpPolicy.objects.get(group=org.group).first_follow_up_hours == 12
