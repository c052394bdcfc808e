"""The daily jobs (leads.services.jobs): each rule across its threshold (time moved with time-machine), per-group
rules, clearing, idempotence, an interrupted run, the run record, the Celery task wrappers and run_jobs."""

from datetime import timedelta
from io import StringIO

import threading

import pytest
import time_machine
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from dealercrm.models import JobRun, Notification
from dealercrm.tests.factories import ConsultantFactory, ManagerFactory
from leads import services, tasks
from leads.models import AssignmentChange, FlagEvent, GradeRule, Lead, OverdueFlag, local_day_start
from leads.services import jobs
from leads.tests.factories import FollowUpFactory, LeadFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def local(days_ago: int, hour: int = 10, now=None):
    """``hour`` o'clock (local time) ``days_ago`` days before ``now``'s day."""
    return local_day_start(now) - days_ago * DAY + timedelta(hours=hour)


def lead_of(user, **kwargs):
    return LeadFactory(store=user.store, assigned_to=user, **kwargs)


def events(lead, **kwargs):
    return list(FlagEvent.objects.filter(lead=lead, **kwargs).values_list("kind", "action"))


# --- stale ----------------------------------------------------------------------------------------------------


def test_a_lead_turns_stale_when_it_outstays_its_grades_max_dwell(org):
    since = timezone.now() - 149 * DAY
    lead = lead_of(org.consultant, grade="C", grade_since=since)  # C: 150 days by default

    run = jobs.leads_flag_stale()
    lead.refresh_from_db()
    assert lead.stale_since is None and run.flagged == 0

    with time_machine.travel(timezone.now() + 2 * DAY, tick=False):
        run = jobs.leads_flag_stale()
    lead.refresh_from_db()
    assert lead.stale_since == since + 150 * DAY
    assert lead.stale_max_dwell_days == 150
    assert (run.status, run.flagged, run.cleared) == (JobRun.Status.SUCCEEDED, 1, 0)
    assert run.finished_at is not None and run.job == "flag_stale_leads"
    event = FlagEvent.objects.get(lead=lead)
    assert (event.kind, event.action, event.job_run_id, event.by_id) == ("stale", "raised", run.pk, None)


@pytest.mark.parametrize("grade,days", [("A", 90), ("B", 120), ("D", 180), ("E", 14)])
def test_each_grade_has_its_own_default_max_dwell(org, grade, days):
    now = timezone.now()
    over = lead_of(org.consultant, grade=grade, grade_since=now - (days + 1) * DAY)
    under = lead_of(org.consultant, grade=grade, grade_since=now - (days - 1) * DAY)
    jobs.leads_flag_stale(now=now)
    over.refresh_from_db(), under.refresh_from_db()
    assert over.stale_max_dwell_days == days and under.stale_since is None


def test_keeping_restarts_the_dwell_clock(org):
    now = timezone.now()
    lead = lead_of(org.consultant, grade="E", grade_since=now - 40 * DAY, dwell_kept_at=now - 10 * DAY)
    jobs.leads_flag_stale(now=now)
    lead.refresh_from_db()
    assert lead.stale_since is None
    jobs.leads_flag_stale(now=now + 5 * DAY)
    lead.refresh_from_db()
    assert lead.stale_since == now - 10 * DAY + 14 * DAY  # the kept clock, not grade_since


def test_the_groups_own_max_dwell_applies_to_its_stores_only(org):
    services.grade_rules_for(org.group.pk)
    GradeRule.objects.filter(group=org.group, grade="C").update(max_dwell_days=30)
    now = timezone.now()
    ours = lead_of(org.consultant, grade="C", grade_since=now - 40 * DAY)
    theirs = LeadFactory(store=org.other_store, grade="C", grade_since=now - 40 * DAY)
    jobs.leads_flag_stale(now=now)
    ours.refresh_from_db(), theirs.refresh_from_db()
    assert (ours.stale_since, ours.stale_max_dwell_days) == (now - 10 * DAY, 30)
    assert theirs.stale_since is None


