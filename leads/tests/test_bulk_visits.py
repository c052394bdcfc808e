"""visit_log_many writes, row for row and field for field, what visit_log writes called once per row."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from baseclients.models import ClientLead
from baseclients.tests.factories import buy
from dealercrm.tests.factories import ConsultantFactory
from leads import services
from leads.models import AssignmentChange, Channel, GradeChange, Lead, Visit

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 15, 11, 30, tzinfo=TZ)


def at(days_ago: float, hour: int = 10) -> datetime:
    return (NOW - timedelta(days=days_ago)).replace(hour=hour, minute=0, second=0, microsecond=0)


def written() -> dict:
    """Every row of the tables the visit services write, with the leads named by their place in id order (the ids
    differ between two runs: sequences do not roll back) and each table's rows sorted by lead, then in id order."""
    leads = list(Lead.objects.order_by("pk").values())
    key = {row["id"]: n for n, row in enumerate(leads)}

    def rows(queryset, lead_field="lead_id", drop=("id",)):
        out = []
        for row in queryset.order_by("pk").values():
            row = {f: v for f, v in row.items() if f not in drop}
            row[lead_field] = key[row[lead_field]]
            out.append(row)
        return sorted(out, key=lambda r: r[lead_field])  # stable: id order within a lead

    history = Lead.history.model.objects
    return {
        "leads": [{f: v for f, v in row.items() if f != "id"} for row in leads],
        "visits": rows(Visit.objects),
        "grade_changes": rows(GradeChange.objects),
        "assignment_changes": rows(AssignmentChange.objects),
        "history": rows(history, lead_field="id", drop=("history_id",)),
        "client_links": rows(ClientLead.objects),
    }


def outcome(result) -> tuple:
    if isinstance(result, Exception):
        detail = result.message_dict if hasattr(result, "error_dict") else [str(m) for m in getattr(
            result, "messages", [str(result)])]
        return type(result).__name__, detail
    return "ok", result.is_revisit, result.visit.arrived_at, result.lead.phone


def one_by_one(actor, store, rows) -> list:
    results = []
    for row in rows:
        try:
            results.append(services.visit_log(actor=actor, store=store, **row))
        except (ValidationError, PermissionDenied) as exc:
            results.append(exc)
    return results


def both_ways(actor, store, rows) -> tuple:
    """(outcomes, rows written) of visit_log per row, then of visit_log_many, each rolled back afterwards."""
    runs = []
    with time_machine.travel(NOW, tick=False):
        for run in (one_by_one, lambda a, s, r: services.visit_log_many(actor=a, store=s, rows=r)):
            with transaction.atomic():
                results = run(actor, store, [dict(row) for row in rows])
                runs.append(([outcome(r) for r in results], written()))
                transaction.set_rollback(True)
    return runs


@pytest.fixture
def known(org):
    """A lead of the store with a phone (first visit 30 days ago, last contact 8 days ago) and a buyer (a base
    client of the group) whose won lead no longer holds the phone."""
    with time_machine.travel(NOW, tick=False):
        lead = services.visit_log(actor=org.manager, store=org.store, name="老客户", source="walk_in",
                                  phone="13800000001", grade="B", arrived_at=at(30), assigned_to=org.consultant).lead
        services.visit_add(actor=org.manager, lead=lead, arrived_at=at(8))
        buy(store=org.store, consultant=org.consultant2, phone="+8613900000009")
        ConsultantFactory(username="c3_north", store=org.store)
    return lead


