"""Exact funnel figures on the hand-built cohort of conftest.py (its docstring works them out)."""

from datetime import date

import pytest

from funnel import selectors
from funnel.selectors import Slice
from funnel.tests.conftest import at, make_lead
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

OCTOBER = {"start": date(2026, 10, 1), "end": date(2026, 10, 31)}


def test_october_figures_are_exact(cohort):
    org = cohort.org
    figures = selectors.funnel_metrics(Slice(user=org.manager, **OCTOBER))
    assert figures == {
        "N": 6,
        "N_by_source": {"walk_in": 4, "referral": 1, "outbound": 1},
        "revisits": 2,
        "valid": 4,
        "K": 0.6667,
        "P": {"A": 0.25, "B": 0.25, "C": 0.0, "D": 0.25, "E": 0.25},
        "followed": 3,
        "F": 0.75,
        "deals": 2,
        "units": 2,
        "C": 0.6667,
        "M": 300,
        "penetration": 0.02,
    }
    assert sum(figures["P"].values()) == pytest.approx(1)
    # sales = N·K·F·C (DOMAIN §4), exactly, in counts.
    assert figures["deals"] == figures["N"] * (4 / 6) * (3 / 4) * (2 / 3)


def test_the_grade_mix_is_taken_as_of_the_periods_end_not_today(cohort):
    # L5 was D on 10-31 and became C on 11-02: October's P has no C; a period reaching today uses today's grade.
    org = cohort.org
    october = selectors.funnel_metrics(Slice(user=org.manager, **OCTOBER))
    to_date = selectors.funnel_metrics(Slice(user=org.manager, start=date(2026, 10, 1), end=date(2026, 11, 30)))
    assert october["P"]["C"] == 0.0
    assert to_date["P"]["C"] > 0


def test_a_deal_after_the_periods_end_still_counts_for_its_cohort(cohort):
    figures = selectors.funnel_metrics(Slice(user=cohort.org.manager, start=date(2026, 10, 1), end=date(2026, 10, 3)))
    assert (figures["N"], figures["deals"]) == (1, 1)  # L1, won on 11-05


def test_an_empty_period_gives_nulls_not_zeros(cohort):
    figures = selectors.funnel_metrics(Slice(user=cohort.org.manager, start=date(2025, 1, 1), end=date(2025, 1, 31)))
    assert figures["N"] == 0 and figures["M"] is None
    assert (figures["K"], figures["F"], figures["C"], figures["penetration"]) == (None, None, None, None)
    assert set(figures["P"].values()) == {None}


def test_a_consultant_gets_their_own_numbers(cohort):
    org = cohort.org
    mine = selectors.funnel_metrics(Slice(user=org.consultant, **OCTOBER))
    assert (mine["N"], mine["valid"], mine["followed"], mine["deals"], mine["revisits"]) == (4, 2, 1, 1, 2)
    theirs = selectors.funnel_metrics(Slice(user=org.consultant2, **OCTOBER))
    assert (theirs["N"], theirs["valid"], theirs["deals"]) == (2, 2, 1)


def test_the_group_admin_sees_both_stores_and_other_groups_see_nothing(cohort):
    org = cohort.org
    group = selectors.funnel_metrics(Slice(user=org.admin, **OCTOBER))
    assert group["N"] == 7  # the other store's October lead too
    assert selectors.funnel_metrics(Slice(user=org.other_admin, **OCTOBER))["N"] == 0


def test_slices_by_source_consultant_and_store(cohort):
    org = cohort.org
    referral = selectors.funnel_metrics(Slice(user=org.admin, source="referral", **OCTOBER))
    assert (referral["N"], referral["valid"], referral["K"]) == (1, 1, 1.0)
    c2 = selectors.funnel_metrics(Slice(user=org.admin, consultant=org.consultant2, **OCTOBER))
    assert (c2["N"], c2["deals"]) == (2, 1)
    store2 = selectors.funnel_metrics(Slice(user=org.admin, stores=[org.store2], **OCTOBER))
    assert store2["N"] == 1 and store2["M"] is None


def test_group_by_month_splits_and_totals(cohort):
    result = selectors.funnel_metrics(
        Slice(user=cohort.org.manager, start=date(2026, 9, 1), end=date(2026, 10, 31)), group_by="month"
    )
    months = {row["key"]: row for row in result["results"]}
    assert set(months) == {"2026-09-01", "2026-10-01"}
    assert (months["2026-09-01"]["N"], months["2026-09-01"]["M"]) == (5, 240)
    assert (months["2026-10-01"]["N"], months["2026-10-01"]["M"], months["2026-10-01"]["revisits"]) == (6, 300, 2)
    assert (result["total"]["N"], result["total"]["M"]) == (11, 540)


@pytest.mark.parametrize("group_by", ["consultant", "source", "store", "week", "day", "channel", "series"])
def test_every_grouping_adds_up_to_the_ungrouped_figures(cohort, group_by):
    s = Slice(user=cohort.org.admin, **OCTOBER)
    plain = selectors.funnel_metrics(s)
    grouped = selectors.funnel_metrics(s, group_by=group_by)
    for name in ("N", "N_by_source", "revisits", "valid", "K", "P", "followed", "F", "deals", "C"):
        assert grouped["total"][name] == plain[name], name
    assert sum(row["N"] for row in grouped["results"]) == plain["N"]


