"""The base-client rules: the deal makes the card, repeat purchases, scoring and tiers, referrals, care."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from baseclients import services
from baseclients.models import (
    BaseClient,
    CareStatus,
    CareTask,
    ClientLead,
    Purchase,
    Referral,
    ScoreRecord,
    Tier,
    TierBasis,
    TierChange,
    TierRule,
    Vehicle,
)
from baseclients.services import jobs
from leads import services as lead_services
from leads.models import Deal, Lead, Status
from leads.tests.factories import LeadFactory

from .factories import a_vin, buy

pytestmark = pytest.mark.django_db

MANUAL = {"satisfaction": 20, "maintenance": 20, "repairs": 15, "word_of_mouth": 15,
          "reputation": 20, "business": 20, "trade_word": 15, "reach": 15, "plans": 15}


def _client(deal) -> BaseClient:
    return BaseClient.objects.get(purchase_rows__deal=deal)


def _calls_due_soon(client) -> None:
    """Count the recurring plan from ten days ago, so the monthly call falls within the 30-day window."""
    BaseClient.objects.filter(pk=client.pk).update(care_anchor=timezone.localdate() - timedelta(days=10))
    services.materialise(client_ids=[client.pk])


# --- the deal makes the card ---------------------------------------------------------------------------------------


def test_deal_makes_base_client_with_vehicle_and_delivery_visit_in_three_days(org):
    deal = buy(store=org.store, consultant=org.consultant, district="闵行区", industry="物流", plate="沪A12345")
    client = _client(deal)
    assert client.assigned_to == org.consultant and client.store == org.store and client.group == org.group
    assert client.region == "闵行区" and client.industry == "物流"
    assert client.purchases == 1 and client.tier == Tier.GENERAL
    vehicle = Vehicle.objects.get(client=client)
    assert vehicle.deal == deal and vehicle.vin == deal.vin and vehicle.plate == "沪A12345"
    visit = CareTask.objects.get(client=client, kind="delivery_visit")
    assert visit.due_on == timezone.localdate() + timedelta(days=3)
    assert visit.assigned_to == org.consultant and visit.status == CareStatus.PENDING
    assert not Purchase.objects.get(deal=deal).is_repeat


@pytest.mark.parametrize("field,value", [("vin", "LSVAB2BD1MN123456"), ("plate", "B123")])
def test_bad_vin_or_plate_is_a_field_error_and_nothing_is_written(org, field, value):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    with pytest.raises(ValidationError) as exc:
        lead_services.deal_record(actor=org.consultant, lead=lead, price=Decimal("1"), **{field: value})
    assert field in exc.value.message_dict
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE
    assert not Deal.objects.exists() and not BaseClient.objects.exists()


def test_vin_already_on_a_card_is_refused(org):
    deal = buy(store=org.store, consultant=org.consultant)
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    with pytest.raises(ValidationError) as exc:
        lead_services.deal_record(actor=org.consultant, lead=lead, price=Decimal("1"), vin=deal.vin)
    assert "vin" in exc.value.message_dict


# --- repeat purchases ----------------------------------------------------------------------------------------------


def test_returning_buyer_starts_a_new_lead_and_the_deal_is_a_repeat_purchase(org):
    first = buy(store=org.store, consultant=org.consultant, phone="+8613911112222")
    client = _client(first)
    # Back at the showroom: not a re-visit of the won lead, a new lead linked to the card.
    result = lead_services.visit_log(actor=org.consultant, store=org.store, name="回头客", source="walk_in",
                                     phone="139 1111 2222")
    assert not result.is_revisit and result.lead.pk != first.lead_id
    assert ClientLead.objects.get(lead=result.lead).client == client
    second = lead_services.deal_record(actor=org.consultant, lead=result.lead, price=Decimal("90000"),
                                       delivered_at=timezone.localdate())
    client.refresh_from_db()
    assert client.purchases == 2 and Purchase.objects.get(deal=second).is_repeat
    assert client.tier == Tier.PREMIUM and client.tier_basis == TierBasis.REPEAT_BUYER
    with translation.override("en"):
        assert services.tier_label(client) == "Premium: repeat buyer"


def test_phone_stays_unique_among_open_leads(org):
    LeadFactory(store=org.store, phone="+8613911113333")
    with pytest.raises(lead_services.DuplicatePhone):
        lead_services.lead_create(actor=org.consultant, store=org.store, name="x", source="walk_in",
                                  phone="13911113333")


def test_defeated_lead_keeps_its_phone(org):
    LeadFactory(store=org.store, phone="+8613911114444", status=Status.DEFEATED)
    result = lead_services.visit_log(actor=org.consultant, store=org.store, name="x", source="walk_in",
                                     phone="13911114444")
    assert result.is_revisit


def test_a_buyer_in_another_store_of_the_group_extends_the_same_card(org):
    first = buy(store=org.store, consultant=org.consultant, phone="+8613911115555")
    second = buy(store=org.store2, consultant=org.consultant_b, phone="+8613911115555")
    assert _client(first) == _client(second)
    other = buy(store=org.other_store, consultant=None, actor=org.other_manager, phone="+8613911115555")
    assert _client(other) != _client(first)


# --- scoring and tiers ---------------------------------------------------------------------------------------------


def test_scoring_moves_the_tier_and_keeps_the_record(org, settings):
    settings.BASECLIENTS_CARE_WINDOW_DAYS = 400  # a year ahead: every tier's plan has tasks in it
    client = _client(buy(store=org.store, consultant=org.consultant))
    services.client_score(actor=org.consultant, client=client,
                          scores={"satisfaction": 15, "maintenance": 15, "repairs": 10,
                                  "word_of_mouth": 5, "reputation": 15, "business": 15, "trade_word": 12,
                                  "reach": 10, "plans": 12})
    client.refresh_from_db()
    # Power: 64 scored, plus the automatic fleet criterion for the one car (round(15 * 1 / 10) = 2).
    # Loyalty: 45 scored (events: from the door attendance, none yet).
    assert (client.loyalty_score, client.power_score) == (45, 66)
    assert client.tier == Tier.POTENTIAL and client.tier_basis == TierBasis.SCORES
    record = ScoreRecord.objects.get(client=client)
    assert record.by == org.consultant and record.before["satisfaction"] == 0 and record.after["satisfaction"] == 15
    initial, change = TierChange.objects.filter(client=client).order_by("at", "pk")
    assert (initial.from_tier, initial.to_tier, initial.cause) == ("", "general", "initial")  # the card's opening
    assert (change.from_tier, change.to_tier, change.by, change.cause) == (
        "general", "potential", org.consultant, "scoring")
    # Full marks: premium, and the premium plan's tasks replace the potential plan's.
    assert CareTask.objects.filter(client=client, item__tier="potential").exists()
    services.client_score(actor=org.consultant, client=client, scores=MANUAL)
    client.refresh_from_db()
    assert client.tier == Tier.PREMIUM
    assert not CareTask.objects.filter(client=client, status="pending", item__tier="potential").exists()


def test_score_above_max_unknown_or_automatic_criterion_is_refused_whole(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    for scores, code in [({"satisfaction": 21}, "satisfaction"), ({"nope": 1}, "nope"), ({"fleet": 3}, "fleet"),
                         ({"satisfaction": -1}, "satisfaction")]:
        with pytest.raises(ValidationError) as exc:
            services.client_score(actor=org.consultant, client=client, scores={"maintenance": 5, **scores})
        assert [m.split(":")[0] for m in exc.value.message_dict["scores"]] == [code]
    client.refresh_from_db()
    assert client.loyalty_score == 0 and not ScoreRecord.objects.exists()


def test_scoring_denied_to_another_consultant_and_another_store(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    for who in (org.consultant2, org.manager2, org.other_admin):
        with pytest.raises(PermissionDenied):
            services.client_score(actor=who, client=client, scores={"satisfaction": 1})
    services.client_score(actor=org.manager, client=client, scores={"satisfaction": 1})
    services.client_score(actor=org.admin, client=client, scores={"satisfaction": 2})


def test_fleet_buyer_is_premium_and_fleet_scores_itself(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    services.client_update(actor=org.consultant, client=client, fleet_size=6)
    client.refresh_from_db()
    assert client.tier == Tier.PREMIUM and client.tier_basis == TierBasis.FLEET
    assert client.power_score == 9  # round(15 * 6 / 10)


def test_decide_tier_matches_the_sql_rule(org):
    """The pure rule and the re-tier job's SQL say the same thing on a grid of cases."""
    from baseclients.services.scoring import decide_tier

    rule = services.tier_rule_for(org.group.pk)
    store_client = _client(buy(store=org.store, consultant=org.consultant))
    cases = [(l, p, pu, rd, f) for l in (0, 39, 40, 69, 70, 100) for p in (0, 40, 70) for pu in (1, 2)
             for rd in (0, 1) for f in (0, 5)]
    for loyalty, power, purchases, referral_deals, fleet in cases:
        BaseClient.objects.filter(pk=store_client.pk).update(
            loyalty_score=loyalty, power_score=power, purchases=purchases, referral_deals=referral_deals,
            fleet_size=fleet, tier="general" if loyalty % 2 else "premium")
        services.retier_group(org.group.pk)
        store_client.refresh_from_db()
        expected = decide_tier(rule=rule, loyalty=loyalty, power=power, loyalty_max=100, power_max=100,
                               purchases=purchases, referral_deals=referral_deals, fleet_size=fleet)
        assert (store_client.tier, store_client.tier_basis) == (expected.tier, expected.basis), (loyalty, power)


