"""The defeat figures' rollup (funnel.rollups_defeats) answers exactly what the live definitions answer
(defeats.selectors.funnel_figures, defeats.stages.loss_by_stage): the worked October losses, marked days counted live
until drained, raw writes marked too, who sees what, and random histories of filings, verdicts, win-backs, deals (of
several units; raw corrections of their units, amounts and days) and reassignments built through the real services
(hypothesis) compared reader by reader, period by period; the deals' units and amounts (target progress) too."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import ProtectedError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dealercrm.models import Store
from dealercrm.tests.factories import ConsultantFactory, VehicleSeriesFactory
from defeats import services as defeat_services
from defeats import stages
from defeats.models import Application, ApplicationReason
from defeats.selectors import Period
from defeats.selectors import funnel_figures as live_figures
from funnel import rollups, rollups_defeats, selectors
from funnel.models import DefeatDay, DefeatMonth, RollupMark
from leads import services
from leads.models import Deal, Lead
from leads.services import DuplicatePhone, StaleVersion

from .conftest import NOW, at, make_lead
from .test_rollups import DAYS, EXAMPLES, START, _moment

OCTOBER = Period(date(2026, 10, 1), date(2026, 10, 31))


def defeat_marks() -> int:
    return RollupMark.objects.filter(kind__in=[rollups_defeats.DEFEATS, rollups_defeats.MONTHS]).count()


def readers(org) -> list[tuple]:
    return [(org.admin, {}), (org.manager, {}), (org.manager, {"stores": [org.store]}), (org.consultant, {}),
            (org.manager, {"consultant": org.consultant2}), (org.other_manager, {}), (org.consultant, {
                "consultant": org.consultant2})]


def assert_same(org, period: Period) -> None:
    start_at, end_at = period.bounds
    for user, extra in readers(org):
        kept = rollups_defeats.defeat_figures(user=user, period=period, **extra)
        assert kept == live_figures(user=user, period=period, **extra), (user, extra, period)
        stores = extra.get("stores") or list(Store.objects.visible_to(user))
        for first, last in months(period):  # target progress's deals: units and amounts too
            for key in ("consultant_id", "store_id"):
                assert selectors.deals_by(user, stores, first, last, key=key) == \
                    selectors.deals_by(user, stores, first, last, key=key, live=True), (user, extra, first, key)
        for key in stages.STAGE_KEYS:
            assert rollups_defeats.loss_by_stage(user=user, start_at=start_at, end_at=end_at, key=key, **extra) == \
                stages.loss_by_stage(user=user, start_at=start_at, end_at=end_at, key=key, **extra), (user, extra, key)


def months(period: Period) -> list[tuple[date, date]]:
    """The calendar months [period.start, period.end] touches, as (first, last day): whole months read the month
    rows, a period's edges the day rows."""
    out, first = [], period.start.replace(day=1)
    while first <= period.end:
        nxt = (first + timedelta(days=32)).replace(day=1)
        out.append((first, nxt - timedelta(days=1)))
        first = nxt
    return [*out, (period.start, period.end)]


@pytest.fixture
def losses(org, frozen):
    m = org.manager
    leads = {
        "L1": make_lead(org.store, org.consultant, "L1", first=at(9, 1), phone="+8613800000081",
                        grades=[("E", at(9, 1)), ("C", at(9, 10)), ("B", at(9, 20)), ("C", at(10, 1))]),
        "L2": make_lead(org.store, org.consultant, "L2", first=at(9, 15), phone="+8613800000082",
                        grades=[("E", at(9, 15))]),
        "L3": make_lead(org.store, org.consultant2, "L3", first=at(9, 1), phone="+8613800000083",
                        grades=[("C", at(9, 1)), ("B", at(10, 1))]),
        "L4": make_lead(org.store, org.consultant2, "L4", first=at(9, 2), phone="+8613800000084"),
    }
    filings = {"L1": ("quasi", "long_no_deal", at(10, 5)), "L2": ("defeat", "lost_contact", at(10, 10)),
               "L3": ("defeat", "lost_contact", at(10, 12)), "L4": ("quasi", "long_no_deal", at(10, 15))}
    for name, (kind, reason, when) in filings.items():
        defeat_services.application_file(actor=m, lead=leads[name], kind=kind, reasons=[reason], at=when)
    return leads


def test_the_worked_october_reads_the_same_marked_and_drained(org, losses):
    assert defeat_marks() > 0  # every filing marked its days
    assert_same(org, OCTOBER)
    figures = rollups_defeats.defeat_figures(user=org.manager, period=OCTOBER)
    assert (figures["total"]["defeats"], figures["total"]["quasi_defeats"]) == (2, 2)
    rollups.drain()
    assert defeat_marks() == 0 and DefeatDay.objects.exists() and DefeatMonth.objects.filter(day=OCTOBER.start).exists()
    assert_same(org, OCTOBER)
    loss = rollups_defeats.loss_by_stage(user=org.manager, start_at=OCTOBER.bounds[0], end_at=OCTOBER.bounds[1])
    assert [(r["grade"], r["lost"]) for r in loss["rows"]] == [("B", 1), ("C", 1), ("E", 1), (None, 1)]
    assert {r["code"]: r["lost"] for r in loss["reasons"]} == {"long_no_deal": 2, "lost_contact": 2}


