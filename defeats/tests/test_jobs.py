"""The defeat workflow in the morning digests: who is told what, once a day (the digest job is a JobRun)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dealercrm.models import Notification
from defeats import services
from defeats.models import Application, PoolEntry
from leads.services.jobs import notifications_send_digests
from leads.tests.factories import LeadFactory

from .factories import pending_application

pytestmark = pytest.mark.django_db


def _age(app, days):
    Application.objects.filter(pk=app.pk).update(applied_at=timezone.now() - timedelta(days=days))


def _morning(recipient):
    """Run the morning digests and return the recipient's notification (digest or store summary) and its text."""
    from django.utils import translation

    from dealercrm.notifications import notification_text

    notifications_send_digests()
    note = Notification.objects.filter(recipient=recipient,
                                       kind__in=[Notification.Kind.DIGEST, Notification.Kind.STORE_SUMMARY]).first()
    with translation.override("en"):
        return note, (notification_text(note) if note else "")


def test_applications_late_for_a_verdict_are_in_the_managers_store_summary_once_a_day(org):
    old, fresh = pending_application(org), pending_application(org)
    _age(old, 4)
    _age(fresh, 1)
    other = services.application_file(actor=org.consultant_b, lead=LeadFactory(store=org.store2,
                                                                                assigned_to=org.consultant_b),
                                      kind="quasi", reasons=["lost_contact"])
    _age(other, 2)
    note, text = _morning(org.manager)
    assert (note.params["defeat_pending_late"], note.params["defeat_pending_days"]) == (1, 3)
    assert "1 defeat application has waited more than 3 days for your verdict." in text
    south, text = _morning(org.manager2)
    assert "defeat_pending_late" not in south.params and "defeat" not in text  # 2 days: not late yet
    assert notifications_send_digests().notified == 0  # idempotent: same day, nobody twice
    assert not Notification.objects.filter(kind="defeat_pending").exists()  # no separate alert any more
    services.settings_update(actor=org.admin, group=org.group, pending_alert_days=1)
    Notification.objects.all().delete()
    assert _morning(org.manager)[0].params["defeat_pending_late"] == 2
    assert _morning(org.manager2)[0].params["defeat_pending_late"] == 1


def test_nurture_contacts_due_are_in_the_pool_owners_morning_notification(org):
    app = pending_application(org)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    note, text = _morning(org.manager)  # the store manager owns the competitor pool by default
    assert "defeat_nurture_due" not in note.params and "nurture" not in text
    Notification.objects.all().delete()
    PoolEntry.objects.update(next_contact_at=timezone.now() - timedelta(hours=1))
    note, text = _morning(org.manager)
    assert note.params["defeat_nurture_due"] == 1
    assert "1 customer of your competitor pool or nurture list is due for a contact." in text
    PoolEntry.objects.update(owner=org.consultant2)  # a consultant as the owner: in their digest
    Notification.objects.all().delete()
    note, text = _morning(org.consultant2)
    assert note.kind == Notification.Kind.DIGEST and note.params["defeat_nurture_due"] == 1
    assert "defeat_nurture_due" not in _morning(org.manager)[0].params


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