def test_rule_change_retiers_the_group_in_a_recorded_job(org, django_capture_on_commit_callbacks):
    clients = [_client(buy(store=org.store, consultant=org.consultant)) for _ in range(3)]
    for c in clients:
        services.client_score(actor=org.consultant, client=c, scores={"satisfaction": 15, "maintenance": 15,
                                                                      "reputation": 15, "business": 15})
    assert {c.tier for c in BaseClient.objects.all()} == {"general"}
    with pytest.raises(PermissionDenied):
        services.tier_rule_update(actor=org.manager, group_id=org.group.pk, general_pct=30)
    with django_capture_on_commit_callbacks(execute=True):
        services.tier_rule_update(actor=org.admin, group_id=org.group.pk, general_pct=30)
    assert {c.tier for c in BaseClient.objects.all()} == {"potential"}
    from dealercrm.models import JobRun

    run = JobRun.objects.get(job="baseclients_retier")
    assert run.status == "succeeded" and run.flagged == 3
    assert TierChange.objects.filter(job_run=run).count() == 3


# --- referrals -----------------------------------------------------------------------------------------------------


def test_referral_is_credited_when_the_lead_is_won(org):
    referrer = _client(buy(store=org.store, consultant=org.consultant))
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    referral = services.referral_set(actor=org.consultant, lead=lead, referrer_client=referrer,
                                     types=["old_user", "same_region"])
    lead.refresh_from_db()
    assert lead.source == "referral" and referral.derived_type == "first_time"
    referrer.refresh_from_db()
    assert referrer.loyalty_score == 5  # one referral lead: the automatic criterion
    lead_services.deal_record(actor=org.consultant, lead=lead, price=Decimal("1000"), vin=a_vin())
    referrer.refresh_from_db()
    assert referrer.referral_deals == 1 and referrer.tier == Tier.PREMIUM
    assert referrer.tier_basis == TierBasis.REFERRAL_DEAL
    assert Purchase.objects.get(deal__lead=lead).referral == referral
    second = services.referral_set(actor=org.consultant, lead=LeadFactory(store=org.store, assigned_to=org.consultant),
                                   referrer_client=referrer)
    assert second.derived_type == "repeat"


