"""The base-client pages: scoping, search by POST, the scoring form, the care queue, settings, analyses, hint."""

from datetime import timedelta

import pytest
from django.utils import timezone

from baseclients import services
from baseclients.models import BaseClient, CareTask, TierRule
from leads.models import Lead
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
    data = {"satisfaction": 20, "maintenance": 20, "repairs": 15, "word_of_mouth": 15,
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
                                               "rule-repeat_buyer_premium": "on", "rule-fleet_min": 5,
                                               "rule-important_pct": 50, "rule-ordinary_pct": 85,
                                               "rule-one_brings_one_months": 6, "rule-review_months": 12,
                                               "rule-inspection_operating_months": 12,
                                               "rule-inspection_exempt_first_year": 6,
                                               "rule-inspection_yearly_from_year": 9})
    assert r.status_code == 302
    rule = TierRule.objects.get(group=org.group)
    assert (rule.premium_pct, rule.important_pct, rule.ordinary_pct, rule.one_brings_one_months) == (60, 50, 85, 6)
    assert rule.inspection_yearly_from_year == 9
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


def test_card_edit_form_same_rules_as_the_api(org):
    client = _client(buy(store=org.store, consultant=org.consultant, phone="+8613812340101"))
    other = _client(buy(store=org.store, consultant=org.consultant, phone="+8613812340102"))
    c = client_for(org.consultant)
    # Region and industry come from the group's lists.
    for kind, name in (("region", "闵行区"), ("industry", "物流"), ("industry", "建筑")):
        services.list_entry_save(actor=org.admin, group_id=org.group.pk, kind=kind, name=name, aliases=[])
    r = c.get(f"/base-clients/{client.pk}/edit/")
    assert r.status_code == 200 and 'name="fleet_size"' in r.content.decode()
    base = {"version": client.version, "name": client.name, "kind": "company", "region": "闵行区",
            "industry": "物流", "fleet_size": 3, "birthday": "", "address": ""}
    # Another card's phone, a birthday in the future: form errors on the fields, nothing written.
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    r = c.post(f"/base-clients/{client.pk}/edit/", {**base, "phone": "138 1234 0102", "birthday": future})
    body = r.content.decode()
    assert r.status_code == 400 and "Another base client of the group has this phone." in body
    assert "A birthday cannot be in the future." in body
    client.refresh_from_db()
    assert client.industry == "" and client.version == base["version"]
    r = c.post(f"/base-clients/{client.pk}/edit/", {**base, "phone": "138 1234 0101"})
    assert r.status_code == 302
    client.refresh_from_db()
    assert (client.kind, client.industry, client.fleet_size) == ("company", "物流", 3)
    # The version read before that save is stale now: a form error, 409, nothing written.
    r = c.post(f"/base-clients/{client.pk}/edit/", {**base, "phone": "138 1234 0101", "industry": "建筑"})
    assert r.status_code == 409 and "Someone else changed this card" in r.content.decode()
    client.refresh_from_db()
    assert client.industry == "物流" and other.phone == "+8613812340102"
    # Denials: a colleague's client and another store's are 404s.
    for outsider in (org.consultant2, org.manager2, org.other_admin):
        assert client_for(outsider).post(f"/base-clients/{client.pk}/edit/", base).status_code == 404
    # The store's manager edits it; a user who sees the phone masked gets no phone field.
    assert client_for(org.manager).get(f"/base-clients/{client.pk}/edit/").status_code == 200


def test_add_vehicle_form_checks_the_vin(org):
    from baseclients.vehicles import vin_with_check_digit

    client = _client(buy(store=org.store, consultant=org.consultant))
    c = client_for(org.consultant)
    assert c.get(f"/base-clients/{client.pk}/vehicles/add/").status_code == 200
    good = vin_with_check_digit("LSVAB2BD0MN777777")
    bad = good[:8] + ("1" if good[8] != "1" else "2") + good[9:]
    r = c.post(f"/base-clients/{client.pk}/vehicles/add/", {"vin": bad, "plate": "XX", "use": "private"})
    assert r.status_code == 400 and client.vehicles.count() == 1
    body = r.content.decode()
    assert 'id="error_1_id_vin"' in body or "check digit" in body.lower()
    r = c.post(f"/base-clients/{client.pk}/vehicles/add/", {
        "vin": good, "plate": "沪B12345", "use": "commercial", "delivered_at": "2024-05-01",
        "ordered_at": "2024-05-03"})
    assert r.status_code == 400 and "Delivery cannot precede the order." in r.content.decode()
    r = c.post(f"/base-clients/{client.pk}/vehicles/add/", {
        "vin": good, "plate": "沪B12345", "use": "commercial", "registered_at": "2024-05-01"})
    assert r.status_code == 302 and client.vehicles.filter(vin=good, use="commercial").exists()
    r = c.post(f"/base-clients/{client.pk}/vehicles/add/", {"vin": good, "use": "private"})
    assert r.status_code == 400 and "already on a base client" in r.content.decode()
    assert client_for(org.consultant2).post(f"/base-clients/{client.pk}/vehicles/add/",
                                            {"use": "private"}).status_code == 404
    assert client.vehicles.count() == 2


