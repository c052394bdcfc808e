"""The figures' short paths give what the general path gives: the ungrouped answer with ``by_reason`` (one SQL
statement, the reasons' names included) against the ungrouped aggregate plus the grouping by reason, and the
by-month total (the sum of the months) against the ungrouped aggregate. On a history with every kind of step, two
reasons on one application, a deal, a win-back, another store's and another consultant's applications."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from defeats import services
from defeats.models import PoolEntry
from defeats.selectors import Period, defeat_metrics
from leads.services import deal_record
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(org, catalogue):
    def lead(store=None, who=None):
        return LeadFactory(store=store or org.store, assigned_to=who or org.consultant)

    def confirm(app):
        services.application_decide(actor=org.manager if app.store_id == org.store.pk else org.manager2,
                                    application=app, verdict="confirm", comment="确认")

    confirm(services.application_file(actor=org.consultant, lead=lead(), kind="defeat",
                                      reasons=["model_unsatisfied", "price_high"],
                                      competitor_series=catalogue.accord, price_cause="really_high"))
    confirm(services.application_file(actor=org.consultant2, lead=lead(who=org.consultant2), kind="quasi",
                                      reasons=["funding_not_ready"]))
    rejected = services.application_file(actor=org.consultant, lead=lead(), kind="quasi", reasons=["lost_contact"])
    services.application_decide(actor=org.manager, application=rejected, verdict="reject", comment="虚战败")
    services.application_file(actor=org.consultant, lead=lead(), kind="quasi", reasons=["funding_not_ready"])
    confirm(services.application_file(actor=org.consultant_b, lead=lead(org.store2, org.consultant_b), kind="quasi",
                                      reasons=["lost_contact"]))
    deal_record(actor=org.manager, lead=lead(), price=Decimal("168000"))
    entry = PoolEntry.objects.filter(store=org.store).order_by("pk").first()
    services.nurture_contact_log(actor=org.manager, entry=entry, method="phone", content="回来了", came_back=True,
                                 grade="B")
    today = timezone.localdate()
    return Period(today - timedelta(days=40), today)


def _general(user, period, **kw):
    total = defeat_metrics(user=user, period=period, with_reasons=False, **kw)
    by_reason = defeat_metrics(user=user, period=period, group_by="reason", with_reasons=False, total=dict(total),
                               **kw)["results"]
    return {**total, "by_reason": by_reason}


@pytest.mark.parametrize("who", ["manager", "admin", "consultant", "manager2"])
def test_the_one_statement_answer_is_the_general_one(org, history, who, django_assert_num_queries):
    user = getattr(org, who)
    with django_assert_num_queries(1):
        fast = defeat_metrics(user=user, period=history)
    assert fast == _general(user, history)


def test_the_one_statement_answer_for_a_store_and_a_consultant(org, history):
    for kw in ({"stores": [org.store]}, {"stores": [org.store2]}, {"consultant": org.consultant}):
        assert defeat_metrics(user=org.admin, period=history, **kw) == _general(org.admin, history, **kw)
    figures = defeat_metrics(user=org.manager, period=history)
    # One confirmed defeat and one confirmed quasi-defeat (funding not ready): the quasi one is not a defeat.
    assert (figures["applications"], figures["pending"], figures["defeats"], figures["quasi_defeats"],
            figures["rejected"], figures["deals"], figures["win_backs"]) == (4, 1, 1, 1, 1, 1, 1)
    assert figures["defeat_rate"] == 0.5 and figures["decided"] == 3
    assert {r["code"]: (r["defeats"], r["quasi_defeats"]) for r in figures["by_reason"]} == {
        "model_unsatisfied": (1, 0), "price_high": (1, 0), "funding_not_ready": (0, 1), "lost_contact": (0, 0)}


@pytest.mark.parametrize("who", ["manager", "admin", "consultant"])
def test_the_by_month_total_is_the_ungrouped_total(org, history, who):
    user = getattr(org, who)
    by_month = defeat_metrics(user=user, period=history, group_by="month")
    assert by_month["total"] == defeat_metrics(user=user, period=history, with_reasons=False)