def test_ungraded_won_and_merged_leads_are_never_stale(org):
    now = timezone.now()
    ungraded = lead_of(org.consultant, grade=None, grade_since=None)
    won = lead_of(org.consultant, grade="E", grade_since=now - 99 * DAY, status="won")
    jobs.leads_flag_stale(now=now)
    assert Lead.objects.filter(pk__in=[ungraded.pk, won.pk], stale_flag__isnull=False).count() == 0


def test_a_flag_that_no_longer_holds_is_cleared(org):
    now = timezone.now()
    won_since = lead_of(org.consultant, grade="E", grade_since=now - 30 * DAY)
    rule_relaxed = lead_of(org.consultant, grade="D", grade_since=now - 200 * DAY)
    still = lead_of(org.consultant, grade="E", grade_since=now - 30 * DAY)
    jobs.leads_flag_stale(now=now)
    assert Lead.objects.filter(stale_flag__isnull=False).count() == 3

    Lead.objects.filter(pk=won_since.pk).update(status="won")
    services.grade_rules_for(org.group.pk)
    GradeRule.objects.filter(group=org.group, grade="D").update(max_dwell_days=365)
    run = jobs.leads_flag_stale(now=now + DAY)

    assert (run.flagged, run.cleared) == (0, 2)
    assert set(Lead.objects.filter(stale_flag__isnull=False).values_list("pk", flat=True)) == {still.pk}
    for lead in (won_since, rule_relaxed):
        lead.refresh_from_db()
        assert lead.stale_max_dwell_days is None
        assert events(lead) == [("stale", "cleared"), ("stale", "raised")]


def test_running_the_stale_job_twice_changes_nothing(org):
    now = timezone.now()
    lead_of(org.consultant, grade="E", grade_since=now - 30 * DAY)
    first = jobs.leads_flag_stale(now=now)
    before = list(Lead.objects.values_list("pk", "stale_flag__since", "version"))
    second = jobs.leads_flag_stale(now=now)
    assert (first.flagged, second.flagged, second.cleared) == (1, 0, 0)
    assert list(Lead.objects.values_list("pk", "stale_flag__since", "version")) == before
    assert FlagEvent.objects.count() == 1


def test_a_manager_keeps_a_stale_lead_and_the_job_does_not_flag_it_again(org):
    now = timezone.now()
    lead = lead_of(org.consultant, grade="E", grade_since=now - 30 * DAY)
    jobs.leads_flag_stale(now=now)
    services.lead_keep(actor=org.manager, lead=lead, reason="客户下月提车预算到位")
    assert jobs.leads_flag_stale().flagged == 0
    with time_machine.travel(timezone.now() + 15 * DAY, tick=False):
        assert jobs.leads_flag_stale().flagged == 1


# --- overdue --------------------------------------------------------------------------------------------------


def test_a_follow_up_is_overdue_from_the_day_after_it_fell_due(org):
    due = local(0, hour=9)  # this morning
    lead = lead_of(org.consultant, next_follow_up_at=due)
    jobs.leads_flag_overdue()
    lead.refresh_from_db()
    assert lead.overdue_since is None  # due today is not overdue yet

    with time_machine.travel(local_day_start() + DAY + timedelta(minutes=10), tick=False):
        run = jobs.leads_flag_overdue()
    lead.refresh_from_db()
    assert lead.overdue_since == due
    assert (run.flagged, events(lead, kind="overdue")) == (1, [("overdue", "raised")])


def test_anonymous_and_closed_leads_are_never_overdue(org):
    anonymous = lead_of(org.consultant, phone="", next_follow_up_at=local(5))
    won = lead_of(org.consultant, status="won", next_follow_up_at=local(5))
    assert jobs.leads_flag_overdue().flagged == 0
    assert not Lead.objects.filter(pk__in=[anonymous.pk, won.pk], overdue_flag__isnull=False).exists()