def test_referral_denials(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    foreign = _client(buy(store=org.other_store, consultant=None, actor=org.other_manager))
    with pytest.raises(ValidationError) as exc:
        services.referral_set(actor=org.consultant, lead=lead, referrer_client=foreign)
    assert "referrer" in exc.value.message_dict
    mine = _client(buy(store=org.store, consultant=org.consultant))
    for types in (["bogus"], ["old_user", "same_region", "same_industry"]):
        with pytest.raises(ValidationError) as exc:
            services.referral_set(actor=org.consultant, lead=lead, referrer_client=mine, types=types)
        assert "referral_types" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        services.referral_set(actor=org.consultant2, lead=lead, referrer_client=mine)
    assert not Referral.objects.exists()
    services.referral_set(actor=org.consultant, lead=lead, referrer_staff=org.consultant2, types=["friends_family"])
    assert Referral.objects.get().referrer_staff == org.consultant2


# --- care ----------------------------------------------------------------------------------------------------------


def test_care_job_is_idempotent_and_recorded(org):
    for _ in range(3):
        buy(store=org.store, consultant=org.consultant)
    BaseClient.objects.update(care_anchor=timezone.localdate() - timedelta(days=10))
    CareTask.objects.all().delete()
    first = jobs.care_plan()
    assert first.status == "succeeded" and first.flagged > 0
    count = CareTask.objects.count()
    assert count == first.flagged
    second = jobs.care_plan()
    assert second.flagged == 0 and CareTask.objects.count() == count
    # The second run skipped the group the first planned up to the window's end; a group whose plan changed (the
    # marker cleared) is planned again.
    end = timezone.localdate() + timedelta(days=30)
    assert set(TierRule.objects.values_list("care_planned_until", flat=True)) == {end}
    victim = CareTask.objects.filter(kind="call").first()
    victim.delete()
    assert jobs.care_plan().flagged == 0
    TierRule.objects.filter(group=org.group).update(care_planned_until=None)
    assert jobs.care_plan().flagged == 1
    # Monthly calls for everyone within 30 days, the delivery visit of each vehicle.
    assert CareTask.objects.filter(kind="delivery_visit").count() == 3
    assert CareTask.objects.filter(kind="call").count() == 3


def test_do_not_contact_skips_that_channel(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    with pytest.raises(ValidationError):
        services.do_not_contact_set(actor=org.consultant, client=client, channel="visit", reason="")
    _calls_due_soon(client)
    services.do_not_contact_set(actor=org.consultant, client=client, channel="visit", reason="不希望上门")
    assert not CareTask.objects.filter(client=client, channel="visit").exists()
    jobs.care_plan()
    assert not CareTask.objects.filter(client=client, channel="visit").exists()
    assert CareTask.objects.filter(client=client, channel="phone").exists()


def test_care_task_done_once_with_outcome(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    _calls_due_soon(client)
    task = CareTask.objects.get(client=client, kind="delivery_visit")
    with pytest.raises(ValidationError):
        services.care_task_done(actor=org.consultant, task=task, outcome="bogus")
    with pytest.raises(PermissionDenied):
        services.care_task_done(actor=org.consultant2, task=task, outcome="visited")
    services.care_task_done(actor=org.consultant, task=task, outcome="visited", note="车况良好")
    task.refresh_from_db()
    assert task.status == CareStatus.DONE and task.on_time and task.done_by == org.consultant
    with pytest.raises(ValidationError) as exc:
        services.care_task_done(actor=org.consultant, task=task, outcome="visited")
    assert "status" in exc.value.message_dict
    call = CareTask.objects.get(client=client, kind="call")
    with pytest.raises(ValidationError):
        services.care_task_skip(actor=org.consultant, task=call, reason=" ")
    services.care_task_skip(actor=org.consultant, task=call, reason="客户出差")
    call.refresh_from_db()
    assert call.status == CareStatus.SKIPPED


def test_a_logged_call_closes_the_matching_task(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    _calls_due_soon(client)
    CareTask.objects.filter(client=client, kind="call").update(due_on=timezone.localdate())
    contact = services.care_contact_log(actor=org.consultant, client=client, channel="phone", content="聊了保养")
    closed = contact.task
    assert closed.kind == "call" and closed.status == CareStatus.DONE and closed.outcome == "reached"
    assert closed.note == "聊了保养" and contact.by == org.consultant
    # A second call the same week finds nothing pending of that channel: logged, closes nothing.
    again = services.care_contact_log(actor=org.consultant, client=client, channel="phone", content="又聊了")
    assert again.pk and again.task is None
    with pytest.raises(ValidationError) as exc:
        services.care_contact_log(actor=org.consultant, client=client, channel="pigeon")
    assert "method" in exc.value.message_dict


def test_overdue_care_is_flagged_by_the_job(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    _calls_due_soon(client)
    CareTask.objects.filter(client=client, kind="call").update(due_on=timezone.localdate() - timedelta(days=2))
    run = jobs.care_flag_overdue()
    assert run.flagged == 1
    assert jobs.care_flag_overdue().flagged == 0
    assert CareTask.objects.overdue().count() == 1


def test_care_due_is_a_part_of_the_morning_digest_once_a_day(org):
    from dealercrm.models import Notification
    from dealercrm.notifications import notification_text
    from leads.services.jobs import notifications_send_digests

    client = _client(buy(store=org.store, consultant=org.consultant))
    _calls_due_soon(client)
    CareTask.objects.filter(client=client, kind="call").update(due_on=timezone.localdate())
    CareTask.objects.filter(client=client, kind="call").exclude(
        pk=CareTask.objects.filter(client=client, kind="call").order_by("pk").values("pk")[:1]
    ).update(due_on=timezone.localdate() - timedelta(days=2))
    notifications_send_digests()
    digest = Notification.objects.get(recipient=org.consultant, kind=Notification.Kind.DIGEST)
    due_today = CareTask.objects.filter(client=client, due_on=timezone.localdate(), status="pending").count()
    overdue = CareTask.objects.filter(client=client, due_on__lt=timezone.localdate(), status="pending").count()
    assert (digest.params["care_today"], digest.params["care_overdue"]) == (due_today, overdue)
    with translation.override("en"):
        assert f"Care today: {due_today} tasks due, {overdue} overdue." in notification_text(digest)
    assert notifications_send_digests().notified == 0  # once a day
    # Nobody else is told about this consultant's care, and no separate care notification is sent.
    assert not Notification.objects.filter(recipient=org.consultant2, kind=Notification.Kind.DIGEST).exists()
    assert not Notification.objects.filter(kind="care_digest").exists()


def test_reassign_moves_pending_care(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    with pytest.raises(PermissionDenied):
        services.client_assign(actor=org.consultant, client=client, to_user=org.consultant2)
    services.client_assign(actor=org.manager, client=client, to_user=org.consultant2)
    assert set(CareTask.objects.filter(client=client).values_list("assigned_to", flat=True)) == {org.consultant2.pk}


def test_scoping(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    assert list(BaseClient.objects.visible_to(org.consultant)) == [client]
    assert not BaseClient.objects.visible_to(org.consultant2).exists()
    assert BaseClient.objects.visible_to(org.manager).exists()
    assert not BaseClient.objects.visible_to(org.manager2).exists()
    assert BaseClient.objects.visible_to(org.admin).exists()
    assert not BaseClient.objects.visible_to(org.other_admin).exists()
    assert not CareTask.objects.visible_to(org.consultant2).exists()
    assert CareTask.objects.visible_to(org.consultant).exists()


def test_tier_rule_defaults_seeded(org):
    rule = services.tier_rule_for(org.group.pk)
    assert (rule.premium_pct, rule.general_pct) == (70, 40)
    assert TierRule.objects.count() == 1
    criteria = services.criteria_for(org.group.pk)
    assert sum(c.max_points for c in criteria if c.dimension == "loyalty") == 100


# --- the new card: fleet size and the insurance renewal --------------------------------------------------------------


def test_new_card_counts_its_car_in_the_fleet_and_renews_insurance_a_year_after_delivery(org):
    # Given a deal delivered 10 days ago, when it makes the card, then the fleet is the one car, the policy renews a
    # year after the delivery, and the reminder is due the plan's lead time (30 days) before that.
    deal = buy(store=org.store, consultant=org.consultant, delivered_days_ago=10)
    client = _client(deal)
    delivered = deal.delivered_at
    assert client.fleet_size == 1
    vehicle = Vehicle.objects.get(client=client)
    renewal = services.care.add_months(delivered, 12)
    assert vehicle.insurance_renewal_at == renewal
    services.materialise(client_ids=[client.pk], start=delivered, window_days=400)
    dues = list(CareTask.objects.filter(client=client, kind="insurance_renewal").values_list("due_on", flat=True))
    assert dues == [renewal - timedelta(days=30)]


def test_a_second_car_raises_the_fleet_and_a_larger_fleet_on_the_card_stays(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    services.vehicle_add(actor=org.consultant, client=client, vin=a_vin())
    client.refresh_from_db()
    assert client.fleet_size == 2
    services.client_update(actor=org.consultant, client=client, fleet_size=6)
    services.vehicle_add(actor=org.consultant, client=client, vin=a_vin())
    client.refresh_from_db()
    assert client.fleet_size == 6
