"""Importing leads: the dry run, the commit through the leads services, idempotency, bad files, permissions."""

import io
import zipfile
from datetime import datetime

import openpyxl
import pytest
import xlsxwriter
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from dealercrm.tests.clients import client_for
from leads.models import Lead, Visit
from reports.models import ImportBatch, ImportRow
from reports.services import imports

pytestmark = pytest.mark.django_db(transaction=False)


def xlsx(rows, *, merge_header=False, title=None) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    sheet = book.add_worksheet("客户")
    offset = 0
    if title:
        sheet.write(0, 0, title)
        offset = 1
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, datetime):
                sheet.write_datetime(r + offset, c, value, book.add_format({"num_format": "yyyy-mm-dd"}))
            elif value is not None:
                sheet.write(r + offset, c, value)
    if merge_header:
        sheet.merge_range(offset, 0, offset, 1, "姓名")
    book.close()
    return buffer.getvalue()


HEADER = ["姓名", "电话", "到店日期", "来源", "级别", "销售顾问"]


def upload(client, content, name="customers.xlsx", store=None, kind="leads"):
    return client.post("/api/v1/imports/", {"file": SimpleUploadedFile(name, content), "kind": kind,
                                            "store": store}, format="multipart")


@pytest.fixture(autouse=True)
def _english(settings):
    # Assertions read the English source strings; the import's messages follow the installation's language.
    settings.LANGUAGE_CODE = "en"
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def manager_api(org, api_as):
    return api_as(org.manager)


def test_dry_run_then_commit_through_the_services(org, manager_api, django_capture_on_commit_callbacks):
    Lead.objects.create(store=org.store, assigned_to=org.consultant, name="老客户", phone="+8613900000001",
                        source="walk_in", first_visit_at=datetime(2026, 1, 5, 10, 0).astimezone(), created_by=org.manager)
    content = xlsx([
        HEADER,
        ["张三", "13800000001", datetime(2026, 3, 1), "自来", "C", org.consultant.username],
        ["李四", "139 0000 0001", "2026/4/2", "推荐", "B", ""],  # a known phone: a re-visit
        ["王先生", "", 46000, "开发", "", ""],  # anonymous, dated by an Excel serial number
        ["", "13800000002", "2026-03-01", "", "", ""],  # refused: no name
        ["赵六", "12345", "2026-03-01", "", "", ""],  # refused: bad phone
        ["钱七", "13800000003", "2026-03-01", "", "Z", "nobody"],  # refused: grade and consultant
        ["=HYPERLINK(\"x\")", "13800000004", "2026-03-01", "", "", ""],
    ], title="2026年客户名单")
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(manager_api, content, store=org.store.pk)
    assert response.status_code == 201, response.content
    batch_id = response.json()["id"]
    status = manager_api.get(f"/api/v1/imports/{batch_id}/").json()
    assert status["status"] == "dry_run_ready"
    assert (status["rows"], status["new"], status["revisits"], status["refused"]) == (7, 3, 1, 3)
    assert Lead.objects.filter(store=org.store).count() == 1  # the dry run writes no lead
    refused = {r.number: r.error for r in ImportRow.objects.filter(batch_id=batch_id, action="refused")}
    assert "name" in refused[6] and "phone" in refused[7] and "grade" in refused[8] and "nobody" in refused[8]

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_api.post(f"/api/v1/imports/{batch_id}/commit/")
    assert response.status_code == 202
    status = manager_api.get(f"/api/v1/imports/{batch_id}/").json()
    assert status["status"] == "done" and status["done_rows"] == 4
    zhang = Lead.objects.get(store=org.store, phone="+8613800000001")
    assert (zhang.grade, zhang.assigned_to, zhang.source) == ("C", org.consultant, "walk_in")
    assert timezone.localtime(zhang.first_visit_at).hour == 10  # a date cell is a date: 10:00 local
    assert Visit.objects.filter(lead__phone="+8613900000001", is_first=False).count() == 1
    anonymous = Lead.objects.get(store=org.store, name="王先生")
    assert anonymous.first_visit_day.isoformat() == "2025-12-09"  # Excel serial 46000

    # The refused rows as a workbook with an error column; the formula-like name went in as a name, as text.
    errors = manager_api.get(f"/api/v1/imports/{batch_id}/errors/")
    assert errors.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(errors.content)).active
    assert [c.value for c in sheet[1]][:3] == ["Row", "Error", "姓名"]
    assert sheet.max_row == 4

    # The same file again: nothing new.
    leads_before, visits_before = Lead.objects.count(), Visit.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        again = upload(manager_api, content, store=org.store.pk).json()["id"]
    second = manager_api.get(f"/api/v1/imports/{again}/").json()
    assert (second["new"], second["revisits"], second["updated"]) == (0, 0, 0)
    with django_capture_on_commit_callbacks(execute=True):
        manager_api.post(f"/api/v1/imports/{again}/commit/")
    assert (Lead.objects.count(), Visit.objects.count()) == (leads_before, visits_before)


