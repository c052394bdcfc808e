"""The lead's own page (issue 14, items 15-16): a manager reassigns from it; a won lead shows no grade meaning."""

import pytest
from django.urls import reverse

from dealercrm.tests.clients import client_for
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_the_manager_reassigns_from_the_leads_page(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="B")
    detail = reverse("leads:detail", args=[lead.pk])
    html = client_for(org.manager).get(detail).content.decode()
    assert "data-reassign" in html and f'value="{org.consultant2.pk}"' in html
    response = client_for(org.manager).post(reverse("leads:assign", args=[lead.pk]),
                                            {"to_user": org.consultant2.pk, "next": detail})
    assert response.status_code == 302 and response["Location"] == detail
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant2


def test_consultants_and_other_stores_get_no_reassign_form(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    detail = reverse("leads:detail", args=[lead.pk])
    assert "data-reassign" not in client_for(org.consultant).get(detail).content.decode()
    assert client_for(org.manager2).get(detail).status_code == 404


def test_a_won_lead_does_not_show_its_grades_promise(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="B", status="won")
    html = client_for(org.consultant).get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert '<div class="grade-meaning">Bought: the deal is below.</div>' in html
    assert 'grade-meaning">Can close' not in html


def test_the_merge_page_suggests_only_on_evidence(org):
    from datetime import timedelta

    from django.utils import timezone

    from dealercrm.tests.factories import VehicleSeriesFactory

    series = VehicleSeriesFactory()
    now = timezone.now()
    # A surname with a form of address: strangers, never suggested.
    LeadFactory(store=org.store, assigned_to=org.consultant, name="刘先生", series=series,
                first_visit_at=now - timedelta(days=5))
    LeadFactory(store=org.store, assigned_to=org.consultant, name="刘先生", phone="", series=series,
                first_visit_at=now - timedelta(days=3))
    # A full name, the same series, four days apart: suggested.
    kept = LeadFactory(store=org.store, assigned_to=org.consultant, name="张伟明", series=series,
                       first_visit_at=now - timedelta(days=9))
    LeadFactory(store=org.store, assigned_to=org.consultant, name="张伟明", phone="", series=series,
                first_visit_at=now - timedelta(days=5))
    response = client_for(org.manager).get(reverse("leads:merge"))
    pairs = {pair["a"].name: pair for pair in response.context["candidates"]}
    assert pairs["张伟明"]["suggested"] and pairs["张伟明"]["keep"] == kept
    assert pairs["张伟明"]["evidence"] == "name_series_dates"
    assert not pairs["刘先生"]["suggested"] and pairs["刘先生"]["evidence"] is None
    html = response.content.decode()
    assert html.count("· suggested") == 1
    assert "Only the name matches, which is not evidence" in html