def test_raw_writes_mark_their_days_and_a_reader_sees_them_at_once(org, losses):
    rollups.drain()
    app = Application.objects.get(lead=losses["L2"])
    # Raw SQL, no service: the application handed to another consultant, a reason removed.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE defeats_application SET consultant_id = %s WHERE id = %s", [org.consultant2.pk, app.pk])
    assert defeat_marks() > 0
    assert_same(org, OCTOBER)
    rollups.drain()
    ApplicationReason.objects.filter(application=app).delete()
    assert defeat_marks() > 0
    assert_same(org, OCTOBER)
    rollups.drain()
    assert_same(org, OCTOBER)
    # A write that changes nothing counted marks nothing.
    Application.objects.filter(pk=app.pk).update(note="再联系")
    assert defeat_marks() == 0


def test_a_deal_corrected_in_place_is_recounted_with_its_units_and_amount(org, losses):
    lead = make_lead(org.store, org.consultant, "L9", first=at(10, 1), phone="+8613800000089", grades=[("B", at(10, 1))])
    services.deal_record(actor=org.manager, lead=lead, price=Decimal(300000), quantity=2, ordered_at=date(2026, 10, 20))
    rollups.drain()
    assert defeat_marks() == 0

    def october(**kwargs):
        return selectors.deals_by(org.manager, [org.store], OCTOBER.start, OCTOBER.end, key="store_id", **kwargs)

    assert october() == october(live=True) == {org.store.pk: {"orders": 1, "units": 2, "revenue": Decimal(300000)}}
    # Raw: the order corrected to three units, nothing else changed.
    Deal.objects.filter(lead=lead).update(quantity=3, price=Decimal("450000.30"))
    assert defeat_marks() > 0
    assert october() == october(live=True) == {org.store.pk: {"orders": 1, "units": 3,
                                                              "revenue": Decimal("450000.30")}}
    rollups.drain()
    assert october() == october(live=True)
    assert_same(org, OCTOBER)


def test_a_consultant_sees_their_own_figures_only(org, losses):
    rollups.drain()
    own = rollups_defeats.defeat_figures(user=org.consultant2, period=OCTOBER)
    assert set(own["rows"]) == {org.consultant2.pk} and own["total"]["quasi_defeats"] == 1
    other = rollups_defeats.defeat_figures(user=org.consultant2, period=OCTOBER, consultant=org.consultant)
    assert other["rows"] == {} and other["total"]["defeats"] == 0
    assert rollups_defeats.defeat_figures(user=org.other_admin, period=OCTOBER)["rows"] == {}


def test_the_rebuild_recounts_from_scratch(org, losses):
    rollups.drain()
    before = [Counter(model.objects.values_list(*rollups_defeats.ROW)) for model in (DefeatDay, DefeatMonth)]
    DefeatDay.objects.all().delete()
    DefeatMonth.objects.all().delete()
    rollups.rebuild()
    assert [Counter(model.objects.values_list(*rollups_defeats.ROW)) for model in (DefeatDay, DefeatMonth)] == before
    assert_same(org, OCTOBER)


# --- random histories through the services ------------------------------------------------------------------------

defeat_op = st.one_of(
    st.tuples(st.just("file"), st.integers(0, 30), st.sampled_from(["defeat", "quasi"]), st.integers(0, DAYS - 1),
              st.booleans()),
    st.tuples(st.just("decide"), st.integers(0, 30), st.sampled_from(["confirm", "reject"])),
    st.tuples(st.just("came_back"), st.integers(0, 30), st.integers(0, DAYS - 1)),
    st.tuples(st.just("deal"), st.integers(0, 30), st.integers(0, DAYS - 1), st.integers(1, 3)),
    st.tuples(st.just("reprice"), st.integers(0, 30), st.integers(-1, 1)),
    st.tuples(st.just("assign"), st.integers(0, 30), st.integers(0, 2)),
    st.tuples(st.just("move"), st.integers(0, 30), st.integers(0, 2)),
    st.tuples(st.just("unreason"), st.integers(0, 30)),
    st.tuples(st.just("drain"),),
)
REASONS = {"defeat": "lost_contact", "quasi": "long_no_deal"}