def test_overdue_flags_clear_when_a_follow_up_moves_the_date_and_the_job_runs_once(org):
    lead = lead_of(org.consultant, next_follow_up_at=local(3))
    other = lead_of(org.consultant, next_follow_up_at=local(4))
    assert jobs.leads_flag_overdue().flagged == 2
    services.follow_up_log(actor=org.consultant, lead=lead, method="phone", content="约周末试驾")
    lead.refresh_from_db()
    assert lead.overdue_since is None  # the service clears its own flag
    Lead.objects.filter(pk=other.pk).update(next_follow_up_at=timezone.now() + 3 * DAY)  # moved without a service
    run = jobs.leads_flag_overdue()
    assert (run.flagged, run.cleared) == (0, 1)
    assert events(other, kind="overdue") == [("overdue", "cleared"), ("overdue", "raised")]
    again = jobs.leads_flag_overdue()
    assert (again.flagged, again.cleared) == (0, 0)


# --- reclaim --------------------------------------------------------------------------------------------------


def test_a_lead_overdue_longer_than_the_groups_delay_goes_back_to_the_pool(org):
    lead = lead_of(org.consultant, next_follow_up_at=local(7))  # overdue since 6 days ago (the day after)
    version = lead.version
    run = jobs.leads_reclaim()
    lead.refresh_from_db()
    assert lead.assigned_to_id == org.consultant.pk and run.flagged == 0

    with time_machine.travel(local_day_start() + DAY + timedelta(minutes=30), tick=False):
        run = jobs.leads_reclaim()
        now = timezone.now()
    lead.refresh_from_db()
    assert lead.assigned_to is None
    assert lead.pooled_at == now
    assert lead.version == version + 1
    change = AssignmentChange.objects.get(lead=lead)
    assert (change.from_user, change.to_user, change.changed_by) == (org.consultant, None, None)
    assert change.reason == jobs.REASON_RECLAIMED
    assert events(lead) == [("pool", "raised")]
    assert run.flagged == 1
    got = {(n.recipient_id, n.kind, n.params["count"]) for n in Notification.objects.all()}
    assert got == {(org.consultant.pk, "reclaimed", 1), (org.manager.pk, "reclaimed", 1)}
    assert run.notified == 2


def test_the_audit_rows_keys_protect_without_a_database_constraint(org):
    """AssignmentChange and FlagEvent keys have no database constraint (models.AUDIT_KEY, for the jobs' bulk
    writes); Django's on_delete=PROTECT still keeps their lead, its former holder and the run from being deleted."""
    from django.db.models import ProtectedError

    lead = lead_of(org.consultant, next_follow_up_at=local(30))
    run = jobs.leads_reclaim()
    assert run.flagged == 1
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, AssignmentChange._meta.db_table)
        constraints |= connection.introspection.get_constraints(cursor, FlagEvent._meta.db_table)
    referenced = {c["foreign_key"][0] for c in constraints.values() if c["foreign_key"]}
    assert not referenced & {Lead._meta.db_table, JobRun._meta.db_table}
    for victims, protector in [(Lead.objects.filter(pk=lead.pk), AssignmentChange),
                               (Lead.objects.filter(pk=lead.pk), FlagEvent),
                               (JobRun.objects.filter(pk=run.pk), FlagEvent),
                               (type(org.consultant).objects.filter(pk=org.consultant.pk), AssignmentChange)]:
        with pytest.raises(ProtectedError) as refused:
            victims.delete()
        assert any(isinstance(row, protector) for row in refused.value.protected_objects), (victims, protector)
    assert Lead.objects.filter(pk=lead.pk).exists() and JobRun.objects.filter(pk=run.pk).exists()


def test_a_pooled_lead_leaves_its_former_holders_lists(org):
    lead = lead_of(org.consultant, next_follow_up_at=local(30))
    jobs.leads_reclaim()
    mine = Lead.objects.filter(assigned_to=org.consultant)
    assert not mine.overdue().exists() and not mine.exists()
    assert Lead.objects.filter(store=org.store).overdue().get() == lead  # still overdue, in the store's pool
    assert Lead.objects.filter(store=org.store, assigned_to__isnull=True).in_pool().get() == lead


def test_the_reclaim_delay_is_per_group(org):
    org.group.reclaim_after_days = 3
    org.group.save()
    ours = lead_of(org.consultant, next_follow_up_at=local(4))
    theirs = LeadFactory(store=org.other_store, next_follow_up_at=local(4))
    jobs.leads_reclaim()
    ours.refresh_from_db(), theirs.refresh_from_db()
    assert ours.assigned_to is None and ours.pooled_at is not None
    assert theirs.assigned_to is not None and theirs.pooled_at is None


