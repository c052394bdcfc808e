"""Work plans: the periods' calendar, a plan drafted from the target, the ladder and what falls due (a worked case
with numbers computed by hand), the day plan ticking off as the records come in, the manager's plan against record
per consultant and week, the API's scoping and denials, and the queries of the lists and pages."""

from datetime import date, datetime, time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from baseclients.models import CareTask
from funnel.models import Target
from leads.models import GradeChange
from leads.services import follow_up_log
from leads.tests.factories import FollowUpFactory, LeadFactory, VisitFactory
from planning import selectors, services
from planning.models import WorkPlan
from planning.periods import is_period_start, period_end, period_start, weeks_of

WEEK = date(2026, 12, 7)  # a Monday
BEFORE = date(2026, 12, 1)  # "today" for the draft: before the week, so nothing in it is overdue yet


def at(day: date, hour: int = 10) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


def test_periods():
    assert period_start("week", date(2026, 12, 10)) == WEEK
    assert period_end("week", WEEK) == date(2026, 12, 13)
    assert period_start("quarter", date(2026, 11, 30)) == date(2026, 10, 1)
    assert period_end("quarter", date(2026, 10, 1)) == date(2026, 12, 31)
    assert period_end("month", date(2026, 2, 1)) == date(2026, 2, 28)
    assert period_end("year", date(2026, 1, 1)) == date(2026, 12, 31)
    assert is_period_start("week", WEEK) and not is_period_start("week", date(2026, 12, 8))
    assert not is_period_start("quarter", date(2026, 11, 1)) and not is_period_start("fortnight", WEEK)
    assert weeks_of(date(2026, 12, 1), date(2026, 12, 31)) == [date(2026, 11, 30) + timedelta(days=7 * i)
                                                               for i in range(5)]


def _ladder_history(org):
    """Grade histories that make every promotion rate of the consultant 1/2: one lead climbs E→D→C→B→A, and one
    lead stays at each of E, D, C and B."""
    base = at(date(2026, 6, 1))

    def lead(grade, steps):
        lead = LeadFactory(store=org.store, assigned_to=org.consultant, grade=grade, next_follow_up_at=None,
                           first_visit_at=base - timedelta(days=1))
        previous = None
        for i, g in enumerate(steps):
            GradeChange.objects.create(lead=lead, from_grade=previous, to_grade=g, changed_at=base + timedelta(i),
                                       changed_by=org.consultant)
            previous = g

    lead("A", "EDCBA")
    for g in "EDCB":
        lead(g, g)


@pytest.fixture
def worked_case(org):
    """The consultant's December target of 6 units, his ladder's rates of 1/2, leads and care falling due."""
    from baseclients.tests.factories import buy

    Target.objects.create(store=org.store, consultant=org.consultant, month=date(2026, 12, 1), units=6,
                          set_by=org.manager)
    _ladder_history(org)
    for day, grade in ((8, "A"), (8, "A"), (10, "B"), (20, "C")):  # the one on the 20th is after the week
        LeadFactory(store=org.store, assigned_to=org.consultant, grade=grade, next_follow_up_at=at(date(2026, 12, day)))
    LeadFactory(store=org.store, assigned_to=org.consultant2, grade="A", next_follow_up_at=at(date(2026, 12, 9)))
    deal = buy(store=org.store, consultant=org.consultant, phone="+8613900002222")  # a won lead: nothing falls due
    CareTask.objects.all().delete()  # the deal's own care plan: not part of this case
    client = deal.purchase.client
    for due, status in ((9, "pending"), (11, "skipped"), (15, "pending")):
        CareTask.objects.create(client=client, store=org.store, assigned_to=org.consultant, kind="call",
                                channel="phone", due_on=date(2026, 12, due), status=status,
                                done_at=at(date(2026, 12, due)) if status != "pending" else None)
    return org


def test_a_week_plan_is_drafted_from_the_target_the_ladder_and_what_falls_due(worked_case):
    org = worked_case
    plan, created = services.work_plan_draft(actor=org.consultant, period="week", start=WEEK, today=BEFORE)
    assert created and plan.end == date(2026, 12, 13)
    items = {i.item: i for i in plan.items.all()}
    # Deals: 6 units × 7/31 days = 1.35 → 2.
    assert items["deals"].planned == items["deals"].drafted == 2
    assert items["deals"].basis == {"targets": {"2026-12": 6}}
    # New customers: A 6 at rates 1/2 → B 12, C 24, D 48, E 96; 96 × 7/31 = 21.7 → 22.
    assert items["new_customers"].planned == 22
    assert items["new_customers"].basis["ladder_e"] == {"2026-12": 96}
    # Follow-ups: his active leads due in the week (two A, one B); not the 20th's, not the colleague's.
    assert items["follow_ups"].planned == 3
    assert items["follow_ups"].basis == {"by_grade": {"A": 2, "B": 1}, "overdue": 0}
    # Care: due in the week and not skipped: the 9th's.
    assert items["care"].planned == 1
    # The day plan of the 8th: 6 × 1/31 → 1 deal, 96/31 → 4 new customers, two A follow-ups.
    day, _ = services.work_plan_draft(actor=org.consultant, period="day", start=date(2026, 12, 8), today=BEFORE)
    assert {i.item: i.planned for i in day.items.all()} == {"deals": 1, "new_customers": 4, "follow_ups": 2,
                                                             "care": 0}
    # Opening it again drafts nothing new.
    again, created = services.work_plan_draft(actor=org.consultant, period="week", start=WEEK, today=BEFORE)
    assert again.pk == plan.pk and not created and WorkPlan.objects.filter(period="week").count() == 1


