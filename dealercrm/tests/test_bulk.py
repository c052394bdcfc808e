"""dealercrm.bulk: rows written from arrays are the rows Django's bulk_create / bulk_update / bulk_history_create
write, and the columns refuse what they would refuse."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import DataError, IntegrityError, transaction

from dealercrm.bulk import any_of, insert_history, insert_objects, insert_rows, update_rows
from leads import services
from leads.models import AssignmentChange, Lead, Status

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 11, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def _lead(org, name="甲", phone="13800000001"):
    with time_machine.travel(NOW, tick=False):
        return services.visit_log(actor=org.manager, store=org.store, name=name, source="walk_in", phone=phone,
                                  arrived_at=NOW).lead


def _rows(queryset) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("id", "history_id")} for row in queryset.order_by("pk").values()]


def test_insert_rows_writes_what_bulk_create_writes_in_order_with_their_ids(org):
    lead = _lead(org)
    people = [org.consultant, None, org.consultant2]
    with time_machine.travel(NOW, tick=False), transaction.atomic():
        AssignmentChange.objects.bulk_create([
            AssignmentChange(lead=lead, to_user=person, changed_at=NOW, changed_by=org.manager, reason="r")
            for person in people])
        expected = _rows(AssignmentChange.objects.filter(reason="r"))
        transaction.set_rollback(True)
    with time_machine.travel(NOW, tick=False):
        ids = insert_rows(AssignmentChange, {"to_user_id": [p.pk if p else None for p in people]},
                          constants={"lead_id": lead.pk, "changed_at": NOW, "changed_by_id": org.manager.pk,
                                     "reason": "r"}, returning=True)
    assert _rows(AssignmentChange.objects.filter(reason="r")) == expected
    assert [AssignmentChange.objects.get(pk=pk).to_user_id for pk in ids] == [p.pk if p else None for p in people]
    assert ids == sorted(ids)


def test_insert_rows_fills_defaults_and_auto_now_as_a_new_instance(org):
    lead = _lead(org)
    [pk] = insert_rows(Lead, {"name": ["乙"]}, constants={
        "store_id": org.store.pk, "source": "walk_in", "first_visit_day": lead.first_visit_day}, returning=True)
    row = Lead.objects.get(pk=pk)
    assert (row.status, row.version, row.phone, row.grade, row.assigned_to_id) == ("active", 1, "", None, None)
    assert row.created_at is not None and row.updated_at is not None


def test_insert_rows_refuses_a_value_too_long_instead_of_cutting_it(org):
    lead = _lead(org)
    with pytest.raises(DataError), transaction.atomic():
        insert_rows(AssignmentChange, {"reason": ["x" * 201]},
                    constants={"lead_id": lead.pk, "changed_at": NOW, "changed_by_id": org.manager.pk})
    with pytest.raises(DataError), transaction.atomic():
        insert_rows(AssignmentChange, {"lead_id": [lead.pk]},
                    constants={"reason": "y" * 201, "changed_at": NOW, "changed_by_id": org.manager.pk})
    lead.name = "名" * 61
    with pytest.raises(DataError), transaction.atomic():
        update_rows(Lead, [lead], ["name"])
    assert not AssignmentChange.objects.filter(reason__startswith="x").exists()


def test_insert_rows_is_refused_by_the_unique_phone_index_as_an_insert_is(org):
    lead = _lead(org)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Lead, {"name": ["重复"], "phone": [lead.phone]}, constants={
            "store_id": org.store.pk, "source": "walk_in", "first_visit_day": lead.first_visit_day})


def test_insert_rows_refuses_an_unknown_field(org):
    with pytest.raises(ValueError, match="no field"):
        insert_rows(AssignmentChange, {"colour": [1]})


def test_insert_history_writes_what_bulk_history_create_writes(org):
    leads = [_lead(org, "甲", "13800000001"), _lead(org, "乙", "13800000002")]
    history = Lead.history.model.objects
    with time_machine.travel(NOW, tick=False), transaction.atomic():
        Lead.history.bulk_history_create(leads, update=True, default_user=org.manager, default_change_reason="why")
        expected = _rows(history.filter(history_change_reason="why"))
        transaction.set_rollback(True)
    with time_machine.travel(NOW, tick=False):
        insert_history(Lead, leads, history_type="~", user_id=org.manager.pk, change_reason="why")
    assert _rows(history.filter(history_change_reason="why")) == expected
    insert_history(Lead, leads, history_type="+", user_id=None, change_reason="before",
                   overrides={"name": ["旧甲", "旧乙"]})
    assert list(history.filter(history_change_reason="before").order_by("pk").values_list("id", "name")) == [
        (leads[0].pk, "旧甲"), (leads[1].pk, "旧乙")]


def test_values_that_array_syntax_quotes_go_in_unchanged(org):
    lead = _lead(org)
    reasons = ['"引号"', "back\\slash", "{braces},comma", "NULL", "", " spaces ", "it's", "\\\"both\"\\", "换行\n"]
    ids = insert_rows(AssignmentChange, {"reason": reasons, "to_user_id": [None] * len(reasons)},
                      constants={"lead_id": lead.pk, "changed_at": NOW, "changed_by_id": org.manager.pk},
                      returning=True)
    assert [AssignmentChange.objects.get(pk=pk).reason for pk in ids] == reasons
    lead.name, lead.budget, lead.status = 'a"b\\c', Decimal("1.50"), Status.WON  # a choices enum, a Decimal
    update_rows(Lead, [lead], ["name", "budget", "status"])
    assert Lead.objects.filter(pk=lead.pk).values_list("name", "budget", "status").get() == (
        'a"b\\c', Decimal("1.50"), "won")


def test_insert_objects_leaves_the_instances_as_bulk_create_does(org):
    from leads.models import Visit

    lead = Lead(store=org.store, name="丙", source="walk_in", first_visit_at=NOW, first_visit_day=NOW.date())
    visit = Visit(lead=lead, store_id=org.store.pk, arrived_at=NOW, recorded_by=org.manager)
    with pytest.raises(ValueError, match="unsaved related object 'lead'"):
        insert_objects([visit])
    insert_objects([lead])  # saved after the visit was given it: the visit takes its key
    insert_objects([visit])
    assert lead.pk and not lead._state.adding and lead.created_at is not None and lead.version == 1
    assert Visit.objects.get(pk=visit.pk).lead_id == lead.pk and visit.created_at is not None
    links = [AssignmentChange(lead=lead, changed_at=NOW, changed_by=org.manager, reason="x") for _ in range(2)]
    insert_objects(links)
    assert [link.pk for link in links] == sorted(
        AssignmentChange.objects.filter(reason="x").values_list("pk", flat=True))


def test_any_of_selects_what_in_selects(org, django_assert_num_queries):
    leads = [_lead(org, f"丁{i}", f"1380000010{i}") for i in range(3)]
    phones = [lead.phone for lead in leads[:2]] + ["+8613999999999", 'x"y\\z']
    assert set(Lead.objects.filter(any_of("phone", phones))) == set(Lead.objects.filter(phone__in=phones))
    assert set(Lead.objects.filter(any_of("id", [leads[2].pk]))) == {leads[2]}
    assert Lead.objects.filter(any_of("store", [org.store.pk])).count() == Lead.objects.filter(store=org.store).count()
    with django_assert_num_queries(0):  # none: no rows and no query, as __in
        assert list(Lead.objects.filter(any_of("phone", []))) == []
    assert 'ANY(' in str(Lead.objects.filter(any_of("phone", phones)).query)


# --- tidy: VACUUM (ANALYZE) after a bulk rewrite ------------------------------------------------------------------------


def _pages(table: str) -> tuple[int, int, float]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relpages, relallvisible, reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()


def _churn(n: int) -> str:
    """n rows of the state-now counts written, then every other one deleted (a compaction's dead rows)."""
    from funnel.models import LeadNow

    LeadNow.objects.bulk_create([LeadNow(store_id=i % 7, part="o", n=1) for i in range(n)])
    LeadNow.objects.filter(pk__in=list(LeadNow.objects.values_list("pk", flat=True)[::2])).delete()
    return LeadNow._meta.db_table


@pytest.mark.django_db(transaction=True)
def test_tidy_vacuums_the_tables_outside_a_transaction():
    from dealercrm.bulk import tidy
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL")
    table = _churn(4000)
    tidy([table])
    pages, visible, tuples = _pages(table)
    assert pages > 0 and visible == pages and tuples == 2000  # vacuumed: every page all-visible, counted afresh


def test_tidy_inside_a_transaction_analyses_only():
    from dealercrm.bulk import tidy
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL")
    table = _churn(4000)
    tidy([table])
    _pages_, visible, tuples = _pages(table)
    assert visible == 0 and tuples == 2000

def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields
            if not getattr(f, "generated", False)}


