"""Scores go stale: the yearly review (a care task to re-score a client a year after its last scoring, in its
consultant's queue), closed by the scoring; tier movement keeps scored moves (care work) apart from automatic ones."""

from datetime import timedelta

import pytest
from django.utils import timezone

from baseclients import selectors, services
from baseclients.models import BaseClient, CareKind, CareStatus, CareTask, ScoreRecord
from baseclients.services.care import add_months

from .factories import buy

pytestmark = pytest.mark.django_db

SCORES = {"satisfaction": 15, "maintenance": 15, "repairs": 10, "word_of_mouth": 5,
          "reputation": 15, "business": 15, "trade_word": 12, "reach": 10, "plans": 12}


def _client(org, phone):
    buy(store=org.store, consultant=org.consultant, phone=phone)
    return BaseClient.objects.get(phone=phone)


def _reviews(client):
    return list(CareTask.objects.filter(client=client, kind=CareKind.REVIEW).order_by("pk"))


def test_a_client_scored_a_year_ago_gets_a_review_once_and_the_scoring_closes_it(org, settings):
    settings.BASECLIENTS_CARE_WINDOW_DAYS = 30
    today = timezone.localdate()
    client = _client(org, "+8613911110001")
    services.client_score(actor=org.consultant, client=client, scores=SCORES)
    ScoreRecord.objects.filter(client=client).update(at=timezone.now() - timedelta(days=380))
    fresh = _client(org, "+8613911110002")
    services.client_score(actor=org.consultant, client=fresh, scores=SCORES)  # scored today: not due
    services.materialise(group_id=org.group.pk)
    [review] = _reviews(client)
    assert (review.due_on, review.assigned_to, review.status) == (today, org.consultant, CareStatus.PENDING)
    assert _reviews(fresh) == []
    # In the consultant's queue; a re-run plans nothing twice.
    assert selectors.care_list(user=org.consultant).filter(kind=CareKind.REVIEW, client=client).exists()
    services.materialise(group_id=org.group.pk)
    assert len(_reviews(client)) == 1
    # A logged call does not close it (only a scoring does); the scoring does, and the next review is a year out.
    services.care_contact_log(actor=org.consultant, client=client, channel="visit", content="拜访")
    assert _reviews(client)[0].status == CareStatus.PENDING
    services.client_score(actor=org.consultant, client=client, scores={**SCORES, "plans": 5})
    [review] = _reviews(client)
    assert review.status == CareStatus.DONE and review.done_by == org.consultant
    services.materialise(group_id=org.group.pk)
    assert len(_reviews(client)) == 1


def test_a_never_scored_client_is_reviewed_a_year_after_its_delivery(org, settings):
    settings.BASECLIENTS_CARE_WINDOW_DAYS = 30
    today = timezone.localdate()
    client = _client(org, "+8613911110003")
    anchor = add_months(today, -12) + timedelta(days=20)  # its review falls within the window
    BaseClient.objects.filter(pk=client.pk).update(care_anchor=anchor)
    services.materialise()
    [review] = _reviews(client)
    assert review.due_on == add_months(anchor, 12)
    # The group's interval: 24 months plans nothing for another year.
    other = _client(org, "+8613911110004")
    rule = services.tier_rule_for(org.group.pk)
    rule.review_months = 24
    rule.save()
    BaseClient.objects.filter(pk=other.pk).update(care_anchor=anchor)
    services.materialise(group_id=org.group.pk)
    assert _reviews(other) == []


def test_tier_movement_keeps_scored_moves_apart_from_automatic_ones(org, django_assert_max_num_queries):
    today = timezone.localdate()
    client = _client(org, "+8613911110005")
    services.client_score(actor=org.consultant, client=client, scores=SCORES)  # general -> potential: scored
    buy(store=org.store, consultant=org.consultant, phone="+8613911110005")  # a repeat purchase: premium, automatic
    services.client_score(actor=org.consultant, client=client, scores=dict.fromkeys(SCORES, 0))  # still premium
    with django_assert_max_num_queries(1):
        [row] = selectors.tier_movement(user=org.manager, since=today, until=today)
    assert (row["name"], row["up_scored"], row["up_auto"], row["down_scored"], row["down_auto"]) == (
        org.consultant.display_name or org.consultant.username, 1, 1, 0, 0)
    assert (row["up"], row["down"]) == (2, 0)
    # Another store's manager sees no line.
    assert selectors.tier_movement(user=org.manager2, since=today, until=today) == []


def test_the_group_admin_sets_the_methods_settings_and_others_may_not(org):
    from django.core.exceptions import PermissionDenied, ValidationError

    rule = services.tier_rule_update(actor=org.admin, group_id=org.group.pk, important_pct=50, ordinary_pct=80,
                                     one_brings_one_months=6, review_months=18)
    assert (rule.important_pct, rule.ordinary_pct, rule.one_brings_one_months, rule.review_months) == (50, 80, 6, 18)
    with pytest.raises(ValidationError) as exc:
        services.tier_rule_update(actor=org.admin, group_id=org.group.pk, important_pct=90, ordinary_pct=80)
    assert "ordinary_pct" in exc.value.message_dict
    for user in (org.manager, org.consultant, org.other_admin):
        with pytest.raises(PermissionDenied):
            services.tier_rule_update(actor=user, group_id=org.group.pk, review_months=6)
