"""Issue 11's "done when", in a real browser: a consultant files a quasi-defeat from a phone; the manager rejects it
as a false defeat and the lead is back in a consultant's day with a follow-up due; another is confirmed and appears
in the competitor pool and in the defeat rate; the analysis page draws its charts (no inline script under the CSP).
Screenshots in zh-hans and English, at a phone's width and at 1366 px."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dealercrm.tests.factories import TEST_PASSWORD, VehicleBrandFactory, VehicleSeriesFactory
from defeats import services
from defeats.models import Application, PoolEntry
from leads import services as lead_services
from leads.models import Lead, Status
from leads.tests.factories import FollowUpFactory, LeadFactory

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _english(context, live_server):
    context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])


def test_the_done_when_journey(org, browser, live_server, shot):
    org.consultant.display_name, org.consultant2.display_name, org.manager.display_name = "王磊", "李娜", "张经理"
    for u in (org.consultant, org.consultant2, org.manager):
        u.save()
    own = VehicleSeriesFactory(brand=VehicleBrandFactory(name="丰田B", name_en="Toyota B", is_own=True),
                               name="凯美瑞B", name_en="Camry B")
    rival = VehicleSeriesFactory(brand=VehicleBrandFactory(name="本田B", name_en="Honda B", is_own=False),
                                 name="雅阁B", name_en="Accord B")
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="周先生", grade="C", series=own)
    FollowUpFactory(lead=lead, content="客户说资金还没到位，下个月再说", outcome="not_now")
    lost = LeadFactory(store=org.store, assigned_to=org.consultant, name="吴女士", grade="B", series=own,
                       first_visit_at=timezone.now() - timedelta(days=20))
    services.reasons_for(org.group.pk)
    for _ in range(2):
        lead_services.deal_record(actor=org.consultant, lead=LeadFactory(store=org.store, assigned_to=org.consultant),
                                  price=Decimal("180000"))

    # 1. The consultant, on a phone, files a quasi-defeat from the lead page.
    phone_ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                    has_touch=True, locale="zh-CN")
    phone = phone_ctx.new_page()
    phone.set_default_timeout(15_000)
    login(phone, live_server, org.consultant.username, TEST_PASSWORD)
    phone.goto(f"{live_server.url}/leads/{lead.pk}/")
    phone.click("#defeat-apply-link")
    expect(phone.locator("h1")).to_have_text(zh("File a defeat application"))
    phone.click("label[for=id_reason_funding_not_ready]")
    phone.fill("textarea[name=note]", "客户资金未到位，半年内不买")
    shot(phone, "defeats-apply-phone-zh")
    with phone.expect_navigation():
        phone.click("button[type=submit].btn-danger")
    lead.refresh_from_db()
    assert lead.status == Status.DEFEAT_PENDING
    expect(phone.locator("#lead-timeline")).to_contain_text(zh("Defeat application filed"))
    phone_ctx.close()

    # A second application, to be confirmed: a competitor purchase.
    other = services.application_file(actor=org.consultant, lead=lost, kind="defeat", reasons=["model_unsatisfied"],
                                      competitor_series=rival, note="已在隔壁本田店提车")

    # 2. The manager verifies: rejects the first as a false defeat (to 李娜, grade B), confirms the second.
    desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = desk.new_page()
    page.set_default_timeout(15_000)
    login(page, live_server, org.manager.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/defeats/verify/")
    app = Application.objects.get(lead=lead)
    expect(page.locator(f"#app-{app.pk}")).to_contain_text("周先生")
    shot(page, "defeats-queue-1366-zh")
    card = page.locator(f"#app-{app.pk}")
    card.locator("textarea[name=comment]").nth(1).fill("资金问题不是战败，两天内再联系")
    card.locator("select[name=grade]").select_option("B")
    card.locator("select[name=assign_to]").select_option(str(org.consultant2.pk))
    with page.expect_navigation():
        card.locator("form:has(input[value=reject]) button[type=submit]").click()
    lead.refresh_from_db()
    assert (lead.status, lead.grade, lead.assigned_to) == (Status.ACTIVE, "B", org.consultant2)
    assert lead.next_follow_up_at <= timezone.now() + timedelta(days=2)
    card = page.locator(f"#app-{other.pk}")
    card.locator("textarea[name=comment]").first.fill("电话核实，已购雅阁")
    with page.expect_navigation():
        card.locator("form:has(input[value=confirm]) button[type=submit]").click()
    assert Lead.objects.get(pk=lost.pk).status == Status.DEFEATED
    assert PoolEntry.objects.filter(lead=lost).exists()

    # 3. The pool shows the confirmed customer; the analysis shows the defeat rate and draws its charts.
    page.goto(f"{live_server.url}/defeats/pool/")
    expect(page.locator("main")).to_contain_text("吴女士")
    shot(page, "defeats-pool-1366-zh")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}/defeats/analysis/")
    expect(page.locator("#kpi-defeat-rate")).to_contain_text("33.3%")  # 1 defeat / (2 deals + 1 defeat)
    expect(page.locator("#kpi-false-rate")).to_contain_text("50.0%")
    expect(page.locator("#dft-chart-pareto canvas")).to_have_count(1)
    expect(page.locator("#dft-chart-trend canvas")).to_have_count(1)
    shot(page, "defeats-analysis-1366-zh")
    assert not [e for e in errors if "Content Security Policy" in e]

    # The consultant who got the lead back sees it in their day, with the talk track for "not interested now".
    desk2 = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    p2 = desk2.new_page()
    login(p2, live_server, org.consultant2.username, TEST_PASSWORD)
    p2.goto(f"{live_server.url}/leads/{lead.pk}/")
    expect(p2.locator("#lead-timeline")).to_contain_text(zh("Rejected as a false defeat"))
    shot(p2, "defeats-lead-timeline-390-zh")
    desk2.close()

    # The manager's funnel: the control-point table has the defeat columns (control point 7).
    page.goto(f"{live_server.url}/funnel/")
    row = page.locator(f"#fnl-points tr[data-consultant='{org.consultant.pk}']")
    expect(row.locator("[data-col=defeat_rate]")).to_have_text("33.3%")
    page.locator("#fnl-points").scroll_into_view_if_needed()
    shot(page, "defeats-funnel-points-1366-zh")

    # English, at both widths.
    _english(desk, live_server)
    page.goto(f"{live_server.url}/defeats/analysis/")
    expect(page.locator("h1")).to_have_text("Defeat analysis")
    shot(page, "defeats-analysis-1366-en")
    page.goto(f"{live_server.url}/defeats/pool/")
    shot(page, "defeats-pool-1366-en")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/defeats/analysis/")
    shot(page, "defeats-analysis-390-en")
    desk.close()