def test_a_known_phone_without_a_visit_fills_only_empty_fields(org, manager_api, django_capture_on_commit_callbacks):
    lead = Lead.objects.create(store=org.store, assigned_to=org.consultant, name="老客户", phone="+8613900000001",
                               source="walk_in", district="徐汇", created_by=org.manager,
                               first_visit_at=datetime(2026, 1, 5, 10, 0).astimezone())
    content = xlsx([["姓名", "电话", "区域", "行业"],
                    ["老客户", "13900000001", "闵行", "IT"],  # the industry is empty: an update (the district stays)
                    ["老客户", "13900000001", "闵行", ""]])  # nothing empty to fill: already there
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = upload(manager_api, content, store=org.store.pk).json()["id"]
    status = manager_api.get(f"/api/v1/imports/{batch_id}/").json()
    assert (status["updated"], status["unchanged"]) == (1, 1)
    with django_capture_on_commit_callbacks(execute=True):
        manager_api.post(f"/api/v1/imports/{batch_id}/commit/")
    lead.refresh_from_db()
    assert (lead.district, lead.industry) == ("徐汇", "IT")
    with django_capture_on_commit_callbacks(execute=True):
        again = upload(manager_api, content, store=org.store.pk).json()["id"]
    assert manager_api.get(f"/api/v1/imports/{again}/").json()["updated"] == 0