def _apply(step: tuple, org, people: list, series) -> None:
    leads = list(Lead.objects.filter(store=org.store).order_by("pk"))
    apps = list(Application.objects.filter(store=org.store).order_by("pk"))

    def pick(items, i):
        return items[i % len(items)] if items else None

    kind = step[0]
    if kind == "file" and (lead := pick(leads, step[1])):
        actor = lead.assigned_to if step[4] and lead.assigned_to else org.manager  # a consultant's filing waits
        defeat_services.application_file(actor=actor, lead=lead, kind=step[2], reasons=[REASONS[step[2]]],
                                         at=max(_moment(step[3], 14), lead.first_visit_at))
    elif kind == "decide" and (app := pick([a for a in apps if a.status == "pending"], step[1])):
        defeat_services.application_decide(actor=org.manager, application=app, verdict=step[2], comment="核实",
                                           grade="C" if step[2] == "reject" else None)
    elif kind == "came_back" and (lead := pick(leads, step[1])):
        defeat_services.customer_came_back(actor=org.manager, lead=lead, at=_moment(step[2], 15))
    elif kind == "deal" and (lead := pick(leads, step[1])):
        services.deal_record(actor=org.manager, lead=lead, price=(Decimal(150000) + Decimal("0.05") * step[1]) * step[3],
                             series=series, quantity=step[3], ordered_at=max(_moment(step[2]), lead.first_visit_at).date())
    elif kind == "reprice" and (deal := pick(list(Deal.objects.filter(lead__store=org.store).order_by("pk")), step[1])):
        # Raw: the order corrected (its units, its amount), or moved to another day.
        if step[2]:
            Deal.objects.filter(pk=deal.pk).update(ordered_at=deal.ordered_at + timedelta(days=step[2]))
        else:
            Deal.objects.filter(pk=deal.pk).update(quantity=deal.quantity + 1, price=deal.price + Decimal("999.99"))
    elif kind == "assign" and (lead := pick(leads, step[1])):
        services.lead_assign(actor=org.manager, lead=lead, to_user=people[step[2]])
    elif kind == "move" and (app := pick(apps, step[1])):  # raw: the application's consultant changed
        Application.objects.filter(pk=app.pk).update(consultant=people[step[2]])
    elif kind == "unreason" and (app := pick(apps, step[1])):
        ApplicationReason.objects.filter(application=app).delete()
    elif kind == "drain":
        rollups.drain()


def _periods() -> list[Period]:
    # The whole span, a past week, one day (day rows only); two whole months, and a whole month with edges.
    return [Period(START, START + timedelta(days=DAYS)), Period(START + timedelta(days=5), START + timedelta(days=12)),
            Period(START + timedelta(days=20), START + timedelta(days=20)), Period(date(2026, 10, 1), date(2026, 11, 30)),
            Period(date(2026, 10, 20), date(2026, 12, 3))]


@pytest.mark.django_db
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=st.lists(defeat_op, min_size=3, max_size=25), drain_at_end=st.booleans())
def test_random_histories_read_the_same_defeat_figures_as_live(org, steps, drain_at_end):
    with time_machine.travel(NOW, tick=False), transaction.atomic():
        savepoint = transaction.savepoint_create()
        people = [org.consultant, org.consultant2, ConsultantFactory(store=org.store)]
        series = VehicleSeriesFactory()
        for i in range(6):
            make_lead(org.store, people[i % 3], f"L{i}", first=_moment(i * 3), phone=f"+86138000009{i:02d}",
                      grades=[("EDCBAE"[i], _moment(i * 3))])
        for step in steps:
            try:
                with transaction.atomic():
                    _apply(step, org, people, series)
                event(f"{step[0]}: written")
            except (ValidationError, PermissionDenied, DuplicatePhone, StaleVersion, ProtectedError) as error:
                event(f"{step[0]}: refused ({type(error).__name__})")
        if drain_at_end:
            rollups.drain()
        for period in _periods():
            assert_same(org, period)
        assert_select_is_the_definition(org.store.pk)
        transaction.savepoint_rollback(savepoint)


def assert_select_is_the_definition(store_id: int) -> None:
    """The set-based recount (``defeat_select``, ``month_select``: what the drain and the rebuild write on
    PostgreSQL) gives exactly the Python definition's rows (``defeat_rows``, ``month_rows``), for a batch of keys and
    for every day of the store."""
    days = [START - timedelta(days=2) + timedelta(days=i) for i in range(DAYS + 40)]
    months = sorted({day.replace(day=1) for day in days})
    for kind, keys in ((rollups_defeats.DEFEATS, days), (rollups_defeats.MONTHS, months)):
        python = Counter(rollups.KINDS[kind].rows(store_id, keys))
        assert Counter(rollups.select_rows(kind, [(store_id, key) for key in keys])) == python
        sql, params = rollups.KINDS[kind].select(store_ids=[store_id])
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            assert Counter(tuple(row) for row in cursor.fetchall()) == python
