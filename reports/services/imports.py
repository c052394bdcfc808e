"""Importing leads from dealers' workbooks: upload → read and check every row (the dry run) → commit.

Every row goes through the leads services the pages use (``visit_log_many``, the batch form of ``visit_log`` with its
checks, for a new lead or a re-visit; ``lead_update`` to fill empty fields), so an import cannot create what the UI
would refuse: the phone is normalised, a known phone of the store is a re-visit, grades, sources, channels, series
and consultants must exist. Base clients: ``client_imports``.

- **Dry run** (``import_parse``): the file is read with limits (``reports.workbooks``), each row is checked against
  the database in chunks (one query per chunk for the known phones, one for their visits) and stored as an
  ``ImportRow`` with what would happen: new lead, re-visit, update, already there, or refused and why.
- **Commit** (``import_commit``): the rows are re-checked against the database as it is now and applied in batches of
  ``BATCH_ROWS``; each batch is one transaction that also marks its rows ``done`` and adds to the counts, so a failed
  or cancelled import leaves whole batches in and the rest out, and the rows marked done are exactly those that went
  in. Committing again continues with the rows not done. A commit is started once (``import_start_commit``), a row
  is written at most once even by two tasks at once (each batch locks its rows not done), the rows of one customer
  are serialised across simultaneous imports (``_lock_customers``), and a row a service or the database refuses is
  refused alone.
- **Idempotent**: a row whose phone is known with a visit at the same moment, or a phone row without a date whose
  phone is known, or an anonymous row whose lead (same name and first visit) exists, is "already there": importing the
  same file twice creates nothing the second time."""

from __future__ import annotations

import hashlib
import re
import threading
import time as clock
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dealercrm.api.dates import date_in_range
from dealercrm.bulk import any_of
from dealercrm.models import Role, Store, User, VehicleSeries
from dealercrm.text import clean_name
from leads.models import GRADE_ORDER, PHONE_HOLDERS, Channel, Lead, Status, Visit
from leads.phones import phone_normalize
from leads.services import column_limits_or_error, lead_update, manages_store, visit_log_many

from ..models import ImportBatch, ImportKind, ImportRow, RowAction
from ..workbooks import BadFile, cell_str, date_message, open_sheet, parse_date

CHUNK_ROWS = 2000  # rows checked per database look-up in the dry run
BATCH_ROWS = 500  # rows per committed transaction
VISIT_HOUR = time(10, 0)  # a date without a time: 10:00 local, the same moment on every import of the file

# field -> (label for the template, header aliases in Chinese and English, normalised)
LEAD_FIELDS: dict[str, tuple] = {
    "name": (gettext_lazy("Name"), ["姓名", "客户姓名", "客户名称", "客户", "名称", "name", "customer", "customername"]),
    "phone": (gettext_lazy("Phone"), ["电话", "手机", "手机号", "手机号码", "联系电话", "联系方式", "phone", "mobile",
                                      "telephone", "tel", "phonenumber"]),
    "visit_date": (gettext_lazy("Visit date"), ["到店日期", "到店时间", "首次到店", "首次到店日期", "来店日期", "登记日期",
                                               "日期", "visitdate", "firstvisit", "date", "visitedon"]),
    "source": (gettext_lazy("Source"), ["来源", "客户来源", "source"]),
    "channel": (gettext_lazy("Channel"), ["渠道", "来源渠道", "信息渠道", "channel"]),
    "series": (gettext_lazy("Series"), ["车系", "意向车系", "意向车型", "车型", "series", "model", "seriesofinterest"]),
    "grade": (gettext_lazy("Grade"), ["级别", "等级", "客户级别", "意向级别", "grade", "level"]),
    "consultant": (gettext_lazy("Consultant"), ["销售顾问", "顾问", "所属顾问", "负责人", "consultant",
                                                "salesconsultant", "salesperson", "owner"]),
    "gender": (gettext_lazy("Gender"), ["性别", "gender", "sex"]),
    "budget": (gettext_lazy("Budget (CNY)"), ["预算", "购车预算", "budget", "budgetcny"]),
    "district": (gettext_lazy("District"), ["区域", "地区", "区县", "district", "region"]),
    "industry": (gettext_lazy("Industry"), ["行业", "industry"]),
    "note": (gettext_lazy("Note"), ["备注", "说明", "note", "notes", "remark", "remarks"]),
}
# The template's columns, in order; "name" is the one required column.
TEMPLATE_FIELDS = ["name", "phone", "visit_date", "source", "channel", "series", "grade", "consultant", "gender",
                   "budget", "district", "industry", "note"]
SOURCE_WORDS = {
    "walk_in": ["walk_in", "walk-in", "walkin", "自来", "自然到店", "到店", "来电", "网络"],
    "referral": ["referral", "推荐", "转介绍", "介绍"],
    "outbound": ["outbound", "开发", "外拓", "活动", "车展"],
}
GENDER_WORDS = {"male": ["male", "m", "男", "先生"], "female": ["female", "f", "女", "女士"]}
UPDATABLE = ("gender", "budget", "district", "industry", "series")


def _norm(text: str) -> str:
    """A header as compared: lower case, no spaces, no marks such as * or (必填)."""
    text = re.sub(r"[（(].*?[)）]", "", str(text or ""))
    return re.sub(r"[\s*_\-:：/]", "", text).lower()


ALIASES = {_norm(alias): field for field, (_label, aliases) in LEAD_FIELDS.items() for alias in aliases}


