"""Importing base clients (customers who bought) from dealers' workbooks: each row is a sale, so it goes in as one:
the buyer's lead (``leads.services.visit_log``), its deal (``leads.services.deal_record``), which makes or extends
the buyer's base client with the vehicle (``baseclients.services.client_from_deal``: purchase, vehicle, tier, care
plan). A base client exists only through a deal, so an import cannot make a card the pages could not.

The dry run says per row: a new client, an existing client (the phone is a base client of the group) getting the
vehicle (a repeat purchase), already there (the VIN is on a card, or without a VIN the client has a vehicle delivered
that day), or refused and why. The upload, the dry run's storage, batches, cancel and the refused-rows workbook are
the leads import's (``reports.services.imports``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baseclients.models import BaseClient, Vehicle
from baseclients.vehicles import plate_normalize, vin_normalize
from dealercrm.models import Store, User
from leads.models import Deal
from leads.services import column_limits_or_error, deal_record, visit_log

from ..models import RowAction
from ..workbooks import cell_str
from . import imports as lead_imports

# field -> (label, header aliases); the lead's own columns are the leads import's (imports.LEAD_FIELDS).
VEHICLE_FIELDS: dict[str, tuple] = {
    "vin": (gettext_lazy("VIN"), ["车架号", "vin", "vin码", "车辆识别代号", "车辆识别码", "底盘号"]),
    "plate": (gettext_lazy("Plate"), ["车牌", "车牌号", "车牌号码", "plate", "platenumber", "licenseplate"]),
    "delivered": (gettext_lazy("Delivery date"), ["交车日期", "交付日期", "交车时间", "提车日期", "deliverydate",
                                                 "delivered", "deliveredon"]),
    "ordered": (gettext_lazy("Order date"), ["订车日期", "下单日期", "签约日期", "成交日期", "订单日期", "orderdate",
                                            "ordered", "orderedon"]),
    "price": (gettext_lazy("Price (CNY)"), ["成交价", "成交价格", "车价", "价格", "金额", "price", "dealprice",
                                           "pricecny"]),
}
LEAD_COLUMNS = ("name", "phone", "source", "channel", "series", "consultant", "gender", "district", "industry",
                "note")
TEMPLATE_FIELDS = ["name", "phone", "vin", "plate", "series", "price", "ordered", "delivered", "consultant",
                   "source", "district", "industry", "note"]


FIELDS: dict[str, tuple] = {**{f: lead_imports.LEAD_FIELDS[f] for f in LEAD_COLUMNS}, **VEHICLE_FIELDS}


def check_row(cells: dict, lk) -> tuple[dict, list[str]]:
    """One sale's values checked: the lead's columns as the leads import checks them (the order date is the visit),
    then the vehicle and the deal."""
    errors: list[str] = []
    delivered = ordered = None
    for field, label in (("delivered", _("delivery date")), ("ordered", _("order date"))):
        moment = lead_imports.checked_date(cells.get(field), label, errors)
        if moment is None:
            continue
        day = moment.date() if isinstance(moment, datetime) else moment
        if field == "delivered":
            delivered = day
        else:
            ordered = day
    if delivered is None and not errors:
        errors.append(_("The delivery date is missing."))
    ordered = ordered or delivered
    v, lead_errors = lead_imports.check_row({**cells, "visit_date": ordered}, lk)
    errors = lead_errors + errors
    if delivered and ordered and delivered < ordered:
        errors.append(_("Delivery cannot precede the order."))
    if delivered and delivered > timezone.localdate():
        errors.append(_("The delivery date is in the future."))
    v["delivered"] = delivered.isoformat() if delivered else None
    v["ordered"] = ordered.isoformat() if ordered else None
    for field, normalise in (("vin", vin_normalize), ("plate", plate_normalize)):
        try:
            v[field] = normalise(cell_str(cells.get(field)))
        except ValidationError as exc:
            errors.append(f"{cell_str(cells.get(field))}: {' '.join(exc.messages)}")
            v[field] = ""
    if not v["vin"] and not v["phone"] and not errors:
        errors.append(_("A row without a VIN needs a phone (otherwise importing the file twice would record the "
                        "sale twice)."))
    price = cell_str(cells.get("price")).replace(",", "").replace("¥", "").replace("元", "")
    try:
        if not price:
            raise ValueError("missing")
        amount = Decimal(price.replace("万", "")) * (10000 if "万" in price else 1)
        if amount < 0:
            raise InvalidOperation
        amount = amount.quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        errors.append(_("The price %(value)s is not an amount in CNY.") % {"value": price} if price
                      else _("The price is missing."))
    else:
        try:
            column_limits_or_error(Deal, "price", amount)  # what the deal service checks
            v["price"] = str(amount)
        except ValidationError as exc:
            errors.extend(lead_imports.field_messages(VEHICLE_FIELDS["price"][0], price, exc))
    return v, errors


def plan(rows: list[tuple[int, dict, list[str]]], store: Store, seen: dict) -> list[tuple]:
    """Each checked row's action against the database (three queries per chunk) and the rows before it in the file
    (``seen``): (number, values, action, error, None)."""
    ok = [v for _n, v, errors in rows if not errors]
    vins = {v["vin"] for v in ok if v["vin"]}
    known_vins = set(Vehicle.objects.filter(vin__in=vins).values_list("vin", flat=True)) if vins else set()
    phones = {v["phone"] for v in ok if v["phone"]}
    clients = set(BaseClient.objects.filter(group_id=store.group_id, phone__in=phones)
                  .values_list("phone", flat=True)) if phones else set()
    delivered = set(Vehicle.objects.filter(client__group_id=store.group_id, client__phone__in=clients)
                    .values_list("client__phone", "delivered_at")) if clients else set()
    planned = []
    for number, v, errors in rows:
        if errors:
            planned.append((number, v, RowAction.REFUSED, " ".join(errors), None))
            continue
        day = date.fromisoformat(v["delivered"])
        key = ("vin", v["vin"]) if v["vin"] else ("sale", v["phone"], day)
        if v["vin"] in known_vins or (not v["vin"] and (v["phone"], day) in delivered) or key in seen:
            planned.append((number, v, RowAction.UNCHANGED, "", None))
            continue
        seen[key] = number
        action = RowAction.UPDATE if v["phone"] and (v["phone"] in clients or ("client", v["phone"]) in seen) \
            else RowAction.NEW
        if v["phone"]:
            seen[("client", v["phone"])] = number
        planned.append((number, v, action, "", None))
    return planned


def apply(row, actor: User, store: Store, lk: dict) -> int:
    """One sale through the services, in its own savepoint: the lead, its deal, the base client and vehicle."""
    v = row.data
    with transaction.atomic():
        lead = visit_log(actor=actor, store=store, **lead_imports._visit_args(v, lk)).lead
        deal_record(actor=actor, lead=lead, price=Decimal(v["price"]), series=lk["series"].get(v.get("series")),
                    ordered_at=date.fromisoformat(v["ordered"]), delivered_at=date.fromisoformat(v["delivered"]),
                    vin=v["vin"], plate=v["plate"])
    return lead.pk


def commit_rows(rows: list, planned: dict, actor: User, store: Store, lk: dict, refuse) -> None:
    for row in rows:
        action, error, _lead_id = planned[row.number]
        if action in (RowAction.REFUSED, RowAction.UNCHANGED):
            row.action, row.error, row.done = action, error, True
            continue
        try:
            row.lead_id = apply(row, actor, store, lk)
            row.action, row.error, row.done = action, "", True
        except (ValidationError, PermissionDenied, DatabaseError) as exc:  # its savepoint is rolled back
            refuse(row, exc)


ALIASES = {lead_imports._norm(alias): field for field, (_label, aliases) in FIELDS.items() for alias in aliases}


def looks_like_header(cells: list[str]) -> bool:
    return lead_imports.looks_like_header(cells, ALIASES)
