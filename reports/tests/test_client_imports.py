"""Importing base clients: each row a sale (lead, deal, base client with the vehicle) through the services; the dry
run's outcomes, refusals and why, the refused-rows workbook, idempotent re-import, permissions."""

import io
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
import pytest

from baseclients.models import BaseClient, Purchase, Vehicle
from baseclients.tests.factories import a_vin, buy
from dealercrm.tests.clients import client_for
from dealercrm.tests.factories import VehicleSeriesFactory
from leads.models import Deal, Lead
from reports.models import ImportRow
from reports.tests.test_imports import upload, xlsx

pytestmark = pytest.mark.django_db

HEADER = ["客户姓名", "手机", "车架号", "车牌号", "车系", "成交价", "订车日期", "交车日期", "销售顾问"]


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"
    from django.utils import translation

    with translation.override("en"):
        yield


def sales(org, series, known_vin, bad_vin):
    day = (date.today() - timedelta(days=200)).isoformat()
    later = (date.today() - timedelta(days=190)).isoformat()
    vin1, vin2 = a_vin(), a_vin()
    rows = [
        HEADER,
        ["张三", "13800000001", vin1, "沪A12345", series.name, "15万", day, later, org.consultant.username],  # new
        ["老客户", "13900000009", vin2, "", series.name_en, "198000", day, later, ""],  # a base client: + vehicle
        ["重复", "13700000001", known_vin, "", "", "100000", day, later, ""],  # VIN on a card: already there
        ["坏车架", "13700000002", bad_vin, "", "", "100000", day, later, ""],
        ["没交车", "13700000003", a_vin(), "", "", "100000", day, "", ""],
        ["无号", "", "", "", "", "100000", day, later, ""],
        ["没价格", "13700000004", a_vin(), "", "", "", day, later, ""],
        ["坏车牌", "13700000005", a_vin(), "XYZ", "", "100000", day, later, ""],
        ["先交后订", "13700000006", a_vin(), "", "", "100000", later, day, ""],
        ["无车架", "13700000007", "", "", "", "80000", "", later, ""],  # no VIN but a phone: new
    ]
    return rows, vin1, vin2


def test_dry_run_commit_errors_and_reimport(org, api_as, django_capture_on_commit_callbacks):
    manager_api = api_as(org.manager)
    series = VehicleSeriesFactory()
    deal = buy(store=org.store, consultant=org.consultant2, phone="+8613900000009")
    known_vin = deal.vin
    bad_vin = known_vin[:8] + ("0" if known_vin[8] != "0" else "1") + known_vin[9:]
    rows, vin1, vin2 = sales(org, series, known_vin, bad_vin)
    content = xlsx(rows)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(manager_api, content, store=org.store.pk, kind="base_clients")
    assert response.status_code == 201, response.content
    batch_id = response.json()["id"]
    status = manager_api.get(f"/api/v1/imports/{batch_id}/").json()
    assert status["status"] == "dry_run_ready", status
    assert (status["rows"], status["new"], status["updated"], status["unchanged"], status["refused"]) == \
        (10, 2, 1, 1, 6)
    refused = {r.number: r.error for r in ImportRow.objects.filter(batch_id=batch_id, action="refused")}
    assert "check digit" in refused[5]
    assert "delivery date is missing" in refused[6]
    assert "needs a phone" in refused[7]
    assert "price" in refused[8]
    assert "plate" in refused[9]
    assert "Delivery cannot precede the order" in refused[10]
    assert BaseClient.objects.count() == 1 and Deal.objects.count() == 1  # the dry run writes nothing
    page = client_for(org.manager).get(f"/reports/imports/{batch_id}/").content.decode()
    assert "New base client" in page and "Known client: the vehicle is added" in page

    with django_capture_on_commit_callbacks(execute=True):
        assert manager_api.post(f"/api/v1/imports/{batch_id}/commit/").status_code == 202
    status = manager_api.get(f"/api/v1/imports/{batch_id}/").json()
    assert status["status"] == "done" and status["done_rows"] == 4
    zhang = BaseClient.objects.get(phone="+8613800000001")
    vehicle = Vehicle.objects.get(vin=vin1)
    assert vehicle.client == zhang and vehicle.plate == "沪A12345" and vehicle.series == series
    assert vehicle.delivered_at == date.today() - timedelta(days=190)
    assert zhang.assigned_to == org.consultant and zhang.purchases == 1
    sale = Deal.objects.get(vin=vin1)
    assert sale.price == Decimal("150000.00") and sale.lead.status == "won" and sale.lead.store == org.store
    known = BaseClient.objects.get(phone="+8613900000009")
    assert set(known.vehicles.values_list("vin", flat=True)) == {known_vin, vin2}
    assert known.purchases == 2 and Purchase.objects.filter(client=known, is_repeat=True).count() == 1
    assert BaseClient.objects.filter(phone="+8613700000007").exists()

    errors = manager_api.get(f"/api/v1/imports/{batch_id}/errors/")
    sheet = openpyxl.load_workbook(io.BytesIO(errors.content)).active
    assert sheet.max_row == 7 and [c.value for c in sheet[1]][:3] == ["Row", "Error", "客户姓名"]

    # The same file again: every sale is already there.
    counts = (BaseClient.objects.count(), Vehicle.objects.count(), Deal.objects.count(), Lead.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        again = upload(manager_api, content, store=org.store.pk, kind="base_clients").json()["id"]
    second = manager_api.get(f"/api/v1/imports/{again}/").json()
    assert (second["new"], second["updated"], second["unchanged"]) == (0, 0, 4)
    with django_capture_on_commit_callbacks(execute=True):
        manager_api.post(f"/api/v1/imports/{again}/commit/")
    assert (BaseClient.objects.count(), Vehicle.objects.count(), Deal.objects.count(),
            Lead.objects.count()) == counts


def test_permissions_and_template(org, api_as, django_capture_on_commit_callbacks):
    series = VehicleSeriesFactory()
    content = xlsx([HEADER, ["张三", "13800000001", a_vin(), "", series.name, "100000", "", "2026-01-05", ""]])
    assert upload(api_as(org.consultant), content, store=org.store.pk, kind="base_clients").status_code == 403
    assert upload(api_as(org.other_admin), content, store=org.store.pk, kind="base_clients").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = upload(api_as(org.admin), content, store=org.store2.pk, kind="base_clients").json()["id"]
    assert api_as(org.manager).post(f"/api/v1/imports/{batch_id}/commit/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert api_as(org.manager2).post(f"/api/v1/imports/{batch_id}/commit/").status_code == 202
    client = BaseClient.objects.get()
    assert client.store == org.store2 and client.group == org.group
    template = api_as(org.manager).get("/api/v1/imports/template/?kind=base_clients")
    assert template.status_code == 200
    headers = [c.value for c in openpyxl.load_workbook(io.BytesIO(template.content)).active[1]]
    assert headers[:4] == ["Name", "Phone", "VIN", "Plate"] and "Delivery date" in headers
    assert client_for(org.manager).get("/reports/imports/template/?kind=base_clients").status_code == 200
    assert client_for(org.consultant).get("/reports/imports/template/?kind=base_clients").status_code == 403