def auto_mapping(headers: list[str], aliases: dict[str, str] | None = None) -> dict[str, str]:
    """Column index (str) -> field, from the headers (Chinese or English); each field at most once."""
    aliases = ALIASES if aliases is None else aliases
    mapping, used = {}, set()
    for index, header in enumerate(headers):
        field = aliases.get(_norm(header))
        if field and field not in used:
            mapping[str(index)] = field
            used.add(field)
    return mapping


def looks_like_header(cells: list[str], aliases: dict[str, str] | None = None) -> bool:
    aliases = ALIASES if aliases is None else aliases
    fields = {aliases.get(_norm(c)) for c in cells if c}
    return "name" in fields and len(fields - {None}) >= 2


def kind_module(kind: str):
    """What differs by kind: the columns, the row check, the plan, the commit (base clients: ``client_imports``)."""
    if kind == ImportKind.BASE_CLIENTS:
        from . import client_imports

        return client_imports
    return None


def fields_for(kind: str) -> dict[str, tuple]:
    module = kind_module(kind)
    return module.FIELDS if module else LEAD_FIELDS


def mapping_for(kind: str, headers: list[str]) -> dict[str, str]:
    module = kind_module(kind)
    return auto_mapping(headers, module.ALIASES if module else ALIASES)


# --- permissions ----------------------------------------------------------------------------------------------------

def can_import(user: User, store: Store | None = None) -> bool:
    """Managers for their store, group admins for any store of their group (and superusers); consultants never."""
    if not user.is_active:
        return False
    if store is None:
        return user.is_superuser or user.role in (Role.MANAGER, Role.GROUP_ADMIN)
    return manages_store(user, store)


# --- upload -------------------------------------------------------------------------------------------------------

