"""Two managers at once on real PostgreSQL: exactly one verdict, nothing applied twice; two filings on one lead: one
pending application."""

import threading

import pytest
from django.db import connection

from defeats import services
from defeats.models import Application, ApplicationStatus, DefeatEvent, PoolEntry
from leads.models import Lead, Status
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _race(calls):
    barrier = threading.Barrier(len(calls))
    results, errors = [], []

    def run(call):
        try:
            barrier.wait()
            results.append(call())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_two_managers_deciding_one_application_give_exactly_one_verdict(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    app = services.application_file(actor=org.consultant, lead=lead, kind="quasi", reasons=["lost_contact"])
    results, errors = _race([
        lambda: services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="确认"),
        lambda: services.application_decide(actor=org.admin, application=app, verdict="reject", comment="虚战败",
                                            grade="B"),
    ])
    assert len(results) == 1 and len(errors) == 1
    assert isinstance(errors[0], services.AlreadyDecided)
    app.refresh_from_db()
    lead.refresh_from_db()
    assert app.status == results[0].status
    assert DefeatEvent.objects.filter(application=app).exclude(kind="applied").count() == 1
    if app.status == ApplicationStatus.CONFIRMED:
        assert lead.status == Status.DEFEATED and PoolEntry.objects.filter(lead=lead).count() == 1
    else:
        assert lead.status == Status.ACTIVE and not PoolEntry.objects.exists()


def test_a_bulk_verdict_and_a_single_one_at_once_do_not_both_apply(org):
    apps = [services.application_file(actor=org.consultant, lead=LeadFactory(store=org.store,
                                                                              assigned_to=org.consultant),
                                      kind="quasi", reasons=["lost_contact"]) for _ in range(3)]
    results, errors = _race([
        lambda: services.applications_bulk_decide(actor=org.manager, ids=[a.pk for a in apps], verdict="confirm",
                                                  comment="批量"),
        lambda: services.application_decide(actor=org.admin, application=apps[2], verdict="reject", comment="x"),
    ])
    assert len(results) == 1 and len(errors) == 1 and isinstance(errors[0], services.AlreadyDecided)
    statuses = list(Application.objects.order_by("pk").values_list("status", flat=True))
    assert statuses in (["confirmed"] * 3, ["pending", "pending", "rejected"])


def test_two_filings_on_one_lead_at_once_make_one_application(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    results, errors = _race([
        lambda: services.application_file(actor=org.consultant, lead=lead, kind="quasi", reasons=["lost_contact"]),
        # Both wait for verification (a manager's own filing is confirmed at once: that race is a closed lead).
        lambda: services.application_file(actor=org.consultant, lead=lead, kind="defeat", reasons=["lost_contact"]),
    ])
    assert len(results) == 1 and len(errors) == 1 and isinstance(errors[0], services.AlreadyPending)
    assert Application.objects.filter(lead=lead).count() == 1
    assert Lead.objects.get(pk=lead.pk).version == lead.version + 1
