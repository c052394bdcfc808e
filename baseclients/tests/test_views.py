"""The base-client pages: scoping, search by POST, the scoring form, the care queue, settings, analyses, hint."""

from datetime import timedelta

import pytest
from django.utils import timezone

from baseclients.models import BaseClient, CareTask, TierRule
from dealercrm.tests.clients import client_for
from leads.tests.factories import LeadFactory

from .factories import buy

pytestmark = pytest.mark.django_db


def _client(deal):
    return BaseClient.objects.get(purchase_rows__deal=deal)


def test_list_filters_and_post_search(org, django_assert_max_num_queries):
    a = _client(buy(store=org.store, consultant=org.consultant, phone="+8613812340001", plate="沪A55555",
                    district="闵行区"))
    for _ in range(4):
        buy(store=org.store, consultant=org.consultant)
    c = client_for(org.consultant)
    with django_assert_max_num_queries(12):
        r = c.get("/base-clients/")
    assert r.status_code == 200 and r.content.count(b'href="/base-clients/') >= 5
    r = c.get("/base-clients/", {"region": "闵行区"})
    assert a.name in r.content.decode() and r.content.decode().count("list-group-item-action") == 1
    r = c.post("/base-clients/", {"q": "A55555"})
    assert r.status_code == 200 and a.name in r.content.decode()
    assert "A55555" not in r.wsgi_request.get_full_path()
    assert client_for(org.consultant2).get("/base-clients/").content.decode().count("list-group-item-action") == 0


def test_card_tabs_and_scoping(org):
    client = _client(buy(store=org.store, consultant=org.consultant, plate="沪A12345"))
    c = client_for(org.consultant)
    for tab in ("vehicles", "care", "referrals", "deals", "history"):
        r = c.get(f"/base-clients/{client.pk}/", {"tab": tab})
        assert r.status_code == 200, tab
    assert "沪A12345" in c.get(f"/base-clients/{client.pk}/").content.decode()
    assert "Post-delivery visit" in c.get(f"/base-clients/{client.pk}/", {"tab": "care"}).content.decode()
    for outsider in (org.consultant2, org.manager2, org.other_admin):
        assert client_for(outsider).get(f"/base-clients/{client.pk}/").status_code == 404


def test_scoring_form(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    c = client_for(org.consultant)
    r = c.get(f"/base-clients/{client.pk}/score/")
    assert r.status_code == 200 and 'name="satisfaction"' in r.content.decode() and 'name="fleet"' not in r.content.decode()
    r = c.post(f"/base-clients/{client.pk}/score/", {"satisfaction": 99, "version": client.version})
    assert r.status_code == 200 and "less than or equal to 20" in r.content.decode()
    data = {"satisfaction": 20, "maintenance": 20, "repairs": 15, "events": 15, "word_of_mouth": 15,
            "reputation": 20, "business": 20, "trade_word": 15, "reach": 15, "plans": 15, "version": client.version}
    r = c.post(f"/base-clients/{client.pk}/score/", data)
    assert r.status_code == 302
    client.refresh_from_db()
    assert client.tier == "premium"
    assert client_for(org.consultant2).get(f"/base-clients/{client.pk}/score/").status_code == 404


def test_care_queue_done_and_skip(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    task = CareTask.objects.get(client=client, kind="delivery_visit")
    CareTask.objects.filter(pk=task.pk).update(due_on=timezone.localdate() - timedelta(days=1))
    c = client_for(org.consultant)
    r = c.get("/base-clients/care/")
    assert r.status_code == 200 and "Post-delivery visit" in r.content.decode()
    r = c.post(f"/base-clients/care/{task.pk}/done/", {"outcome": "visited", "note": "ok"})
    assert r.status_code == 302
    task.refresh_from_db()
    assert task.status == "done" and task.on_time is False
    assert client_for(org.consultant2).post(f"/base-clients/care/{task.pk}/skip/", {"reason": "x"}).status_code == 404


def test_workspace_shows_care_beside_follow_ups(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    CareTask.objects.filter(client=client, kind="delivery_visit").update(due_on=timezone.localdate())
    r = client_for(org.consultant).get("/")
    assert r.status_code == 200 and 'id="workspace-care"' in r.content.decode()
    assert client.name in r.content.decode()


def test_settings_group_admin_only(org, django_capture_on_commit_callbacks):
    assert client_for(org.manager).get("/base-clients/settings/").status_code == 403
    c = client_for(org.admin)
    assert c.get("/base-clients/settings/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post("/base-clients/settings/", {"section": "rule", "rule-premium_pct": 60, "rule-general_pct": 30,
                                               "rule-repeat_buyer_premium": "on", "rule-fleet_min": 5})
    assert r.status_code == 302
    assert TierRule.objects.get(group=org.group).premium_pct == 60
    r = c.post("/base-clients/settings/", {"section": "rule", "rule-premium_pct": 20, "rule-general_pct": 30,
                                           "rule-fleet_min": 5})
    assert r.status_code == 200 and TierRule.objects.get(group=org.group).premium_pct == 60


def test_analyses_page(org):
    buy(store=org.store, consultant=org.consultant, district="闵行区", industry="物流")
    r = client_for(org.manager).get("/base-clients/analyses/")
    assert r.status_code == 200 and "闵行区" in r.content.decode() and 'id="bc-chart-data"' in r.content.decode()
    assert client_for(org.manager).get("/base-clients/analyses/", {"store": org.other_store.pk}).status_code == 404


def test_visit_hint_and_lead_panel(org):
    deal = buy(store=org.store, consultant=org.consultant, phone="+8613812349999")
    c = client_for(org.consultant2)
    r = c.post("/base-clients/visit-hint/", {"phone": "138 1234 9999"})
    assert r.status_code == 200 and "Existing customer" in r.content.decode()
    assert c.post("/base-clients/visit-hint/", {"phone": "13800000000"}).content.strip() == b""
    assert c.get("/base-clients/visit-hint/").status_code == 405
    r = client_for(org.consultant).get(f"/leads/{deal.lead_id}/")
    assert r.status_code == 200 and "base client" in r.content.decode()