def test_reclaim_skips_unassigned_anonymous_and_closed_leads(org):
    lead_of(org.consultant, phone="", next_follow_up_at=local(30))
    lead_of(org.consultant, status="won", next_follow_up_at=local(30))
    LeadFactory(store=org.store, assigned_to=None, next_follow_up_at=local(30))
    assert jobs.leads_reclaim().flagged == 0
    assert not AssignmentChange.objects.exists()


def test_reclaim_twice_moves_and_notifies_nothing_more(org):
    for _ in range(3):
        lead_of(org.consultant, next_follow_up_at=local(20))
    lead_of(org.consultant2, next_follow_up_at=local(20))
    first = jobs.leads_reclaim()
    assert (first.flagged, first.notified) == (4, 3)  # two consultants and their manager
    assert Notification.objects.get(recipient=org.manager).params == {"count": 4}
    assert Notification.objects.get(recipient=org.consultant).params == {"count": 3}
    second = jobs.leads_reclaim()
    assert (second.flagged, second.cleared, second.notified) == (0, 0, 0)
    assert Notification.objects.count() == 3 and AssignmentChange.objects.count() == 4


def test_claiming_from_the_pool_then_clears_nothing_and_a_stray_pool_flag_is_cleared(org):
    lead = lead_of(org.consultant, next_follow_up_at=local(20))
    jobs.leads_reclaim()
    services.lead_claim(actor=org.consultant2, lead=lead)
    stray = lead_of(org.consultant, pooled_at=timezone.now())  # assigned yet flagged: written around the services
    run = jobs.leads_reclaim()
    assert (run.flagged, run.cleared) == (0, 1)
    stray.refresh_from_db()
    assert stray.pooled_at is None and events(stray) == [("pool", "cleared")]


# --- digests --------------------------------------------------------------------------------------------------


def test_the_daily_digest_counts_each_consultants_day(org):
    now = timezone.now()
    lead_of(org.consultant, next_follow_up_at=local(0, hour=15))  # due today
    lead_of(org.consultant, next_follow_up_at=local(2))  # overdue
    lead_of(org.consultant, next_follow_up_at=local(9))  # overdue, will be reclaimed
    lead_of(org.consultant, grade="E", grade_since=now - 20 * DAY, next_follow_up_at=now + 2 * DAY)  # stale
    lead_of(org.consultant2, next_follow_up_at=now + 5 * DAY)  # nothing to say: no digest
    jobs.leads_flag_stale()
    jobs.leads_reclaim()
    FollowUpFactory(lead=lead_of(org.consultant, next_follow_up_at=now + 5 * DAY))  # pending review

    run = jobs.notifications_send_digests()

    digest = Notification.objects.get(recipient=org.consultant, kind="digest")
    assert digest.params == {"due_today": 1, "overdue": 1, "stale": 1, "reclaimed": 1}
    assert digest.dedupe_key == f"digest:{timezone.localdate()}"
    assert not Notification.objects.filter(recipient=org.consultant2, kind="digest").exists()
    summary = Notification.objects.get(recipient=org.manager, kind="store_summary")
    assert summary.params == {"store": "Alpha North", "overdue": 2, "stale": 1, "pool": 1, "pending_reviews": 1}
    south = Notification.objects.get(recipient=org.manager2, kind="store_summary")
    assert south.params["overdue"] == 0
    assert run.notified == Notification.objects.filter(kind__in=["digest", "store_summary"]).count()


def test_digests_are_sent_once_a_day(org):
    lead_of(org.consultant, next_follow_up_at=local(0, hour=15))
    first = jobs.notifications_send_digests()
    second = jobs.notifications_send_digests()
    assert first.notified > 0 and second.notified == 0
    with time_machine.travel(timezone.now() + DAY, tick=False):
        assert jobs.notifications_send_digests().notified > 0


