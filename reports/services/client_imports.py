"""Importing base clients (customers who bought) from dealers' workbooks: each row is a sale, so it goes in as one:
the buyer's lead (``leads.services.visit_log``), its deal (``leads.services.deal_record``), which makes or extends
the buyer's base client with the vehicle (``baseclients.services.client_from_deal``: purchase, vehicle, tier, care
plan). A base client exists only through a deal, so an import cannot make a card the pages could not.

The dry run says per row: a new client, an existing client (the phone is a base client of the group) getting the
vehicle (a repeat purchase), already there (the VIN is on a card, or without a VIN the client has a vehicle delivered
that day), or refused and why. The upload, the dry run's storage, batches, cancel and the refused-rows workbook are
the leads import's (``reports.services.imports``).

The commit writes a batch's sales set-based (``commit_rows``): the rows the services would write one sale at a time
(``apply``), with a number of statements that does not grow with the batch: the leads and visits through
``visit_log_many``, the deals and the leads won with one statement each, the ``deal_recorded`` receivers' work
through their bulk forms (``BULK_DEAL_RECEIVERS``: the base clients' ``deals_make_clients``). A test compares what
both write, row by row."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from baseclients.models import Vehicle
from baseclients.receivers import deals_make_clients
from baseclients.services import (
    clients_with_phones,
    planning_deferred,
    taken_vins,
    vehicles_with_vins,
    vin_taken_error,
)
from baseclients.vehicles import plate_normalize, vin_normalize
from dealercrm.bulk import any_of, insert_history, insert_objects, unsaved, update_rows
from dealercrm.models import Store, User
from leads import events
from leads.models import Deal, FlagAction, FlagEvent, FlagKind, Lead, OverdueFlag, StaleFlag, Status
from leads.services import column_limits_or_error, deal_record, visit_log, visit_log_many
from leads.services._common import require_active, require_can_work
from leads.services.assignment import _consultants_by_load
from leads.services.deals import deal_amounts
from leads.vehicles import VehicleUse, vehicle_ids_normalize

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
    known_vins = set(vehicles_with_vins(vins).values_list("vin", flat=True)) if vins else set()
    phones = {v["phone"] for v in ok if v["phone"]}
    found = dict(clients_with_phones(store.group_id, phones).values_list("pk", "phone")) if phones else {}
    clients = set(found.values())
    delivered = {(found[client], day) for client, day in Vehicle.objects.filter(any_of("client_id", found))
                 .values_list("client_id", "delivered_at")} if found else set()
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


def apply(row, actor: User, store: Store, lk: dict, assignee: User | None = None) -> int:
    """One sale through the services, in its own savepoint: the lead, its deal, the base client and vehicle.
    ``assignee``: the consultant of a row that names none (default: the round-robin's, as ``visit_log`` picks)."""
    v = row.data
    with transaction.atomic():
        lead = visit_log(actor=actor, store=store, **_visit_args(v, lk, assignee)).lead
        deal_record(actor=actor, lead=lead, price=Decimal(v["price"]), series=lk["series"].get(v.get("series")),
                    ordered_at=date.fromisoformat(v["ordered"]), delivered_at=date.fromisoformat(v["delivered"]),
                    vin=v["vin"], plate=v["plate"])
    return lead.pk


#: The ``deal_recorded`` receivers (by ``dispatch_uid``) and the function that does a receiver's work for many deals
#: at once (``sales``: (deal, lead, units) tuples; ``actor``). While a receiver without one is connected, the import
#: records its sales one by one through the deal service, so that no receiver misses a deal.
BULK_DEAL_RECEIVERS: dict[str, Callable] = {"baseclients.deal_makes_client": deals_make_clients}


def bulk_receivers() -> list[Callable] | None:
    """The bulk forms of the connected ``deal_recorded`` receivers, or None when one has none."""
    found = []
    for lookup_key, receiver, *_rest in events.deal_recorded.receivers:
        if isinstance(receiver, weakref.ReferenceType) and receiver() is None:
            continue  # a receiver garbage-collected since (Django drops it at the next send)
        bulk = BULK_DEAL_RECEIVERS.get(lookup_key[0])
        if bulk is None:
            return None
        found.append(bulk)
    return found


def commit_rows(rows: list, planned: dict, actor: User, store: Store, lk: dict, refuse) -> None:
    """The batch's sales (inside its transaction): refused and already-there rows are marked; the others are written
    set-based, a round at a time (``_commit_wave``: the rows the services would write row by row, with a bounded number
    of statements), the care of every card they touch planned once at the end (``planning_deferred``). Through the
    services one by one (``apply``): a customer the store had lost (the visit service wins them back before the
    deal), every sale while a ``deal_recorded`` receiver has no bulk form, and the sales of a round the database
    refuses (each then in its own savepoint, refused alone with the database's reason)."""
    sales = []
    for row in rows:
        action, error, _lead_id = planned[row.number]
        if action in (RowAction.REFUSED, RowAction.UNCHANGED):
            row.action, row.error, row.done = action, error, True
        else:
            sales.append((row, action))
    if not sales:
        return
    with planning_deferred():  # the care of the batch's cards planned once, after its rounds
        _commit_sales(sales, actor, store, lk, refuse)


def _commit_sales(sales: list[tuple], actor: User, store: Store, lk: dict, refuse) -> None:
    bulk = bulk_receivers()
    if bulk is None:
        for row, action in sales:
            _apply_one(row, action, actor, store, lk, refuse, {})
        return
    phones = {row.data["phone"] for row, _action in sales if row.data["phone"]}
    holders = {phone: (status, owner) for phone, status, owner in lead_imports._phone_holders(store, phones)
               .values_list("phone", "status", "assigned_to_id")} if phones else {}
    picks = _round_robin(sales, holders, store, lk)
    lost = {phone for phone, (status, _owner) in holders.items() if status != Status.ACTIVE}
    for row, action in sales:
        if row.data["phone"] in lost:
            _apply_one(row, action, actor, store, lk, refuse, picks)
    for wave in _waves([(row, action) for row, action in sales if row.data["phone"] not in lost]):
        _commit_wave(wave, actor, store, lk, refuse, bulk, picks)


def _round_robin(sales: list[tuple], holders: dict, store: Store, lk: dict) -> dict[int, User]:
    """Whom ``visit_log``'s round-robin gives each sale that names no consultant (by row id), as row by row in file
    order: the consultant holding the fewest active leads (``_consultants_by_load``, read once). A sale's new lead is
    won at once, so it leaves the loads as they were; a lead of the store that a sale re-visits and wins leaves its
    consultant's load (the next sale of that phone is a new lead)."""
    people = _consultants_by_load(store)
    load = {person.pk: person.load for person in people}
    held = dict(holders)
    picks: dict[int, User] = {}
    for row, _action in sales:
        phone = row.data["phone"]
        holder = held.pop(phone, None) if phone else None
        if holder is not None:  # a re-visit: the lead is won (a lost customer's too, once won back)
            status, owner = holder
            if status == Status.ACTIVE and owner in load:
                load[owner] -= 1
            continue
        if lk["users"].get(row.data.get("consultant")) is None and people:
            picks[row.pk] = min(people, key=lambda u: (load[u.pk], u.date_joined, u.pk))
    return picks


def _visit_args(v: dict, lk: dict, assignee: User | None) -> dict:
    args = lead_imports._visit_args(v, lk)
    if args["assigned_to"] is None and assignee is not None:
        args["assigned_to"] = assignee
    return args


def _apply_one(row, action: str, actor: User, store: Store, lk: dict, refuse, picks: dict) -> None:
    try:
        row.lead_id = apply(row, actor, store, lk, picks.get(row.pk))
        row.action, row.error, row.done = action, "", True
    except (ValidationError, PermissionDenied, DatabaseError) as exc:  # its savepoint is rolled back
        refuse(row, exc)


def _waves(sales: list[tuple]) -> list[list[tuple]]:
    """The sales in rounds in which each phone comes once, in file order: a phone's second sale in a batch is a
    repeat purchase on the card its first one made (with a new lead: the won lead no longer holds the phone), so it
    is written after the first, as row by row."""
    waves: list[list[tuple]] = []
    seen: dict[str, int] = {}
    for row, action in sales:
        phone = row.data["phone"]
        n = seen.get(phone, 0) if phone else 0
        if phone:
            seen[phone] = n + 1
        while len(waves) <= n:
            waves.append([])
        waves[n].append((row, action))
    return waves


class _OneByOne(Exception):
    """A sale of a round was refused after its lead was written: the round is undone and its sales go one by one."""


def _commit_wave(wave: list[tuple], actor: User, store: Store, lk: dict, refuse, bulk: list[Callable],
                 picks: dict) -> None:
    try:
        with transaction.atomic():  # a savepoint: the round whole or not at all
            _write_wave(wave, actor, store, lk, refuse, bulk, picks)
    except (DatabaseError, ValidationError, PermissionDenied, _OneByOne):
        # A value the checks let through and the database refuses, a VIN or phone another transaction took since
        # the look-up: the round again row by row, so that the row concerned alone is refused, with its reason.
        for row, action in wave:
            _apply_one(row, action, actor, store, lk, refuse, picks)


def _sale(v: dict, lk: dict, assignee: User | None) -> dict:
    """A row as ``visit_log`` and ``deal_record`` take it, the deal checked as that service checks it."""
    _unit_price, price = deal_amounts(quantity=1, price=Decimal(v["price"]), unit_price=None)
    ordered, delivered = date.fromisoformat(v["ordered"]), date.fromisoformat(v["delivered"])
    if delivered < ordered:
        raise ValidationError({"delivered_at": [_("Delivery cannot precede the order.")]})
    vin, plate = vehicle_ids_normalize(vin=v["vin"], plate=v["plate"])
    return {"visit": _visit_args(v, lk, assignee), "price": price, "series": lk["series"].get(v.get("series")),
            "ordered": ordered, "delivered": delivered, "vin": vin, "plate": plate,
            "units": [{"vin": vin, "plate": plate, "use": VehicleUse.PRIVATE}]}


def _write_wave(wave: list[tuple], actor: User, store: Store, lk: dict, refuse, bulk: list[Callable],
                picks: dict) -> None:
    """One round of sales, set-based, writing what ``apply`` writes row by row: the leads and visits through
    ``visit_log_many`` (the batch form of ``visit_log``), the deals and what ``deal_record`` does to the leads with
    one statement each, then the ``deal_recorded`` receivers' work through their bulk forms (the base clients: cards,
    purchases, vehicles, tiers, care). A row refused by a check writes nothing; the others go in."""
    checked = []
    for row, action in wave:
        try:
            checked.append((row, action, _sale(row.data, lk, picks.get(row.pk))))
        except ValidationError as exc:
            refuse(row, exc)
    taken = taken_vins(sale["vin"] for _row, _action, sale in checked)
    ready = []
    for row, action, sale in checked:
        if sale["vin"] in taken:  # what the deal receiver refuses
            refuse(row, vin_taken_error())
        else:
            ready.append((row, action, sale))
    if not ready:
        return
    at = timezone.now()

    def won(results: list) -> None:
        # What ``deal_record`` checks on each lead, before anything is written; then each new lead goes in won
        # (``_won``), written once, its "+" history still the lead as the visit made it.
        for result in results:
            if result is None or isinstance(result, Exception):
                continue
            lead = result.lead
            lead.store = store  # the lead's store, as ``lock`` reads it
            try:
                require_can_work(actor, lead)
                require_active(lead)
            except (ValidationError, PermissionDenied) as exc:
                raise _OneByOne from exc
        for result in results:
            if result is not None and not isinstance(result, Exception) and not result.is_revisit:
                _won(result.lead, at)

    results = visit_log_many(actor=actor, store=store, rows=[sale["visit"] for _row, _action, sale in ready],
                             phones_normalised=True, then=won)  # the dry run's phones (``check_row``), in E.164
    written = []
    for (row, action, sale), result in zip(ready, results, strict=True):
        if isinstance(result, Exception):
            refuse(row, result)
            continue
        written.append((row, action, sale, result))
    if not written:
        return
    deals = [unsaved(Deal, {"lead_id": result.lead.pk,
                            "series_id": sale["series"].pk if sale["series"] else result.lead.series_id,
                            "quantity": 1, "price": sale["price"], "ordered_at": sale["ordered"],
                            "delivered_at": sale["delivered"], "vin": sale["vin"], "plate": sale["plate"],
                            "created_by_id": actor.pk}, {"lead": result.lead, "created_by": actor})
             for _row, _action, sale, result in written]  # Deal(lead=…, …): dealercrm.bulk.unsaved
    insert_objects(deals)  # from arrays, as bulk_create would (its unit_price returned)
    _leads_won([result.lead for *_rest, result in written],
               {result.lead.pk for *_rest, result in written if result.is_revisit}, actor, at)
    sales = [(deal, result.lead, sale["units"]) for deal, (_row, _action, sale, result) in zip(deals, written,
                                                                                              strict=True)]
    for receiver in bulk:
        receiver(sales=sales, actor=actor)
    for row, action, _sale_values, result in written:
        row.lead_id = result.lead.pk
        row.action, row.error, row.done = action, "", True


def _won(lead: Lead, at) -> None:
    """What ``deal_record`` sets on a lead, in memory: won, nothing due, contacted ``at``, out of the pool, the next
    version (``bump``)."""
    lead.status, lead.next_follow_up_at, lead.last_contact_at, lead.pooled_at = Status.WON, None, at, None
    lead.version += 1
    lead.updated_at = at


def _leads_won(leads: list[Lead], known: set[int], actor: User, at) -> None:
    """What ``deal_record`` does to each lead, for them all: won, nothing due, contacted now, its stale, overdue and
    pool flags cleared (``clear_flags``: a flag event each), the next version, a field-history row ("Deal
    recorded"). ``known``: the leads that existed before the round (a new one has no flag, and went in won already:
    ``_write_wave``)."""
    reason = gettext_noop("Deal recorded")
    stale = overdue = set()
    if known:
        stale = set(StaleFlag.objects.filter(any_of("lead_id", known)).values_list("lead_id", flat=True))
        overdue = set(OverdueFlag.objects.filter(any_of("lead_id", known)).values_list("lead_id", flat=True))
        for model, ids in ((StaleFlag, stale), (OverdueFlag, overdue)):
            if ids:
                model.objects.filter(any_of("lead_id", ids)).delete()
    flag_events, changed = [], []
    for lead in leads:
        if lead.pk not in known:
            continue
        kinds = [kind for kind, ids in ((FlagKind.STALE, stale), (FlagKind.OVERDUE, overdue)) if lead.pk in ids]
        if lead.pooled_at is not None:
            kinds.append(FlagKind.POOL)
        flag_events += [FlagEvent(lead=lead, kind=kind, action=FlagAction.CLEARED, at=at, by=actor, reason=reason)
                        for kind in kinds]
        _won(lead, at)
        changed.append(lead)
    for lead in leads:
        lead._history_user, lead._change_reason = actor, reason
    insert_objects(flag_events)
    update_rows(Lead, changed, ["status", "next_follow_up_at", "last_contact_at", "pooled_at", "version",
                                "updated_at"])
    insert_history(Lead, leads, history_type="~", user_id=actor.pk, change_reason=reason)


ALIASES = {lead_imports._norm(alias): field for field, (_label, aliases) in FIELDS.items() for alias in aliases}


def looks_like_header(cells: list[str]) -> bool:
    return lead_imports.looks_like_header(cells, ALIASES)
