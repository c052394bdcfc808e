"""Loss by stage (defeats.stages): the grade recorded when a defeat is filed, the highest grade reached by then, the
backfill of the rows filed before, the figures by grade with their reasons, and who sees what.

October 2026, org.store (filings by the manager are confirmed at once):
  L1 E 09-01, C 09-10, B 09-20, C 10-01; quasi-defeat (long_no_deal) 10-05  -> at filing C, highest B
  L2 E 09-15; defeat (lost_contact) 10-10                                     -> E, E
  L3 C 09-01, B 10-01; defeat (lost_contact) 10-12                            -> B, B
  L4 never graded; quasi-defeat (long_no_deal) 10-15                          -> none, none
  L5 (consultant2) C 09-01; quasi-defeat (long_no_deal) 10-20                 -> C, C
By grade at filing: B 1 defeat, C 2 quasi, E 1 defeat, none 1 quasi. By highest grade: B 1 + 1, C 1, E 1, none 1."""

from datetime import datetime
from importlib import import_module
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps as django_apps
from django.db import connection

from defeats import services, stages
from defeats.models import Application
from leads.models import GradeChange, Lead

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
METRICS = "/api/v1/defeats/metrics/"
OCT = {"start": "2026-10-01", "end": "2026-10-31"}


def at(month, day):
    return datetime(2026, month, day, 10, 0, tzinfo=TZ)


def lead_with(org, name, grades, *, consultant=None):
    consultant = consultant or org.consultant
    lead = Lead.objects.create(store=org.store, assigned_to=consultant, name=name, source="walk_in",
                               first_visit_at=at(8, 30), grade=grades[-1][0] if grades else None,
                               grade_since=grades[-1][1] if grades else None, created_by=consultant)
    previous = None
    for grade, when in grades:
        GradeChange.objects.create(lead=lead, from_grade=previous, to_grade=grade, changed_at=when)
        previous = grade
    return lead


@pytest.fixture
def losses(org):
    m = org.manager
    leads = {
        "L1": lead_with(org, "L1", [("E", at(9, 1)), ("C", at(9, 10)), ("B", at(9, 20)), ("C", at(10, 1))]),
        "L2": lead_with(org, "L2", [("E", at(9, 15))]),
        "L3": lead_with(org, "L3", [("C", at(9, 1)), ("B", at(10, 1))]),
        "L4": lead_with(org, "L4", []),
        "L5": lead_with(org, "L5", [("C", at(9, 1))], consultant=org.consultant2),
    }
    filings = {"L1": ("quasi", "long_no_deal", at(10, 5)), "L2": ("defeat", "lost_contact", at(10, 10)),
               "L3": ("defeat", "lost_contact", at(10, 12)), "L4": ("quasi", "long_no_deal", at(10, 15)),
               "L5": ("quasi", "long_no_deal", at(10, 20))}
    apps = {name: services.application_file(actor=m, lead=leads[name], kind=kind, reasons=[reason],
                                            note="客户说再看看", at=when)
            for name, (kind, reason, when) in filings.items()}
    return SimpleNamespace(org=org, leads=leads, apps=apps)


def test_filing_records_the_grade_and_the_highest_reached(losses):
    got = {name: (a.grade_at_filing, a.highest_grade) for name, a in losses.apps.items()}
    assert got == {"L1": ("C", "B"), "L2": ("E", "E"), "L3": ("B", "B"), "L4": (None, None), "L5": ("C", "C")}
    stored = Application.objects.get(pk=losses.apps["L1"].pk)
    assert (stored.grade_at_filing, stored.highest_grade, stored.status) == ("C", "B", "confirmed")


