"""The bench data set's base clients (`manage.py seed_bench_baseclients`, benchmarks/baseclients.py) on a small
seed_bench set: every row it writes by SQL is one the models accept (the raw INSERTs name every column without a
database default), the tier history and care history it promises, and idempotence. Seeded once inside a
transaction rolled back at the end (as tests/test_seed_bench.py does)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from baseclients.models import BaseClient, TierCause, TierChange, Vehicle
from baseclients.services import care
from benchmarks.seed import BENCH_GROUP
from leads.models import Deal
from leads.tests.factories import reference_data

pytestmark = pytest.mark.django_db


def run(**options) -> str:
    out = StringIO()
    call_command("seed_bench_baseclients", stdout=out, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def bench(django_db_setup, django_db_blocker):
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=fast), transaction.atomic():
        reference_data()
        call_command("seed_bench", leads=4000, stores=2, months=14, chunk=2000, stdout=StringIO())
        yield run(clients=1500)
        transaction.set_rollback(True)


def _clients():
    return BaseClient.objects.filter(group__name=BENCH_GROUP)


def test_every_won_lead_has_its_card_and_older_buyers_fill_up_to_the_target(bench):
    deals = Deal.objects.filter(lead__store__group__name=BENCH_GROUP).count()
    assert deals > 0
    assert _clients().count() >= max(1500, deals)
    assert Vehicle.objects.filter(client__group__name=BENCH_GROUP).count() > _clients().count()
    assert "base clients" in bench


def test_the_tier_history_rows_are_valid_model_rows(bench):
    changes = TierChange.objects.filter(client__group__name=BENCH_GROUP)
    assert changes.exists()
    assert set(changes.values_list("cause", flat=True)) <= set(TierCause.values)
    for change in changes[:50]:
        change.full_clean(exclude=["client", "by", "owner", "job_run"])


def test_two_years_of_care_mostly_done(bench):
    tasks = care.CareTask.objects.filter(store__group__name=BENCH_GROUP)
    assert tasks.filter(status="done").count() > tasks.filter(status="skipped").count() > 0


def test_a_second_run_adds_nothing(bench):
    before = (_clients().count(), TierChange.objects.filter(client__group__name=BENCH_GROUP).count())
    run(clients=1500)
    assert (_clients().count(), TierChange.objects.filter(client__group__name=BENCH_GROUP).count()) == before


def test_the_old_buyers_phones_are_outside_the_leads_phone_prefixes():
    # The leads' phones take MOBILE_PREFIXES; a shared prefix collided with the old buyers' at ten million leads.
    from benchmarks.baseclients import OLD_BUYER_PHONES
    from leads.demo.params import MOBILE_PREFIXES
    from leads.phones import phone_normalize

    assert OLD_BUYER_PHONES[3:6] not in MOBILE_PREFIXES
    number = f"{OLD_BUYER_PHONES}{12345678:08d}"
    assert phone_normalize(number) == number