@transaction.atomic
def import_create(*, actor: User, store: Store, kind: str, file_name: str, content: bytes) -> ImportBatch:
    """Keep an uploaded file as a new import (status ``parsing``); the dry run reads it (``import_parse``, a task)."""
    if not can_import(actor, store):
        raise PermissionDenied(_("Only the store's manager or a group admin can import."))
    if kind not in ImportKind.values:
        raise ValidationError({"kind": [_("Choose leads or base clients.")]})
    if not content:
        raise ValidationError({"file": [_("The file is empty.")]})
    from ..workbooks import MAX_BYTES

    if len(content) > MAX_BYTES:
        raise ValidationError({"file": [_("The file is larger than %(mb)s MB: split it into several files.")
                                        % {"mb": MAX_BYTES // 2**20}]})
    return ImportBatch.objects.create(store=store, kind=kind, file_name=(file_name or "upload")[:200],
                                      file_size=len(content), content=content, created_by=actor,
                                      language=translation.get_language() or "")


# --- checking rows ------------------------------------------------------------------------------------------------

class Lookups:
    """What rows are checked against, loaded once per import: the store's consultants, the series, the channels."""

    def __init__(self, store: Store):
        self.store = store
        self.consultants: dict[str, User] = {}
        ambiguous = set()
        for user in User.objects.filter(store=store, is_active=True, role__in=[Role.CONSULTANT, Role.MANAGER]):
            for key in {user.username.lower(), (user.display_name or "").strip().lower()} - {""}:
                if key in self.consultants and self.consultants[key].pk != user.pk:
                    ambiguous.add(key)
                self.consultants[key] = user
        for key in ambiguous:
            self.consultants.pop(key, None)
        self.ambiguous = ambiguous
        self.series: dict[str, VehicleSeries] = {}
        for series in VehicleSeries.objects.select_related("brand"):
            for key in (series.name, series.name_en, f"{series.brand.name}{series.name}",
                        f"{series.brand.name_en} {series.name_en}"):
                self.series.setdefault(key.strip().lower(), series)
        self.channels: dict[tuple[str, str], Channel] = {}
        for channel in Channel.objects.all():
            for key in (channel.name, channel.name_en, channel.code):
                self.channels[(channel.source, key.strip().lower())] = channel


def _source(text: str) -> str | None:
    value = text.strip().lower()
    if not value:
        return "walk_in"
    for source, words in SOURCE_WORDS.items():
        if value in words or any(w in value for w in words if len(w) > 1 and not w.isascii()):
            return source
    return None


def _aware(moment) -> datetime:
    if isinstance(moment, datetime) and moment.time() == time(0, 0):
        moment = moment.date()  # an Excel date cell comes back as midnight: a date, like a typed one
    if isinstance(moment, datetime):
        return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
    return timezone.make_aware(datetime.combine(moment, VISIT_HOUR))


def check_row(cells: dict, lk: Lookups) -> tuple[dict, list[str]]:
    """One row's values (field -> cell) checked and converted: ``(values, errors)``. Values are JSON-ready: the
    phone in E.164, the visit moment in ISO, ids for the consultant, series and channel."""
    errors: list[str] = []
    v: dict = {}
    name = cell_str(cells.get("name"))
    try:
        # The visit service's name rule (no emoji-only name, no text-direction override) and the column's length.
        name = clean_name(name)
        if not name:
            errors.append(_("The name is missing."))
        column_limits_or_error(Lead, "name", name)
    except ValidationError as exc:
        errors.extend(field_messages(LEAD_FIELDS["name"][0], "", exc))
    v["name"] = name
    try:
        v["phone"] = phone_normalize(cell_str(cells.get("phone")))
    except ValidationError:
        errors.append(_("The phone number %(phone)s is not valid.") % {"phone": cell_str(cells.get("phone"))})
        v["phone"] = ""
    moment = checked_date(cells.get("visit_date"), _("visit date"), errors)
    if moment is not None:
        arrived = _aware(moment)
        if arrived > timezone.now():
            errors.append(_("The visit date is in the future."))
        v["arrived_at"] = arrived.isoformat()
    elif not v["phone"] and not errors:
        errors.append(_("A row without a phone needs its visit date (otherwise importing the file twice would "
                        "count the customer twice)."))
    source = _source(cell_str(cells.get("source")))
    if source is None:
        errors.append(_("Unknown source %(value)s: use 自来/推荐/开发 or walk-in/referral/outbound.")
                      % {"value": cell_str(cells.get("source"))})
    v["source"] = source or "walk_in"
    channel = cell_str(cells.get("channel")).lower()
    if channel:
        found = lk.channels.get((v["source"], channel))
        if found is None:
            errors.append(_("Unknown channel %(value)s for this source.") % {"value": cell_str(cells.get("channel"))})
        else:
            v["channel"] = found.pk
    series = cell_str(cells.get("series")).lower()
    if series:
        found = lk.series.get(series)
        if found is None:
            errors.append(_("Unknown series %(value)s.") % {"value": cell_str(cells.get("series"))})
        else:
            v["series"] = found.pk
    grade = cell_str(cells.get("grade")).upper().rstrip("级")
    if grade:
        if grade not in GRADE_ORDER:
            errors.append(_("Unknown grade %(value)s: use A, B, C, D or E.") % {"value": cell_str(cells.get("grade"))})
        else:
            v["grade"] = grade
    consultant = cell_str(cells.get("consultant")).lower()
    if consultant:
        found = lk.consultants.get(consultant)
        if found is None:
            errors.append(
                (_("Two people of the store are called %(value)s: use the username.") if consultant in lk.ambiguous
                 else _("No active consultant of this store is called %(value)s."))
                % {"value": cell_str(cells.get("consultant"))})
        else:
            v["consultant"] = found.pk
    gender = cell_str(cells.get("gender")).lower()
    if gender:
        match = next((g for g, words in GENDER_WORDS.items() if gender in words), None)
        if match is None:
            errors.append(_("Unknown gender %(value)s.") % {"value": cell_str(cells.get("gender"))})
        else:
            v["gender"] = match
    budget = cell_str(cells.get("budget")).replace(",", "").replace("¥", "").replace("元", "")
    if budget:
        try:
            amount = Decimal(budget.replace("万", "")) * (10000 if "万" in budget else 1)
            if amount < 0:
                raise InvalidOperation
            amount = amount.quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            errors.append(_("The budget %(value)s is not an amount.") % {"value": cell_str(cells.get("budget"))})
        else:
            try:
                column_limits_or_error(Lead, "budget", amount)  # what the visit service checks
                v["budget"] = str(amount)
            except ValidationError as exc:
                errors.extend(field_messages(LEAD_FIELDS["budget"][0], cell_str(cells.get("budget")), exc))
    for field in ("district", "industry"):
        if text := cell_str(cells.get(field)):
            try:
                column_limits_or_error(Lead, field, text)
                v[field] = text
            except ValidationError as exc:
                errors.extend(field_messages(LEAD_FIELDS[field][0], "", exc))
    if note := cell_str(cells.get("note")):
        v["note"] = note[:2000]
    return v, errors


def field_messages(label, value: str, exc: ValidationError) -> list[str]:
    """A service's or a column's refusal of one cell, naming the column (and the value when short)."""
    value = value if len(value) <= 40 else ""
    return [(_("%(field)s %(value)s: %(message)s") if value else _("%(field)s: %(message)s"))
            % {"field": label, "value": value, "message": message} for message in exc.messages]


def checked_date(value, what: str, errors: list[str]):
    """A date cell read (``parse_date``) and held to the app's date range, as the services hold it; None, with the
    reason added to ``errors``, when it is not a date, is ambiguous (01/05/2024) or is out of range (year 1)."""
    try:
        moment = parse_date(value)
    except ValueError as exc:
        errors.append(date_message(what, value, exc))
        return None
    if moment is None:
        return None
    try:
        date_in_range(moment.date() if isinstance(moment, datetime) else moment)
    except ValidationError as exc:
        errors.extend(_("The %(what)s %(value)s: %(message)s") % {"what": what, "value": cell_str(value),
                                                                 "message": message} for message in exc.messages)
        return None
    return moment


def _phone_leads(store: Store, phones: set[str]):
    """The store's leads with these (non-blank) phones but the merged ones: those holding their phone (the unique
    phone index) and the won ones (``lead_store_phone_won``, leads 0022), one BitmapOr of two index look-ups.
    ``not_merged()`` says the same and read every lead of the store (54 ms for a batch at 23,000 leads, 2.5 ms so):
    a partial index serves only a query whose conditions imply its own, and PostgreSQL proves ``phone <> ''`` from
    ``phone IN (…)`` for at most 100 phones, hence the explicit exclusion."""
    return Lead.objects.filter(PHONE_HOLDERS | Q(status=Status.WON), any_of("phone", phones), store=store).exclude(
        phone="")


def _phone_holders(store: Store, phones: set[str]):
    """The store's leads holding these (non-blank) phones, through the unique phone index (``_phone_leads``)."""
    return Lead.objects.phone_holders().filter(any_of("phone", phones), store=store).exclude(phone="")


def _plan(rows: list[tuple[int, dict, list[str]]], store: Store, seen: dict) -> list[tuple[int, dict, str, str, int | None]]:
    """Decide each checked row's action against the database (four queries per chunk) and the rows before it in the
    file (``seen``: phone -> the row number that brings it). Returns (number, values, action, error, lead id).

    A phone's lead is the one holding it in the store (``phone_holders``, as ``visit_log`` finds it), else its latest
    lead (a won one: a returning buyer's dated row is a new lead, as ``visit_log`` makes it). A visit at the same
    moment on any lead of the phone makes a dated row "already there"."""
    phones = {v["phone"] for _n, v, errors in rows if not errors and v["phone"]}
    holders, first_visit = {}, {}
    for phone, pk, first in (_phone_holders(store, phones)
                             .values_list("phone", "pk", "first_visit_at") if phones else []):
        holders[phone], first_visit[phone] = pk, first
    known, filled, phone_of = {}, {}, {}
    for phone, pk, *values in _phone_leads(store, phones).order_by(
            "first_visit_at", "pk").values_list("phone", "pk", *(f"{f}_id" if f == "series" else f for f in UPDATABLE)):
        known[phone] = holders.get(phone, pk)
        phone_of[pk] = phone
        filled[pk] = {f for f, value in zip(UPDATABLE, values, strict=True) if value not in ("", None)}
    moments = {(phone_of[lead_id], arrived) for lead_id, arrived in Visit.objects.filter(
        any_of("lead_id", phone_of)).values_list("lead_id", "arrived_at")} if phone_of else set()
    anonymous_at = [datetime.fromisoformat(v["arrived_at"]) for _n, v, errors in rows
                    if not errors and not v["phone"] and v.get("arrived_at")]
    anonymous_known = set(Lead.objects.not_merged().filter(
        store=store, phone="", first_visit_at__in=anonymous_at).values_list("name", "first_visit_at")) \
        if anonymous_at else set()
    planned = []
    for number, v, errors in rows:
        if errors:
            planned.append((number, v, RowAction.REFUSED, " ".join(errors), None))
            continue
        phone = v["phone"]
        arrived = datetime.fromisoformat(v["arrived_at"]) if v.get("arrived_at") else None
        if not phone:
            key = ("anonymous", v["name"], arrived)
            if (v["name"], arrived) in anonymous_known or key in seen:
                planned.append((number, v, RowAction.UNCHANGED, "", None))
            else:
                seen[key] = number
                planned.append((number, v, RowAction.NEW, "", None))
            continue
        lead_id = known.get(phone)
        # A re-visit before the lead's first visit is refused by the visit service (check_visit_time): so here.
        first = first_visit.get(phone) or seen.get(("first", phone))
        if lead_id is None:
            if phone in seen:
                action = RowAction.REVISIT if arrived is not None and (phone, arrived) not in seen else RowAction.UNCHANGED
            else:
                action = RowAction.NEW
                seen[("first", phone)] = arrived or timezone.now()  # no date: the commit logs it now
            if action == RowAction.REVISIT and first is not None and arrived < first:
                planned.append((number, v, RowAction.REFUSED, _("A re-visit cannot precede the first visit."), None))
                continue
            seen[phone] = number
            if arrived is not None:
                seen[(phone, arrived)] = number
            planned.append((number, v, action, "", None))
            continue
        if arrived is not None and (phone, arrived) not in moments and (phone, arrived) not in seen:
            if (phone in holders or phone in seen) and first is not None and arrived < first:
                planned.append((number, v, RowAction.REFUSED, _("A re-visit cannot precede the first visit."), None))
                continue
            seen[(phone, arrived)] = number
            if phone in holders or phone in seen:
                planned.append((number, v, RowAction.REVISIT, "", holders.get(phone)))
            else:  # nobody holds the phone (its lead was won): a new lead, the buyer back
                seen[phone] = number
                seen[("first", phone)] = arrived
                planned.append((number, v, RowAction.NEW, "", None))
        elif any(v.get(f) and f not in filled[lead_id] for f in UPDATABLE):  # fills an empty field of the lead
            planned.append((number, v, RowAction.UPDATE, "", lead_id))
        else:
            planned.append((number, v, RowAction.UNCHANGED, "", lead_id))
    return planned


# --- the dry run --------------------------------------------------------------------------------------------------

def import_parse(batch_id: int) -> ImportBatch:
    """Read the import's file and check every row (the dry run): ``ImportRow`` rows with their planned action, the
    counts, status ``dry_run_ready``; or status ``failed`` with the reason when the file cannot be read. Rows are
    written in chunks (progress moves); a second call starts over (with the mapping the user may have fixed)."""
    batch = ImportBatch.objects.get(pk=batch_id)
    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.PARSING, progress=0, error="",
                                                   heartbeat_at=timezone.now())
    ImportRow.objects.filter(batch=batch).delete()
    counts = dict.fromkeys(["rows", "new", "revisits", "updated", "unchanged", "refused"], 0)
    try:
        module = kind_module(batch.kind)
        sheet = open_sheet(bytes(batch.content or b""), batch.file_name,
                           find_header=module.looks_like_header if module else looks_like_header)
    except BadFile as exc:
        ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.FAILED, error=str(exc), **counts)
        batch.refresh_from_db()
        return batch
    try:
        mapping = batch.mapping or mapping_for(batch.kind, sheet.headers)
        if "name" not in mapping.values():
            raise BadFile(_("No column is mapped to the name: map one and check again."))
        ImportBatch.objects.filter(pk=batch.pk).update(sheet=sheet.name[:100], header_row=sheet.header_row,
                                                       headers=sheet.headers, mapping=mapping)
        lookups = Lookups(batch.store)
        seen: dict = {}
        chunk: list = []
        estimate = None

        def flush():
            planned = (module.plan if module else _plan)(chunk, batch.store, seen)
            ImportRow.objects.bulk_create([
                # The cells as read are kept for refused rows only (the refused-rows workbook): half the writing.
                ImportRow(batch=batch, number=number, data=values,
                          raw=raw_cells[number] if action == RowAction.REFUSED else [], action=action, error=error,
                          lead_id=lead_id)
                for number, values, action, error, lead_id in planned
            ], batch_size=1000)
            for _n, _v, action, _e, _l in planned:
                counts["rows"] += 1
                counts[{"new": "new", "revisit": "revisits", "update": "updated", "unchanged": "unchanged",
                        "refused": "refused"}[action]] += 1
            raw_cells.clear()
            chunk.clear()
            progress = min(99, round(100 * counts["rows"] / estimate)) if estimate else 50
            ImportBatch.objects.filter(pk=batch.pk).update(progress=progress, heartbeat_at=timezone.now(), **counts)

        raw_cells: dict = {}
        estimate = None
        for number, cells in sheet.rows:
            by_field = {field: cells[int(index)] if int(index) < len(cells) else None
                        for index, field in mapping.items()}
            values, errors = (module.check_row if module else check_row)(by_field, lookups)
            raw_cells[number] = [cell_str(c) for c in cells[: max(len(sheet.headers), 1) + 5]]
            chunk.append((number, values, errors))
            if len(chunk) >= CHUNK_ROWS:
                flush()
        if chunk:
            flush()
        if counts["rows"] == 0:
            raise BadFile(_("The sheet has a header row but no data rows."))
    except BadFile as exc:
        ImportRow.objects.filter(batch=batch).delete()
        ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.FAILED, error=str(exc),
                                                       **dict.fromkeys(counts, 0))
        batch.refresh_from_db()
        return batch
    finally:
        sheet.close()
    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.DRY_RUN_READY, progress=100, **counts)
    batch.refresh_from_db()
    return batch