def test_commit_is_in_self_standing_batches(org, manager_api, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    rows = [HEADER] + [[f"客户{i}", f"138000001{i:02d}", "2026-03-01", "", "", ""] for i in range(6)]
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = upload(manager_api, xlsx(rows), store=org.store.pk).json()["id"]
    batch = ImportBatch.objects.get(pk=batch_id)
    imports.import_start_commit(actor=org.manager, batch=batch)
    original, calls = imports._commit_batch, []

    def third_fails(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        original(*args)

    monkeypatch.setattr(imports, "_commit_batch", third_fails)
    result = imports.import_commit(batch_id)
    assert result.status == "failed" and "went away" in result.error
    done = list(ImportRow.objects.filter(batch=batch, done=True).values_list("number", flat=True))
    assert done == [2, 3, 4, 5]  # two whole batches, exactly the rows that went in
    assert Lead.objects.filter(store=org.store).count() == 4
    monkeypatch.setattr(imports, "_commit_batch", original)
    imports.import_start_commit(actor=org.manager, batch=batch)
    assert imports.import_commit(batch_id).status == "done"
    assert Lead.objects.filter(store=org.store).count() == 6


def test_cancel_a_running_import_between_batches(org, manager_api, api_as, django_capture_on_commit_callbacks,
                                                 monkeypatch):
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    rows = [HEADER] + [[f"客户{i}", f"138000001{i:02d}", "2026-03-01", "", "", ""] for i in range(7)]
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = upload(manager_api, xlsx(rows), store=org.store.pk).json()["id"]
    url = f"/api/v1/imports/{batch_id}/cancel/"
    assert api_as(org.consultant).post(url).status_code == 403
    assert api_as(org.manager2).post(url).status_code == 404  # another store's import
    original, answers = imports._commit_batch, []

    def cancel_after_the_second_batch(*args):
        original(*args)
        if len(answers) == 0 and ImportRow.objects.filter(batch_id=batch_id, done=True).count() == 4:
            # The manager presses cancel while the import runs (the real request, in the middle of the task).
            answers.append(manager_api.post(url))

    monkeypatch.setattr(imports, "_commit_batch", cancel_after_the_second_batch)
    with django_capture_on_commit_callbacks(execute=True):
        assert manager_api.post(f"/api/v1/imports/{batch_id}/commit/").status_code == 202
    assert answers[0].status_code == 202 and answers[0].json()["status"] == "importing"
    assert answers[0].json()["cancel_requested_at"]
    status = manager_api.get(f"/api/v1/imports/{batch_id}/").json()
    assert (status["status"], status["done_rows"], status["rows"]) == ("cancelled", 4, 7)
    assert "4 of 7 rows went in" in status["error"]
    done = set(ImportRow.objects.filter(batch_id=batch_id, done=True).values_list("data__phone", flat=True))
    assert done == set(Lead.objects.filter(store=org.store).values_list("phone", flat=True))
    assert len(done) == 4  # exactly the rows marked done went in, none of the others
    page = client_for(org.manager).get(f"/reports/imports/{batch_id}/?action=imported").content.decode()
    assert page.count(" ✓</td>") == 4 and "Cancelled" in page
    # A cancelled import is over: it cannot be committed (or cancelled) into anything more.
    again = manager_api.post(f"/api/v1/imports/{batch_id}/commit/")
    assert again.status_code == 400 and "cancelled" in str(again.json())
    assert Lead.objects.filter(store=org.store).count() == 4


def test_cancel_a_checked_import_from_the_page(org, django_capture_on_commit_callbacks):
    client = client_for(org.manager)
    content = xlsx([HEADER, ["张三", "13800000001", "2026-03-01", "", "", ""]])
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/reports/imports/", {"kind": "leads", "store": org.store.pk,
                                          "file": SimpleUploadedFile("c.xlsx", content)})
    batch = ImportBatch.objects.get()
    page = client.get(f"/reports/imports/{batch.pk}/").content.decode()
    assert f'hx-post="/reports/imports/{batch.pk}/cancel/"' in page
    assert client_for(org.manager2).post(f"/reports/imports/{batch.pk}/cancel/").status_code == 404
    part = client.post(f"/reports/imports/{batch.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert part.status_code == 200 and 'id="import-status"' in part.content.decode()
    assert "Cancelled" in part.content.decode() and "/cancel/" not in part.content.decode()
    batch.refresh_from_db()
    assert batch.status == "cancelled" and batch.content is None
    assert Lead.objects.count() == 0


@pytest.mark.parametrize("content,name,message", [
    (b"hello, this is text", "a.xlsx", "not an Excel workbook"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "secret.xlsx", "password-protected"),
    (b"", "empty.xlsx", "empty"),
])
def test_bad_files_get_a_clear_message(org, manager_api, django_capture_on_commit_callbacks, content, name, message):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(manager_api, content, name=name, store=org.store.pk)
    if response.status_code == 400:
        assert message in str(response.json())
        return
    status = manager_api.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert status["status"] == "failed" and message in status["error"]
    assert Lead.objects.count() == 0


def _bad_import(org, content, name="x.xlsx"):
    batch = imports.import_create(actor=org.manager, store=org.store, kind="leads", file_name=name, content=content)
    return imports.import_parse(batch.pk)


def test_xml_bomb_is_refused(org):
    good = xlsx([HEADER, ["张三", "13800000001", "2026-03-01", "", "", ""]])
    source = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
            ']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol2;</t></si></sst>')
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/sharedStrings.xml":
                data = bomb.encode()
            target.writestr(item, data)
    batch = _bad_import(org, out.getvalue())
    assert batch.status == "failed" and "unsafe XML" in batch.error
    assert Lead.objects.count() == 0


