"""The consultant levels and the staffing planner in a real browser, in zh-hans and English, at a phone's width and
at 1366 px: the manager sets the levels (an overlapping grade is refused on the page, then saved), a third-level
consultant's C lead promoted to B waits under "Handoffs waiting" and the manager hands it over, and the planner
answers for the month's target."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dealercrm.tests.factories import TEST_PASSWORD, ConsultantFactory
from funnel.models import Target
from leads import services
from leads.models import GradeChange, Lead, LevelMember, LevelSettings
from leads.tests.factories import LeadFactory

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _english(context, live_server):
    context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])


def _team(org):
    org.consultant.display_name, org.consultant2.display_name, org.manager.display_name = "刘洋", "陈静", "张伟"
    for u in (org.consultant, org.consultant2, org.manager):
        u.save()
    org.b1 = ConsultantFactory(username="b1_north", store=org.store, display_name="王强")
    org.a1 = ConsultantFactory(username="a1_north", store=org.store, display_name="李娜")
    # A ladder with history so the planner has measured rates: leads that climbed from E and stopped on each rung.
    start = timezone.now() - timedelta(days=40)
    for path in ("E", "ED", "EDC", "EDCB", "EDCBA") * 2:
        lead = LeadFactory(store=org.store, assigned_to=org.consultant2, grade=path[-1], first_visit_at=start)
        previous = None
        for i, grade in enumerate(path):
            GradeChange.objects.create(lead=lead, from_grade=previous, to_grade=grade,
                                       changed_at=start + timedelta(days=i))
            previous = grade
    today = timezone.localdate()
    Target.objects.create(store=org.store, month=date(today.year, today.month, 1), units=8)


def _set_levels(page, live_server, org, *, overlap: bool):
    page.goto(f"{live_server.url}/settings/levels/")
    # The three default rows and an empty fourth; the second level also ticks C when ``overlap``.
    if overlap:
        page.check("#id_level-1-grades_2")
    else:
        page.uncheck("#id_level-1-grades_2")
    page.select_option("select[name=handoff]", "hold")
    page.select_option("select[name=credit]", "split")
    for person, rank in ((org.consultant, "3"), (org.consultant2, "3"), (org.b1, "2"), (org.a1, "1")):
        page.select_option(f"select[name=c{person.pk}]", rank)
    with page.expect_navigation():
        page.click("form.lvl-form button[type=submit]")


def test_levels_handoff_and_planner_in_both_languages(org, browser, live_server, shot):
    _team(org)
    for lang in ("zh", "en"):
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        if lang == "en":
            _english(context, live_server)
        page = context.new_page()
        page.set_default_timeout(10_000)
        login(page, live_server, "m_north", TEST_PASSWORD)
        if lang == "zh":
            _set_levels(page, live_server, org, overlap=True)
            expect(page.locator(".alert-danger")).to_contain_text(
                zh("Each grade belongs to one level: %(grades)s are in more than one.") % {"grades": "C"})
            assert not LevelSettings.objects.filter(store=org.store).exists()
            shot(page, "levels-settings-error-zh")
            _set_levels(page, live_server, org, overlap=False)
            expect(page.locator(".alert-success")).to_contain_text(zh("Consultant levels saved."))
            assert LevelMember.objects.get(user=org.consultant).level.grades == "CDE"
            # The third-level consultant promotes a C lead to B: it waits for the manager's pick.
            lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="周先生", grade="C")
            services.follow_up_log(actor=org.consultant, lead=lead, method="phone", content="试驾后很满意，等年终奖",
                                   grade_after="B")
        else:
            page.goto(f"{live_server.url}/settings/levels/")
            expect(page.locator("h1")).to_have_text("Consultant levels")
        shot(page, f"levels-settings-{lang}")

        page.goto(f"{live_server.url}/leads/allocation/")
        expect(page.locator("#mgr-levels")).to_be_visible()
        if lang == "zh":
            waiting = page.locator("#mgr-handoffs li", has_text="周先生")
            expect(waiting).to_have_count(1)
            expect(waiting.locator("select option:checked")).to_contain_text("王强")
            shot(page, "levels-allocation-waiting-zh")
            with page.expect_navigation():
                waiting.locator("button[type=submit]").click()
            assert Lead.objects.get(name="周先生").assigned_to == org.b1
            expect(page.locator("#mgr-handoffs")).to_have_count(0)
        shot(page, f"levels-allocation-{lang}")

        page.goto(f"{live_server.url}/funnel/staffing/?month={timezone.localdate().month}")
        expect(page.locator(".stf-level")).to_have_count(3)
        expect(page.locator(".stf-kpis .stat-value").first).to_have_text("8")
        shot(page, f"levels-staffing-{lang}")
        context.close()

        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                      has_touch=True, locale="zh-CN")
        if lang == "en":
            _english(context, live_server)
        phone = context.new_page()
        phone.set_default_timeout(10_000)
        login(phone, live_server, "m_north", TEST_PASSWORD)
        for path, name in (("/funnel/staffing/", "staffing"), ("/settings/levels/", "settings")):
            phone.goto(f"{live_server.url}{path}")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} scrolls sideways on a phone ({width}px)"
            shot(phone, f"levels-{name}-phone-{lang}")
        context.close()
