"""The bell, the notifications page (mark one or all read) and the job-runs page."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dealercrm.models import JobRun, Notification
from dealercrm.tests.clients import HTMX, client_for

pytestmark = pytest.mark.django_db


def note(user, kind=Notification.Kind.DIGEST, **kwargs):
    params = kwargs.pop("params", {"due_today": 3, "overdue": 2, "stale": 1, "reclaimed": 0})
    return Notification.objects.create(recipient=user, kind=kind, params=params, **kwargs)


# --- the bell ------------------------------------------------------------------------------------------------------


def test_every_page_has_the_bell_that_loads_its_count(org):
    body = client_for(org.consultant).get(reverse("home")).content.decode()
    assert 'id="nav-bell"' in body
    assert f'hx-get="{reverse("notifications_bell")}"' in body
    assert "every 60s" in body


def test_anonymous_pages_have_no_bell(org):
    assert 'id="nav-bell"' not in Client().get(reverse("login")).content.decode()
    assert Client().get(reverse("notifications_bell")).status_code == 302


def test_bell_counts_only_the_users_unread_notifications(org):
    note(org.consultant)
    note(org.consultant)
    note(org.consultant, read_at=timezone.now())
    note(org.consultant2)
    body = client_for(org.consultant).get(reverse("notifications_bell"), **HTMX).content.decode()
    assert 'data-count="2"' in body
    assert "<html" not in body


def test_bell_without_unread_shows_no_number(org):
    body = client_for(org.consultant).get(reverse("notifications_bell"), **HTMX).content.decode()
    assert "data-count" not in body


def test_bell_is_cheap(org, django_assert_max_num_queries):
    for _ in range(30):
        note(org.consultant)
    client = client_for(org.consultant)
    with django_assert_max_num_queries(3):  # session, user, the count
        client.get(reverse("notifications_bell"), **HTMX)


# --- the list --------------------------------------------------------------------------------------------------------


def test_list_shows_own_notifications_newest_first_with_their_text(org):
    old = note(org.consultant, kind=Notification.Kind.ASSIGNED, params={"count": 1, "name": "王先生"})
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    new = note(org.consultant)
    note(org.consultant2, kind=Notification.Kind.ASSIGNED, params={"count": 1, "name": "别人的客户"})

    response = client_for(org.consultant).get(reverse("notifications"))

    body = response.content.decode()
    assert [n.pk for n in response.context["page"].object_list] == [new.pk, old.pk]
    assert "A lead was assigned to you: 王先生." in body
    assert "Today: 3 follow-ups due, 2 overdue, 1 stale leads" in body
    assert "别人的客户" not in body
    assert body.count("notif-unread") == 2


def test_list_query_count_is_constant(org, django_assert_max_num_queries):
    for _ in range(40):
        note(org.consultant)
    client = client_for(org.consultant)
    with django_assert_max_num_queries(6):
        response = client.get(reverse("notifications"))
    assert len(response.context["page"].object_list) == 30


def test_mark_one_read_returns_the_item_and_tells_the_bell(org):
    n = note(org.consultant)
    other = note(org.consultant)
    response = client_for(org.consultant).post(reverse("notification_read", args=[n.pk]), **HTMX)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "notificationsChanged"
    assert "notif-unread" not in response.content.decode()
    n.refresh_from_db()
    other.refresh_from_db()
    assert n.read_at is not None and other.read_at is None


def test_open_marks_read_and_follows_the_link(org):
    n = note(org.consultant, url=reverse("leads:pool"))
    response = client_for(org.consultant).post(reverse("notification_read", args=[n.pk]), {"open": "1"})
    assert response.status_code == 302 and response.url == reverse("leads:pool")
    n.refresh_from_db()
    assert n.read_at is not None


def test_an_outside_link_is_not_followed(org):
    n = note(org.consultant, url="https://evil.example/")
    response = client_for(org.consultant).post(reverse("notification_read", args=[n.pk]), {"open": "1"})
    assert response.url == reverse("notifications")


def test_someone_elses_notification_is_404(org):
    n = note(org.consultant2)
    response = client_for(org.consultant).post(reverse("notification_read", args=[n.pk]), **HTMX)
    assert response.status_code == 404
    n.refresh_from_db()
    assert n.read_at is None


def test_mark_read_needs_post(org):
    n = note(org.consultant)
    assert client_for(org.consultant).get(reverse("notification_read", args=[n.pk])).status_code == 405


def test_mark_all_read_marks_only_the_users(org):
    mine = [note(org.consultant) for _ in range(3)]
    theirs = note(org.consultant2)
    response = client_for(org.consultant).post(reverse("notifications_read_all"), **HTMX)
    assert response["HX-Trigger"] == "notificationsChanged"
    assert 'id="notif-list"' in response.content.decode()
    assert all(Notification.objects.get(pk=n.pk).read_at for n in mine)
    assert Notification.objects.get(pk=theirs.pk).read_at is None


# --- job runs --------------------------------------------------------------------------------------------------------


def run(job, minutes_ago, status=JobRun.Status.SUCCEEDED, **kwargs):
    r = JobRun.objects.create(job=job, status=status, **kwargs)
    started = timezone.now() - timedelta(minutes=minutes_ago)
    finished = started + timedelta(seconds=2.5) if status != JobRun.Status.RUNNING else None
    JobRun.objects.filter(pk=r.pk).update(started_at=started, finished_at=finished)
    return r


@pytest.mark.parametrize("who", ["consultant", "manager"])
def test_job_runs_are_for_group_admins_only(org, who):
    assert client_for(getattr(org, who)).get(reverse("job_runs")).status_code == 403


def test_job_runs_show_the_last_runs_per_job(org, django_assert_max_num_queries):
    from leads.services.jobs import JOB_OVERDUE, JOB_RECLAIM, JOB_STALE

    # The names the jobs really record (leads.services.jobs), shown as names a manager reads, never the code name.
    for i in range(12):
        run(JOB_STALE, i * 60, flagged=i)
    run(JOB_RECLAIM, 5, status=JobRun.Status.FAILED, error="OperationalError: connection lost")
    run(JOB_OVERDUE, 1, status=JobRun.Status.RUNNING)
    client = client_for(org.admin)
    # Session, user, the abandoned-run check (a running run without a heartbeat is closed), the runs, the navbar's group.
    with django_assert_max_num_queries(5):
        response = client.get(reverse("job_runs"))
    body = response.content.decode()
    jobs = {job.name: job for job in response.context["jobs"]}
    assert len(jobs[JOB_STALE].runs) == 10
    assert jobs[JOB_STALE].last.flagged == 0  # the newest first
    assert "Flag stale leads" in body and "Move long-overdue leads back to the pool" in body
    assert "Flag overdue follow-ups" in body
    assert JOB_STALE not in body and JOB_OVERDUE not in body
    assert "OperationalError: connection lost" in body
    assert "2.5 s" in body


def test_no_runs_yet_says_how_to_start_them(org):
    assert "run_jobs" in client_for(org.admin).get(reverse("job_runs")).content.decode()
