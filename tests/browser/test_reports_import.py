"""The import pages in a real browser (zh-hans): a manager uploads a workbook of base clients, reads the dry run, and
cancels the import with the htmx button."""

import io

import pytest
import xlsxwriter
from playwright.sync_api import expect

from baseclients.tests.factories import a_vin
from dealercrm.tests.factories import TEST_PASSWORD
from reports.models import ImportBatch

from .conftest import login, zh


@pytest.fixture(autouse=True)
def _in_process(tasks_in_process):
    """The app's tasks run in-process here (as in the embedded default), whatever REDIS_URL says."""


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def workbook() -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    for r, row in enumerate([
        ["客户姓名", "手机", "车架号", "车牌号", "成交价", "交车日期"],
        ["张三", "13800000001", a_vin(), "沪A12345", "15万", "2025-06-01"],
        ["李四", "13800000002", "LSVAB2BD0M1234567", "", "120000", "2025-06-02"],  # a wrong check digit
        ["王五", "13800000003", a_vin(), "", "", "2025-06-03"],  # no price
    ]):
        sheet.write_row(r, 0, row)
    book.close()
    return buffer.getvalue()


def test_upload_dry_run_and_cancel(org, live_server, page, shot):
    page.set_default_timeout(30_000)
    page.set_default_navigation_timeout(45_000)
    login(page, live_server, org.manager.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/reports/imports/")
    page.select_option("select[name=kind]", "base_clients")
    page.set_input_files("input[name=file]", files=[{"name": "老客户.xlsx", "mimeType": "application/octet-stream",
                                                     "buffer": workbook()}])
    with page.expect_navigation():
        page.click("main form[enctype] button[type=submit]")
    expect(page.locator("#import-status .badge")).to_have_text(zh("Checked, ready to import"))
    expect(page.locator("#import-rows")).to_contain_text(zh("New base client"))
    expect(page.locator("#import-rows")).to_contain_text(zh("Refused"))
    shot(page, "reports-import-base-clients-dry-run")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"#import-status button:has-text('{zh('Cancel the import')}')")
    expect(page.locator("#import-status .badge")).to_have_text(zh("Cancelled"))
    expect(page.locator("#import-status .alert")).to_contain_text("0")
    shot(page, "reports-import-cancelled")
    assert ImportBatch.objects.get().status == "cancelled"
