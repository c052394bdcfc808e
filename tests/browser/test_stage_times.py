"""The dashboard's "time in stage" and "loss by stage" panels in a real browser, in Chinese and English, at desk and
phone width (the phone must not scroll sideways). Data relative to now (the live server's clock cannot be frozen):
C stays that ended last month, open stays, a defeat with its reason."""

import os
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from dealercrm.tests.factories import TEST_PASSWORD
from defeats import services as defeat_services
from leads.models import GradeChange, Lead

from .conftest import login, zh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("STAGE_SHOTS", Path(__file__).resolve().parents[2] / "screenshots"))


def _lead(org, name, grades, consultant=None):
    consultant = consultant or org.consultant
    lead = Lead.objects.create(store=org.store, assigned_to=consultant, name=name, source="walk_in",
                               first_visit_at=grades[0][1], grade=grades[-1][0], grade_since=grades[-1][1],
                               created_by=consultant)
    previous = None
    for grade, when in grades:
        GradeChange.objects.create(lead=lead, from_grade=previous, to_grade=grade, changed_at=when)
        previous = grade
    return lead


def _world(org):
    today = timezone.localdate()
    last_month_start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    start = timezone.make_aware(datetime.combine(last_month_start, time(10)))
    for i, days in enumerate((2, 4, 6, 8, 21)):
        _lead(org, f"客户{i}", [("C", start), ("B", start + timedelta(days=days))])
    _lead(org, "王先生", [("E", start - timedelta(days=40))])  # open at E, past its max dwell
    lost = _lead(org, "李女士", [("D", start), ("C", start + timedelta(days=3))])
    defeat_services.application_file(actor=org.manager, lead=lost, kind="defeat", reasons=["lost_contact"],
                                     note="电话一直打不通", at=start + timedelta(days=9))


def _no_sideways_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_the_dashboard_shows_time_in_stage_and_loss_by_stage(org, live_server, page, phone):
    _world(org)
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = f"{live_server.url}/funnel/?store={org.store.pk}&period=last_month"

    login(page, live_server, org.manager.username, TEST_PASSWORD)
    page.goto(url)
    stage = page.locator('[data-testid="stage-times"]')
    loss = page.locator('[data-testid="loss-by-stage"]')
    stage.scroll_into_view_if_needed()
    assert zh("Time in stage") in stage.inner_text() and zh("Loss by stage") in loss.inner_text()
    c_row = stage.locator('tr[data-grade="C"]')
    assert c_row.locator('[data-figure="median"]').inner_text() == "6.0"  # C stays 2, 4, 6, 8, 21 and the lost 6: median 6
    assert loss.locator('tr[data-grade="C"]').count() == 1
    assert "失去联系" in loss.inner_text()
    stage.screenshot(path=str(SHOTS / "stage-times-zh-desk.png"))
    loss.screenshot(path=str(SHOTS / "loss-by-stage-zh-desk.png"))

    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(url)
    stage = page.locator('[data-testid="stage-times"]')
    stage.scroll_into_view_if_needed()
    assert "Time in stage" in stage.inner_text() and "Open now" in stage.inner_text()
    assert "Lost contact" in page.locator('[data-testid="loss-by-stage"]').inner_text()
    page.locator(".fnl-stages").screenshot(path=str(SHOTS / "stage-panels-en-desk.png"))

    login(phone, live_server, org.manager.username, TEST_PASSWORD)
    phone.goto(url)
    panels = phone.locator(".fnl-stages")
    panels.scroll_into_view_if_needed()
    assert _no_sideways_scroll(phone)
    panels.screenshot(path=str(SHOTS / "stage-panels-zh-phone.png"))