def test_digest_counts_take_a_constant_number_of_queries(org, django_assert_max_num_queries):
    for i in range(6):
        consultant = ConsultantFactory(store=org.store)
        lead_of(consultant, next_follow_up_at=local(0, hour=15))
    ManagerFactory(store=org.store2)
    # 14 for the leads' counts, the people and the writes; the other apps' parts: care due (1), late defeat
    # verdicts (the groups' settings, 2, and the count, 1), competitor-pool contacts due (1).
    with django_assert_max_num_queries(19):
        jobs.notifications_send_digests()


# --- interrupted runs and the run record ----------------------------------------------------------------------


def test_an_interrupted_run_leaves_whole_batches_and_a_failed_run_and_the_next_run_finishes(org, monkeypatch):
    now = timezone.now()
    leads = [lead_of(org.consultant, grade="E", grade_since=now - 30 * DAY) for _ in range(3)]

    def crash(job, batch):
        if batch == 1:
            raise RuntimeError("worker lost")

    monkeypatch.setattr(jobs, "_batch_done", crash)
    with pytest.raises(RuntimeError):
        jobs.leads_flag_stale(now=now, batch_size=1)

    run = JobRun.objects.get()
    assert (run.status, run.flagged) == (JobRun.Status.FAILED, 1)
    assert "worker lost" in run.error and run.finished_at is not None
    flagged = set(Lead.objects.filter(stale_flag__isnull=False).values_list("pk", flat=True))
    assert len(flagged) == 1
    # No half state: every flagged lead has its event, no other lead has one.
    assert set(FlagEvent.objects.values_list("lead_id", flat=True)) == flagged

    monkeypatch.setattr(jobs, "_batch_done", lambda job, batch: None)
    again = jobs.leads_flag_stale(now=now, batch_size=1)
    assert again.flagged == 2
    assert Lead.objects.filter(pk__in=[lead.pk for lead in leads], stale_flag__isnull=False).count() == 3
    assert FlagEvent.objects.count() == 3


def test_a_failure_inside_a_batch_rolls_the_whole_batch_back(org, monkeypatch):
    lead_of(org.consultant, next_follow_up_at=local(20))
    lead_of(org.consultant, next_follow_up_at=local(20))

    def events_fail(*args, **kwargs):  # the batch's flag rows are written, its events fail
        raise RuntimeError("insert failed")

    monkeypatch.setattr(jobs, "_events", events_fail)
    with pytest.raises(RuntimeError):
        jobs.leads_flag_overdue()
    assert not OverdueFlag.objects.exists() and not FlagEvent.objects.exists()
    run = JobRun.objects.get()
    assert (run.status, run.flagged) == (JobRun.Status.FAILED, 0)


def test_a_reclaim_batch_is_one_statement_all_or_nothing(org, monkeypatch):
    """On PostgreSQL the lead update and both history inserts are one statement: a failing part (here the events'
    insert, refused by the database) leaves no lead unassigned and no history row."""
    lead_of(org.consultant, next_follow_up_at=local(20))
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE leads_flagevent ADD CONSTRAINT test_no_events CHECK (false) NOT VALID")
    with pytest.raises(IntegrityError):
        jobs.leads_reclaim()
    assert not Lead.objects.filter(assigned_to__isnull=True).exists()
    assert not AssignmentChange.objects.exists() and not FlagEvent.objects.exists()
    assert JobRun.objects.get().status == JobRun.Status.FAILED
    assert not Notification.objects.exists()


def test_an_interrupted_reclaim_still_tells_who_lost_the_committed_batches(org, monkeypatch):
    first = lead_of(org.consultant, next_follow_up_at=local(20))
    lead_of(org.consultant2, next_follow_up_at=local(20))

    def crash(job, batch):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(jobs, "_batch_done", crash)
    with pytest.raises(RuntimeError):
        jobs.leads_reclaim(batch_size=1)
    assert list(Lead.objects.filter(assigned_to__isnull=True).values_list("pk", flat=True)) == [first.pk]
    assert set(Notification.objects.values_list("recipient_id", flat=True)) == {org.consultant.pk, org.manager.pk}
    run = JobRun.objects.get()
    assert (run.status, run.flagged, run.notified) == (JobRun.Status.FAILED, 1, 2)