def test_merged_header_cells_empty_sheets_and_too_many_rows(org, settings):
    batch = _bad_import(org, xlsx([HEADER, ["张三", "13800000001"]], merge_header=True))
    assert batch.status == "failed" and "merged" in batch.error
    batch = _bad_import(org, xlsx([]))
    assert batch.status == "failed" and "empty" in batch.error
    batch = _bad_import(org, xlsx([HEADER]))
    assert batch.status == "failed" and "no data rows" in batch.error
    settings.IMPORT_MAX_ROWS = 3
    batch = _bad_import(org, xlsx([HEADER] + [[f"客户{i}", f"1380000010{i}"] for i in range(5)]))
    assert batch.status == "failed" and "at most 3" in batch.error
    assert ImportRow.objects.count() == 0 and Lead.objects.count() == 0


def test_csv_in_gbk_with_english_headers(org):
    content = "name,phone,visit date\n张三,13800000001,2026-03-01\n".encode("gb18030")
    batch = _bad_import(org, content, name="old.csv")
    assert batch.status == "dry_run_ready" and batch.new == 1


def test_permissions(org, api_as, django_capture_on_commit_callbacks):
    content = xlsx([HEADER, ["张三", "13800000001", "2026-03-01", "", "", ""]])
    assert upload(api_as(org.consultant), content, store=org.store.pk).status_code == 403
    assert upload(api_as(org.manager), content, store=org.store2.pk).status_code == 404
    assert upload(api_as(org.admin), content, store=org.other_store.pk).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(api_as(org.admin), content, store=org.store2.pk)
    assert response.status_code == 201
    batch_id = response.json()["id"]
    assert api_as(org.manager).get(f"/api/v1/imports/{batch_id}/").status_code == 404
    assert api_as(org.manager2).get(f"/api/v1/imports/{batch_id}/").status_code == 200
    assert api_as(org.other_admin).post(f"/api/v1/imports/{batch_id}/commit/").status_code == 404
    assert api_as(org.consultant).get("/api/v1/imports/template/?kind=leads").status_code == 403
    assert client_for(org.consultant).get("/reports/imports/").status_code == 403
    template = api_as(org.manager).get("/api/v1/imports/template/?kind=leads")
    assert template.status_code == 200
    headers = [c.value for c in openpyxl.load_workbook(io.BytesIO(template.content)).active[1]]
    assert headers[:3] == ["Name", "Phone", "Visit date"]


def test_the_import_pages(org, django_capture_on_commit_callbacks):
    client = client_for(org.manager)
    assert client.get("/reports/imports/").status_code == 200
    content = xlsx([HEADER, ["张三", "13800000001", "2026-03-01", "", "", ""]])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/reports/imports/", {"kind": "leads", "store": org.store.pk,
                                                     "file": SimpleUploadedFile("c.xlsx", content)})
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200 and "Checked, ready to import" in page.content.decode()
    batch = ImportBatch.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/reports/imports/{batch.pk}/commit/")
    batch.refresh_from_db()
    assert batch.status == "done" and Lead.objects.filter(phone="+8613800000001").exists()


def test_a_returning_buyer_is_a_new_lead_once(org, manager_api, django_capture_on_commit_callbacks):
    """A phone whose lead was won no longer holds it: a dated row is a new lead (as visit_log makes it), linked to
    the base client; importing the file again finds that new lead's visit and creates nothing."""
    from baseclients.models import ClientLead
    from baseclients.tests.factories import buy

    won = buy(store=org.store, consultant=org.consultant, phone="+8613900000007").lead
    content = xlsx([HEADER, ["老买家", "13900000007", "2026-03-01", "", "", ""]])
    for attempt in (1, 2):
        with django_capture_on_commit_callbacks(execute=True):
            batch_id = upload(manager_api, content, store=org.store.pk).json()["id"]
        status = manager_api.get(f"/api/v1/imports/{batch_id}/").json()
        assert (status["new"], status["revisits"], status["unchanged"]) == ((1, 0, 0) if attempt == 1 else (0, 0, 1))
        with django_capture_on_commit_callbacks(execute=True):
            manager_api.post(f"/api/v1/imports/{batch_id}/commit/")
    leads = Lead.objects.filter(store=org.store, phone="+8613900000007")
    assert leads.count() == 2
    again = leads.exclude(pk=won.pk).get()
    assert Visit.objects.filter(lead=again).count() == 1 and again.status == "active"
    assert ClientLead.objects.get(lead=again).client == ClientLead.objects.get(lead=won).client