def mixed_rows(org) -> list[dict]:
    referral = Channel.objects.filter(source="referral").first()
    return [
        {"name": "张三", "source": "walk_in", "phone": "13800000002", "grade": "C", "arrived_at": at(10),
         "budget": Decimal("150000.00"), "district": "闵行", "industry": "IT", "gender": "male"},
        {"name": "李女士", "source": "walk_in", "phone": "", "arrived_at": at(9)},  # anonymous
        {"name": "老客户", "source": "walk_in", "phone": "138 0000 0001", "arrived_at": at(5)},  # re-visit, later
        {"name": "老客户", "source": "walk_in", "phone": "13800000001", "arrived_at": at(20)},  # re-visit, earlier
        {"name": "张三", "source": "walk_in", "phone": "+86 138 0000 0002", "arrived_at": at(3),
         "steps": ["test_drive", "quote"], "companions": 2},  # re-visit of this batch's new lead
        {"name": "张三", "source": "walk_in", "phone": "13800000002", "arrived_at": at(40)},  # before its first visit
        {"name": "坏电话", "source": "walk_in", "phone": "12345"},
        {"name": "  ", "source": "walk_in", "phone": "13800000003"},
        {"name": "坏来源", "source": "tv", "phone": "13800000004"},
        {"name": "坏级别", "source": "walk_in", "phone": "13800000005", "grade": "F"},
        {"name": "坏渠道", "source": "walk_in", "phone": "13800000006", "channel": referral},
        {"name": "负预算", "source": "walk_in", "phone": "13800000007", "budget": Decimal("-1")},
        {"name": "未来", "source": "walk_in", "phone": "13800000008", "arrived_at": at(-2)},
        {"name": "先走", "source": "walk_in", "phone": "13800000010", "arrived_at": at(2),
         "left_at": at(2) - timedelta(hours=1)},
        {"name": "别店", "source": "walk_in", "phone": "13800000011", "assigned_to": org.consultant_b},
        {"name": "回头客", "source": "referral", "phone": "13900000009", "channel": referral, "arrived_at": at(1),
         "grade": "A"},  # a returning buyer: linked to the base client
        {"name": "王五", "source": "outbound", "phone": "13800000012", "grade": "D"},  # now
        {"name": "王五", "source": "outbound", "phone": "13800000012"},  # now again: a re-visit, no newer contact
        {"name": "赵六", "source": "walk_in", "phone": "13800000013", "arrived_at": at(4)},
        {"name": "孙七", "source": "walk_in", "phone": "13800000014", "arrived_at": at(4, 11)},
        {"name": "周八", "source": "walk_in", "phone": "13800000015", "arrived_at": at(4, 12),
         "assigned_to": org.consultant2},
        {"name": "吴九", "source": "walk_in", "phone": "13800000016", "arrived_at": at(4, 13),
         "assigned_to": org.manager},
        {"name": "郑十", "source": "walk_in", "phone": "13800000017", "arrived_at": at(4, 14), "grade": "E"},
        {"name": "郑十", "source": "walk_in", "phone": "13800000017", "arrived_at": at(4, 14)},  # same moment
    ]


def test_the_same_rows_field_by_field_as_visit_log_row_by_row(org, known):
    rows = mixed_rows(org)
    (single, single_rows), (many, many_rows) = both_ways(org.manager, org.store, rows)
    assert many == single
    for table in single_rows:
        assert many_rows[table] == single_rows[table], table
    # The comparison is not of empty tables: the input made new leads, re-visits, history, links and refusals.
    assert [o[0] for o in single].count("ValidationError") == 10
    assert sum(1 for o in single if o[0] == "ok" and o[1]) == 5  # re-visits
    assert len(single_rows["leads"]) - 2 == 9  # the known lead and the buyer's won lead were there before
    assert {h["history_type"] for h in single_rows["history"]} == {"+", "~"}
    assert len(single_rows["client_links"]) == 2  # the buyer's own lead and the returning buyer's new one
    assert len({a["to_user_id"] for a in single_rows["assignment_changes"]}) >= 3  # round-robin shared them out


@pytest.mark.parametrize("who", ["consultant", "other_manager", "admin"])
def test_the_same_permissions_as_visit_log(org, known, who):
    actor = getattr(org, who)
    rows = [
        {"name": "甲", "source": "walk_in", "phone": "13800000020", "arrived_at": at(2)},
        {"name": "乙", "source": "walk_in", "phone": "13800000021", "arrived_at": at(2),
         "assigned_to": org.consultant2},
        {"name": "老客户", "source": "walk_in", "phone": "13800000001", "arrived_at": at(1)},
    ]
    (single, single_rows), (many, many_rows) = both_ways(actor, org.store, rows)
    assert many == single and many_rows == single_rows
    if who == "other_manager":
        assert [o[0] for o in single] == ["PermissionDenied"] * 3
    if who == "consultant":
        assert [o[0] for o in single] == ["ok", "PermissionDenied", "ok"]


def test_allow_revisit_false_refuses_a_known_phone(org, known):
    results = services.visit_log_many(actor=org.manager, store=org.store, rows=[
        {"name": "x", "source": "walk_in", "phone": "13800000001", "allow_revisit": False}])
    assert isinstance(results[0], services.DuplicatePhone) and results[0].lead_id == known.pk