# --- tasks and the command ------------------------------------------------------------------------------------


def test_the_tasks_run_their_job_and_return_its_counts(org):
    lead_of(org.consultant, grade="E", grade_since=timezone.now() - 30 * DAY, next_follow_up_at=local(2))
    stale = tasks.flag_stale_leads.apply().get()
    assert stale["job"] == "flag_stale_leads" and stale["flagged"] == 1 and stale["status"] == "succeeded"
    assert tasks.flag_overdue_follow_ups.apply().get()["flagged"] == 1
    assert tasks.reclaim_overdue_leads.apply().get()["flagged"] == 0
    assert tasks.send_daily_digests.apply().get()["notified"] >= 1
    assert JobRun.objects.count() == 4


def test_the_tasks_retry_on_transient_database_errors_and_ack_late():
    from django.db import InterfaceError, OperationalError

    for task in (tasks.flag_stale_leads, tasks.flag_overdue_follow_ups, tasks.reclaim_overdue_leads,
                 tasks.send_daily_digests):
        assert task.acks_late is True
        assert set(task.autoretry_for) == {OperationalError, InterfaceError}
        assert task.max_retries == 3 and task.retry_backoff


def test_the_beat_schedule_names_existing_tasks(settings):
    from dealercrm.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    # Every job of the leads app and the recovery of killed runs; other apps schedule their own tasks too.
    assert {f"leads.tasks.{name}" for name in jobs.JOBS} | {"leads.tasks.recover_abandoned_jobs"} <= scheduled
    assert scheduled <= set(app.tasks)


def test_run_jobs_runs_every_job_and_says_what_each_did(org):
    lead_of(org.consultant, grade="E", grade_since=timezone.now() - 30 * DAY)
    out = StringIO()
    call_command("run_jobs", stdout=out)
    text = out.getvalue()
    for name in jobs.JOBS:
        assert name in text
    assert "flag_stale_leads: flagged 1" in text
    out = StringIO()
    call_command("run_jobs", "--only", "flag_stale_leads", stdout=out)
    assert out.getvalue().startswith("flag_stale_leads: flagged 0, cleared 0")
    # Each of the leads' jobs once, and the stale job once more (other apps' jobs run too and record their own).
    assert JobRun.objects.filter(job__in=jobs.JOBS).count() == len(jobs.JOBS) + 1


@pytest.mark.django_db(transaction=True)
def test_a_lead_written_while_the_reclaim_reads_it_is_left_for_the_next_run(org):
    """The reclaim takes no row locks before its UPDATE; it only moves a lead whose version is the one it read. A
    follow-up logged (version bumped, due date moved) between the read and the write wins: the lead stays put."""
    lead = lead_of(org.consultant, next_follow_up_at=local(20))
    written, release, runs, errors = threading.Event(), threading.Event(), [], []

    def follow_up_meanwhile():
        try:
            with transaction.atomic():
                Lead.objects.filter(pk=lead.pk).update(version=F("version") + 1,
                                                       next_follow_up_at=timezone.now() + DAY)
                written.set()
                release.wait(10)  # the reclaim reads the old row, then waits on this one's lock
        finally:
            connection.close()

    def reclaim():
        try:
            runs.append(jobs.leads_reclaim())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=follow_up_meanwhile)
    writer.start()
    assert written.wait(10)
    job = threading.Thread(target=reclaim)
    job.start()
    job.join(1)  # blocked on the writer's row lock
    assert job.is_alive()
    release.set()
    writer.join(), job.join(10)
    assert errors == [] and runs[0].flagged == 0
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant and lead.pooled_at is None
    assert not AssignmentChange.objects.exists() and not FlagEvent.objects.exists()


