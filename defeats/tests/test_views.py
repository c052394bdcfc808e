"""The defeat pages: who may open what, the forms' errors, the verdicts and bulk verdicts from the queue, the pool,
the settings, the analysis, the lead page's panel, the stale queue's fifth action and the funnel's figures."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dealercrm.tests.clients import HTMX, client_for
from defeats import services
from defeats.models import Application, PoolEntry, Reason, TalkTrack
from leads.models import Lead, Status
from leads.tests.factories import FollowUpFactory, LeadFactory, StaleFlagFactory

from .factories import pending_application

pytestmark = pytest.mark.django_db


def _lead(org, **kw):
    return LeadFactory(store=org.store, assigned_to=kw.pop("assigned_to", org.consultant), **kw)


def test_the_consultant_files_from_the_lead_page(org, catalogue):
    lead = _lead(org)
    c = client_for(org.consultant)
    page = c.get(f"/leads/{lead.pk}/")
    assert f"/defeats/leads/{lead.pk}/apply/" in page.content.decode()
    r = c.get(f"/defeats/leads/{lead.pk}/apply/")
    assert r.status_code == 200 and "Not satisfied with the model" in r.content.decode()
    r = c.post(f"/defeats/leads/{lead.pk}/apply/", {"kind": "defeat", "reasons": ["model_unsatisfied"],
                                                    "competitor_series": catalogue.han.pk, "note": "买了汉",
                                                    "version": lead.version})
    assert r.status_code == 302 and r["Location"] == f"/leads/{lead.pk}/"
    lead.refresh_from_db()
    assert lead.status == Status.DEFEAT_PENDING
    page = c.get(f"/leads/{lead.pk}/").content.decode()
    assert "awaiting" in page.lower() or "frozen" in page
    assert "Defeat application filed" in page


def test_the_apply_form_shows_errors_and_writes_nothing(org):
    lead = _lead(org)
    c = client_for(org.consultant)
    r = c.post(f"/defeats/leads/{lead.pk}/apply/", {"kind": "defeat", "reasons": ["unreasonable_demands"],
                                                    "version": lead.version})
    assert r.status_code == 200 and "needs a note" in r.content.decode()
    r = c.post(f"/defeats/leads/{lead.pk}/apply/", {"kind": "defeat", "reasons": ["model_unsatisfied"],
                                                    "version": lead.version})
    assert "Which competitor" in r.content.decode()
    assert not Application.objects.exists()


def test_talk_tracks_show_on_the_apply_form_for_the_ticked_reason(org):
    lead = _lead(org)
    reason = Reason.objects.get(group=org.group, code="price_high") if services.reasons_for(
        org.group.pk) else None
    services.talk_track_save(actor=org.manager, reason=reason, fact="同级配置最全", problem="便宜车保养贵",
                             viewpoint="看五年总成本")
    r = client_for(org.consultant).get(f"/defeats/leads/{lead.pk}/talk-tracks/", {"reasons": "price_high"},
                                       **HTMX)
    assert "看五年总成本" in r.content.decode()


def test_apply_page_denials(org):
    lead = _lead(org)
    assert client_for(org.consultant2).get(f"/defeats/leads/{lead.pk}/apply/").status_code == 404
    assert client_for(org.manager2).get(f"/defeats/leads/{lead.pk}/apply/").status_code == 404
    assert client_for(org.manager).get(f"/defeats/leads/{lead.pk}/apply/").status_code == 200


def test_the_queue_shows_evidence_oldest_first_in_fixed_queries(org, django_assert_max_num_queries):
    first = pending_application(org, lead=_lead(org, name="老客户"))
    FollowUpFactory(lead=first.lead, content="客户说再考虑考虑")
    for _ in range(4):
        pending_application(org)
    c = client_for(org.manager)
    with django_assert_max_num_queries(22):
        r = c.get("/defeats/verify/")
    body = r.content.decode()
    assert r.status_code == 200 and body.index("老客户") < body.index(f'id="app-{first.pk + 1}"')
    assert "客户说再考虑考虑" in body
    assert client_for(org.consultant).get("/defeats/verify/").status_code == 403
    assert client_for(org.admin).get("/defeats/verify/", {"store": org.store2.pk}).status_code == 200
    assert client_for(org.manager).get("/defeats/verify/", {"store": org.other_store.pk}).status_code == 404


def test_verdicts_from_the_queue(org):
    confirm, reject = pending_application(org), pending_application(org)
    c = client_for(org.manager)
    r = c.post(f"/defeats/verify/{confirm.pk}/", {"verdict": "confirm", "comment": "核实", "version": 1})
    assert r.status_code == 302
    r = c.post(f"/defeats/verify/{reject.pk}/", {"verdict": "reject", "comment": "虚战败", "grade": "A",
                                                 "assign_to": org.consultant2.pk})
    assert r.status_code == 302
    assert Lead.objects.get(pk=confirm.lead_id).status == Status.DEFEATED
    lead = Lead.objects.get(pk=reject.lead_id)
    assert (lead.status, lead.grade, lead.assigned_to) == (Status.ACTIVE, "A", org.consultant2)
    # Deciding again: refused with a message, nothing changes.
    r = c.post(f"/defeats/verify/{reject.pk}/", {"verdict": "confirm", "comment": "x"}, follow=True)
    assert "already decided" in r.content.decode()
    assert Lead.objects.get(pk=reject.lead_id).status == Status.ACTIVE
    # Empty comment: a message, nothing decided.
    other = pending_application(org)
    r = c.post(f"/defeats/verify/{other.pk}/", {"verdict": "confirm", "comment": ""}, follow=True)
    assert "Say why" in r.content.decode()
    assert client_for(org.consultant).post(f"/defeats/verify/{other.pk}/",
                                           {"verdict": "confirm", "comment": "x"}).status_code == 403
    assert client_for(org.manager2).post(f"/defeats/verify/{other.pk}/",
                                         {"verdict": "confirm", "comment": "x"}).status_code == 404


def test_bulk_verdict_from_the_queue(org):
    apps = [pending_application(org) for _ in range(3)]
    c = client_for(org.manager)
    r = c.post("/defeats/verify/bulk/", {"ids": [a.pk for a in apps[:2]], "verdict": "confirm",
                                         "comment": "批量核实"}, follow=True)
    assert "2 applications decided" in r.content.decode()
    assert list(Application.objects.order_by("pk").values_list("status", flat=True)) == [
        "confirmed", "confirmed", "pending"]
    r = c.post("/defeats/verify/bulk/", {"verdict": "confirm", "comment": "x"}, follow=True)
    assert "Tick at least one" in r.content.decode()


def test_the_pool_page_and_a_win_back(org, catalogue):
    app = pending_application(org, kind="defeat", reasons=["model_unsatisfied"], competitor_series=catalogue.han)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    entry = PoolEntry.objects.get(lead=app.lead)
    c = client_for(org.manager)
    r = c.get("/defeats/pool/")
    assert r.status_code == 200 and "Han T" in r.content.decode()
    assert c.get("/defeats/pool/", {"brand": catalogue.accord.brand_id}).content.decode().count('id="entry-') == 0
    r = c.post(f"/defeats/pool/{entry.pk}/contact/", {"method": "phone", "content": "想换车", "came_back": "on",
                                                      "grade": "B", "assign_to": org.consultant.pk})
    assert r.status_code == 302 and r["Location"] == f"/leads/{app.lead_id}/"
    assert Lead.objects.get(pk=app.lead_id).status == Status.ACTIVE
    assert client_for(org.manager2).post(f"/defeats/pool/{entry.pk}/contact/",
                                         {"method": "phone", "content": "x"}).status_code == 404
    # The consultant sees no one else's pool customers.
    assert client_for(org.consultant).get("/defeats/pool/").content.decode().count('id="entry-') == 0


def test_settings_are_the_group_admins(org):
    assert client_for(org.manager).get("/defeats/settings/").status_code == 403
    c = client_for(org.admin)
    r = c.get("/defeats/settings/")
    assert r.status_code == 200 and "Not satisfied with the model" in r.content.decode()
    r = c.post("/defeats/settings/", {"form": "settings", "second_follow_up_days": 4, "pending_alert_days": 2,
                                      "nurture_interval_days": 60, "replacement_after_years": 4})
    assert r.status_code == 302
    assert org.group.defeat_settings.second_follow_up_days == 4
    r = c.post("/defeats/settings/", {"form": "settings", "second_follow_up_days": 0, "pending_alert_days": 2,
                                      "nurture_interval_days": 60, "replacement_after_years": 4})
    assert r.status_code == 200
    parent = Reason.objects.get(group=org.group, code="customer")
    r = c.post("/defeats/settings/", {"form": "reason", "code": "moved", "parent": parent.pk, "name": "搬家",
                                      "name_en": "Moved away", "is_active": "on", "sort_order": 5})
    assert r.status_code == 302 and Reason.objects.filter(group=org.group, code="moved").exists()
    used = Reason.objects.get(group=org.group, code="lost_contact")
    r = c.post(f"/defeats/settings/reasons/{used.pk}/", {"parent": used.parent_id, "name": used.name,
                                                          "name_en": used.name_en, "sort_order": 1})
    assert r.status_code == 302
    used.refresh_from_db()
    assert not used.is_active and Reason.objects.filter(pk=used.pk).exists()
    r = c.post("/defeats/settings/", {"form": "owner", "store": org.store.pk, "user": org.consultant2.pk})
    assert r.status_code == 302 and services.pool_owner_for(org.store) == org.consultant2
    other = Reason.objects.create(group=org.other_group, code="x", name="x", name_en="x")
    assert c.get(f"/defeats/settings/reasons/{other.pk}/").status_code == 404


def test_talk_tracks_page(org, catalogue):
    c = client_for(org.manager)
    services.reasons_for(org.group.pk)
    reason = Reason.objects.get(group=org.group, code="config_basic")
    r = c.post("/defeats/talk-tracks/", {"reason": reason.pk, "series": catalogue.own.pk, "fact": "全系标配安全气囊",
                                         "problem": "低配车安全隐患", "viewpoint": "安全比价格重要"})
    assert r.status_code == 302 and TalkTrack.objects.count() == 1
    assert "安全比价格重要" in c.get("/defeats/talk-tracks/").content.decode()
    assert client_for(org.consultant).get("/defeats/talk-tracks/").status_code == 403


def test_the_analysis_page(org, catalogue):
    for series in (catalogue.accord, catalogue.accord, catalogue.han):
        app = pending_application(org, lead=_lead(org, series=catalogue.own), kind="defeat",
                                  reasons=["model_unsatisfied"], competitor_series=series)
        services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    c = client_for(org.manager)
    r = c.get("/defeats/analysis/")
    body = r.content.decode()
    assert r.status_code == 200
    # The competitor table: each brand with its own reasons (Honda T: 2 defeats, its reason counted twice).
    assert "Honda T" in body and "Not satisfied with the model (2)" in body and "dft-chart-data" in body
    assert "<script>" not in body.replace('<script src=', '')  # no inline script under the CSP
    assert client_for(org.consultant).get("/defeats/analysis/").status_code == 403
    assert c.get("/defeats/analysis/", {"store": org.other_store.pk}).status_code == 404
    assert c.get("/defeats/analysis/", {"year": "abc"}).status_code == 404


def test_the_stale_queue_files_a_quasi_defeat(org):
    lead = _lead(org)
    StaleFlagFactory(lead=lead)
    c = client_for(org.manager)
    page = c.get("/leads/stale/").content.decode()
    assert "File as quasi-defeat" in page
    r = c.post(f"/leads/stale/{lead.pk}/", {"action": "defeat", "note": "半年没联系上"}, **HTMX)
    assert r.status_code == 200 and "Confirmed as a quasi-defeat" in r.content.decode()
    lead.refresh_from_db()
    # The manager's own filing is decided at once: nothing waits in his verification queue.
    assert lead.status == Status.DEFEATED
    app = Application.objects.get(lead=lead)
    assert app.kind == "quasi" and [r.code for r in app.reasons.all()] == ["long_no_deal"]
    assert (app.applied_by, app.decided_by, app.status, app.comment) == (
        org.manager, org.manager, "confirmed", "半年没联系上")
    assert "stale-" + str(lead.pk) not in c.get("/leads/stale/").content.decode()
    assert f"app-{app.pk}" not in c.get("/defeats/verify/", {"store": org.store.pk}).content.decode()


def test_the_funnel_dashboard_shows_the_defeat_rate_and_pending(org):
    app = pending_application(org)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    pending_application(org)
    r = client_for(org.manager).get("/funnel/")
    body = r.content.decode()
    assert r.status_code == 200 and 'id="dft-funnel-figures"' in body
    assert 'data-kpi="defeats_pending">1<' in body and "100.0%" in body


def test_the_lead_page_shows_talk_tracks_after_not_interested(org):
    lead = _lead(org)
    services.reasons_for(org.group.pk)
    services.talk_track_save(actor=org.manager, reason=Reason.objects.get(group=org.group, code="funding_not_ready"),
                             fact="首付两成即可", problem="资金压力", viewpoint="金融方案减轻负担")
    FollowUpFactory(lead=lead, outcome="not_now", occurred_at=timezone.now() - timedelta(hours=1))
    assert "金融方案减轻负担" in client_for(org.consultant).get(f"/leads/{lead.pk}/").content.decode()


def _points_cells(body: str, consultant_id) -> dict:
    """The defeat cells of one consultant's row of the control-point table (``""``: the total row)."""
    import re

    table = body[body.index('id="fnl-points"'):]
    if consultant_id == "":
        row = table[table.index('fnl-total-row'):]
    else:
        row = table[table.index(f'data-consultant="{consultant_id}"'):]
    row = row[:row.index("</tr>")]
    return {col: re.sub(r"<[^>]+>", "", val).strip()
            for col, val in re.findall(r'data-col="(defeat_rate|defeats|defeats_pending)">(.*?)</td>', row)}