def test_a_batch_costs_a_few_statements_whatever_its_size(org, known, django_assert_max_num_queries):
    rows = [{"name": f"客户{i}", "source": "walk_in", "phone": f"1370000{i:04d}", "arrived_at": at(3, 10 + i % 8),
             "grade": "CDE"[i % 3]} for i in range(300)]
    rows += [{"name": "老客户", "source": "walk_in", "phone": "13800000001", "arrived_at": at(2)}]
    with django_assert_max_num_queries(16):
        results = services.visit_log_many(actor=org.manager, store=org.store, rows=rows)
    assert all(not isinstance(r, Exception) for r in results)
    assert Lead.objects.filter(store=org.store, phone__startswith="+86137").count() == 300
    assert Visit.objects.filter(lead__phone__startswith="+86137", is_first=True).count() == 300


@pytest.mark.django_db(transaction=True)
def test_a_first_visit_committed_meanwhile_by_another_request_becomes_a_revisit(org, monkeypatch):
    """Another request logs the same new phone between the batch's look-up and its insert: the unique phone index
    refuses the batch's insert, and the batch starts over once, seeing that lead (as visit_log does)."""
    import threading

    from django.db import connection

    from leads.services import bulk

    first_call = []

    class RoundRobinAfterARace(bulk._RoundRobin):
        def __init__(self, store):
            if not first_call:  # after the phones were looked up: the other request commits its lead now
                first_call.append(1)

                def other_request():
                    try:
                        services.visit_log(actor=org.manager, store=org.store, name="抢先", source="walk_in",
                                           phone="13800000099", arrived_at=at(3))
                    finally:
                        connection.close()

                thread = threading.Thread(target=other_request)
                thread.start()
                thread.join()
            super().__init__(store)

    monkeypatch.setattr(bulk, "_RoundRobin", RoundRobinAfterARace)
    with time_machine.travel(NOW, tick=False):
        results = services.visit_log_many(actor=org.manager, store=org.store, rows=[
            {"name": "后到", "source": "walk_in", "phone": "13800000099", "arrived_at": at(2)},
            {"name": "别人", "source": "walk_in", "phone": "13800000098", "arrived_at": at(2)},
        ])
    assert first_call and results[0].is_revisit and not results[1].is_revisit
    lead = Lead.objects.get(phone="+8613800000099")
    assert lead.name == "抢先" and lead.visits.count() == 2
    assert Lead.objects.filter(store=org.store).count() == 2


@pytest.fixture
def parses(monkeypatch):
    """The phones ``phonenumbers`` parses (every ``phone_normalize`` parses once), counted: the real parser runs."""
    import phonenumbers

    seen = []
    real = phonenumbers.parse

    def counting(number, *args, **kwargs):
        seen.append(number)
        return real(number, *args, **kwargs)

    monkeypatch.setattr(phonenumbers, "parse", counting)
    return seen


def test_each_phone_is_parsed_once_per_row(org, known, parses):
    rows = [{"name": f"客户{i}", "source": "walk_in", "phone": f"137 0000 {i:04d}", "arrived_at": at(3)}
            for i in range(20)]
    rows += [{"name": "老客户", "source": "walk_in", "phone": "13800000001", "arrived_at": at(2)},
             {"name": "坏电话", "source": "walk_in", "phone": "12345"}]
    results = services.visit_log_many(actor=org.manager, store=org.store, rows=rows)
    assert sorted(parses) == sorted(row["phone"] for row in rows)  # each row's phone once, no more
    assert [type(r).__name__ for r in results[-2:]] == ["VisitResult", "ValidationError"]
    assert results[0].lead.phone == "+8613700000000"


def test_phones_the_caller_normalised_are_not_parsed_again(org, known, parses):
    rows = [{"name": f"客户{i}", "source": "walk_in", "phone": f"+861370000{i:04d}", "arrived_at": at(3)}
            for i in range(20)]
    rows += [{"name": "老客户", "source": "walk_in", "phone": "+8613800000001", "arrived_at": at(2)},
             {"name": "无电话", "source": "walk_in", "phone": "", "arrived_at": at(2)}]
    normalised = services.visit_log_many(actor=org.manager, store=org.store, rows=rows, phones_normalised=True)
    assert parses == []
    assert [r.is_revisit for r in normalised[-2:]] == [True, False]
    assert Lead.objects.filter(phone__startswith="+86137").count() == 20
    # What is not in E.164 is normalised (and refused) as always, whatever the caller says.
    rows = [{"name": "空格", "source": "walk_in", "phone": "137 0000 9999", "arrived_at": at(3)},
            {"name": "坏电话", "source": "walk_in", "phone": "12345"}]
    results = services.visit_log_many(actor=org.manager, store=org.store, rows=rows, phones_normalised=True)
    assert parses == ["137 0000 9999", "12345"]
    assert results[0].lead.phone == "+8613700009999"
    assert isinstance(results[1], ValidationError) and "phone" in results[1].message_dict


