"""The bench data set's defeats (`manage.py seed_bench_defeats`, benchmarks/defeats.py) on a small seed_bench set:
the shares it promises, the rows the services would write, idempotence, reset, the leads left alone unless asked,
and the benchmark command running on it. Seeded once inside a transaction rolled back at the end (as
tests/test_seed_bench.py does)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count
from django.test import override_settings
from django.utils import timezone

from benchmarks.seed import BENCH_GROUP
from defeats.models import Application, ApplicationReason, DefeatEvent, PoolEntry
from leads.models import Deal, Lead, Status
from leads.tests.factories import reference_data

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("seed_bench_defeats", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def bench(django_db_setup, django_db_blocker):
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=fast), transaction.atomic():
        reference_data()
        call_command("seed_bench", leads=4000, stores=2, months=6, chunk=2000, stdout=StringIO())
        yield run()
        transaction.set_rollback(True)


def _apps():
    return Application.objects.filter(store__group__name=BENCH_GROUP)


def test_refuses_without_the_bench_data_set(db):
    with pytest.raises(CommandError, match="make bench-seed"):
        run()


def test_about_the_seeds_proportions(bench):
    apps_ = _apps()
    deals = Deal.objects.filter(lead__store__group__name=BENCH_GROUP).count()
    by_status = dict(apps_.values_list("status").annotate(n=Count("pk")))
    assert by_status["pending"] == 2 * 8
    decided = by_status["confirmed"] + by_status["rejected"]
    assert 0.10 < by_status["rejected"] / decided < 0.22  # ~16 % false defeats
    # ~2.8 confirmed per deal, ~four fifths of them defeats: about two defeats per deal, defeat rate ≈ two thirds.
    assert 2.2 < by_status["confirmed"] / deals < 3.2
    defeats_ = apps_.filter(status="confirmed", kind="defeat").count()
    assert 0.6 < defeats_ / (defeats_ + deals) < 0.72
    assert "confirmed" in bench and "won back" in bench


def test_the_rows_are_those_the_services_write(bench):
    apps_ = _apps()
    assert not apps_.annotate(n=Count("reason_rows")).filter(n=0).exists()
    assert ApplicationReason.objects.filter(application__in=apps_).count() == apps_.count()
    # Every application was filed after its lead's first visit; decided ones have their verdict after filing.
    for app in apps_.select_related("lead")[:200]:
        assert app.applied_at > app.lead.first_visit_at
        assert (app.decided_at is None) == (app.status == "pending")
        if app.decided_at:
            assert app.decided_at >= app.applied_at
    events = dict(DefeatEvent.objects.filter(lead__store__group__name=BENCH_GROUP).values_list("kind")
                  .annotate(n=Count("pk")))
    assert events["applied"] == apps_.count()
    assert events["confirmed"] == apps_.filter(status="confirmed").count()
    assert events["rejected"] == apps_.filter(status="rejected").count()
    pool = PoolEntry.objects.filter(store__group__name=BENCH_GROUP)
    assert pool.count() == apps_.filter(status="confirmed").count()
    assert pool.filter(status="won_back").count() == events.get("won_back", 0) > 0
    assert not pool.exclude(application__status="confirmed").exists()


def test_idempotent_leads_untouched_and_reset(bench):
    before = _apps().count()
    assert "skipped" in run() and _apps().count() == before
    leads = Lead.objects.filter(store__group__name=BENCH_GROUP)
    assert not leads.filter(status__in=[Status.DEFEATED, Status.DEFEAT_PENDING]).exists()
    with transaction.atomic():
        out = run("--reset", "--update-leads")
        assert f"removed {before:,} applications" in out
        assert _apps().count() == before  # the same proportions again (deterministic)
        in_pool = PoolEntry.objects.filter(store__group__name=BENCH_GROUP, status="in_pool").count()
        assert leads.filter(status=Status.DEFEATED).count() == in_pool
        assert leads.filter(status=Status.DEFEAT_PENDING).count() == 16
        transaction.set_rollback(True)


def test_the_benchmark_runs_on_it(bench):
    from benchmarks.defeats import bench as run_bench

    lines = []
    with override_settings(ALLOWED_HOSTS=["localhost"], SECURE_SSL_REDIRECT=False):
        cases = run_bench(iterations=2, out=lines.append)
    assert [c.goal for c in cases] == ["p95 < 50 ms, ≤ 1.5× floor", "p95 < 1 s"]
    assert all(c.api.p50 > 0 and c.floor.p50 > 0 for c in cases)
    assert "api/floor" in lines[0] and len(lines) == 3


def test_the_store_floor_computes_the_apis_figures(bench):
    """The ratio is only honest if the hand-written floor answers what the API answers: totals, and per reason the
    applications, verdicts and win-backs."""
    from benchmarks.defeats import STORE_FLOOR
    from benchmarks.funnel import _sql
    from dealercrm.models import Role, Store, User
    from defeats.selectors import Period, defeat_metrics

    store = Store.objects.filter(group__name=BENCH_GROUP).order_by("pk").first()
    manager = User.objects.filter(store=store, role=Role.MANAGER).first()
    period = Period(timezone.localdate() - timedelta(days=400), timezone.localdate())
    lo, hi = period.bounds
    rows = _sql(STORE_FLOOR, {"store": store.pk, "lo": lo, "hi": hi, "day0": period.start, "day1": period.end})()
    api = defeat_metrics(user=manager, period=period, stores=[store])
    total = next(r for r in rows if r[0] is None)
    assert total[1:] == (api["applications"], api["pending"], api["defeats"], api["quasi_defeats"], api["rejected"],
                         api["deals"], api["win_backs"])
    assert api["applications"] and api["defeats"]
    by_reason = {}
    for reason, *counts in (r for r in rows if r[0] is not None):
        mine = by_reason.setdefault(reason, [0, 0, 0, 0, 0, 0])
        for i, value in enumerate([counts[0], counts[1], counts[2], counts[3], counts[4], counts[6]]):
            mine[i] += value or 0
    expected = {r["key"]: [r["applications"], r["pending"], r["defeats"], r["quasi_defeats"], r["rejected"],
                           r["win_backs"]]
                for r in api["by_reason"]}
    assert by_reason == expected


def test_the_dashboards_rollups_are_exact_after_the_seed(bench):
    """The applications are copied with the triggers off: the seed rebuilds the stores' defeat rollup rows and
    time-in-stage rows itself, so the dashboard's kept figures equal the live definitions (the nightly
    reconciliation would otherwise find every day with a filing, a verdict or a win-back drifted)."""
    from dealercrm.models import User
    from funnel import rollups, stage_times
    from funnel.selectors import Slice

    days = set()
    for store_id, applied, decided in _apps().values_list("store_id", "applied_at", "decided_at"):
        days |= {(store_id, timezone.localtime(at).date()) for at in (applied, decided) if at}
    assert len(days) > 50
    assert not [key for key in sorted(days) if rollups.drifted(*key, "d")]
    today = timezone.localdate()
    s = Slice(user=User.objects.get(username="bench_admin"), start=today - timedelta(days=364), end=today)
    assert stage_times.stage_times(s, today=today) == stage_times.stage_times(s, today=today, live=True)
