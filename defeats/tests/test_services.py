"""The defeat workflow's services: every transition and every refusal, nothing half-written."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from dealercrm.models import Notification
from defeats import services
from defeats.models import (
    Application,
    ApplicationStatus,
    DefeatEvent,
    EventKind,
    NurtureContact,
    PoolEntry,
    PoolOwner,
    PoolStatus,
    Reason,
)
from leads import selectors as lead_selectors
from leads import services as lead_services
from leads.models import AssignmentChange, GradeChange, Lead, OverdueFlag, StaleFlag, Status
from leads.services.jobs import leads_flag_overdue, leads_flag_stale, leads_reclaim
from leads.tests.factories import LeadFactory, StaleFlagFactory

from .factories import pending_application

pytestmark = pytest.mark.django_db


def _lead(org, **kw):
    return LeadFactory(store=org.store, assigned_to=kw.pop("assigned_to", org.consultant), **kw)


# --- taxonomy ---------------------------------------------------------------------------------------------------


def test_every_group_gets_the_default_two_level_taxonomy(org):
    reasons = services.reasons_for(org.group.pk)
    codes = {r.code: r for r in reasons}
    assert {"product", "process", "customer"} <= set(codes)
    assert codes["price_high"].parent.code == "product"
    assert codes["unreasonable_demands"].requires_note
    assert all(r.name and r.name_en for r in reasons)
    assert all(r.parent is None or r.parent.parent is None for r in reasons)
    # Idempotent, and per group.
    assert len(services.reasons_for(org.group.pk)) == len(reasons)
    assert Reason.objects.filter(group=org.other_group).count() in (0, len(reasons))


# --- apply ------------------------------------------------------------------------------------------------------


def test_filing_freezes_the_lead_clears_its_flags_and_records_the_step(org, catalogue):
    lead = _lead(org, series=catalogue.own, next_follow_up_at=timezone.now() - timedelta(days=5))
    StaleFlagFactory(lead=lead)
    OverdueFlag.objects.create(lead=lead, since=lead.next_follow_up_at)
    version = lead.version
    app = services.application_file(actor=org.consultant, lead=lead, kind="defeat",
                                    reasons=["model_unsatisfied", "price_high"], price_cause="price_war",
                                    competitor_series=catalogue.accord, price_gap=Decimal("8000.00"), note="买了雅阁")
    lead.refresh_from_db()
    assert app.status == ApplicationStatus.PENDING
    assert lead.status == Status.DEFEAT_PENDING
    assert lead.assigned_to == org.consultant  # still the consultant's
    assert lead.next_follow_up_at is None
    assert lead.version == version + 1
    assert not StaleFlag.objects.filter(lead=lead).exists()
    assert not OverdueFlag.objects.filter(lead=lead).exists()
    assert app.competitor_brand == catalogue.accord.brand
    assert app.our_series == catalogue.own
    assert app.consultant == org.consultant
    assert sorted(app.reason_rows.values_list("parent__code", flat=True)) == ["product", "product"]
    assert app.price_cause == "price_war"
    event = DefeatEvent.objects.get(lead=lead)
    assert (event.kind, event.by, event.from_status, event.to_status) == (
        EventKind.APPLIED, org.consultant, "active", "defeat_pending")


def test_a_frozen_lead_is_in_no_queue_and_the_jobs_skip_it(org):
    long_ago = timezone.now() - timedelta(days=400)
    lead = _lead(org, grade="E", grade_since=long_ago, first_visit_at=long_ago,
                 next_follow_up_at=timezone.now() - timedelta(days=60))
    pending_application(org, lead=lead)
    assert not Lead.objects.overdue().filter(pk=lead.pk).exists()
    assert not lead_selectors.stale_queue(user=org.manager, store=org.store).filter(pk=lead.pk).exists()
    leads_flag_stale()
    leads_flag_overdue()
    leads_reclaim()
    lead.refresh_from_db()
    assert lead.status == Status.DEFEAT_PENDING and lead.assigned_to == org.consultant and lead.pooled_at is None
    assert not StaleFlag.objects.filter(lead=lead).exists() and not OverdueFlag.objects.filter(lead=lead).exists()
    # Nor can anyone work it while it waits.
    with pytest.raises(ValidationError):
        lead_services.follow_up_log(actor=org.consultant, lead=lead, method="phone", content="x")


def test_a_manager_may_file_too(org):
    app = pending_application(org, lead=_lead(org), reasons=["lost_contact"])
    app2 = services.application_file(actor=org.manager, lead=_lead(org), kind="quasi", reasons=["lost_contact"])
    assert app.applied_by == org.consultant and app2.applied_by == org.manager


@pytest.mark.parametrize("who", ["manager", "admin"])
@pytest.mark.parametrize("note, comment", [("半年没联系上", "半年没联系上"), ("", "Filed and confirmed by the manager.")])
def test_a_managers_own_filing_is_confirmed_at_once_by_him(org, who, note, comment):
    filer = getattr(org, who)
    lead = _lead(org)
    with translation.override("en"):  # the default comment is written in the filer's language
        app = services.application_file(actor=filer, lead=lead, kind="quasi", reasons=["long_no_deal"], note=note)
    app.refresh_from_db()
    lead.refresh_from_db()
    assert (app.status, app.applied_by, app.decided_by, app.comment) == (
        ApplicationStatus.CONFIRMED, filer, filer, comment)
    assert app.applied_at == app.decided_at
    assert lead.status == Status.DEFEATED
    assert PoolEntry.objects.get(lead=lead).owner == org.consultant  # the quasi-defeat's nurture list
    assert [e.kind for e in DefeatEvent.objects.filter(lead=lead).order_by("pk")] == [
        EventKind.APPLIED, EventKind.CONFIRMED]
    assert not Application.objects.filter(status=ApplicationStatus.PENDING).exists()  # nothing left to verify
    assert Notification.objects.filter(recipient=org.consultant, kind="defeat_confirmed").exists()


def test_a_consultants_filing_still_waits_for_verification(org):
    app = services.application_file(actor=org.consultant, lead=_lead(org), kind="quasi", reasons=["long_no_deal"])
    app.refresh_from_db()
    assert app.status == ApplicationStatus.PENDING and app.decided_by is None


@pytest.mark.parametrize("kwargs, field", [
    ({"reasons": ["no_such_reason"]}, "reasons"),
    ({"reasons": []}, "reasons"),
    ({"reasons": ["unreasonable_demands"]}, "note"),                   # requires a note
    ({"reasons": ["model_unsatisfied"]}, "competitor_series"),         # a defeat bought a competitor's car
    ({"reasons": ["funding_not_ready"], "kind": "quasi", "competitor_series": "accord"}, "competitor_series"),
    ({"reasons": ["price_high"], "kind": "quasi"}, "price_cause"),      # the cause is a countable choice
    ({"reasons": ["lost_contact"], "price_cause": "price_war"}, "price_cause"),
    ({"reasons": ["price_high"], "kind": "quasi", "price_cause": "cheap"}, "price_cause"),
    ({"reasons": ["lost_contact"], "kind": "gone"}, "kind"),
    ({"reasons": ["lost_contact"], "competitor_series": 999999}, "competitor_series"),
    ({"reasons": ["lost_contact"], "price_gap": 12.5}, "price_gap"),
])
def test_bad_input_is_refused_with_field_messages_and_nothing_written(org, catalogue, kwargs, field):
    lead = _lead(org)
    kwargs = {"kind": "defeat", **kwargs}
    if kwargs.get("competitor_series") == "accord":
        kwargs["competitor_series"] = catalogue.accord
    with pytest.raises(ValidationError) as exc:
        services.application_file(actor=org.consultant, lead=lead, **kwargs)
    assert field in exc.value.message_dict
    lead.refresh_from_db()
    assert lead.status == Status.ACTIVE
    assert not Application.objects.exists() and not DefeatEvent.objects.exists()


def test_our_own_series_is_not_a_competitor(org, catalogue):
    with pytest.raises(ValidationError) as exc:
        services.application_file(actor=org.consultant, lead=_lead(org), kind="defeat",
                                  reasons=["model_unsatisfied"], competitor_series=catalogue.own)
    assert "competitor_series" in exc.value.message_dict


def test_a_deactivated_reason_cannot_be_picked(org):
    services.reasons_for(org.group.pk)
    Reason.objects.filter(group=org.group, code="lost_contact").update(is_active=False)
    with pytest.raises(ValidationError) as exc:
        pending_application(org, reasons=["lost_contact"])
    assert "reasons" in exc.value.message_dict


def test_a_reason_of_another_group_is_unknown(org):
    services.reasons_for(org.other_group.pk)
    Reason.objects.create(group=org.other_group, code="beta_only", name="乙", name_en="Beta only")
    with pytest.raises(ValidationError):
        pending_application(org, kind="quasi", reasons=["beta_only"])


def test_won_and_merged_leads_cannot_be_defeated(org):
    won = _lead(org)
    lead_services.deal_record(actor=org.consultant, lead=won, price=Decimal("150000"))
    with pytest.raises(ValidationError) as exc:
        pending_application(org, lead=won)
    assert "lead" in exc.value.message_dict
    a, b = _lead(org), _lead(org)
    lead_services.lead_merge(actor=org.manager, keep=a, absorb=b)
    with pytest.raises(ValidationError):
        pending_application(org, lead=b)
    assert not Application.objects.exists()


def test_one_open_application_per_lead(org):
    lead = _lead(org)
    pending_application(org, lead=lead)
    with pytest.raises(services.AlreadyPending):
        services.application_file(actor=org.manager, lead=lead, kind="quasi", reasons=["lost_contact"])
    assert Application.objects.filter(lead=lead).count() == 1


def test_the_database_refuses_a_second_pending_application(org):
    from django.db import IntegrityError, transaction

    app = pending_application(org)
    with pytest.raises(IntegrityError), transaction.atomic():
        Application.objects.create(lead=app.lead, store=org.store, kind="quasi", applied_by=org.manager,
                                   applied_at=timezone.now(), from_status="active")


def test_only_the_leads_consultant_or_manager_files(org):
    lead = _lead(org)
    for outsider in (org.consultant2, org.consultant_b, org.manager2, org.other_manager, org.other_admin):
        with pytest.raises(PermissionDenied):
            services.application_file(actor=outsider, lead=lead, kind="quasi", reasons=["lost_contact"])
    assert not Application.objects.exists()


def test_a_stale_version_is_refused(org):
    lead = _lead(org)
    with pytest.raises(lead_services.StaleVersion):
        services.application_file(actor=org.consultant, lead=lead, kind="quasi", reasons=["lost_contact"],
                                  expected_version=lead.version + 1)


# --- verdicts -----------------------------------------------------------------------------------------------------


def test_confirm_defeats_the_lead_and_hands_it_to_the_pool_owner(org, catalogue):
    app = pending_application(org, kind="defeat", reasons=["model_unsatisfied"], competitor_series=catalogue.han)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="已核实，买了汉")
    app.refresh_from_db()
    lead = app.lead
    lead.refresh_from_db()
    assert app.status == ApplicationStatus.CONFIRMED and app.decided_by == org.manager and app.decided_at
    assert app.comment == "已核实，买了汉" and app.version == 2
    assert lead.status == Status.DEFEATED
    # The pool owner (by default the store's manager) works the entry; the lead stays with the consultant who lost it.
    assert lead.assigned_to == org.consultant
    entry = PoolEntry.objects.get(lead=lead)
    assert entry.owner == org.manager and entry.competitor_series == catalogue.han and entry.list == "competitor"
    assert entry.status == PoolStatus.IN_POOL
    assert entry.next_contact_at.date() == (app.decided_at + timedelta(days=90)).date()
    assert entry.replacement_due_on.year == timezone.localtime(app.applied_at).year + 3
    assert not AssignmentChange.objects.filter(lead=lead).exists()
    assert DefeatEvent.objects.filter(lead=lead, kind=EventKind.CONFIRMED, by=org.manager,
                                      to_status="defeated").exists()
    assert Notification.objects.filter(recipient=org.consultant, kind="defeat_confirmed").exists()
    # Terminal: nothing more can be done to it.
    with pytest.raises(ValidationError):
        pending_application(org, lead=lead)


def test_confirm_uses_the_designated_pool_owner(org):
    PoolOwner.objects.create(store=org.store, user=org.consultant2)
    app = pending_application(org)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    app.lead.refresh_from_db()
    assert app.lead.assigned_to == org.consultant
    assert PoolEntry.objects.get(lead=app.lead).owner == org.consultant2
    assert Notification.objects.filter(recipient=org.consultant2, kind="defeat_pool").exists()


def test_reject_reactivates_with_a_grade_another_consultant_and_a_second_follow_up(org):
    lead = _lead(org, grade="C")
    app = pending_application(org, lead=lead)
    before = timezone.now()
    services.application_decide(actor=org.manager, application=app, verdict="reject", comment="客户还在比较，继续跟",
                                assign_to=org.consultant2, grade="B")
    lead.refresh_from_db()
    app.refresh_from_db()
    assert app.status == ApplicationStatus.REJECTED
    assert lead.status == Status.ACTIVE and lead.grade == "B" and lead.assigned_to == org.consultant2
    # The second follow-up falls due within the group's days (default 2), not the grade's interval.
    assert before + timedelta(days=2) <= lead.next_follow_up_at <= timezone.now() + timedelta(days=2)
    assert GradeChange.objects.filter(lead=lead, from_grade="C", to_grade="B").exists()
    assert AssignmentChange.objects.filter(lead=lead, from_user=org.consultant, to_user=org.consultant2).exists()
    assert set(Notification.objects.filter(kind="defeat_rejected").values_list("recipient", flat=True)) == {
        org.consultant.pk, org.consultant2.pk}
    # Back in a consultant's day: due within the next days, in the workspace's data.
    assert Lead.objects.visible_to(org.consultant2).active().filter(pk=lead.pk).exists()
    assert DefeatEvent.objects.filter(lead=lead, kind=EventKind.REJECTED, to_user=org.consultant2).exists()


def test_reject_defaults_to_the_same_consultant_and_grade_and_the_group_setting(org):
    services.settings_update(actor=org.admin, group=org.group, second_follow_up_days=5)
    lead = _lead(org, grade="D")
    app = pending_application(org, lead=lead)
    services.application_decide(actor=org.manager, application=app, verdict="reject", comment="误判")
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant and lead.grade == "D"
    assert lead.next_follow_up_at.date() >= (timezone.now() + timedelta(days=5)).date() - timedelta(days=1)
    assert not AssignmentChange.objects.filter(lead=lead).exists()


@pytest.mark.parametrize("who", ["consultant", "consultant2", "manager2", "other_manager", "other_admin"])
def test_only_the_stores_manager_or_group_admin_decides(org, who):
    app = pending_application(org)
    with pytest.raises(PermissionDenied):
        services.application_decide(actor=getattr(org, who), application=app, verdict="confirm", comment="x")
    app.refresh_from_db()
    assert app.status == ApplicationStatus.PENDING
    app.lead.refresh_from_db()
    assert app.lead.status == Status.DEFEAT_PENDING


def test_a_group_admin_decides(org):
    app = pending_application(org)
    services.application_decide(actor=org.admin, application=app, verdict="confirm", comment="ok")
    app.refresh_from_db()
    assert app.status == ApplicationStatus.CONFIRMED


def test_a_decided_application_is_not_decided_again(org):
    app = pending_application(org)
    services.application_decide(actor=org.manager, application=app, verdict="reject", comment="继续跟")
    with pytest.raises(services.AlreadyDecided):
        services.application_decide(actor=org.admin, application=app, verdict="confirm", comment="no")
    app.refresh_from_db()
    assert app.status == ApplicationStatus.REJECTED and app.decided_by == org.manager


@pytest.mark.parametrize("kwargs, field", [
    ({"verdict": "maybe", "comment": "x"}, "verdict"),
    ({"verdict": "confirm", "comment": "  "}, "comment"),
    ({"verdict": "reject", "comment": "x", "grade": "Z"}, "grade"),
])
def test_bad_verdicts_are_refused(org, kwargs, field):
    app = pending_application(org)
    with pytest.raises(ValidationError) as exc:
        services.application_decide(actor=org.manager, application=app, **kwargs)
    assert field in exc.value.message_dict
    app.refresh_from_db()
    assert app.status == ApplicationStatus.PENDING


def test_reject_to_someone_outside_the_store_is_refused_and_nothing_written(org):
    app = pending_application(org)
    with pytest.raises(ValidationError) as exc:
        services.application_decide(actor=org.manager, application=app, verdict="reject", comment="x",
                                    assign_to=org.consultant_b)
    assert "assign_to" in exc.value.message_dict
    app.refresh_from_db()
    app.lead.refresh_from_db()
    assert app.status == ApplicationStatus.PENDING and app.lead.status == Status.DEFEAT_PENDING
    assert not DefeatEvent.objects.filter(kind=EventKind.REJECTED).exists()


def test_a_stale_application_version_is_refused(org):
    app = pending_application(org)
    with pytest.raises(lead_services.StaleVersion):
        services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="x",
                                    expected_version=app.version + 1)


def test_bulk_verdict_decides_all(org):
    apps = [pending_application(org) for _ in range(3)]
    services.applications_bulk_decide(actor=org.manager, ids=[a.pk for a in apps], verdict="confirm",
                                      comment="批量核实")
    assert set(Application.objects.values_list("status", flat=True)) == {"confirmed"}
    assert Lead.objects.filter(status=Status.DEFEATED).count() == 3
    assert PoolEntry.objects.count() == 3


def test_bulk_verdict_with_one_already_decided_is_refused_whole(org):
    apps = [pending_application(org) for _ in range(3)]
    services.application_decide(actor=org.manager, application=apps[1], verdict="reject", comment="x")
    with pytest.raises(services.AlreadyDecided) as exc:
        services.applications_bulk_decide(actor=org.admin, ids=[a.pk for a in apps], verdict="confirm", comment="y")
    assert exc.value.ids == [apps[1].pk]
    assert Application.objects.filter(status="pending").count() == 2
    assert not PoolEntry.objects.exists()


def test_bulk_verdict_across_a_store_the_manager_does_not_manage_is_refused_whole(org):
    mine = pending_application(org)
    lead_b = LeadFactory(store=org.store2, assigned_to=org.consultant_b)
    theirs = services.application_file(actor=org.consultant_b, lead=lead_b, kind="quasi", reasons=["lost_contact"])
    with pytest.raises(PermissionDenied):
        services.applications_bulk_decide(actor=org.manager, ids=[mine.pk, theirs.pk], verdict="confirm", comment="y")
    assert Application.objects.filter(status="pending").count() == 2


# --- the competitor pool --------------------------------------------------------------------------------------------


def _pooled(org, **kw):
    app = pending_application(org, **kw)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    return PoolEntry.objects.get(lead=app.lead)


def test_a_nurture_contact_is_logged_and_the_next_falls_due(org):
    entry = _pooled(org)
    services.nurture_contact_log(actor=org.manager, entry=entry, method="phone", content="邀请参加新车发布会")
    entry.refresh_from_db()
    assert NurtureContact.objects.filter(entry=entry).count() == 1
    assert entry.last_contact_at and entry.next_contact_at > entry.last_contact_at + timedelta(days=89)
    assert entry.status == PoolStatus.IN_POOL
    entry.lead.refresh_from_db()
    assert entry.lead.status == Status.DEFEATED


def test_a_customer_who_comes_back_is_a_win_back(org):
    entry = _pooled(org)
    lead = entry.lead
    services.nurture_contact_log(actor=org.manager, entry=entry, method="phone", content="想换车，周末来店",
                                 came_back=True, grade="B", assign_to=org.consultant2)
    entry.refresh_from_db()
    lead.refresh_from_db()
    assert entry.status == PoolStatus.WON_BACK and entry.won_back_at
    assert lead.status == Status.ACTIVE and lead.grade == "B" and lead.assigned_to == org.consultant2
    assert lead.next_follow_up_at <= timezone.now() + timedelta(minutes=1)
    # The history stays: the confirmed application and its events are still there.
    assert Application.objects.filter(lead=lead, status="confirmed").exists()
    assert list(DefeatEvent.objects.filter(lead=lead).order_by("at", "pk").values_list("kind", flat=True)) == [
        "applied", "confirmed", "won_back"]
    with pytest.raises(services.Conflict):
        services.nurture_contact_log(actor=org.manager, entry=entry, method="phone", content="again")


def test_a_win_back_needs_a_grade_and_only_the_owner_or_manager_nurtures(org):
    entry = _pooled(org)
    with pytest.raises(ValidationError) as exc:
        services.nurture_contact_log(actor=org.manager, entry=entry, method="phone", content="x", came_back=True)
    assert "grade" in exc.value.message_dict
    for outsider in (org.consultant, org.manager2, org.other_admin):
        with pytest.raises(PermissionDenied):
            services.nurture_contact_log(actor=outsider, entry=entry, method="phone", content="x")
    assert not NurtureContact.objects.exists()


# --- settings -------------------------------------------------------------------------------------------------------


def test_only_the_group_admin_changes_settings_and_reasons(org):
    with pytest.raises(PermissionDenied):
        services.settings_update(actor=org.manager, group=org.group, second_follow_up_days=4)
    with pytest.raises(PermissionDenied):
        services.reason_save(actor=org.other_admin, group=org.group, code="x", name="x", name_en="x")
    parent = Reason.objects.get(group=org.group, code="customer") if services.reasons_for(org.group.pk) else None
    reason = services.reason_save(actor=org.admin, group=org.group, code="moved_away", parent=parent, name="搬家",
                                  name_en="Moved away")
    assert reason.parent == parent
    with pytest.raises(ValidationError) as exc:
        services.reason_save(actor=org.admin, group=org.group, code="deeper", parent=reason, name="a", name_en="b")
    assert "parent" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.settings_update(actor=org.admin, group=org.group, second_follow_up_days=0)


def test_talk_tracks_are_written_by_managers(org, catalogue):
    reason = [r for r in services.reasons_for(org.group.pk) if r.code == "price_high"][0]
    track = services.talk_track_save(actor=org.manager, reason=reason, fact="同级别车型中配置最全",
                                     problem="低价车后期保养贵", viewpoint="看五年总拥有成本", series=catalogue.own)
    assert track.group == org.group and track.updated_by == org.manager
    again = services.talk_track_save(actor=org.admin, reason=reason, fact="a", problem="b", viewpoint="c",
                                     series=catalogue.own)
    assert again.pk == track.pk
    with pytest.raises(PermissionDenied):
        services.talk_track_save(actor=org.consultant, reason=reason, fact="a", problem="b", viewpoint="c")
    with pytest.raises(PermissionDenied):
        services.talk_track_save(actor=org.other_manager, reason=reason, fact="a", problem="b", viewpoint="c")
    with pytest.raises(ValidationError) as exc:
        services.talk_track_save(actor=org.manager, reason=reason, fact="", problem="b", viewpoint="c",
                                 series=catalogue.accord)
    assert {"fact", "series"} <= set(exc.value.message_dict)