def test_logging_a_visit_on_the_card_closes_the_delivery_visit(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    task = CareTask.objects.get(client=client, kind="delivery_visit")
    c = client_for(org.consultant)
    r = c.get(f"/base-clients/{client.pk}/", {"tab": "care"})
    assert r.status_code == 200 and 'action="/base-clients/%d/contacts/"' % client.pk in r.content.decode()
    assert client_for(org.consultant2).post(f"/base-clients/{client.pk}/contacts/",
                                            {"method": "visit"}).status_code == 404
    r = c.post(f"/base-clients/{client.pk}/contacts/", {"method": "visit", "content": "送了脚垫"}, follow=True)
    assert r.status_code == 200 and "closed the care task" in r.content.decode()
    task.refresh_from_db()
    assert task.status == "done" and task.outcome == "visited" and task.note == "送了脚垫"
    assert "送了脚垫" in r.content.decode()  # the care tab lists the logged visit
    r = c.post(f"/base-clients/{client.pk}/contacts/", {"method": "fax"}, follow=True)
    assert "Select a valid choice" in r.content.decode() and client.contacts.count() == 1


def test_refusing_a_channel_on_the_card(org):
    client = _client(buy(store=org.store, consultant=org.consultant))
    c = client_for(org.consultant)
    r = c.post(f"/base-clients/{client.pk}/do-not-contact/", {"channel": "visit", "reason": "不想被打扰"})
    assert r.status_code == 302
    assert not CareTask.objects.filter(client=client, channel="visit", status="pending").exists()
    assert "不想被打扰" in c.get(f"/base-clients/{client.pk}/", {"tab": "care"}).content.decode()
    assert client_for(org.manager2).post(f"/base-clients/{client.pk}/do-not-contact/",
                                         {"channel": "phone", "reason": "x"}).status_code == 404


def test_referrer_search_is_the_group_only_and_masks_phones(org, django_assert_max_num_queries):
    mine = _client(buy(store=org.store, consultant=org.consultant, phone="+8613812345678", name="王建国"))
    _client(buy(store=org.store2, consultant=org.consultant_b, phone="+8613812345679", name="王建军"))
    other = LeadFactory(store=org.other_store, name="王外人", phone="+8613912345670")
    c = client_for(org.consultant2)
    with django_assert_max_num_queries(8):
        r = c.post("/base-clients/referrer-search/", {"referrer_q": "王建"})
    body = r.content.decode()
    assert r.status_code == 200 and "王建国" in body and "王建军" in body and "王外人" not in body
    assert 'name="referrer" value="%d"' % mine.pk in body
    assert "13812345678" not in body  # a colleague's client: masked
    # A colleague's client: part of its phone matches nothing (it is masked for consultant2), the whole number does.
    r = c.post("/base-clients/referrer-search/", {"referrer_q": "5678"})
    assert "王建国" not in r.content.decode() and "王建军" not in r.content.decode()
    r = c.post("/base-clients/referrer-search/", {"referrer_q": "138 1234 5678"})
    assert "王建国" in r.content.decode() and "王建军" not in r.content.decode()
    assert other.name not in client_for(org.consultant).post("/base-clients/referrer-search/",
                                                             {"referrer_q": "王"}).content.decode()
    assert c.get("/base-clients/referrer-search/").status_code == 405


def test_visit_form_names_the_referrer(org):
    referrer = _client(buy(store=org.store, consultant=org.consultant, phone="+8613812345600"))
    foreign = _client(buy(store=org.other_store, consultant=None, actor=org.other_manager, phone="+8613812345601"))
    c = client_for(org.consultant)
    r = c.get("/leads/visit/")
    assert r.status_code == 200 and 'hx-post="/base-clients/referrer-search/"' in r.content.decode()
    data = {"name": "李先生", "phone": "139 0000 1111", "source": "walk_in", "grade": "B", "companions": 0}
    # A referrer of another group: a form error, no lead.
    r = c.post("/leads/visit/", {**data, "referrer": foreign.pk, "referral_types": ["friends_family"]})
    assert r.status_code == 200 and "Choose a base client of this dealer group." in r.content.decode()
    assert not Lead.objects.filter(name="李先生").exists()
    # Three types: the service refuses, and the lead it had written is rolled back with it.
    r = c.post("/leads/visit/", {**data, "referrer": referrer.pk,
                                 "referral_types": ["friends_family", "old_user", "same_region"]})
    assert r.status_code == 200 and "At most two referral types apply." in r.content.decode()
    assert not Lead.objects.filter(name="李先生").exists()
    r = c.post("/leads/visit/", {**data, "referrer": referrer.pk, "referral_types": ["friends_family"]})
    assert r.status_code == 302
    lead = Lead.objects.get(name="李先生")
    assert lead.source == "referral" and lead.referral.referrer_client == referrer
    assert lead.referral.types == ["friends_family"]


def test_lead_page_names_the_referrer(org):
    referrer = _client(buy(store=org.store, consultant=org.consultant, phone="+8613812345602"))
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    c = client_for(org.consultant)
    r = c.get(f"/leads/{lead.pk}/")
    assert r.status_code == 200 and f'action="/base-clients/leads/{lead.pk}/referrer/"' in r.content.decode()
    r = c.post(f"/base-clients/leads/{lead.pk}/referrer/", {"referral_types": ["old_user"]}, follow=True)
    assert "Search and choose the base client who referred." in r.content.decode()
    assert client_for(org.consultant2).post(f"/base-clients/leads/{lead.pk}/referrer/",
                                            {"referrer": referrer.pk}).status_code == 404
    r = c.post(f"/base-clients/leads/{lead.pk}/referrer/", {"referrer": referrer.pk, "referral_types": ["old_user"]})
    assert r.status_code == 302
    lead.refresh_from_db()
    assert lead.source == "referral" and lead.referral.referrer_client == referrer


def test_quick_visit_form_hints_a_returning_buyer(org):
    buy(store=org.store, consultant=org.consultant, phone="+8613812345603")
    r = client_for(org.consultant).get("/")
    body = r.content.decode()
    assert r.status_code == 200 and 'id="bc-visit-hint"' in body and 'hx-post="/base-clients/visit-hint/"' in body


def test_a_revisit_with_a_referrer_is_still_recorded(org):
    referrer = _client(buy(store=org.store, consultant=org.consultant, phone="+8613812345604"))
    theirs = LeadFactory(store=org.store, assigned_to=org.consultant2, phone="+8613900003333")
    visits = theirs.visits.count()
    r = client_for(org.consultant).post("/leads/visit/", {
        "name": "张先生", "phone": "139 0000 3333", "source": "walk_in", "companions": 0,
        "referrer": referrer.pk, "referral_types": ["old_user"]})
    assert r.status_code == 302
    # The colleague's lead got its re-visit; the referrer names new leads only, so nothing else changed.
    assert theirs.visits.count() == visits + 1 and not hasattr(Lead.objects.get(pk=theirs.pk), "referral")


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
def test_new_card_shows_the_fleet_the_renewal_and_the_price_by_the_shared_rules(org, lang):
    deal = buy(store=org.store, consultant=org.consultant, delivered_days_ago=10)
    client = _client(deal)
    c = client_for(org.consultant)
    c.cookies["django_language"] = lang
    html = c.get(f"/base-clients/{client.pk}/", HTTP_ACCEPT_LANGUAGE=lang).content.decode()
    renewal = services.care.add_months(deal.delivered_at, 12)
    assert f"{renewal:%Y-%m-%d}" in html
    assert "<dd>1</dd>" in html  # the fleet: the one car
    deals = c.get(f"/base-clients/{client.pk}/", {"tab": "deals"}, HTTP_ACCEPT_LANGUAGE=lang).content.decode()
    assert "¥150,000.00" in deals


def test_a_colleagues_card_on_the_lead_page_is_named_but_not_linked(org):
    """A returning buyer whose card is a colleague's: the lead's consultant sees the card's name, not a link that
    would end in a 404; the card's own consultant gets the link."""
    from django.urls import reverse

    from dealercrm.tests.clients import client_for
    from leads import services as lead_services

    from .factories import buy

    deal = buy(store=org.store, consultant=org.consultant, phone="+8613911113333", name="回头客甲")
    card = deal.purchase.client
    back = lead_services.visit_log(actor=org.consultant2, store=org.store, name="回头客甲", source="walk_in",
                                   phone="139 1111 3333").lead
    assert back.assigned_to == org.consultant2
    card_url = reverse("baseclients:detail", args=[card.pk])
    text = client_for(org.consultant2).get(reverse("leads:detail", args=[back.pk])).content.decode()
    assert card.name in text and card_url not in text
    assert client_for(org.consultant2).get(card_url).status_code == 404
    text = client_for(org.manager).get(reverse("leads:detail", args=[back.pk])).content.decode()
    assert card_url in text
