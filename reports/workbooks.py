"""Reading uploaded workbooks safely: .xlsx through openpyxl in read-only mode (its XML parsing goes through defusedxml,
which refuses entity expansion: the "billion laughs" XML bomb), .csv through the csv module, with limits on the file
size, the uncompressed size, the row count and the header.

Every problem is a :class:`BadFile` with a message for the user; nothing here writes to the database."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils.translation import gettext as _

MAX_BYTES = 20 * 1024 * 1024  # the upload
MAX_UNCOMPRESSED = 400 * 1024 * 1024  # all the workbook's parts once unzipped (a zip bomb is far bigger)
MAX_RATIO = 150  # a part that unzips to more than this times its compressed size is a bomb
MAX_ROWS = 100_000  # the default of settings.IMPORT_MAX_ROWS
HEADER_SCAN_ROWS = 10

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an old .xls, or an encrypted (password-protected) .xlsx
MERGE_REF = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


class BadFile(Exception):
    """The file cannot be imported; ``str(exc)`` is the message for the user."""


def max_rows() -> int:
    """The most data rows one import reads (``settings.IMPORT_MAX_ROWS``, default ``MAX_ROWS``)."""
    return getattr(settings, "IMPORT_MAX_ROWS", None) or MAX_ROWS


@dataclass
class Sheet:
    """An opened sheet: its name, the header row (1-based) and its cells, and an iterator of (row number, cells)
    for the data rows after it."""

    name: str
    header_row: int
    headers: list[str]
    rows: Iterator[tuple[int, list]]
    close: callable = lambda: None


def open_sheet(content: bytes, file_name: str, *, find_header) -> Sheet:
    """Open the upload and find its header row: the first of the first rows for which ``find_header(cells)`` is
    true (a title row above the headers is common in dealers' workbooks)."""
    if not content:
        raise BadFile(_("The file is empty."))
    if len(content) > MAX_BYTES:
        raise BadFile(_("The file is larger than %(mb)s MB: split it into several files.") % {"mb": MAX_BYTES // 2**20})
    if content.startswith(OLE_MAGIC):
        raise BadFile(_("This is a password-protected workbook or an old .xls file: open it in Excel or WPS, remove "
                        "the password and save it as .xlsx."))
    if content.startswith(ZIP_MAGIC):
        return _open_xlsx(content, find_header)
    if file_name.lower().endswith(".csv"):
        return _open_csv(content, find_header)
    raise BadFile(_("This is not an Excel workbook (.xlsx) or a .csv file."))


def _check_zip(content: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise BadFile(_("The workbook is damaged: open it in Excel or WPS and save it again.")) from None
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > 1_000_000 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise BadFile(_("The workbook unpacks to an implausible size (a compression bomb?): it was not read."))
    if total > MAX_UNCOMPRESSED:
        raise BadFile(_("The workbook unpacks to an implausible size (a compression bomb?): it was not read."))
    if "xl/workbook.xml" not in {i.filename for i in infos}:
        raise BadFile(_("This zip file is not an Excel workbook (.xlsx)."))


def _merged_header(ws, header_row: int) -> bool:
    """Whether a merged range touches the header row (read from the sheet's XML: read-only sheets do not parse it).
    The merges come after the rows in the XML, so the stream is scanned in chunks, never held whole."""
    with ws._get_source() as src:
        tail = b""
        while chunk := src.read(1 << 20):
            data = tail + chunk
            for m in MERGE_REF.finditer(data):
                first = int(m.group(2))
                last = int(m.group(4) or first)
                if first <= header_row <= last:
                    return True
            tail = data[-200:]
    return False


def _open_xlsx(content: bytes, find_header) -> Sheet:
    _check_zip(content)
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        from defusedxml import DefusedXmlException
    except ImportError:  # pragma: no cover - defusedxml is a requirement
        DefusedXmlException = ValueError

    def unsafe(exc: BaseException) -> bool:
        # openpyxl wraps the parser's error ("Unable to read workbook ... invalid XML") in a ValueError.
        while exc is not None:
            if isinstance(exc, DefusedXmlException):
                return True
            exc = exc.__cause__ or exc.__context__
        return False

    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (DefusedXmlException, InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError,
            OSError) as exc:
        if unsafe(exc):
            raise BadFile(_("The workbook contains unsafe XML (entity declarations): it was not read.")) from None
        raise BadFile(_("The workbook is damaged: open it in Excel or WPS and save it again.")) from None
    try:
        # A sheet's <dimension> (read as max_row) is what the exporter claimed, not what the sheet holds: None when
        # absent, and some exporters leave it stale ("A1:D2" over 200,000 rows). It only picks the first sheet that
        # is not declared empty and refuses early a sheet that claims too many rows; the rows are counted as read.
        sheets = [ws for ws in book.worksheets if getattr(ws, "max_row", 0) != 0]
        if not sheets:
            raise BadFile(_("The workbook's sheets are empty."))
        ws = sheets[0]
        if ws.max_row and ws.max_row > max_rows() + HEADER_SCAN_ROWS:
            raise BadFile(_("The sheet has %(rows)s rows; at most %(max)s can be imported at once: split it.")
                          % {"rows": ws.max_row, "max": max_rows()})
        # In read-only mode openpyxl stops at the declared last row and column: forget them, read what is there.
        ws.reset_dimensions()
        rows = ws.iter_rows(values_only=True)
        header_row, headers = _find_header(rows, find_header)
        if _merged_header(ws, header_row):
            raise BadFile(_("The header row has merged cells: unmerge them so that every column has its own "
                            "header, then upload again."))
        return Sheet(name=ws.title, header_row=header_row, headers=headers,
                     rows=_limited(rows, start=header_row + 1), close=book.close)
    except BadFile:
        book.close()
        raise
    except (DefusedXmlException, KeyError, ValueError, TypeError, zipfile.BadZipFile, OSError) as exc:
        book.close()
        if unsafe(exc):
            raise BadFile(_("The workbook contains unsafe XML (entity declarations): it was not read.")) from None
        raise BadFile(_("The workbook is damaged: open it in Excel or WPS and save it again.")) from None


def _open_csv(content: bytes, find_header) -> Sheet:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise BadFile(_("The CSV file is neither UTF-8 nor GBK text."))
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header_row, headers = _find_header(iter(reader), find_header)
    except csv.Error as exc:
        raise BadFile(_csv_message(exc, reader.line_num)) from None
    return Sheet(name="csv", header_row=header_row, headers=headers, rows=_limited(reader, start=header_row + 1))


def _find_header(rows, find_header) -> tuple[int, list[str]]:
    seen_any = False
    for number in range(1, HEADER_SCAN_ROWS + 1):
        try:
            cells = next(rows)
        except StopIteration:
            break
        cells = ["" if c is None else str(c).strip() for c in cells]
        seen_any = seen_any or any(cells)
        if find_header(cells):
            while cells and not cells[-1]:
                cells.pop()
            return number, cells
    if not seen_any:
        raise BadFile(_("The sheet is empty."))
    raise BadFile(_("No header row found in the first %(n)s rows: the first sheet needs a row of column names, "
                    "such as 姓名 / 电话 or name / phone (download the template).") % {"n": HEADER_SCAN_ROWS})


def _csv_message(exc: csv.Error, row: int) -> str:
    if "field limit" in str(exc):  # csv's own limit on one cell (131,072 characters): a quote mark left open
        return _("Row %(row)s of the CSV file has a cell longer than %(limit)s characters, which no column of an "
                 "import can hold (often a quotation mark that is never closed): fix that row and upload again.") % {
            "row": row, "limit": f"{csv.field_size_limit():,}"}
    return _("Row %(row)s of the CSV file cannot be read (%(error)s): fix it and upload again.") % {
        "row": row, "error": str(exc)}


def _limited(rows, *, start: int) -> Iterator[tuple[int, list]]:
    """The data rows with their sheet row numbers; fully blank rows skipped. The rows are counted as they are read
    (a workbook's declared size is not trusted): more than ``max_rows()`` is a BadFile, raised at the first row
    over the limit. A CSV row that cannot be read is a BadFile naming it."""
    count, limit, rows = 0, max_rows(), iter(rows)
    number = start - 1
    while True:
        number += 1
        try:
            cells = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BadFile(_csv_message(exc, number)) from None
        if not any(c not in (None, "") and str(c).strip() for c in cells):
            continue
        count += 1
        if count > limit:
            raise BadFile(_("The sheet has more than %(max)s rows; import at most %(max)s at once: split it.")
                          % {"max": limit})
        yield number, list(cells)


# --- values ------------------------------------------------------------------------------------------------------

EXCEL_EPOCH = datetime(1899, 12, 30)
# Year first only: 01/05/2024 is 1 May in one convention and 5 January in the other (``DAY_AND_MONTH``).
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S",
                "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S")
DAY_AND_MONTH = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")


class AmbiguousDate(ValueError):
    """Text such as 01/05/2024: day and month before the year, and both readings are dates (``readings``)."""

    def __init__(self, readings: list[date]):
        self.readings = readings
        super().__init__("ambiguous day and month")


def date_message(what: str, value, exc: ValueError) -> str:
    """Why a cell is not a date, for the user: ``what`` names the column (the visit date, the delivery date)."""
    if isinstance(exc, AmbiguousDate):
        first, second = exc.readings
        return _("The %(what)s %(value)s could be %(first)s or %(second)s: write it year first, as 2024-05-01, "
                 "2024/5/1 or 2024年5月1日.") % {"what": what, "value": cell_str(value),
                                               "first": first.isoformat(), "second": second.isoformat()}
    return _("The %(what)s %(value)s is not a date (write it as 2024-05-01, 2024/5/1 or 2024年5月1日).") % {
        "what": what, "value": cell_str(value)}


def parse_date(value) -> datetime | date | None:
    """A cell as a date or datetime (naive): a real Excel date, an Excel serial number (45231 → 2023-11-01), or text
    in the usual Chinese and ISO forms, year first. Day and month before the year (01/05/2024, 13.05.2024) are read
    only when one reading alone is a date or both give the same day; otherwise AmbiguousDate (nothing is guessed).
    None for blank; ValueError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return value
    if isinstance(value, time):
        raise ValueError("time only")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 20_000 <= value <= 80_000:  # 1954..2119 as Excel serial days
            moment = EXCEL_EPOCH + timedelta(days=float(value))
            return moment.date() if float(value).is_integer() else moment
        raise ValueError("number out of range")
    text = str(value).strip().replace("年", "-").replace("月", "-").replace("日", "")
    text = re.sub(r"\s+", " ", text)
    if re.fullmatch(r"\d{5}(\.\d+)?", text):
        return parse_date(float(text))
    if match := DAY_AND_MONTH.fullmatch(text):
        first, second, year = map(int, match.groups())
        readings = []
        for day, month in ((first, second), (second, first)):
            try:
                reading = date(year, month, day)
            except ValueError:
                continue
            if reading not in readings:
                readings.append(reading)
        if len(readings) == 2:
            raise AmbiguousDate(readings)
        if readings:
            return readings[0]
        raise ValueError("not a day and month")
    for fmt in DATE_FORMATS:
        try:
            moment = datetime.strptime(text, fmt.replace("年", "-").replace("月", "-").replace("日", ""))
        except ValueError:
            continue
        return moment if ("%H" in fmt) else moment.date()
    raise ValueError("unknown date format")


def cell_str(value) -> str:
    """A cell as text: numbers without a trailing .0 (a phone typed as a number), dates in ISO."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()