def import_set_mapping(*, actor: User, batch: ImportBatch, mapping: dict[str, str]) -> ImportBatch:
    """The user's column mapping (column index -> field, "" to ignore a column); the rows are checked again."""
    if not can_import(actor, batch.store):
        raise PermissionDenied(_("Only the store's manager or a group admin can import."))
    if batch.status not in (ImportBatch.Status.DRY_RUN_READY, ImportBatch.Status.FAILED):
        raise ValidationError({"mapping": [_("This import can no longer be changed.")]})
    clean = {}
    for index, field in mapping.items():
        if not field:
            continue
        if field not in fields_for(batch.kind):
            raise ValidationError({"mapping": [_("Unknown field %(field)s.") % {"field": field}]})
        if field in clean.values():
            raise ValidationError({"mapping": [_("%(field)s is mapped to two columns.")
                                               % {"field": fields_for(batch.kind)[field][0]}]})
        clean[str(int(index))] = field
    if "name" not in clean.values():
        raise ValidationError({"mapping": [_("Map a column to the name.")]})
    ImportBatch.objects.filter(pk=batch.pk).update(mapping=clean, status=ImportBatch.Status.PARSING, progress=0)
    batch.refresh_from_db()
    return batch


# --- the commit ---------------------------------------------------------------------------------------------------

