"""The lead's own timeline (page and API) lists every step of the defeat workflow beside the visits, follow-ups,
grade and assignment changes: filed, the verdicts with their comments, from/to status, who and when, the nurture
contacts and the win-back. A bounded number of queries, whatever the history's length."""

from decimal import Decimal

import pytest
from django.test import Client

from dealercrm.tests.clients import client_for
from defeats import services
from defeats.models import PoolEntry
from leads import selectors
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _history(org, catalogue, *, rounds=1):
    """A lead filed and rejected as a false defeat ``rounds`` times, then filed, confirmed, nurtured and won back."""
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade="C")
    for i in range(rounds):
        app = services.application_file(actor=lead.assigned_to, lead=lead, kind="quasi",
                                        reasons=["funding_not_ready"], note=f"资金未到位 {i}")
        services.application_decide(actor=org.manager, application=app, verdict="reject", comment=f"客户还在看车 {i}",
                                    assign_to=org.consultant2, grade="B")
        lead.refresh_from_db()
    app = services.application_file(actor=lead.assigned_to, lead=lead, kind="defeat", reasons=["model_unsatisfied"],
                                    competitor_series=catalogue.accord, price_gap=Decimal("12000"), note="在本田店提车")
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="核实：已提车")
    entry = PoolEntry.objects.get(lead=lead)
    services.nurture_contact_log(actor=org.manager, entry=entry, method="phone", content="邀请参加新车发布会")
    services.nurture_contact_log(actor=org.manager, entry=entry, method="phone", content="想换第二台车",
                                 came_back=True, grade="B", assign_to=org.consultant)
    lead.refresh_from_db()
    return lead


def test_every_step_is_in_the_timeline_in_seven_queries(org, catalogue, django_assert_num_queries):
    lead = _history(org, catalogue)
    with django_assert_num_queries(7):  # five kinds of leads' own, the defeat steps, their applications' reasons
        entries = selectors.lead_timeline(lead=lead)
        steps = [(e.obj.kind, e.obj.from_status, e.obj.to_status, e.obj.comment,
                  [r.code for r in e.obj.application.reasons.all()] if e.obj.application_id else [])
                 for e in entries if e.kind == "defeat"]
    assert steps == [
        ("won_back", "defeated", "active", "想换第二台车", ["model_unsatisfied"]),
        ("nurtured", "defeated", "defeated", "邀请参加新车发布会", []),
        ("confirmed", "defeat_pending", "defeated", "核实：已提车", ["model_unsatisfied"]),
        ("applied", "active", "defeat_pending", "在本田店提车", ["model_unsatisfied"]),
        ("rejected", "defeat_pending", "active", "客户还在看车 0", ["funding_not_ready"]),
        ("applied", "active", "defeat_pending", "资金未到位 0", ["funding_not_ready"]),
    ]
    # Newest first across kinds: the win-back is above the reassignment it caused.
    kinds = [e.kind for e in entries]
    assert kinds[:2] == ["defeat", "assignment"]
    ats = [e.at for e in entries]
    assert ats == sorted(ats, reverse=True)


def test_the_timeline_query_count_does_not_grow_with_the_history(org, catalogue, django_assert_num_queries):
    lead = _history(org, catalogue, rounds=4)
    with django_assert_num_queries(7):
        entries = selectors.lead_timeline(lead=lead)
        for e in entries:
            if e.kind == "defeat":
                _ = (e.obj.by, e.obj.to_user, e.obj.application and list(e.obj.application.reasons.all()),
                     e.obj.application and e.obj.application.competitor_series)
    assert sum(e.kind == "defeat" for e in entries) == 4 * 2 + 4


def test_the_lead_page_shows_the_steps_in_its_timeline(org, catalogue, django_assert_max_num_queries):
    lead = _history(org, catalogue)
    c = client_for(org.manager)
    with django_assert_max_num_queries(60):
        page = c.get(f"/leads/{lead.pk}/").content.decode()
    timeline = page[page.index('id="lead-timeline"'):]
    for text in ("Defeat application filed", "Quasi-defeat", "Funding not ready", "Rejected as a false defeat",
                 "客户还在看车 0", "Defeat confirmed", "核实：已提车", "Accord T", "¥12,000.00", "Nurture contact",
                 "邀请参加新车发布会", "Won back", "想换第二台车", "Defeat pending verification → Defeated"):
        assert text in timeline, text
    assert f"handed to {org.consultant2}" in timeline
    # The same history, in Chinese.
    zh_client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    zh_client.force_login(org.manager)
    zh = zh_client.get(f"/leads/{lead.pk}/").content.decode()
    assert "虚战败" in zh[zh.index('id="lead-timeline"'):]


def test_the_timeline_api_lists_the_steps_with_their_fields(org, catalogue, api_as):
    lead = _history(org, catalogue)
    r = api_as(org.consultant).get(f"/api/v1/leads/{lead.pk}/timeline/")
    assert r.status_code == 200
    steps = [e for e in r.json() if e["kind"] == "defeat"]
    assert [s["step"] for s in steps] == ["won_back", "nurtured", "confirmed", "applied", "rejected", "applied"]
    confirmed = steps[2]
    assert confirmed["comment"] == "核实：已提车" and confirmed["from_status"] == "defeat_pending"
    assert confirmed["to_status"] == "defeated" and confirmed["by"] == org.manager.pk
    assert confirmed["application_kind"] == "defeat" and confirmed["reasons"] == ["model_unsatisfied"]
    assert confirmed["price_gap"] == "12000.00" and confirmed["competitor_series_name"]
    assert steps[1]["application"] is None and steps[1]["reasons"] == [] and steps[1]["application_kind"] is None
    assert steps[4]["to_user"] == org.consultant2.pk


def test_another_stores_lead_timeline_is_a_404(org, catalogue, api_as):
    lead = _history(org, catalogue)
    assert api_as(org.manager2).get(f"/api/v1/leads/{lead.pk}/timeline/").status_code == 404
    assert api_as(org.consultant_b).get(f"/api/v1/leads/{lead.pk}/timeline/").status_code == 404
    assert client_for(org.manager2).get(f"/leads/{lead.pk}/").status_code == 404
