"""Helpers to put leads through the workflow in tests."""

from leads.tests.factories import LeadFactory

from defeats import services


def pending_application(org, *, lead=None, kind="defeat", reasons=("lost_contact",), **kwargs):
    lead = lead or LeadFactory(store=org.store, assigned_to=org.consultant)
    return services.application_file(actor=lead.assigned_to or org.manager, lead=lead, kind=kind, reasons=reasons,
                                     **kwargs)