def test_a_plan_without_a_target_or_rates_drafts_zeros_it_can_explain(org):
    plan, _ = services.work_plan_draft(actor=org.consultant, period="month", start=date(2026, 12, 1))
    items = {i.item: i for i in plan.items.all()}
    assert items["deals"].planned == 0 and items["new_customers"].planned == 0
    assert items["deals"].basis == {"targets": {}}


def test_drafts_and_edits_are_the_consultants_own(org):
    from django.core.exceptions import PermissionDenied, ValidationError

    with pytest.raises(PermissionDenied):
        services.work_plan_draft(actor=org.manager, period="week", start=WEEK)
    with pytest.raises(ValidationError) as exc:
        services.work_plan_draft(actor=org.consultant, period="week", start=date(2026, 12, 8))
    assert "start" in exc.value.message_dict
    plan, _ = services.work_plan_draft(actor=org.consultant, period="week", start=WEEK)
    with pytest.raises(PermissionDenied):
        services.work_plan_update(actor=org.consultant2, plan=plan, notes="x")
    with pytest.raises(ValidationError):
        services.work_plan_update(actor=org.consultant, plan=plan, items={"deals": {"planned": -1}})
    plan = services.work_plan_update(actor=org.consultant, plan=plan, notes="周三约试驾",
                                     items={"deals": {"planned": 3, "note": "冲刺月底"}})
    assert plan.notes == "周三约试驾" and plan.items.get(item="deals").planned == 3


def test_the_day_plan_ticks_off_as_the_days_work_is_logged(org):
    today = timezone.localdate()
    leads = [LeadFactory(store=org.store, assigned_to=org.consultant, grade="B",
                         next_follow_up_at=at(today, 15)) for _ in range(3)]
    plan, _ = services.work_plan_draft(actor=org.consultant, period="day", start=today)
    progress = {r.item: r for r in selectors.work_plan_progress(plan)}
    assert (progress["follow_ups"].done, progress["follow_ups"].planned) == (0, 3)
    follow_up_log(actor=org.consultant, lead=leads[0], method="phone", content="约周六试驾")
    # A colleague's follow-up, and one of yesterday, are not his day's work.
    FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant2), occurred_at=timezone.now())
    FollowUpFactory(lead=leads[1], occurred_at=at(today - timedelta(days=1)))
    VisitFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant, first_visit_at=timezone.now()),
                 arrived_at=timezone.now())
    progress = {r.item: r for r in selectors.work_plan_progress(plan)}
    assert (progress["follow_ups"].done, progress["follow_ups"].planned) == (1, 3)
    assert progress["new_customers"].done == 1 and not progress["follow_ups"].complete
    # The workspace panel says the same.
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.consultant)
    html = client.get("/plans/today/").content.decode()
    assert 'data-testid="plan-follow_ups">1/3<' in html