def test_the_control_point_table_has_the_defeat_rate_and_pending_per_consultant(org, django_assert_max_num_queries,
                                                                               settings):
    from decimal import Decimal


    from leads.services import deal_record

    # consultant: one deal, one confirmed defeat, one pending; consultant2: one rejected (a false defeat).
    deal_record(actor=org.manager, lead=_lead(org), price=Decimal("159800"))
    services.application_decide(actor=org.manager, application=pending_application(org), verdict="confirm",
                                comment="ok")
    pending_application(org)
    services.application_decide(actor=org.manager, application=pending_application(
        org, lead=_lead(org, assigned_to=org.consultant2)), verdict="reject", comment="虚战败")
    # Another store's applications are not in this manager's table.
    pending_application(org, lead=LeadFactory(store=org.store2, assigned_to=org.consultant_b))
    c = client_for(org.manager)
    body = c.get("/funnel/").content.decode()
    assert _points_cells(body, org.consultant.pk) == {"defeat_rate": "50.0%", "defeats": "1", "defeats_pending": "1"}
    assert _points_cells(body, org.consultant2.pk) == {"defeat_rate": "—", "defeats": "0", "defeats_pending": "0"}
    assert _points_cells(body, "") == {"defeat_rate": "50.0%", "defeats": "1", "defeats_pending": "1"}
    assert f'data-consultant="{org.consultant_b.pk}"' not in body
    # The KPI cards read the same figures (no second computation).
    assert 'data-kpi="defeats_pending">1<' in body

    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert c.get("/funnel/").status_code == 200
        return len(queries)

    before = count()
    # More consultants with applications, verdicts and deals: not one query more.
    from dealercrm.tests.factories import ConsultantFactory

    for i in range(3):
        person = ConsultantFactory(username=f"dft{i}", store=org.store)
        for _j in range(2):
            services.application_decide(actor=org.manager, application=pending_application(
                org, lead=_lead(org, assigned_to=person)), verdict="confirm", comment="ok")
    assert count() == before
    body = c.get("/funnel/").content.decode()
    assert _points_cells(body, "")["defeats"] == "7"


def test_a_consultants_control_points_show_only_their_own_defeats(org):
    pending_application(org)
    pending_application(org, lead=_lead(org, assigned_to=org.consultant2))
    body = client_for(org.consultant).get("/funnel/").content.decode()
    assert _points_cells(body, org.consultant.pk)["defeats_pending"] == "1"
    assert f'data-consultant="{org.consultant2.pk}"' not in body
    assert 'data-kpi="defeats_pending">1<' in body


def test_the_stale_page_intro_names_the_five_actions_in_both_languages(org):
    from django.test import Client

    body = client_for(org.manager).get("/leads/stale/").content.decode()
    assert "put it in the pool or file it as a quasi-defeat." in body
    zh = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    zh.force_login(org.manager)
    assert "移入公海，或申请准战败。" in zh.get("/leads/stale/").content.decode()