class ImportAlreadyStarted(Exception):
    """A commit of an import that is importing or done: an import is started once (the API answers 409 with
    ``batch``, the import as it is; the page shows the message)."""

    def __init__(self, batch: ImportBatch):
        self.batch = batch
        super().__init__(
            _("This import is already running: it is started only once. Its progress is shown on its page.")
            if batch.status == ImportBatch.Status.IMPORTING else
            _("This import is already done: it is not imported twice."))


@transaction.atomic
def import_start_commit(*, actor: User, batch: ImportBatch) -> ImportBatch:
    """Start the import's commit, exactly once: the status moves from checked (or stopped) to importing under a row
    lock on the import, so of simultaneous calls (a double click, four API calls at once) one starts it and the
    others raise ImportAlreadyStarted. The caller queues ``import_commit_task`` only when this returns."""
    if not can_import(actor, batch.store):
        raise PermissionDenied(_("Only the store's manager or a group admin can import."))
    batch = ImportBatch.objects.select_for_update().select_related("store").defer("content").get(pk=batch.pk)
    if batch.status in (ImportBatch.Status.IMPORTING, ImportBatch.Status.DONE):
        raise ImportAlreadyStarted(batch)
    if batch.status == ImportBatch.Status.CANCELLED:
        raise ValidationError({"status": [_("This import was cancelled: upload the file again to import the "
                                            "rest (the rows already in are found as already there).")]})
    if batch.status not in (ImportBatch.Status.DRY_RUN_READY, ImportBatch.Status.FAILED) or not batch.rows:
        raise ValidationError({"status": [_("This import has not been checked yet.")]})
    batch.status, batch.committed_by, batch.committed_at = ImportBatch.Status.IMPORTING, actor, timezone.now()
    batch.progress, batch.error = 0, ""
    batch.save(update_fields=["status", "committed_by", "committed_at", "progress", "error"])
    return batch


