"""The defeat jobs: who is told, once a day, recorded as JobRuns."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from dealercrm.models import JobRun, Notification
from defeats import jobs, services
from defeats.models import Application, PoolEntry
from leads.tests.factories import LeadFactory

from .factories import pending_application

pytestmark = pytest.mark.django_db


def _age(app, days):
    Application.objects.filter(pk=app.pk).update(applied_at=timezone.now() - timedelta(days=days))


def test_pending_applications_past_the_groups_days_alert_the_manager_once_a_day(org):
    old, fresh = pending_application(org), pending_application(org)
    _age(old, 4)
    _age(fresh, 1)
    other = services.application_file(actor=org.consultant_b, lead=LeadFactory(store=org.store2,
                                                                                assigned_to=org.consultant_b),
                                      kind="quasi", reasons=["lost_contact"])
    _age(other, 2)
    run = jobs.defeats_pending_alerts()
    assert (run.status, run.flagged, run.notified) == ("succeeded", 1, 1)
    note = Notification.objects.get(kind="defeat_pending")
    assert note.recipient == org.manager and note.params["count"] == 1
    assert jobs.defeats_pending_alerts().notified == 0  # idempotent: same day, nobody twice
    services.settings_update(actor=org.admin, group=org.group, pending_alert_days=1)
    Notification.objects.all().delete()
    run = jobs.defeats_pending_alerts()
    assert run.flagged == 3 and {n.recipient for n in Notification.objects.all()} == {org.manager, org.manager2}


def test_nurture_contacts_due_tell_the_pool_owner(org):
    app = pending_application(org)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    assert jobs.defeats_nurture_due().flagged == 0
    PoolEntry.objects.update(next_contact_at=timezone.now() - timedelta(hours=1))
    run = jobs.defeats_nurture_due()
    assert (run.flagged, run.notified) == (1, 1)
    assert Notification.objects.get(kind="defeat_nurture").recipient == org.manager
    assert jobs.defeats_nurture_due().notified == 0


def test_run_jobs_runs_the_defeat_jobs_too(org):
    call_command("run_jobs", "--only", "defeats_pending_alerts", "--only", "defeats_nurture_due")
    assert set(JobRun.objects.values_list("job", flat=True)) == {"defeats_pending_alerts", "defeats_nurture_due"}


def test_notifications_render_in_the_readers_language(org):
    from django.utils import translation

    from dealercrm.notifications import notification_text

    app = pending_application(org)
    services.application_decide(actor=org.manager, application=app, verdict="reject", comment="继续跟进")
    note = Notification.objects.get(kind="defeat_rejected")
    with translation.override("en"):
        assert "False defeat" in notification_text(note) and "继续跟进" in notification_text(note)
    with translation.override("zh-hans"):
        assert "False defeat" not in notification_text(note)