def test_the_embedded_path_reclaims_as_the_postgresql_statement_does(org, monkeypatch):
    """The embedded SQLite default runs the reclaim through the ORM; forced here on PostgreSQL, it moves the same
    leads with the same history rows as the one-statement path."""
    leads = [lead_of(org.consultant, next_follow_up_at=local(20)), lead_of(org.consultant2, next_follow_up_at=local(9))]
    recent = lead_of(org.consultant, next_follow_up_at=local(2))
    monkeypatch.setattr(connection, "vendor", "sqlite")
    run = jobs.leads_reclaim(batch_size=2)
    assert (run.flagged, run.notified) == (2, 3)
    assert set(Lead.objects.filter(assigned_to__isnull=True).values_list("pk", flat=True)) == {x.pk for x in leads}
    assert set(AssignmentChange.objects.values_list("lead_id", "from_user_id")) == {
        (leads[0].pk, org.consultant.pk), (leads[1].pk, org.consultant2.pk)}
    assert FlagEvent.objects.filter(kind="pool", action="raised").count() == 2
    recent.refresh_from_db()
    assert recent.assigned_to == org.consultant


@pytest.mark.django_db(transaction=True)
def test_batches_run_side_by_side_on_their_own_connections_and_count_exactly(org, settings, monkeypatch):
    settings.JOBS_WORKERS = 2
    for i in range(12):
        lead_of(org.consultant if i % 2 else org.consultant2, next_follow_up_at=local(20))
    threads, pids = set(), set()

    def seen(job, batch):
        threads.add(threading.current_thread().name)
        pids.add(connection.connection.info.backend_pid)

    monkeypatch.setattr(jobs, "_batch_done", seen)
    overdue = jobs.leads_flag_overdue(batch_size=1)
    assert len(threads) == 2 and len(pids) == 2  # two threads, two PostgreSQL backends
    assert overdue.flagged == 12 == OverdueFlag.objects.count() == JobRun.objects.get(pk=overdue.pk).flagged
    reclaim = jobs.leads_reclaim(batch_size=1)
    assert reclaim.flagged == 12 == JobRun.objects.get(pk=reclaim.pk).flagged
    assert AssignmentChange.objects.count() == 12 and not Lead.objects.filter(assigned_to__isnull=False).exists()
    got = {(n.recipient_id, n.params["count"]) for n in Notification.objects.filter(kind="reclaimed")}
    assert got == {(org.consultant.pk, 6), (org.consultant2.pk, 6), (org.manager.pk, 12)}


@pytest.mark.django_db(transaction=True)
def test_a_failing_batch_stops_the_other_workers_and_the_committed_batches_are_counted(org, settings, monkeypatch):
    settings.JOBS_WORKERS = 2
    for _ in range(20):
        lead_of(org.consultant, next_follow_up_at=local(20))

    def crash_on_the_third(job, batch):
        if batch == 3:
            raise RuntimeError("worker lost")

    monkeypatch.setattr(jobs, "_batch_done", crash_on_the_third)
    with pytest.raises(RuntimeError, match="worker lost"):
        jobs.leads_flag_overdue(batch_size=1)
    run = JobRun.objects.get()
    assert run.status == JobRun.Status.FAILED
    flagged = OverdueFlag.objects.count()
    assert 3 <= flagged < 20 and run.flagged == flagged  # every committed batch counted, the rest never started
    assert FlagEvent.objects.count() == flagged


def _tidy_counts(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT vacuum_count, analyze_count FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_a_run_that_rewrote_many_rows_vacuums_and_analyses_what_it_wrote(org, settings):
    # The morning's pages must not be planned on the statistics of before the night (an emptied flag table still
    # "empty"): a run that changed JOBS_TIDY_MIN_ROWS rows or more tidies the tables it wrote, one that changed fewer
    # leaves them to autovacuum.
    settings.JOBS_WORKERS = 1
    for i in range(6):
        lead_of(org.consultant, next_follow_up_at=local(20))
    table = OverdueFlag._meta.db_table
    settings.JOBS_TIDY_MIN_ROWS = 1000
    before = _tidy_counts(table)
    assert jobs.leads_flag_overdue().flagged == 6
    assert _tidy_counts(table) == before  # 6 rows: not worth it

    OverdueFlag.objects.all().delete()
    settings.JOBS_TIDY_MIN_ROWS = 5
    assert jobs.leads_flag_overdue().flagged == 6
    after = _tidy_counts(table)
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1
    assert _tidy_counts(FlagEvent._meta.db_table)[0] >= 1
