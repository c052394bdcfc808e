"""The bench data set loaded as `make bench-seed-all` loads it: the leads with their rollups deferred
(`seed_bench --defer-rollups`), the defeats with the leads' status changes and no drain (`seed_bench_defeats
--update-leads --defer-rollups`), then everything the funnel keeps counted once (`seed_bench_rollups`). What the
dashboards read afterwards equals the live definitions, as after the seed that counts as it goes
(defeats/tests/test_bench_seed.py)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from benchmarks.seed import BENCH_GROUP
from dealercrm.models import Role, User
from defeats.models import Application
from funnel import rollups, stage_times
from funnel.models import CohortDay, LeadNow, RollupMark, Stay, StayMark
from funnel.selectors import Slice, funnel_metrics, state_now
from leads.models import Lead, Status
from leads.tests.factories import reference_data

pytestmark = pytest.mark.django_db


def _stores() -> list[int]:
    return list(Lead.objects.filter(store__group__name=BENCH_GROUP).values_list("store_id", flat=True).distinct())


def test_the_rollups_command_refuses_without_the_bench(db):
    with pytest.raises(CommandError, match="make bench-seed"):
        call_command("seed_bench_rollups", stdout=StringIO())


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    out = {}
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=fast), transaction.atomic():
        reference_data()
        text = StringIO()
        call_command("seed_bench", leads=3000, stores=2, months=6, chunk=1500, defer_rollups=True, stdout=text)
        out["seed"] = text.getvalue()
        out["rows_before"] = (CohortDay.objects.filter(store_id__in=_stores()).count(),
                              Stay.objects.filter(store_id__in=_stores()).count())
        text = StringIO()
        call_command("seed_bench_defeats", "--update-leads", "--defer-rollups", stdout=text)
        out["defeats"] = text.getvalue()
        out["marks_after_defeats"] = (RollupMark.objects.filter(store_id__in=_stores()).count(),
                                      StayMark.objects.count())
        text = StringIO()
        call_command("seed_bench_rollups", stdout=text)
        out["rollups"] = text.getvalue()
        yield out
        transaction.set_rollback(True)


def test_the_deferred_parts_count_nothing_until_the_rollups(loaded):
    assert "not counted (--defer-rollups)" in loaded["seed"]
    assert loaded["rows_before"] == (0, 0)
    # The defeats' status changes skipped their triggers: nothing marked, nothing drained.
    assert loaded["marks_after_defeats"] == (0, 0)
    assert "time in stage of the filings' leads" not in loaded["defeats"]
    assert "Rollups:" in loaded["rollups"] and "time in stage:" in loaded["rollups"]


def test_after_the_rollups_every_figure_is_the_live_one(loaded):
    stores = _stores()
    leads = Lead.objects.filter(store_id__in=stores)
    assert leads.filter(status=Status.DEFEATED).exists()
    assert not RollupMark.objects.filter(store_id__in=stores).exists() and not StayMark.objects.exists()
    admin = User.objects.get(dealer_group__name=BENCH_GROUP, role=Role.GROUP_ADMIN)
    today = timezone.localdate()
    s = Slice(user=admin, start=today - timedelta(days=200), end=today)
    for group_by in (None, "store", "source", "month"):
        assert funnel_metrics(s, group_by=group_by) == funnel_metrics(s, group_by=group_by, live=True)
    assert stage_times.stage_times(s, today=today) == stage_times.stage_times(s, today=today, live=True)
    now = timezone.now()
    assert LeadNow.objects.filter(store_id__in=stores).exists()
    assert state_now(s, now=now) == state_now(s, now=now, live=True)
    # The defeats' rollup of every day with a filing or a verdict.
    days = set()
    for store_id, applied, decided in Application.objects.filter(store_id__in=stores).values_list(
            "store_id", "applied_at", "decided_at"):
        days |= {(store_id, timezone.localtime(at).date()) for at in (applied, decided) if at}
    assert len(days) > 20
    assert not [key for key in sorted(days) if rollups.drifted(*key, "d")]
    assert not [key for key in sorted(days) if rollups.drifted(*key, "c")]
