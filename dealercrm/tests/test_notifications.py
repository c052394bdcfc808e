"""Notifications (dealercrm.notifications and /api/v1/notifications/) and the job-run log (/api/v1/job-runs/)."""

import pytest
from django.utils import translation

from dealercrm.models import JobRun, Notification
from dealercrm.notifications import Draft, notification_text, notifications_mark_read, notify, notify_many, unread_count
from dealercrm.tests.factories import SuperuserFactory

pytestmark = pytest.mark.django_db

NOTIFICATIONS = "/api/v1/notifications/"
JOB_RUNS = "/api/v1/job-runs/"


def digest(user, key="digest:2026-11-30", **params):
    return Notification.objects.create(recipient=user, kind="digest", dedupe_key=key,
                                       params={"due_today": 1, "overdue": 2, "stale": 0, "reclaimed": 0, **params})


# --- services -------------------------------------------------------------------------------------------------


def test_notify_with_a_key_writes_once(org):
    assert notify(recipient=org.consultant, kind="digest", params={"due_today": 1}, dedupe_key="digest:d") is True
    assert notify(recipient=org.consultant, kind="digest", params={"due_today": 9}, dedupe_key="digest:d") is False
    assert notify(recipient=org.consultant2, kind="digest", dedupe_key="digest:d") is True  # keys are per person
    assert Notification.objects.count() == 2


def test_notify_many_skips_existing_keys_and_writes_unkeyed_ones(org):
    drafts = [Draft(org.consultant.pk, "digest", {}, "", "k1"), Draft(org.consultant2.pk, "assigned", {"count": 2})]
    assert notify_many(drafts) == 2
    assert notify_many(drafts) == 1  # the unkeyed one again
    assert Notification.objects.filter(dedupe_key="k1").count() == 1


def test_the_text_is_rendered_in_the_readers_language(org):
    n = digest(org.consultant)
    with translation.override("en"):
        assert notification_text(n) == ("Today: 1 follow-ups due, 2 overdue, 0 stale leads, 0 taken back to the pool.")
    reclaimed = Notification(recipient=org.consultant, kind="reclaimed", params={"count": 3})
    with translation.override("en"):
        assert notification_text(reclaimed) == "3 overdue leads went back to the store's pool."


def test_mark_read_touches_only_the_callers_own(org):
    mine, theirs = digest(org.consultant), digest(org.consultant2)
    assert notifications_mark_read(user=org.consultant, ids=[mine.pk, theirs.pk]) == 1
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert unread_count(org.consultant) == 0 and unread_count(org.consultant2) == 1


# --- API ------------------------------------------------------------------------------------------------------


def test_everyone_lists_only_their_own_notifications(org, api_as):
    mine = digest(org.manager)
    digest(org.consultant)
    for user in (org.manager, org.admin, SuperuserFactory()):
        rows = api_as(user).get(NOTIFICATIONS).json()["results"]
        assert [r["id"] for r in rows] == ([mine.pk] if user == org.manager else [])


def test_the_list_renders_text_and_filters_unread(org, api_as):
    read = digest(org.consultant, key="a")
    unread = digest(org.consultant, key="b")
    notifications_mark_read(user=org.consultant, ids=[read.pk])
    client = api_as(org.consultant)
    client.credentials(HTTP_ACCEPT_LANGUAGE="en")
    rows = client.get(NOTIFICATIONS, {"unread": "true"}).json()["results"]
    assert [r["id"] for r in rows] == [unread.pk]
    assert rows[0]["text"].startswith("Today: 1 follow-ups due") and rows[0]["is_read"] is False
    assert [r["id"] for r in client.get(NOTIFICATIONS, {"unread": "false"}).json()["results"]] == [read.pk]
    assert client.get(NOTIFICATIONS, {"unread": "maybe"}).status_code == 400


def test_mark_one_read_and_someone_elses_is_404(org, api_as):
    mine, theirs = digest(org.consultant), digest(org.consultant2)
    client = api_as(org.consultant)
    resp = client.post(f"{NOTIFICATIONS}{mine.pk}/read/")
    assert resp.status_code == 200 and resp.json()["is_read"] is True
    assert client.post(f"{NOTIFICATIONS}{theirs.pk}/read/").status_code == 404
    assert client.get(f"{NOTIFICATIONS}{theirs.pk}/").status_code == 404
    assert api_as(org.manager).post(f"{NOTIFICATIONS}{mine.pk}/read/").status_code == 404  # not even the manager
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_read_all_and_the_unread_count(org, api_as):
    digest(org.consultant, key="a"), digest(org.consultant, key="b"), digest(org.consultant2)
    client = api_as(org.consultant)
    assert client.get(f"{NOTIFICATIONS}unread-count/").json() == {"unread": 2}
    assert client.post(f"{NOTIFICATIONS}read-all/").json() == {"marked": 2, "unread": 0}
    assert unread_count(org.consultant2) == 1


def test_anonymous_callers_get_401(api):
    assert api.get(NOTIFICATIONS).status_code == 401
    assert api.get(JOB_RUNS).status_code == 401


def test_the_notification_list_takes_a_constant_number_of_queries(org, api_as, django_assert_max_num_queries):
    for i in range(30):
        digest(org.consultant, key=f"k{i}")
    with django_assert_max_num_queries(4):
        resp = api_as(org.consultant).get(NOTIFICATIONS, {"page_size": 30})
    assert len(resp.json()["results"]) == 30


# --- job runs -------------------------------------------------------------------------------------------------


def test_job_runs_are_for_group_admins_and_superusers(org, api_as):
    JobRun.objects.create(job="flag_stale_leads", status="failed", error="boom", flagged=3)
    for user in (org.admin, org.other_admin, SuperuserFactory()):
        rows = api_as(user).get(JOB_RUNS).json()["results"]
        assert [(r["job"], r["status"], r["flagged"], r["error"]) for r in rows] == [
            ("flag_stale_leads", "failed", 3, "boom")]
    for user in (org.consultant, org.manager):
        assert api_as(user).get(JOB_RUNS).status_code == 403


def test_job_runs_filter_by_job_and_status_in_constant_queries(org, api_as, django_assert_max_num_queries):
    for i in range(12):
        JobRun.objects.create(job="send_daily_digests" if i % 2 else "flag_stale_leads", status="succeeded")
    client = api_as(org.admin)
    with django_assert_max_num_queries(4):
        rows = client.get(JOB_RUNS, {"job": "flag_stale_leads"}).json()["results"]
    assert len(rows) == 6