def test_the_manager_reads_plan_against_record_per_consultant_and_week(org):
    plan, _ = services.work_plan_draft(actor=org.consultant, period="week", start=WEEK)
    services.work_plan_update(actor=org.consultant, plan=plan, items={"follow_ups": {"planned": 10},
                                                                      "deals": {"planned": 1}})
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    for day in (7, 9, 13):  # three in the week (Sunday the 13th at 23:30 is still in it)
        FollowUpFactory(lead=lead, occurred_at=at(date(2026, 12, day), 23 if day == 13 else 10))
    FollowUpFactory(lead=lead, occurred_at=at(date(2026, 12, 14), 0))  # Monday 00:00: the next week
    FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant2),
                    occurred_at=at(date(2026, 12, 8)))
    rows = selectors.plan_vs_record(user=org.manager, store=org.store, start=WEEK, end=date(2026, 12, 13))
    by = {(r.consultant.pk, r.week): r for r in rows}
    mine = by[(org.consultant.pk, WEEK)]
    assert mine.planned["follow_ups"] == 10 and mine.done["follow_ups"] == 3 and mine.planned["deals"] == 1
    theirs = by[(org.consultant2.pk, WEEK)]
    assert theirs.planned["follow_ups"] is None and theirs.done["follow_ups"] == 1
    # The sister store's manager reads nothing of this store.
    assert selectors.plan_vs_record(user=org.manager2, store=org.store, start=WEEK, end=WEEK) == []
    # The report: a page, its workbook, and the monthly pack's section.
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.manager)
    page = client.get("/reports/work-plans/", {"store": org.store.pk, "start": "2026-12-07", "end": "2026-12-13"})
    assert page.status_code == 200 and "Work plans against records" in page.content.decode()
    data = client.get("/api/v1/reports/work-plans/", {"store": org.store.pk, "start": "2026-12-07",
                                                      "end": "2026-12-13"}).json()
    table = next(t for s in data["sections"] for t in s["tables"] if t["key"] == "work_plans")
    row = next(r for r in table["rows"] if r["consultant"] == str(org.consultant))
    assert (row["follow_ups_planned"], row["follow_ups_done"]) == (10, 3)
    xlsx = client.get("/api/v1/reports/work-plans/", {"store": org.store.pk, "start": "2026-12-07",
                                                      "end": "2026-12-13", "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    pack = client.get("/api/v1/reports/monthly-pack/", {"store": org.store.pk, "start": "2026-12-01",
                                                        "end": "2026-12-31"}).json()
    assert "work_plans" in [s["key"] for s in pack["sections"]]
    # A consultant may not run it.
    consultant = Client(HTTP_ACCEPT_LANGUAGE="en")
    consultant.force_login(org.consultant)
    assert consultant.get("/reports/work-plans/").status_code in (403, 404)


URL = "/api/v1/work-plans/"


def test_api_scoping_and_denials(org, api_as):
    me = api_as(org.consultant)
    r = me.post(URL, {"period": "week", "start": WEEK.isoformat(),
                      "items": [{"item": "follow_ups", "planned": 12, "note": "周末多约"}]}, format="json")
    assert r.status_code == 201
    plan_id = r.json()["id"]
    items = {i["item"]: i for i in r.json()["items"]}
    assert items["follow_ups"]["planned"] == 12 and items["follow_ups"]["note"] == "周末多约"
    assert me.post(URL, {"period": "week", "start": WEEK.isoformat()}, format="json").status_code == 200
    assert me.post(URL, {"period": "week", "start": "2026-12-08"}, format="json").status_code == 400
    assert me.post(URL, {"period": "fortnight", "start": WEEK.isoformat()}, format="json").status_code == 400
    assert api_as(org.manager).post(URL, {"period": "week", "start": WEEK.isoformat()},
                                    format="json").status_code == 403
    # The manager reads it (and its progress) but does not edit it; outsiders get a 404.
    assert api_as(org.manager).get(f"{URL}{plan_id}/progress/").status_code == 200
    assert api_as(org.manager).patch(f"{URL}{plan_id}/", {"notes": "x"}, format="json").status_code == 403
    assert api_as(org.admin).get(f"{URL}{plan_id}/").status_code == 200
    for outsider in (org.consultant2, org.manager2, org.other_admin):
        assert api_as(outsider).get(f"{URL}{plan_id}/").status_code == 404
        assert api_as(outsider).get(f"{URL}{plan_id}/progress/").status_code == 404
        assert api_as(outsider).get(URL).json()["results"] == []
    r = me.patch(f"{URL}{plan_id}/", {"items": [{"item": "deals", "planned": 2}], "version": 2}, format="json")
    assert r.status_code == 200, r.content
    assert me.patch(f"{URL}{plan_id}/", {"notes": "y", "version": 1}, format="json").status_code == 409
    assert me.patch(f"{URL}{plan_id}/", {"items": [{"item": "deals", "planned": -2}]},
                    format="json").status_code == 400
    progress = me.get(f"{URL}{plan_id}/progress/").json()
    assert [i["item"] for i in progress["items"]] == ["follow_ups", "new_customers", "care", "deals"]
    assert api_as(org.manager).get(URL, {"consultant": org.consultant.pk, "period": "week",
                                         "start": WEEK.isoformat()}).json()["count"] == 1


def test_lists_and_pages_run_a_fixed_number_of_queries(org, api_as, django_assert_max_num_queries):
    for i in range(4):
        services.work_plan_draft(actor=org.consultant, period="week", start=WEEK + timedelta(days=7 * i))
    with django_assert_max_num_queries(8):
        assert api_as(org.manager).get(URL).json()["count"] == 4
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.consultant)
    client.get("/plans/")  # drafts this week's plan
    with django_assert_max_num_queries(22):
        assert client.get("/plans/").status_code == 200
    client.get("/plans/today/")  # drafts today's plan
    with django_assert_max_num_queries(12):
        assert client.get("/plans/today/").status_code == 200
