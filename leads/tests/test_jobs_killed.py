"""Issue 10 items 9-11: a worker killed mid-run (SIGKILL: no exception handler, no `finally`) and what recovers.

A real process runs the reclaim and kills itself (os.kill SIGKILL) right after its first batch commits. Then: the
dead run is still "running" (nothing could record its end); the next run of the job closes it as ``abandoned`` once
its heartbeat is older than the timeout, moves the remaining leads exactly once, and everyone who lost a lead (in
the dead run's committed batch or in the new run) has been told, exactly once per lead."""

import multiprocessing
import os
import signal
from datetime import timedelta

import pytest
import time_machine
from django.db import connections
from django.utils import timezone

from dealercrm.jobs import close_abandoned_runs, heartbeat_timeout, job_run
from dealercrm.models import JobRun, Notification
from leads.models import AssignmentChange, FlagEvent, Lead, local_day_start
from leads.services import jobs
from leads.tests.factories import LeadFactory

DAY = timedelta(days=1)


def local(days_ago: int):
    return local_day_start() - days_ago * DAY + timedelta(hours=10)


def _reclaim_then_die_after_the_first_batch():
    """In a forked child: the reclaim, one batch of one lead at a time, SIGKILLed after the first commit."""
    from django.conf import settings

    connections.close_all()  # never share the parent's socket
    settings.JOBS_WORKERS = 1

    def die(job, batch):
        os.kill(os.getpid(), signal.SIGKILL)

    jobs._batch_done = die
    jobs.leads_reclaim(batch_size=1)
    os._exit(3)  # not reached


@pytest.mark.django_db(transaction=True)
def test_a_killed_reclaim_is_closed_by_the_next_run_which_finishes_the_work_once_and_everyone_is_told(org):
    holders = [org.consultant, org.consultant2, org.consultant, org.consultant2, org.consultant]
    leads = [LeadFactory(store=org.store, assigned_to=holder, next_follow_up_at=local(20)) for holder in holders]
    connections.close_all()

    child = multiprocessing.get_context("fork").Process(target=_reclaim_then_die_after_the_first_batch)
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL

    dead = JobRun.objects.get()
    assert dead.status == JobRun.Status.RUNNING and dead.flagged == 1 and dead.finished_at is None
    first = Lead.objects.get(assigned_to__isnull=True)
    # The committed batch's holder and manager were told in the batch's own transaction.
    assert {(n.recipient_id, n.params["count"]) for n in Notification.objects.all()} == {
        (first.assignment_changes.get().from_user_id, 1), (org.manager.pk, 1)}

    # Within the timeout the run may still be alive: nobody closes it.
    assert close_abandoned_runs(job=jobs.JOB_RECLAIM) == []
    later = timezone.now() + heartbeat_timeout() + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        run = jobs.leads_reclaim()

    dead.refresh_from_db()
    assert dead.status == JobRun.Status.ABANDONED and dead.finished_at is not None
    assert "stopped" in dead.error
    assert run.status == JobRun.Status.SUCCEEDED and run.flagged == 4
    # Every lead moved exactly once: one history row and one pool event each.
    assert not Lead.objects.filter(pk__in=[lead.pk for lead in leads], assigned_to__isnull=False).exists()
    assert sorted(AssignmentChange.objects.values_list("lead_id", flat=True)) == sorted(lead.pk for lead in leads)
    assert FlagEvent.objects.filter(kind="pool", action="raised").count() == 5
    # Everyone who lost a lead was told, and the counts add up to what they lost, over both runs.
    told: dict[int, int] = {}
    for n in Notification.objects.filter(kind="reclaimed"):
        told[n.recipient_id] = told.get(n.recipient_id, 0) + n.params["count"]
    assert told == {org.consultant.pk: 3, org.consultant2.pk: 2, org.manager.pk: 5}


@pytest.mark.django_db
def test_a_run_with_a_fresh_heartbeat_is_not_abandoned_and_a_stale_one_is(org):
    with job_run("some_job") as alive:
        pass
    stuck = JobRun.objects.create(job="some_job")
    JobRun.objects.filter(pk=stuck.pk).update(heartbeat_at=timezone.now() - heartbeat_timeout() + timedelta(minutes=1))
    assert close_abandoned_runs() == []
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=False):
        assert close_abandoned_runs() == [stuck.pk]
    stuck.refresh_from_db(), alive.refresh_from_db()
    assert stuck.status == JobRun.Status.ABANDONED and alive.status == JobRun.Status.SUCCEEDED


@pytest.mark.django_db
def test_every_committed_batch_is_a_heartbeat(org, monkeypatch):
    for _ in range(3):
        LeadFactory(store=org.store, assigned_to=org.consultant, next_follow_up_at=local(20))
    beats = []

    def seen(job, batch):
        beats.append(JobRun.objects.get(job=job, status=JobRun.Status.RUNNING).heartbeat_at)

    monkeypatch.setattr(jobs, "_batch_done", seen)
    with time_machine.travel(timezone.now(), tick=True):
        jobs.leads_flag_overdue(batch_size=1)
    assert len(beats) == 3 and beats == sorted(beats) and len(set(beats)) == 3


@pytest.mark.django_db
def test_the_jobs_page_never_shows_a_dead_run_as_running(org):
    from dealercrm.tests.clients import client_for

    dead = JobRun.objects.create(job=jobs.JOB_RECLAIM)
    JobRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - heartbeat_timeout() - DAY,
                                             started_at=timezone.now() - DAY)
    body = client_for(org.admin).get("/jobs/").content.decode()
    assert "Abandoned" in body and "Running" not in body
    dead.refresh_from_db()
    assert dead.status == JobRun.Status.ABANDONED


@pytest.mark.django_db
def test_the_recovery_task_closes_a_dead_run_and_runs_its_job_again(org):
    from dealercrm.celery import app
    from leads import tasks

    # The job it sends runs here, in this test's transaction, not on a broker.
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        _recover(org, tasks)
    finally:
        app.conf.task_always_eager = eager


def _recover(org, tasks):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, next_follow_up_at=local(20))
    dead = JobRun.objects.create(job=jobs.JOB_RECLAIM)
    JobRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - heartbeat_timeout() - DAY)
    summary = tasks.recover_abandoned_jobs.apply().get()
    assert summary == {"abandoned": [dead.pk], "rerun": [jobs.JOB_RECLAIM]}
    dead.refresh_from_db()
    lead.refresh_from_db()
    assert dead.status == JobRun.Status.ABANDONED and lead.assigned_to is None
    assert JobRun.objects.filter(job=jobs.JOB_RECLAIM, status=JobRun.Status.SUCCEEDED).count() == 1
    # Nothing dead: nothing to do.
    assert tasks.recover_abandoned_jobs.apply().get() == {"abandoned": [], "rerun": []}