@transaction.atomic
def import_cancel(*, actor: User, batch: ImportBatch) -> ImportBatch:
    """Stop an import. While it is importing, the commit stops before its next batch (the batch under way finishes:
    each batch is one transaction) and marks the import ``cancelled``; a checked or stopped import that is not running
    is cancelled at once. The rows marked done are exactly the rows that went in; nothing more will be."""
    if not can_import(actor, batch.store):
        raise PermissionDenied(_("Only the store's manager or a group admin can import."))
    batch = ImportBatch.objects.select_for_update().defer("content").get(pk=batch.pk)
    if batch.status == ImportBatch.Status.IMPORTING:
        if batch.cancel_requested_at is None:
            batch.cancel_requested_at = timezone.now()
            batch.save(update_fields=["cancel_requested_at"])
    elif batch.status in (ImportBatch.Status.DRY_RUN_READY, ImportBatch.Status.FAILED, ImportBatch.Status.STALLED):
        batch.status, batch.cancel_requested_at, batch.finished_at = (ImportBatch.Status.CANCELLED, timezone.now(),
                                                                      timezone.now())
        batch.error = _cancelled_message(batch)
        batch.content = None
        batch.save(update_fields=["status", "cancel_requested_at", "finished_at", "error", "content"])
    elif batch.status != ImportBatch.Status.CANCELLED:
        raise ValidationError({"status": [_("This import is %(status)s: there is nothing to cancel.")
                                          % {"status": batch.get_status_display()}]})
    return batch


def _cancelled_message(batch: ImportBatch) -> str:
    done = ImportRow.objects.filter(batch=batch, done=True).exclude(action=RowAction.REFUSED).count()
    return _("Cancelled: %(done)s of %(rows)s rows went in (marked ✓ in the list, filter \"Imported\"); the others "
             "did not.") % {"done": done, "rows": batch.rows}


def _visit_args(v: dict, lk: dict) -> dict:
    """A new-lead or re-visit row as ``visit_log`` arguments."""
    return {
        "name": v["name"], "source": v["source"], "phone": v["phone"],
        "channel": lk["channels"].get(v.get("channel")), "series": lk["series"].get(v.get("series")),
        "grade": v.get("grade"), "assigned_to": lk["users"].get(v.get("consultant")),
        "arrived_at": datetime.fromisoformat(v["arrived_at"]) if v.get("arrived_at") else None,
        "note": v.get("note", ""), "gender": v.get("gender", ""),
        "budget": Decimal(v["budget"]) if v.get("budget") else None,
        "district": v.get("district", ""), "industry": v.get("industry", ""),
    }


def _update(row: ImportRow, actor: User, lead_id: int, lk: dict) -> int:
    """A known phone without a new visit: fill the lead's empty fields through ``lead_update``."""
    v = row.data
    lead = Lead.objects.select_related("store").get(pk=lead_id)
    changes = {}
    for field in UPDATABLE:
        if not v.get(field):
            continue
        if field == "series":
            if lead.series_id is None:
                changes["series"] = lk["series"].get(v["series"])
        elif field == "budget":
            if lead.budget is None:
                changes["budget"] = Decimal(v["budget"])
        elif not getattr(lead, field):
            changes[field] = v[field]
    if changes and lead.status != Status.MERGED:
        lead_update(actor=actor, lead=lead, **changes)
    return lead.pk