def test_the_consultants_loads_are_their_active_leads(org, known):
    """``_consultants_by_load`` counts each consultant's active leads with a subquery on the owner index (not a
    join over every lead): the same counts and order as counting the leads."""
    from leads.services.assignment import _consultants_by_load

    services.visit_log_many(actor=org.manager, store=org.store, rows=[
        {"name": f"客户{i}", "source": "walk_in", "phone": f"1370000{i:04d}", "arrived_at": at(3),
         "assigned_to": org.consultant2} for i in range(3)])
    Lead.objects.filter(phone="+8613700000000").update(status="won")
    people = _consultants_by_load(org.store)
    assert {p.pk: p.load for p in people} == {
        p.pk: Lead.objects.filter(assigned_to=p, status="active").count() for p in people}
    assert {p.pk: p.load for p in people}[org.consultant2.pk] == 2
    assert [p.load for p in people] == sorted(p.load for p in people)


def test_the_round_robin_counts_the_leads_given_before_it_is_first_needed(org, known):
    """The consultants' loads are read when a row first needs the round-robin; the leads the rows before it gave
    (named consultants) count, as row by row."""
    rows = [{"name": f"点名{i}", "source": "walk_in", "phone": f"1360000{i:04d}", "arrived_at": at(3),
             "assigned_to": org.consultant2} for i in range(3)]
    rows += [{"name": f"轮到{i}", "source": "walk_in", "phone": f"1350000{i:04d}", "arrived_at": at(2)}
             for i in range(6)]
    (single, single_rows), (many, many_rows) = both_ways(org.manager, org.store, rows)
    assert many == single and many_rows == single_rows
    assert len({a["to_user_id"] for a in single_rows["assignment_changes"]}) >= 2


def test_then_changes_the_new_leads_before_they_are_written_and_their_history_records_them_as_logged(org, known):
    """``then`` sees the results before anything is written: what it sets on a new lead goes in with the lead (one
    insert, no update), while the lead's "+" history row is the lead as the visit made it; a re-visited lead is
    left alone; an error it raises undoes the call."""
    rows = [{"name": "新客", "source": "walk_in", "phone": "13700000001", "arrived_at": at(3)},
            {"name": "老客户", "source": "walk_in", "phone": "13800000001", "arrived_at": at(2)},
            {"name": "", "source": "walk_in", "phone": "13700000002", "arrived_at": at(3)}]  # refused: no name
    seen = []

    def then(results):
        seen.append([type(r).__name__ if isinstance(r, Exception) else (r.is_revisit, r.lead.pk) for r in results])
        for result in results:
            if not isinstance(result, Exception) and not result.is_revisit:
                result.lead.status, result.lead.next_follow_up_at, result.lead.version = "won", None, 2

    with time_machine.travel(NOW, tick=False):
        results = services.visit_log_many(actor=org.manager, store=org.store, rows=rows, then=then)
    assert seen == [[(False, None), (True, known.pk), "ValidationError"]]  # checked, nothing written yet
    new = Lead.objects.get(phone="+8613700000001")
    assert (new.pk, new.status, new.next_follow_up_at, new.version) == (results[0].lead.pk, "won", None, 2)
    first = Lead.history.get(id=new.pk)
    assert (first.history_type, first.status) == ("+", "active") and first.next_follow_up_at is not None
    assert first.last_contact_at == at(3) and first.name == "新客"
    known.refresh_from_db()
    assert known.status == "active" and known.last_contact_at == at(2)
    assert Lead.history.filter(id=known.pk).latest("history_id").status == "active"

    def fails(results):
        raise RuntimeError("no")

    count = (Lead.objects.count(), Visit.objects.count(), Lead.history.count())
    with pytest.raises(RuntimeError), time_machine.travel(NOW, tick=False):
        services.visit_log_many(actor=org.manager, store=org.store, rows=rows[:1] + [
            {"name": "又一个", "source": "walk_in", "phone": "13700000003", "arrived_at": at(1)}], then=fails)
    assert (Lead.objects.count(), Visit.objects.count(), Lead.history.count()) == count