def test_unsaved_builds_the_instance_the_constructor_builds(org):
    """``unsaved`` (no ``__init__``): every field as ``Model(**kwargs)`` sets it (the given values, the others'
    defaults, a callable default called), the related objects cached, unsaved; and it inserts as one."""
    from dealercrm.bulk import unsaved

    lead = _lead(org)
    values = {"store_id": org.store.pk, "assigned_to_id": org.consultant.pk, "name": "乙", "phone": "+8613800000002",
              "source": "walk_in", "first_visit_at": NOW, "first_visit_day": NOW.date(),
              "created_by_id": org.manager.pk}
    with time_machine.travel(NOW, tick=False):
        built = unsaved(Lead, values, {"store": org.store, "assigned_to": org.consultant})
        made = Lead(store=org.store, assigned_to=org.consultant, name="乙", phone="+8613800000002", source="walk_in",
                    first_visit_at=NOW, first_visit_day=NOW.date(), created_by=org.manager)
    assert _fields(built) == _fields(made)
    assert built.status == Status.ACTIVE and built.version == 1 and built.pk is None and built._state.adding
    assert built.store is org.store and built.assigned_to is org.consultant  # cached: no query
    from leads.models import Visit

    with time_machine.travel(NOW, tick=False):  # arrived_at's default (now) is called when not given
        visit = unsaved(Visit, {"lead_id": None, "store_id": org.store.pk, "is_first": False,
                                "recorded_by_id": org.manager.pk}, {"lead": lead})
    assert visit.arrived_at == NOW and visit.lead is lead and visit.companions == 0
    insert_objects([built])
    assert _fields(Lead.objects.get(pk=built.pk))["name"] == "乙" and not built._state.adding


def test_unsaved_is_the_constructor_while_an_init_signal_listens(org):
    from django.db.models.signals import post_init

    from dealercrm import bulk
    from leads.models import Visit

    seen = []

    def heard(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(heard, sender=Visit)
    bulk._BLANKS.pop(Visit, None)
    try:
        visit = bulk.unsaved(Visit, {"store_id": org.store.pk, "arrived_at": NOW, "is_first": True,
                                     "recorded_by_id": org.manager.pk})
    finally:
        post_init.disconnect(heard, sender=Visit)
        bulk._BLANKS.pop(Visit, None)
    assert seen == [visit] and visit.arrived_at == NOW
