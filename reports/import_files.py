"""The import's workbooks: the template (columns in the user's language, with a sheet that explains them) and the
refused rows (the original cells and an error column), written with the same safe workbook as every export."""

from __future__ import annotations

import io
import tempfile

from django.utils.translation import gettext as _

from .excel import Formats, workbook, write_value
from .models import ImportBatch, ImportKind
from .services import client_imports
from .services.imports import LEAD_FIELDS, TEMPLATE_FIELDS, refused_rows


def template_workbook(kind: str = ImportKind.LEADS) -> bytes:
    """The empty workbook of ``kind`` (leads or base clients) with a sheet explaining the columns."""
    clients = kind == ImportKind.BASE_CLIENTS
    fields, columns = (client_imports.FIELDS, client_imports.TEMPLATE_FIELDS) if clients else (LEAD_FIELDS,
                                                                                              TEMPLATE_FIELDS)
    buffer = io.BytesIO()
    book = workbook(buffer)
    formats = Formats(book)
    sheet = book.add_worksheet(_("Base clients") if clients else _("Leads"))
    for col, field in enumerate(columns):
        label = str(fields[field][0])
        write_value(sheet, 0, col, label, "text", formats.header)
        sheet.set_column(col, col, {"note": 30, "vin": 22}.get(field, 16))
    sheet.freeze_panes(1, 0)
    if "grade" in columns:
        sheet.data_validation(1, columns.index("grade"), 100_000, columns.index("grade"),
                              {"validate": "list", "source": ["A", "B", "C", "D", "E"], "ignore_blank": True})
    help_sheet = book.add_worksheet(_("Instructions"))
    help_sheet.set_column(0, 0, 18)
    help_sheet.set_column(1, 1, 90)
    rows = [
        (_("Name"), _("Required. The customer's name, or Mr./Ms. and a surname.")),
        (_("Phone"), _("A mobile or landline number; a phone already known in the store records a re-visit.")),
        (_("Visit date"), _("The first visit (2024-05-01, 2024/5/1, 2024年5月1日 or an Excel date). Required for a "
                            "row without a phone; without a date a new customer is dated today.")),
        (_("Source"), _("自来 / 推荐 / 开发 (walk-in / referral / outbound); empty: walk-in.")),
        (_("Channel"), _("A channel of that source, by name.")),
        (_("Series"), _("A vehicle series of the catalogue, by Chinese or English name.")),
        (_("Grade"), _("A, B, C, D or E; empty: ungraded.")),
        (_("Consultant"), _("An active consultant of the store, by display name or username; empty: shared "
                            "round-robin.")),
        (_("Budget (CNY)"), _("An amount in CNY; 15万 is read as 150000.")),
    ]
    if clients:
        rows = [row for row in rows if str(row[0]) not in (_("Visit date"), _("Grade"), _("Budget (CNY)"))] + [
            (_("VIN"), _("17 characters with a valid check digit; a VIN already on a card is \"already there\". A "
                         "row without a VIN needs a phone.")),
            (_("Plate"), _("A Chinese plate such as 粤B12345 (optional).")),
            (_("Price (CNY)"), _("Required: the deal's price in CNY; 15万 is read as 150000.")),
            (_("Order date"), _("The day the car was ordered (the customer's visit); empty: the delivery date.")),
            (_("Delivery date"), _("Required. Each row is a sale: the buyer's lead, its deal and the base client "
                                   "with the vehicle; a phone that is already a base client gets the vehicle.")),
        ]
    rows.append((_("Dates"), _("Year first (2024-05-01, 2024/5/1, 2024年5月1日) or an Excel date. A date written day and "
                               "month first is read only when it has one reading: 13/05/2024 is 13 May, but 01/05/2024 "
                               "(1 May or 5 January?) is refused. Dates before 1900 are refused.")))
    for r, (label, text) in enumerate(rows):
        write_value(help_sheet, r, 0, str(label), "text", formats.label)
        write_value(help_sheet, r, 1, str(text), "text", formats.cell["text"])
    book.close()
    return buffer.getvalue()


def errors_workbook(batch: ImportBatch) -> bytes:
    """Streamed (constant memory): a refused-rows file can be as long as the upload."""
    with tempfile.TemporaryFile() as target:
        book = workbook(target, constant_memory=True)
        formats = Formats(book)
        sheet = book.add_worksheet(_("Refused rows"))
        headers = [_("Row"), _("Error"), *batch.headers]
        # Column i of the sheet holds mapping[i]'s field (for the rows refused at commit: see below).
        fields = [batch.mapping.get(str(i), "") for i in range(len(batch.headers))]
        sheet.set_column(0, 0, 8)
        sheet.set_column(1, 1, 50)
        sheet.set_column(2, len(headers), 16)
        for col, label in enumerate(headers):
            write_value(sheet, 0, col, str(label), "text", formats.header)
        sheet.freeze_panes(1, 0)
        for r, row in enumerate(refused_rows(batch), start=1):
            write_value(sheet, r, 0, row.number, "int", formats.cell["int"])
            write_value(sheet, r, 1, row.error, "text", formats.cell["text"])
            # A row the services refused at commit time has its checked values rather than the cells as read.
            cells = row.raw or [row.data.get("arrived_at" if field == "visit_date" else field, "") for field in fields]
            for col, value in enumerate(cells, start=2):
                write_value(sheet, r, col, value, "text", formats.cell["text"])
        book.close()
        target.seek(0)
        return target.read()
