"""Two requests at once on real PostgreSQL: the phone stays unique per store and nothing is half-written."""

import threading

import pytest
from django.db import connection

from leads import services
from leads.models import Lead, Visit

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_simultaneous_walk_ins_with_one_phone_make_one_lead_and_a_revisit(org):
    barrier = threading.Barrier(2)
    results, errors = [], []

    def log(actor):
        try:
            barrier.wait()
            results.append(services.visit_log(actor=actor, store=org.store, name="赵女士", source="walk_in",
                                              phone="13900139000"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection, or the test database cannot be dropped

    threads = [threading.Thread(target=log, args=(who,)) for who in (org.consultant, org.consultant2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Lead.objects.filter(phone="+8613900139000").count() == 1
    assert sorted(r.is_revisit for r in results) == [False, True]
    assert Visit.objects.count() == 2
