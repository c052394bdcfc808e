"""Imports never duplicate or drop rows: a commit starts once, each row is written at most once (even by two tasks, or
two imports of one file at once), a stale <dimension> hides no row, one bad row stops nothing, and the dry run
refuses what the commit would refuse."""

import io
import re
import threading
import zipfile
from datetime import date, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone, translation

from baseclients.models import BaseClient
from baseclients.tests.factories import a_vin
from dealercrm.tests.clients import client_for
from leads.models import Lead, Visit
from leads.services import visit_log
from reports import tasks
from reports.models import ImportBatch, ImportRow
from reports.services import imports
from reports.tests.test_imports import HEADER, xlsx
from reports.workbooks import parse_date


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def customers(n: int, *, offset: int = 0) -> bytes:
    return xlsx([HEADER] + [[f"客户{i}", f"1380000{i + offset:04d}", "2026-03-01", "", "", ""] for i in range(n)])


def checked(org, content, *, kind="leads", name="c.xlsx") -> ImportBatch:
    batch = imports.import_create(actor=org.manager, store=org.store, kind=kind, file_name=name, content=content)
    return imports.import_parse(batch.pk)


def at_once(*calls):
    """Run the calls in threads released together; each thread closes its own connection."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


# --- a commit is started once; each row is written once -----------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_four_simultaneous_commits_start_the_import_once(org, api_as, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_ROWS", 10)
    batch = checked(org, customers(40))
    assert (batch.status, batch.new) == ("dry_run_ready", 40)
    clients = [api_as(org.manager) for _i in range(4)]
    url = f"/api/v1/imports/{batch.pk}/commit/"
    answers = at_once(*[lambda c=c: c.post(url) for c in clients])
    assert sorted(a.status_code for a in answers) == [202, 409, 409, 409]
    refused = [a.json() for a in answers if a.status_code == 409]
    assert all("already" in body["detail"] and body["import"]["id"] == batch.pk for body in refused)
    assert {body["import"]["status"] for body in refused} <= {"importing", "done"}
    batch.refresh_from_db()
    assert (batch.status, batch.new, batch.revisits, batch.done_rows) == ("done", 40, 0, 40)
    assert (Lead.objects.count(), Visit.objects.count()) == (40, 40)


@pytest.mark.django_db(transaction=True)
def test_two_tasks_on_one_import_write_each_row_once(org, monkeypatch):
    """A message delivered twice (acks_late and the broker's redelivery): two commits of one import run at once."""
    monkeypatch.setattr(imports, "BATCH_ROWS", 10)
    batch = checked(org, customers(40))
    imports.import_start_commit(actor=org.manager, batch=batch)
    at_once(lambda: imports.import_commit(batch.pk), lambda: imports.import_commit(batch.pk))
    batch.refresh_from_db()
    assert (batch.status, batch.new, batch.revisits, batch.done_rows) == ("done", 40, 0, 40)
    assert (Lead.objects.count(), Visit.objects.count()) == (40, 40)
    assert set(ImportRow.objects.filter(batch=batch).values_list("action", flat=True)) == {"new"}
    # A task delivered again after the end changes nothing.
    assert imports.import_commit(batch.pk).status == "done" and Visit.objects.count() == 40


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_one_file_committed_at_once_make_each_customer_once(org, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_ROWS", 10)
    content = customers(40)
    first, second = checked(org, content), checked(org, content)
    assert first.new == second.new == 40  # neither is in yet
    for batch in (first, second):
        imports.import_start_commit(actor=org.manager, batch=batch)
    at_once(lambda: imports.import_commit(first.pk), lambda: imports.import_commit(second.pk))
    assert (Lead.objects.count(), Visit.objects.count()) == (40, 40)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == "done"
    assert first.new + second.new == 40 and first.unchanged + second.unchanged == 40
    assert first.revisits == second.revisits == 0


def test_a_second_click_on_the_page_queues_nothing(org, django_capture_on_commit_callbacks, monkeypatch):
    batch = checked(org, customers(3))
    queued = []
    monkeypatch.setattr(tasks.import_commit_task, "delay", lambda pk: queued.append(pk))
    client = client_for(org.manager)
    for _click in (1, 2):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/reports/imports/{batch.pk}/commit/", follow=True)
    assert queued == [batch.pk]
    assert "This import is already running" in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == "importing"


# --- a stale <dimension> --------------------------------------------------------------------------------------------

def stale_dimension(content: bytes, ref: str = "A1:B2") -> bytes:
    """The workbook with its first sheet's <dimension> rewritten, as some exporters leave it."""
    source, out = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(rb'<dimension ref="[^"]*"/>', f'<dimension ref="{ref}"/>'.encode(), data)
                assert n == 1
            target.writestr(item, data)
    return out.getvalue()


def test_a_stale_dimension_hides_no_row_and_no_column(org):
    """<dimension ref="A1:B2"/> over 7 rows of 6 columns: every row and every column is read."""
    batch = checked(org, stale_dimension(customers(6)))
    assert (batch.status, batch.rows, batch.new) == ("dry_run_ready", 6, 6)
    rows = ImportRow.objects.filter(batch=batch)
    assert set(rows.values_list("data__phone", flat=True)) == {f"+861380000{i:04d}" for i in range(6)}
    assert all(at.startswith("2026-03-01") for at in rows.values_list("data__arrived_at", flat=True))  # column C


def test_the_row_limit_counts_the_rows_read(org, settings):
    settings.IMPORT_MAX_ROWS = 3
    batch = checked(org, stale_dimension(customers(6)))
    assert batch.status == "failed" and "at most 3" in batch.error
    assert ImportRow.objects.count() == 0 and Lead.objects.count() == 0


# --- one bad row ------------------------------------------------------------------------------------------------------

def test_the_dry_run_refuses_a_budget_the_database_cannot_hold(org):
    content = xlsx([HEADER + ["预算"],
                    ["张三", "13800000001", "2026-03-01", "", "", "", "20000000000"],
                    ["李四", "13800000002", "2026-03-01", "", "", "", "9999999999.99"]])
    batch = checked(org, content)
    assert (batch.status, batch.new, batch.refused) == ("dry_run_ready", 1, 1)
    error = ImportRow.objects.get(batch=batch, number=2).error
    assert "Budget (CNY) 20000000000" in error and "no more than 12 digits in total" in error
    imports.import_start_commit(actor=org.manager, batch=batch)
    assert imports.import_commit(batch.pk).status == "done"
    assert list(Lead.objects.values_list("name", flat=True)) == ["李四"]
    # The service refuses the amount the commit would pass with the same message (the same check).
    with pytest.raises(ValidationError) as refused:
        visit_log(actor=org.manager, store=org.store, name="张三", source="walk_in", phone="13800000001",
                  budget=Decimal("20000000000.00"))
    assert refused.value.messages[0] in error


def test_a_row_the_database_refuses_at_commit_is_refused_and_the_batch_goes_on(org):
    """Whatever the checks miss, the commit refuses the row that fails (its savepoint) and writes the others."""
    batch = checked(org, customers(5))
    row = ImportRow.objects.get(batch=batch, number=4)
    row.data["district"] = "区" * 100  # longer than the column: as if the dry run had let it through
    row.save()
    imports.import_start_commit(actor=org.manager, batch=batch)
    batch = imports.import_commit(batch.pk)
    assert (batch.status, batch.new, batch.refused, batch.done_rows) == ("done", 4, 1, 4)
    row.refresh_from_db()
    assert row.action == "refused" and row.done and "database refused this row" in row.error
    assert "too long" in row.error
    assert Lead.objects.count() == 4 and not Lead.objects.filter(phone=row.data["phone"]).exists()
    from reports.import_files import errors_workbook

    sheet = openpyxl.load_workbook(io.BytesIO(errors_workbook(batch))).active
    assert [(r[0], r[2]) for r in sheet.iter_rows(min_row=2, values_only=True)] == [(4, "客户2")]


def test_a_base_client_price_the_database_cannot_hold_is_refused_alone(org):
    day = (date.today() - timedelta(days=20)).isoformat()
    rows = [["客户姓名", "手机", "车架号", "成交价", "订车日期", "交车日期"]] + [
        [f"客户{i}", f"1370000{i:04d}", a_vin(), "99999999999999" if i == 3 else "150000", day, day]
        for i in range(6)]
    batch = checked(org, xlsx(rows), kind="base_clients")
    assert (batch.status, batch.new, batch.refused) == ("dry_run_ready", 5, 1)
    assert "no more than 12 digits in total" in ImportRow.objects.get(batch=batch, number=5).error
    imports.import_start_commit(actor=org.manager, batch=batch)
    assert imports.import_commit(batch.pk).status == "done"
    assert BaseClient.objects.count() == 5


# --- smaller ----------------------------------------------------------------------------------------------------------

def test_a_csv_cell_too_long_is_named(org):
    content = ("name,phone,visit date\n张三,13800000001,2026-03-01\n李四,13800000002,\"" + "x" * 200_000
               + "\"\n").encode()
    batch = checked(org, content, name="big.csv")
    assert batch.status == "failed"
    assert "Row 3" in batch.error and "131,072 characters" in batch.error


def test_day_and_month_before_the_year_are_read_only_when_unambiguous():
    assert parse_date("13/05/2024") == parse_date("05/13/2024") == date(2024, 5, 13)
    assert parse_date("05/05/2024") == date(2024, 5, 5)
    assert parse_date("2024/5/1") == parse_date("2024年5月1日") == date(2024, 5, 1)
    from reports.workbooks import AmbiguousDate

    with pytest.raises(AmbiguousDate) as ambiguous:
        parse_date("01/05/2024")
    assert ambiguous.value.readings == [date(2024, 5, 1), date(2024, 1, 5)]


def test_an_ambiguous_date_is_refused_with_the_formats_to_use(org):
    batch = checked(org, xlsx([HEADER, ["张三", "13800000001", "01/05/2024", "", "", ""],
                               ["李四", "13800000002", "13/05/2024", "", "", ""]]))
    error = ImportRow.objects.get(batch=batch, number=2).error
    assert "01/05/2024 could be 2024-05-01 or 2024-01-05" in error
    assert "2024-05-01, 2024/5/1 or 2024年5月1日" in error
    assert ImportRow.objects.get(batch=batch, number=3).data["arrived_at"].startswith("2024-05-13")


@pytest.mark.parametrize("name,visit_date", [("😀😀", "2026-03-01"), ("\u202e三张", "2026-03-01"),
                                             ("张\u2066三", "2026-03-01"), ("张三", "0001-01-01")])
def test_the_dry_run_refuses_what_the_visit_service_refuses(org, name, visit_date):
    arrived = parse_date(visit_date)
    with pytest.raises(ValidationError) as service:
        visit_log(actor=org.manager, store=org.store, name=name, source="walk_in", phone="13800000001",
                  arrived_at=timezone.make_aware(datetime.combine(arrived, datetime.min.time().replace(hour=10))))
    batch = checked(org, xlsx([HEADER, [name, "13800000001", visit_date, "", "", ""]]))
    row = ImportRow.objects.get(batch=batch)
    assert (batch.refused, row.action) == (1, "refused")
    assert service.value.messages[0] in row.error


def test_a_revisit_before_the_first_visit_is_refused_in_the_dry_run(org):
    batch = checked(org, xlsx([HEADER, ["张三", "13800000001", "2026-03-01", "", "", ""],
                               ["张三", "13800000001", "2026-02-01", "", "", ""]]))
    assert (batch.new, batch.refused) == (1, 1)
    assert "cannot precede the first visit" in ImportRow.objects.get(batch=batch, number=3).error


def test_the_date_rule_is_in_the_template_and_the_messages_are_translated(org, api_as):
    from reports.workbooks import date_message

    template = api_as(org.manager).get("/api/v1/imports/template/?kind=leads")
    help_sheet = openpyxl.load_workbook(io.BytesIO(template.content)).worksheets[1]
    assert any("01/05/2024 (1 May or 5 January?) is refused" in str(c.value) for row in help_sheet.rows for c in row)
    with pytest.raises(ValueError) as ambiguous:
        parse_date("01/05/2024")
    with translation.override("zh-hans"):
        assert "请把年份写在前面" in date_message("到店日期", "01/05/2024", ambiguous.value)
        assert str(imports.ImportAlreadyStarted(ImportBatch(status="done"))) == "此导入已完成：不会重复导入。"