def _workers() -> int:
    """Batches side by side on ``settings.JOBS_WORKERS`` connections on PostgreSQL (as the leads jobs do); one when
    the caller holds a transaction (the tests: other connections could not see its rows) or on SQLite."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return max(1, getattr(settings, "JOBS_WORKERS", 1))


def _batches(batch: ImportBatch) -> list[list[int]]:
    """The rows not done yet, as lists of row ids of about ``BATCH_ROWS``. Rows of one phone stay in one batch, in
    file order, so that batches running side by side never race for one customer (the first row makes the lead, the
    next ones are its re-visits, whatever the timing)."""
    pending = ImportRow.objects.filter(batch=batch, done=False).values_list("pk", "number", "data__phone")
    ordered = sorted(pending, key=lambda r: (r[2] or f"#{r[1]}", r[1]))
    batches, current, last_phone = [], [], None
    for pk, _number, phone in ordered:
        if len(current) >= BATCH_ROWS and (not phone or phone != last_phone):
            batches.append(current)
            current = []
        current.append(pk)
        last_phone = phone
    if current:
        batches.append(current)
    return batches


class ImportCancelled(Exception):
    """The import was cancelled between two batches."""


def import_commit(batch_id: int, *, cancel_check=None) -> ImportBatch:
    """Apply the import's rows that are not done yet, in batches of about ``BATCH_ROWS``; each batch is one
    transaction (its leads, its rows marked done), several batches side by side on PostgreSQL (``_workers``). Each
    row is checked again against the database as it is now, so a re-visit recorded meanwhile, or a second run,
    creates nothing twice. A row the services refuse is refused (with the service's message) without stopping the
    batch. A cancel (``import_cancel``, or ``cancel_check()`` returning true) or the first failing batch stops every
    worker between batches; a cancel leaves the import ``cancelled``, saying how many rows went in."""
    batch = ImportBatch.objects.select_related("store", "committed_by").defer("content").get(pk=batch_id)
    if batch.status != ImportBatch.Status.IMPORTING:
        return batch  # a task delivered again after the end (done, stopped, cancelled): nothing to do
    actor, store = batch.committed_by, batch.store
    started = clock.monotonic()
    lk_obj = Lookups(store)
    lk = {
        "users": {u.pk: u for u in User.objects.filter(store=store)},
        "series": {s.pk: s for s in lk_obj.series.values()},
        "channels": {c.pk: c for c in lk_obj.channels.values()},
    }
    total = batch.rows or 1
    queue = iter(_batches(batch))
    lock, stop = threading.Lock(), threading.Event()
    state = {"done": ImportRow.objects.filter(batch=batch, done=True).count(), "error": None}

    def cancelled() -> bool:
        return bool(cancel_check and cancel_check()) or ImportBatch.objects.filter(
            pk=batch.pk, cancel_requested_at__isnull=False).exists()

    def next_batch():
        with lock:
            if stop.is_set():
                return None
            if cancelled():
                stop.set()
                state["error"] = state["error"] or ImportCancelled()
                return None
            return next(queue, None)

    def work() -> None:
        while (pks := next_batch()) is not None:
            try:
                _commit_batch(batch, pks, actor, store, lk)
                with lock:
                    state["done"] += len(pks)
                    done = state["done"]
                # Each committed batch is the run's heartbeat (reports.services.stalls).
                ImportBatch.objects.filter(pk=batch.pk).update(progress=min(99, round(100 * done / total)),
                                                               heartbeat_at=timezone.now())
            except Exception as exc:  # noqa: BLE001 - any failure stops every worker and fails the import
                with lock:
                    stop.set()
                    state["error"] = state["error"] or exc
                return

    workers = _workers()
    if workers == 1:
        work()
    else:
        language = translation.get_language()

        def in_thread() -> None:
            try:
                with translation.override(language):  # a thread starts with no active language
                    work()
            finally:
                connection.close()  # the thread's own connection

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"import-{batch.pk}") as pool:
            for _i in range(workers):
                pool.submit(in_thread)
    if isinstance(state["error"], ImportCancelled):
        _recount(batch)
        batch.refresh_from_db()
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=ImportBatch.Status.CANCELLED, error=_cancelled_message(batch), finished_at=timezone.now(),
            seconds=round(clock.monotonic() - started, 2), content=None,
            cancel_requested_at=batch.cancel_requested_at or timezone.now())
        batch.refresh_from_db()
        return batch
    if state["error"] is not None:
        message = _("Stopped: %(error)s. The rows marked as imported went in; commit again to continue.") % {
            "error": str(state["error"])[:300]}
        _recount(batch)
        ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.FAILED, error=message,
                                                       seconds=round(clock.monotonic() - started, 2))
        batch.refresh_from_db()
        return batch
    _recount(batch)
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportBatch.Status.DONE, progress=100, finished_at=timezone.now(),
        seconds=round(clock.monotonic() - started, 2), content=None,
    )
    batch.refresh_from_db()
    return batch


def _refuse(row: ImportRow, exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        messages = exc.messages
    elif isinstance(exc, DatabaseError):
        messages = [_("The database refused this row: %(error)s") % {
            "error": (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]}]
    else:
        messages = [str(exc)]
    row.action, row.error, row.done, row.lead_id = RowAction.REFUSED, " ".join(messages), True, None


LOCK_SPACE = 0x1A7B0  # the first key of the imports' advisory locks (pg_advisory_xact_lock(int, int))


def _lock_customers(batch: ImportBatch, rows: list[ImportRow]) -> None:
    """Serialise the rows of one customer across simultaneous commits (two imports of one file committed at once):
    a transaction-level advisory lock per phone of the group (per VIN, per anonymous name and visit moment), all
    taken in one order before the rows are planned. The second commit then plans against what the first wrote:
    its rows are "already there", no customer or visit is written twice. Within one import, a phone's rows are in
    one batch (``_batches``) anyway."""
    if connection.vendor != "postgresql":
        return  # SQLite runs one writing transaction at a time
    keys = set()
    for row in rows:
        v = row.data
        if v.get("phone"):
            keys.add(f"phone:{batch.store.group_id}:{v['phone']}")
        elif v.get("arrived_at"):
            keys.add(f"walk-in:{batch.store_id}:{v.get('name')}:{v['arrived_at']}")
        if v.get("vin"):
            keys.add(f"vin:{v['vin']}")
    ids = sorted({int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big", signed=True)
                  for key in keys})
    if ids:
        with connection.cursor() as cursor:
            # The locks are taken as the sorted keys come out of the subquery: every commit in the same order.
            cursor.execute("SELECT count(pg_advisory_xact_lock(%s, k)) FROM (SELECT unnest(%s::int[]) AS k ORDER BY k) "
                           "AS keys", [LOCK_SPACE, ids])


def _visit_one(actor: User, store: Store, args: dict):
    """One row through ``visit_log_many`` in its own savepoint: its result, or the database's refusal."""
    try:
        return visit_log_many(actor=actor, store=store, rows=[args], phones_normalised=True)[0]
    except DatabaseError as exc:
        return exc


def _commit_batch(batch: ImportBatch, pks: list[int], actor: User, store: Store, lk: dict) -> None:
    """One batch, one transaction: the new leads and re-visits through ``visit_log_many`` (the visit service for a
    batch: the same checks and rows as ``visit_log`` per row), the updates through ``lead_update``; a row a service
    or the database refuses is refused with its message, the others go in.

    Each row is written at most once: the batch's rows still not done are locked first, so a second task on the
    same import (a message delivered twice) waits for this batch, then finds its rows done and skips them."""
    seen: dict = {}
    module = kind_module(batch.kind)
    with transaction.atomic():
        rows = list(ImportRow.objects.select_for_update().filter(any_of("id", pks), done=False)
                    .defer("raw").order_by("number"))  # the raw cells are not read here
        if not rows:
            return
        _lock_customers(batch, rows)
        checked = [(r.number, r.data, [r.error] if r.action == RowAction.REFUSED else []) for r in rows]
        planned = {number: (action, error, lead_id) for number, _v, action, error, lead_id in
                   (module.plan if module else _plan)(checked, store, seen)}
        if module is not None:  # base clients: each sale through the lead, deal and base-client services
            module.commit_rows(rows, planned, actor, store, lk, _refuse)
            _save_rows(rows)
            return
        visits: list[ImportRow] = []
        for row in rows:
            action, error, lead_id = planned[row.number]
            if action == RowAction.REFUSED:
                row.action, row.error, row.done = action, error, True
            elif action in (RowAction.NEW, RowAction.REVISIT):
                visits.append(row)
            else:
                try:
                    # lead_update is atomic itself: nested here, a savepoint that a refusal rolls back.
                    row.lead_id = _update(row, actor, lead_id, lk) if action == RowAction.UPDATE else lead_id
                    row.action, row.error, row.done = action, "", True
                except (ValidationError, PermissionDenied, DatabaseError) as exc:
                    _refuse(row, exc)
        if visits:
            args = [_visit_args(r.data, lk) for r in visits]
            try:
                # The phones are the dry run's, normalised then (``check_row``): not parsed again.
                results = visit_log_many(actor=actor, store=store, rows=args, phones_normalised=True)
            except DatabaseError:
                # A value that the checks let through and the database refuses (its savepoint is rolled back): the
                # rows again one by one, so that this row alone is refused and the batch goes on.
                results = [_visit_one(actor, store, one) for one in args]
            for row, result in zip(visits, results, strict=True):
                if isinstance(result, Exception):
                    _refuse(row, result)
                else:
                    row.lead_id = result.lead.pk
                    row.action = RowAction.REVISIT if result.is_revisit else RowAction.NEW
                    row.error, row.done = "", True
        _save_rows(rows)


def _save_rows(rows: list[ImportRow]) -> None:
    """Mark the batch's rows done with their outcome and lead (a refused row has none; a row given no lead keeps the
    one its dry run found). On PostgreSQL one UPDATE from arrays for the whole batch; elsewhere one UPDATE per
    (action, error) and one bulk_update of the lead ids."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ImportRow._meta.db_table} AS r SET action = v.action, error = v.error, done = true, "
                f"lead_id = CASE WHEN v.action = %s THEN NULL ELSE COALESCE(v.lead, r.lead_id) END "
                f"FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[]) AS v(id, action, error, lead) "
                f"WHERE r.id = v.id",
                [RowAction.REFUSED, [row.pk for row in rows], [row.action for row in rows],
                 [row.error for row in rows], [row.lead_id for row in rows]])
        return
    groups: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        groups.setdefault((row.action, row.error), []).append(row.pk)
    for (action, error), pks in groups.items():
        extra = {"lead": None} if action == RowAction.REFUSED else {}
        ImportRow.objects.filter(pk__in=pks).update(action=action, error=error, done=True, **extra)
    ImportRow.objects.bulk_update([row for row in rows if row.lead_id], ["lead"])


def _recount(batch: ImportBatch) -> None:
    from django.db.models import Count, Q

    counts = ImportRow.objects.filter(batch=batch).aggregate(
        rows=Count("pk"), new=Count("pk", filter=Q(action=RowAction.NEW)),
        revisits=Count("pk", filter=Q(action=RowAction.REVISIT)),
        updated=Count("pk", filter=Q(action=RowAction.UPDATE)),
        unchanged=Count("pk", filter=Q(action=RowAction.UNCHANGED)),
        refused=Count("pk", filter=Q(action=RowAction.REFUSED)),
        done_rows=Count("pk", filter=Q(done=True) & ~Q(action=RowAction.REFUSED)),
    )
    ImportBatch.objects.filter(pk=batch.pk).update(**counts)


def refused_rows(batch: ImportBatch) -> Iterable[ImportRow]:
    return ImportRow.objects.filter(batch=batch, action=RowAction.REFUSED).order_by("number").iterator(chunk_size=2000)


# --- a stalled import (its worker died) ---------------------------------------------------------------------------

def import_resume(*, actor: User | None, batch: ImportBatch) -> ImportBatch:
    """Take a ``stalled`` import up again (``reports.services.stalls``): a stalled commit goes back to ``importing``
    (the caller then queues ``import_commit_task``, which continues with the rows not done: the rows marked done are
    exactly those that went in), a stalled reading back to ``parsing`` (the caller queues ``import_parse_task``; the
    reading starts over). One conditional UPDATE claims it, so of two resumes one wins and the other raises
    ``NotStalled`` (API: 409). ``actor`` None is the sweep (``reports.tasks.recover_stalled_runs``)."""
    from django.db.models import Case, Value, When

    from .stalls import not_stalled

    if actor is not None and not can_import(actor, batch.store):
        raise PermissionDenied(_("Only the store's manager or a group admin can import."))
    changed = ImportBatch.objects.filter(pk=batch.pk, status=ImportBatch.Status.STALLED).update(
        status=Case(When(committed_at__isnull=False, then=Value(ImportBatch.Status.IMPORTING)),
                    default=Value(ImportBatch.Status.PARSING)),
        heartbeat_at=timezone.now(), error="")
    batch.refresh_from_db()
    if not changed:
        raise not_stalled(batch.get_status_display())
    return batch
