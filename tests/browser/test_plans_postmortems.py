"""Work plans and post-mortems in a real browser (zh-hans): the consultant's day plan on the workspace of a 375 px
phone shows 0/3 follow-ups, he writes a follow-up on one of the leads, and the workspace shows 1/3; a post-mortem
written on the phone, approved by the manager, shows under its reason's talk track. Screenshots go to
SCREENSHOT_DIR (zh-hans and English, phone and desk width)."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dealercrm.tests.factories import TEST_PASSWORD
from defeats import services as defeat_services
from defeats.models import PostMortem, Reason, TalkTrack
from funnel.models import Target
from leads.models import GradeChange
from leads.tests.factories import LeadFactory

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _phone(browser, lang="zh-CN"):
    context = browser.new_context(viewport={"width": 375, "height": 760}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale=lang)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def test_the_day_plan_ticks_off_as_a_follow_up_is_written(org, browser, live_server, shot):
    org.consultant.display_name = "王磊"
    org.consultant.save()
    today = timezone.localdate()
    Target.objects.create(store=org.store, consultant=org.consultant, month=today.replace(day=1), units=8,
                          set_by=org.manager)
    due = timezone.make_aware(datetime.combine(today, time(16)))
    leads = [LeadFactory(store=org.store, assigned_to=org.consultant, name=name, grade=grade, next_follow_up_at=due)
             for name, grade in (("刘先生", "A"), ("陈女士", "B"), ("赵总", "B"))]

    context, phone = _phone(browser)
    login(phone, live_server, org.consultant.username, TEST_PASSWORD)
    panel = phone.locator("#plan-today")
    expect(panel.locator("h2")).to_have_text(zh("Today's plan"))
    expect(panel.locator("[data-testid=plan-follow_ups]")).to_have_text("0/3")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    panel.scroll_into_view_if_needed()
    shot(phone, "plans-workspace-before-phone-zh")

    phone.goto(f"{live_server.url}/leads/{leads[0].pk}/")
    form = phone.locator("#pane-follow-up form")
    form.locator("select[name=method]").select_option("phone")
    form.locator("textarea[name=content]").fill("电话回访：刘先生周六来店签合同，确认贷款方案。")
    form.locator("button[type=submit]").click()
    expect(phone.locator("#lead-timeline .kind-follow_up")).to_contain_text("周六来店签合同")

    phone.goto(f"{live_server.url}/")
    expect(phone.locator("#plan-today [data-testid=plan-follow_ups]")).to_have_text("1/3")
    phone.locator("#plan-today").scroll_into_view_if_needed()
    shot(phone, "plans-workspace-after-phone-zh")

    # The week plan page on the phone: drafted, editable, saved.
    phone.goto(f"{live_server.url}/plans/?period=week")
    expect(phone.locator("[data-testid=plan-follow_ups]")).to_have_text("1")
    phone.fill("input[name=planned_follow_ups]", "12")
    phone.fill("textarea[name=notes]", "周三下午集中回访B级客户，周六约两组试驾")
    with phone.expect_navigation():
        phone.click("button[type=submit].btn-primary")
    expect(phone.locator("input[name=planned_follow_ups]")).to_have_value("12")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    shot(phone, "plans-week-phone-zh")
    context.close()

    # English, desk width; the manager reads plan against record.
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    desk = context.new_page()
    login(desk, live_server, org.consultant.username, TEST_PASSWORD)
    desk.goto(f"{live_server.url}/plans/?period=month")
    expect(desk.locator("h1")).to_contain_text("Work plan")
    shot(desk, "plans-month-desk-en")
    desk.goto(f"{live_server.url}/")
    expect(desk.locator("#plan-today [data-testid=plan-follow_ups]")).to_have_text("1/3")
    shot(desk, "plans-workspace-desk-en")
    context.close()
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    desk = context.new_page()
    login(desk, live_server, org.manager.username, TEST_PASSWORD)
    desk.goto(f"{live_server.url}/reports/work-plans/?store={org.store.pk}")
    expect(desk.locator("main")).to_contain_text("王磊")
    shot(desk, "plans-report-desk-zh")
    context.close()


def test_a_post_mortem_written_on_the_phone_shows_under_the_talk_track(org, browser, live_server, shot):
    org.consultant.display_name, org.manager.display_name = "王磊", "张经理"
    org.consultant.save()
    org.manager.save()
    defeat_services.reasons_for(org.group.pk)
    slow = Reason.objects.get(group=org.group, code="slow_follow_up")
    TalkTrack.objects.create(group=org.group, reason=slow, fact="我们承诺试驾后24小时内回访",
                             problem="拖得越久，客户越容易被别家先约走", viewpoint="选车也要选服务")
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="孙先生", grade="C")
    GradeChange.objects.create(lead=lead, from_grade=None, to_grade="A", changed_by=org.consultant,
                               changed_at=timezone.now() - timedelta(days=30))
    app = defeat_services.application_file(actor=org.consultant, lead=lead, kind="defeat", reasons=("lost_contact",))
    defeat_services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="已核实")
    pm = PostMortem.objects.get(lead=lead)

    context, phone = _phone(browser)
    login(phone, live_server, org.consultant.username, TEST_PASSWORD)
    phone.goto(f"{live_server.url}/defeats/post-mortems/{pm.pk}/")
    phone.click("label[for=id_turned_at_grade_0]")  # A
    box = phone.locator(f"input[name=reasons][value='{slow.pk}']").get_attribute("id")
    phone.click(f"label[for={box}]")
    phone.fill("textarea[name=what_happened]", "客户试驾后说要和家人商量，我四天后才回访，客户已在别家订车。")
    phone.fill("textarea[name=lessons]", "A级客户试驾后24小时内必须回访并约第二次到店。")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    shot(phone, "postmortem-form-phone-zh")
    with phone.expect_navigation():
        phone.click("#pm-submit")
    expect(phone.locator(".alert-success, .alert").first).to_be_visible()
    context.close()

    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    desk = context.new_page()
    login(desk, live_server, org.manager.username, TEST_PASSWORD)
    desk.goto(f"{live_server.url}/defeats/post-mortems/{pm.pk}/")
    with desk.expect_navigation():
        desk.click("#pm-approve")
    desk.goto(f"{live_server.url}/defeats/talk-tracks/")
    lessons = desk.locator("details.dft-lessons")
    lessons.locator("summary").click()
    expect(lessons).to_contain_text("24小时内必须回访")
    shot(desk, "postmortem-talk-tracks-desk-zh")
    desk.goto(f"{live_server.url}/defeats/post-mortems/")
    expect(desk.locator("#pm-library")).to_contain_text("24小时内必须回访")
    shot(desk, "postmortem-library-desk-zh")
    context.close()

    context = browser.new_context(viewport={"width": 375, "height": 760}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="en-US")
    context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    phone = context.new_page()
    login(phone, live_server, org.consultant2.username, TEST_PASSWORD)
    phone.goto(f"{live_server.url}/defeats/post-mortems/")
    expect(phone.locator("#pm-library")).to_contain_text("24小时内必须回访")  # a colleague reads the approved lesson
    shot(phone, "postmortem-library-phone-en")
    context.close()