def test_group_by_consultant_labels_each_row(cohort):
    org = cohort.org
    result = selectors.funnel_metrics(Slice(user=org.manager, **OCTOBER), group_by="consultant")
    rows = {row["key"]: row for row in result["results"]}
    assert rows[org.consultant.pk]["label"] == org.consultant.display_name
    assert (rows[org.consultant.pk]["N"], rows[org.consultant2.pk]["N"]) == (4, 2)
    assert rows[org.consultant.pk]["M"] is None and result["total"]["M"] == 300


def test_the_metrics_run_a_fixed_number_of_queries_whatever_the_data(cohort, django_assert_num_queries):
    # From the rollups (funnel.rollups): the cohort's rows with its marked days counted live (one statement), the
    # re-visits' likewise, M; grouped or not.
    s = Slice(user=cohort.org.manager, **OCTOBER)
    with django_assert_num_queries(3):
        selectors.funnel_metrics(s)
    for i in range(40):
        make_lead(cohort.org.store, cohort.org.consultant, f"x{i}", first=at(10, 1 + i % 28),
                  phone=f"+86139000000{i:02d}", grades=[("E", at(10, 1 + i % 28))], follow_ups=[at(10, 29)])
    with django_assert_num_queries(3):
        assert selectors.funnel_metrics(s)["N"] == 46
    with django_assert_num_queries(3):
        selectors.funnel_metrics(s, group_by="consultant")


# --- the ladder -------------------------------------------------------------------------------------------------


def test_october_promotion_rates_are_exact(cohort):
    result = selectors.promotion_rates(Slice(user=cohort.org.manager, **OCTOBER))
    assert result["held"] == {"E->D": 3, "D->C": 5, "C->B": 3, "B->A": 3, "E->A": 3}
    assert result["promoted"] == {"E->D": 2, "D->C": 1, "C->B": 2, "B->A": 2, "E->A": 1}
    assert result["rates"] == {"E->D": 0.6667, "D->C": 0.2, "C->B": 0.6667, "B->A": 0.6667, "E->A": 0.3333}


def test_promotion_rates_per_consultant_and_for_an_empty_period(cohort):
    org = cohort.org
    per = selectors.promotion_rates(Slice(user=org.manager, **OCTOBER), by_consultant=True)
    assert per[org.consultant2.pk]["held"]["E->D"] == 1  # L10
    assert per[org.consultant.pk]["promoted"]["B->A"] == 1  # L9
    empty = selectors.promotion_rates(Slice(user=org.manager, start=date(2025, 1, 1), end=date(2025, 1, 31)))
    assert set(empty["rates"].values()) == {None}


def test_a_promotion_before_the_period_does_not_count(cohort):
    # L11 went E→D on 09-05: in October it held D only.
    september_5 = selectors.promotion_rates(Slice(user=cohort.org.manager, start=date(2026, 9, 1),
                                                  end=date(2026, 9, 5)))
    assert september_5["promoted"]["E->D"] == 1
    october = selectors.promotion_rates(Slice(user=cohort.org.consultant2, **OCTOBER))
    assert october["held"]["E->D"] == 1  # L10 only; L11 is not counted as holding E


def test_ladder_counts_now(cohort):
    counts = selectors.ladder_counts(Slice(user=cohort.org.manager, **OCTOBER))
    # Active leads of the store now: L3 E, L5 C, L7 D, L9 A, L10 A, L11 D, L12 D, nov E; L2/L4 ungraded.
    assert counts["counts"] == {"A": 2, "B": 0, "C": 1, "D": 3, "E": 2, "ungraded": 2}
    assert sum(row["counts"]["D"] for row in counts["by_consultant"]) == 3


def test_target_progress(cohort):
    from decimal import Decimal

    from funnel import services

    org = cohort.org
    services.target_set(actor=org.manager, store=org.store, month=date(2026, 11, 1), units=10,
                        revenue=Decimal("1500000"))
    services.target_set(actor=org.manager, store=org.store, month=date(2026, 11, 1), units=4,
                        consultant=org.consultant)
    progress = selectors.target_progress(user=org.manager, store=org.store, month=date(2026, 11, 1),
                                         today=date(2026, 11, 23))
    assert progress["store"]["units"] == 1 and progress["store"]["target_units"] == 10  # L1's deal on 11-05
    assert progress["store"]["average_order_value"] == Decimal("150000.00")
    assert progress["store"]["projected_units"] == round(1 / 23 * 30, 2)
    assert progress["consultants"][0]["units"] == 1 and progress["consultants"][0]["progress"] == 0.25


def test_measured_rates_feed_the_ladder_plan(cohort):
    LeadFactory(store=cohort.org.store, assigned_to=cohort.org.consultant)
    rates = selectors.measured_promotion_rates(user=cohort.org.manager, store=cohort.org.store,
                                               today=date(2026, 11, 23))
    assert set(rates) == {"E->D", "D->C", "C->B", "B->A", "E->A"}
    assert all(r is None or 0 <= r <= 1 for r in rates.values())


def test_a_colleague_who_wrote_on_a_consultants_lead_is_no_row_of_the_consultants_control_points(org):
    """A lead handed from one consultant to another keeps the first one's follow-ups: the consultant's table (the
    funnel page, the scorecard) still holds their own row only, and the manager's still counts the colleague's."""
    from leads.tests.factories import FollowUpFactory

    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    FollowUpFactory(lead=lead, created_by=org.consultant2)
    today = date.today()
    period = {"start": today.replace(day=1), "end": today}
    mine = selectors.control_points(Slice(user=org.consultant, **period))
    assert [row.consultant_id for row in mine.rows] == [org.consultant.pk]
    managed = selectors.control_points(Slice(user=org.manager, **period))
    assert org.consultant2.pk in [row.consultant_id for row in managed.rows]