def test_the_backfill_sets_rows_filed_before_from_the_grade_history(losses):
    org = losses.org
    # A lead filed on 09-25 whose history went on after (a rejected filing, regraded since): B then, highest B.
    later = lead_with(org, "L6", [("E", at(9, 1)), ("D", at(9, 10)), ("B", at(9, 20)), ("A", at(10, 1))])
    old = Application.objects.create(lead=later, store=org.store, consultant=org.consultant, kind="quasi",
                                     status="rejected", applied_by=org.consultant, applied_at=at(9, 25),
                                     from_status="active", decided_by=org.manager, decided_at=at(9, 26))
    Application.objects.update(grade_at_filing=None, highest_grade=None)
    migration = import_module("defeats.migrations.0009_application_grade_at_filing")
    migration.backfill(django_apps, SimpleNamespace(connection=connection))
    got = dict(Application.objects.values_list("lead__name", "grade_at_filing"))
    top = dict(Application.objects.values_list("lead__name", "highest_grade"))
    assert got == {"L1": "C", "L2": "E", "L3": "B", "L4": None, "L5": "C", "L6": "B"}
    assert top == {"L1": "B", "L2": "E", "L3": "B", "L4": None, "L5": "C", "L6": "B"}
    old.refresh_from_db()
    assert old.highest_grade == "B"


def test_loss_by_stage_with_reasons(losses):
    org = losses.org
    figures = stages.loss_by_stage(user=org.manager, start_at=at(10, 1), end_at=at(11, 1))
    rows = [(r["grade"], r["defeats"], r["quasi_defeats"], r["lost"]) for r in figures["rows"]]
    assert rows == [("B", 1, 0, 1), ("C", 0, 2, 2), ("E", 1, 0, 1), (None, 0, 1, 1)]
    c = figures["rows"][1]
    assert [(r["code"], r["lost"]) for r in c["reasons"]] == [("long_no_deal", 2)]
    assert [(r["code"], r["lost"]) for r in figures["reasons"]] == [("long_no_deal", 3), ("lost_contact", 2)]
    assert figures["total"] == 5
    top = stages.loss_by_stage(user=org.manager, start_at=at(10, 1), end_at=at(11, 1), key="highest_grade")
    assert [(r["grade"], r["lost"]) for r in top["rows"]] == [("B", 2), ("C", 1), ("E", 1), (None, 1)]


def test_a_consultant_sees_his_own_losses_only(losses):
    org = losses.org
    own = stages.loss_by_stage(user=org.consultant2, start_at=at(10, 1), end_at=at(11, 1))
    assert [(r["grade"], r["lost"]) for r in own["rows"]] == [("C", 1)]
    assert stages.loss_by_stage(user=org.other_admin, start_at=at(10, 1), end_at=at(11, 1))["rows"] == []


def test_loss_by_stage_queries_do_not_grow(losses, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        stages.loss_by_stage(user=losses.org.manager, start_at=at(10, 1), end_at=at(11, 1))


def test_metrics_api_group_by_grade_at_filing(losses, api_as):
    org = losses.org
    body = api_as(org.manager).get(METRICS, {"store": org.store.pk, "group_by": "grade_at_filing", **OCT}).json()
    rows = {r["key"]: r for r in body["results"]}
    assert {k: (r["defeats"], r["quasi_defeats"]) for k, r in rows.items()} == {
        "B": (1, 0), "C": (0, 2), "E": (1, 0), None: (0, 1)}
    assert [(r["code"], r["defeats"]) for r in rows["C"]["reasons"]] == [("long_no_deal", 2)]
    assert rows["B"]["label"].startswith("B") and rows["B"]["deals"] is None
    top = api_as(org.manager).get(METRICS, {"group_by": "highest_grade", **OCT}).json()
    assert {r["key"]: r["quasi_defeats"] + r["defeats"] for r in top["results"]} == {"B": 2, "C": 1, "E": 1, None: 1}


def test_metrics_api_grade_denials(losses, api_as):
    org = losses.org
    mine = api_as(org.consultant2).get(METRICS, {"group_by": "grade_at_filing", **OCT}).json()
    assert [(r["key"], r["quasi_defeats"]) for r in mine["results"]] == [("C", 1)]
    assert api_as(org.consultant).get(METRICS, {"consultant": org.consultant2.pk,
                                                "group_by": "grade_at_filing"}).status_code == 404
    assert api_as(org.other_manager).get(METRICS, {"store": org.store.pk,
                                                   "group_by": "highest_grade"}).status_code == 404
    assert api_as(org.manager).get(METRICS, {"group_by": "grade"}).status_code == 400
