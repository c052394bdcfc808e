"""The card: made or extended by every deal (in the deal's transaction), edited, reassigned; vehicles; a returning
buyer's new lead linked to their card."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from dealercrm.bulk import any_of, insert_objects, insert_rows, unsaved, update_rows
from dealercrm.models import Role, User
from leads.models import Deal, Lead
from leads.phones import phone_normalize
from leads.vehicles import plate_normalize, vehicle_ids_normalize

from ..models import (
    BaseClient,
    CareStatus,
    CareTask,
    ClientKind,
    ClientLead,
    Purchase,
    Referral,
    TierCause,
    TierChange,
    Vehicle,
    VehicleUse,
)
from ._common import StaleVersion, bump, lock_client, require_can_work
from .care import materialise
from .lists import list_value
from .scoring import refresh


def validate_vehicle_ids(*, vin: str | None, plate: str | None, exclude_vehicle: int | None = None) -> tuple[str, str]:
    """The VIN and plate normalised; a 400 naming the field when one is malformed or the VIN is another vehicle's."""
    vin, plate = vehicle_ids_normalize(vin=vin, plate=plate)
    vin_free_or_error(vin, exclude_vehicle=exclude_vehicle)
    return vin, plate


def vin_free_or_error(vin: str, *, exclude_vehicle: int | None = None) -> None:
    """A ValidationError on ``vin`` when a (normalised) VIN is already on a base client's card."""
    if not vin:
        return
    taken = Vehicle.objects.filter(vin=vin)
    if exclude_vehicle:
        taken = taken.exclude(pk=exclude_vehicle)
    if taken.exists():
        raise vin_taken_error()


def vin_taken_error() -> ValidationError:
    return ValidationError({"vin": [_("A vehicle with this VIN is already on a base client's card.")]})


def vehicles_with_vins(vins):
    """The vehicles with these (non-blank) VINs, through the unique VIN index whatever their number: PostgreSQL
    proves the index's ``vin <> ''`` from ``vin IN (…)`` for at most 100 VINs, and read the whole vehicle table for
    an import batch's 500 (the same for the phones: ``clients_with_phones``)."""
    return Vehicle.objects.filter(any_of("vin", vins)).exclude(vin="").order_by()


def clients_with_phones(group_id: int, phones):
    """The group's base clients with these (non-blank) phones, through the unique phone index (``vehicles_with_vins``
    says why the blank phone is excluded explicitly)."""
    return BaseClient.objects.filter(any_of("phone", phones), group_id=group_id).exclude(phone="").order_by()


def taken_vins(vins) -> set[str]:
    """The (normalised) VINs of ``vins`` that are already on a base client's card: one query for them all (the
    import checks a batch's deals with it, as the deal receiver checks one with ``vin_free_or_error``)."""
    vins = {vin for vin in vins if vin}
    return set(vehicles_with_vins(vins).values_list("vin", flat=True)) if vins else set()


def _fleet_counts_vehicles(client: BaseClient) -> bool:
    """The card's fleet size is at least the vehicles on the card (a company may own more, bought elsewhere: a
    larger figure typed on the card stays). Sets the field on ``client``; True when it grew (the caller saves and
    re-scores)."""
    vehicles = Vehicle.objects.filter(client=client).count()
    if client.fleet_size >= vehicles:
        return False
    client.fleet_size = vehicles
    return True


def _new_client(lead: Lead, actor: User, *, group_id: int, region: str, industry: str) -> BaseClient:
    """The buyer's new card (unsaved): owned by the lead's consultant (or the consultant who records the deal)."""
    owner_id = lead.assigned_to_id or (actor.pk if actor.role == Role.CONSULTANT else None)
    return unsaved(BaseClient, {"group_id": group_id, "store_id": lead.store_id, "assigned_to_id": owner_id,
                                "name": lead.name, "phone": lead.phone, "region": region, "industry": industry})


def _initial_tier(client: BaseClient, actor: User) -> TierChange:
    """The tier history starts with the card: the tier it opens with (the deal's refresh may move it next)."""
    return TierChange(client=client, from_tier="", to_tier=client.tier, basis=client.tier_basis,
                      cause=TierCause.INITIAL, at=client.created_at, by=actor, owner_id=client.assigned_to_id)


def _find_or_create_client(lead: Lead, actor: User) -> BaseClient:
    link = ClientLead.objects.filter(lead=lead).values_list("client_id", flat=True).first()
    if link:
        return lock_client(link)
    group_id = lead.store.group_id
    if lead.phone:
        existing = BaseClient.objects.filter(group_id=group_id, phone=lead.phone).values_list("pk", flat=True).first()
        if existing:
            return lock_client(existing)
    # Region and industry from the group's lists: the lead's spelling mapped to the list's name (a new spelling joins
    # the list, for the group admin to merge).
    client = _new_client(lead, actor, group_id=group_id,
                         region=list_value(group_id=group_id, kind="region", text=lead.district, create=True),
                         industry=list_value(group_id=group_id, kind="industry", text=lead.industry, create=True))
    try:
        with transaction.atomic():
            client.save()
    except IntegrityError:
        # Another deal made this phone's card between our look-up and our insert: extend that one.
        return lock_client(BaseClient.objects.get(group_id=group_id, phone=lead.phone).pk)
    _initial_tier(client, actor).save(force_insert=True)
    return lock_client(client.pk)


def client_from_deal(*, actor: User, deal: Deal, lead: Lead, units: list[dict] | None = None) -> BaseClient:
    """Make or extend the buyer's base client for ``deal`` (the ``deal_recorded`` receiver calls it inside the deal's
    transaction, after the deal row is written): the card of the lead's link or of the phone in the group, or a new
    one; ONE purchase whatever the order's quantity (a repeat purchase when the card had one already; a referral deal
    when the lead names a referrer, credited to the referrer), the quantity added to the card's units; a vehicle per
    unit delivered now (``units``, normalised by the deal service; None: the deal's own VIN and plate, one vehicle, as
    a one-unit deal always had), insurance renewing a year after the delivery, counted in the fleet size; facts, tier
    and care plan refreshed. That each VIN is on no other card is checked by the receiver first."""
    from .fleet import units_create

    client = _find_or_create_client(lead, actor)
    referral = Referral.objects.filter(lead=lead).first()
    is_repeat = client.purchases > 0
    Purchase.objects.create(client=client, deal=deal, store_id=lead.store_id, at=deal.ordered_at, is_repeat=is_repeat,
                            referral=referral)
    ClientLead.objects.get_or_create(lead=lead, defaults={"client": client})
    if units is None:
        units = [{"vin": deal.vin, "plate": deal.plate, "use": VehicleUse.PRIVATE}]
    client.purchases += 1
    client.units += deal.quantity
    fields = ["purchases", "units"]
    if not is_repeat and deal.delivered_at:
        client.care_anchor = deal.delivered_at
        fields.append("care_anchor")
    client.save(update_fields=fields)
    units_create(client=client, deal=deal, units=units, delivered_at=deal.delivered_at)
    refresh(client, actor=actor, cause=TierCause.DEAL)
    materialise(client_ids=[client.pk])
    if referral is not None and referral.referrer_client_id:
        _credit_referrer(referral.referrer_client_id, actor)
    return client


def clients_from_deals(*, actor: User, sales: list[tuple[Deal, Lead, list[dict]]]) -> list[BaseClient]:
    """``client_from_deal`` for many deals of one dealer group at once (the base-client import's batches), in order:
    the same cards (found by the lead's link, then by phone, else new: one per phone), purchases (repeat from the
    card's second on; the lead's referral), links, vehicles, fleet sizes, tiers, care plans and referrers' credits,
    with a bounded number of statements whatever the number of deals (a referrer credited costs its own). ``sales``:
    each deal (written, with its lead) and its units delivered now; the caller has checked that their VINs are on no
    card (``taken_vins``). A card is in at most one sale of a call (the import gives a phone's sales one call each).
    Returns each sale's card.

    Everything is reckoned in memory first (``scoring.rescore_many``), so a new card is inserted once, as the deal
    leaves it (its purchase counted, its fleet size, scores and tier), not inserted and then updated; the purchases,
    links, vehicles, opening tiers and new cards' scores go in from columns (``dealercrm.bulk.insert_rows``), without
    a model instance per row. The rows are those ``client_from_deal`` writes deal by deal (a test compares them)."""
    from .care import materialise
    from .fleet import deal_counts_units, unit_values
    from .lists import list_values
    from .scoring import rescore_many, rescored_write

    if not sales:
        return []
    at = timezone.now()
    group_id = sales[0][1].store.group_id
    lead_ids = [lead.pk for _deal, lead, _units in sales]
    linked = dict(ClientLead.objects.filter(any_of("lead_id", lead_ids)).values_list("lead_id", "client_id"))
    phones = {lead.phone for _deal, lead, _units in sales if lead.phone and lead.pk not in linked}
    by_phone = dict(clients_with_phones(group_id, phones).values_list("phone", "pk")) \
        if phones else {}
    known = sorted(set(linked.values()) | set(by_phone.values()))
    # Locked in one order, as lock_client locks one.
    clients = {c.pk: c for c in BaseClient.objects.select_for_update().filter(any_of("id", known)).order_by("pk")} \
        if known else {}
    new_leads = [lead for _deal, lead, _units in sales if lead.pk not in linked and lead.phone not in by_phone]
    created: dict = {}
    if new_leads:
        regions = list_values(group_id=group_id, kind="region", texts=[lead.district for lead in new_leads],
                              create=True)
        industries = list_values(group_id=group_id, kind="industry", texts=[lead.industry for lead in new_leads],
                                 create=True)
        for lead in new_leads:
            key = lead.phone or ("lead", lead.pk)
            if key not in created:
                client = _new_client(lead, actor, group_id=group_id, region=regions[lead.district],
                                     industry=industries[lead.industry])
                # Opened at ``at``: the date of its history's first row (``_initial_tier``) and of the deal's.
                client.created_at = client.tier_since = at
                created[key] = client
    new_clients = list(created.values())
    # The tier each new card opens with, before the deal moves it (``_initial_tier``).
    opening = [(client.tier, client.tier_basis, client.assigned_to_id) for client in new_clients]
    referrals = {r.lead_id: r for r in Referral.objects.filter(any_of("lead_id", lead_ids))}
    bought, out = [], []
    deal_fields: set[str] = set()
    for deal, lead, units in sales:
        if lead.pk in linked:
            client = clients[linked[lead.pk]]
        elif lead.phone in by_phone:
            client = clients[by_phone[lead.phone]]
        else:
            client = created[lead.phone or ("lead", lead.pk)]
        is_repeat = client.purchases > 0
        client.purchases += 1
        client.units += deal.quantity
        if not is_repeat and deal.delivered_at:
            client.care_anchor = deal.delivered_at
        if units is None:
            units = [{"vin": deal.vin, "plate": deal.plate, "use": VehicleUse.PRIVATE}]
        made = unit_values(deal=deal, units=units, delivered_at=deal.delivered_at)
        deal_fields.update(deal_counts_units(deal, made, deal.delivered_at))
        bought.append((deal, lead, client, is_repeat, made))
        out.append(client)
    touched = list({id(client): client for client in out}.values())
    # The fleet size is at least the vehicles on the card (``_fleet_counts_vehicles``): a known card's (one query for
    # them all) and the ones it gets now.
    on_card = dict(Vehicle.objects.filter(any_of("client_id", [c.pk for c in touched if c.pk is not None]))
                   .order_by().values("client_id").annotate(n=Count("pk")).values_list("client_id", "n")) \
        if clients else {}
    getting: dict[int, int] = {}
    for _deal, _lead, client, _is_repeat, made in bought:
        getting[id(client)] = getting.get(id(client), 0) + len(made)
    for client in touched:
        client.fleet_size = max(client.fleet_size, on_card.get(client.pk, 0) + getting.get(id(client), 0))
    scores, changes = rescore_many(touched, actor=actor, cause=TierCause.DEAL, at=at)
    if new_clients:
        insert_objects(new_clients, now=at)  # as the deal leaves them: created and updated at ``at``
        insert_rows(TierChange, {
            "client_id": [client.pk for client in new_clients], "to_tier": [tier for tier, _b, _o in opening],
            "basis": [basis for _t, basis, _o in opening], "owner_id": [owner for _t, _b, owner in opening]},
            constants={"from_tier": "", "cause": TierCause.INITIAL, "at": at, "by_id": actor.pk})
    # From arrays (dealercrm.bulk): bulk_create spent most of an import batch building these rows' SQL.
    insert_rows(Purchase, {
        "client_id": [client.pk for _deal, _lead, client, _r, _m in bought],
        "deal_id": [deal.pk for deal, *_rest in bought],
        "store_id": [lead.store_id for _deal, lead, *_rest in bought],
        "at": [deal.ordered_at for deal, *_rest in bought],
        "is_repeat": [is_repeat for _deal, _lead, _client, is_repeat, _m in bought],
        "referral_id": [referrals[lead.pk].pk if lead.pk in referrals else None for _deal, lead, *_rest in bought]})
    links = [(lead.pk, client.pk) for _deal, lead, client, _r, _m in bought if lead.pk not in linked]
    insert_rows(ClientLead, {"lead_id": [lead for lead, _client in links],
                             "client_id": [client for _lead, client in links]},
                ignore_conflicts=True)  # get_or_create: a lead keeps its link
    vehicles = [{"client_id": client.pk, **values} for _deal, _lead, client, _r, made in bought for values in made]
    if vehicles:
        insert_rows(Vehicle, {name: [row[name] for row in vehicles] for name in vehicles[0]})
    update_rows(Deal, [deal for deal, _lead, _units in sales], sorted(deal_fields))
    # The scores, the tiers that moved and the known cards' columns; then one care planning for every card (one
    # statement per shape of plan item: planning the moved and the others apart cost twice the statements per round).
    rescored_write(touched, scores, changes, fields=("purchases", "units", "care_anchor", "fleet_size"), plan=False,
                   inserted=frozenset(client.pk for client in new_clients))
    materialise(client_ids=[client.pk for client in touched])
    for _deal, lead, _units in sales:
        referral = referrals.get(lead.pk)
        if referral is not None and referral.referrer_client_id:
            _credit_referrer(referral.referrer_client_id, actor)
    return out


def _credit_referrer(referrer_id: int, actor: User) -> None:
    """A referral deal: the referrer's card counts it and is re-scored."""
    referrer = lock_client(referrer_id)
    referrer.referral_deals += 1
    referrer.save(update_fields=["referral_deals"])
    refresh(referrer, actor=actor, cause=TierCause.REFERRAL_DEAL)


def link_returning_buyer(lead: Lead) -> ClientLead | None:
    """A new lead whose phone is a base client's in the lead's group (a buyer back to buy again): link it to the
    card, so its deal is a repeat purchase. The ``visit_logged`` receiver calls it in the visit's transaction."""
    if not lead.phone:
        return None
    client_id = (BaseClient.objects.filter(group_id=lead.store.group_id, phone=lead.phone)
                 .values_list("pk", flat=True).first())
    if client_id is None:
        return None
    link, _created = ClientLead.objects.get_or_create(lead=lead, defaults={"client_id": client_id})
    return link


def returning_buyer(*, store, phone: str) -> BaseClient | None:
    """The base client of ``store``'s group with this (raw) phone, or None: the visit form's hint."""
    try:
        phone = phone_normalize(phone)
    except ValidationError:
        return None
    if not phone:
        return None
    return BaseClient.objects.filter(group_id=store.group_id, phone=phone).first()


CARD_FIELDS = ("name", "phone", "kind", "region", "industry", "fleet_size", "birthday", "address", "company")


@transaction.atomic
def client_update(*, actor: User, client: BaseClient, expected_version: int | None = None, **changes) -> BaseClient:
    """Edit the card. Region and industry are names (or other spellings) from the group's lists, stored as the list's
    name; another value is a 400. A fleet-size change re-scores the automatic criterion and may move the tier; a
    birthday change re-plans the greetings."""
    unknown = set(changes) - set(CARD_FIELDS)
    if unknown:
        raise ValidationError({f: [_("This field cannot be changed here.")] for f in unknown})
    client = lock_client(client, expected_version)
    require_can_work(actor, client)
    errors = {}
    if "phone" in changes:
        try:
            changes["phone"] = phone_normalize(changes["phone"])
        except ValidationError as exc:
            errors["phone"] = exc.messages
        else:
            if changes["phone"] and BaseClient.objects.filter(group_id=client.group_id, phone=changes["phone"]).exclude(
                    pk=client.pk).exists():
                errors["phone"] = [_("Another base client of the group has this phone.")]
    if "name" in changes and not (changes["name"] or "").strip():
        errors["name"] = [_("This field may not be blank.")]
    if "kind" in changes and changes["kind"] not in ClientKind.values:
        errors["kind"] = [_("Choose person or company.")]
    if "fleet_size" in changes and (not isinstance(changes["fleet_size"], int) or changes["fleet_size"] < 0):
        errors["fleet_size"] = [_("Ensure this value is greater than or equal to 0.")]
    for kind in ("region", "industry"):
        if kind in changes:
            try:
                changes[kind] = list_value(group_id=client.group_id, kind=kind, text=changes[kind])
            except ValidationError as exc:
                errors.update(exc.message_dict)
    if changes.get("company") is not None and changes["company"].store_id != client.store_id:
        errors["company"] = [_("Choose a company of the client's store.")]
    if "birthday" in changes and changes["birthday"] and changes["birthday"] > timezone.localdate():
        errors["birthday"] = [_("A birthday cannot be in the future.")]
    if errors:
        raise ValidationError(errors)
    changed = [f for f, v in changes.items() if getattr(client, f) != v]
    for f in changed:
        setattr(client, f, changes[f])
    if changed:
        bump(client, changed)
    if "fleet_size" in changed:
        refresh(client, actor=actor, cause=TierCause.CARD)
    if "birthday" in changed:
        CareTask.objects.filter(client=client, kind="birthday", status=CareStatus.PENDING).delete()
        materialise(client_ids=[client.pk])
    return client


@transaction.atomic
def client_assign(*, actor: User, client: BaseClient, to_user: User) -> BaseClient:
    """Reassign the card (and its pending care tasks) to a consultant of the client's store. Managers only."""
    from leads.services._common import require_manager, validate_assignee

    client = lock_client(client)
    require_manager(actor, client.store)
    validate_assignee(client.store, to_user)
    if client.assigned_to_id != to_user.pk:
        client.assigned_to = to_user
        bump(client, ["assigned_to"])
        CareTask.objects.filter(client=client, status=CareStatus.PENDING).update(assigned_to=to_user)
    return client


@transaction.atomic
def vehicle_add(*, actor: User, client: BaseClient, vin: str = "", plate: str = "", series=None,
                use: str = VehicleUse.PRIVATE, colour: str = "", ordered_at: date | None = None,
                delivered_at: date | None = None, registered_at: date | None = None,
                insurance_renewal_at: date | None = None, mileage_km: int | None = None) -> Vehicle:
    """A vehicle the client owns that was not sold through a deal here (or added by hand); counted in the fleet
    size (a larger fleet re-scores the client)."""
    client = lock_client(client)
    require_can_work(actor, client)
    vin, plate = validate_vehicle_ids(vin=vin, plate=plate)
    if use not in VehicleUse.values:
        raise ValidationError({"use": [_("Choose a known use.")]})
    if ordered_at and delivered_at and delivered_at < ordered_at:
        raise ValidationError({"delivered_at": [_("Delivery cannot precede the order.")]})
    vehicle = Vehicle.objects.create(client=client, vin=vin, plate=plate, series=series, use=use, colour=colour,
                                     ordered_at=ordered_at, delivered_at=delivered_at, registered_at=registered_at,
                                     insurance_renewal_at=insurance_renewal_at, mileage_km=mileage_km)
    if _fleet_counts_vehicles(client):
        bump(client, ["fleet_size"])
        refresh(client, actor=actor, cause=TierCause.CARD)
    else:
        BaseClient.objects.filter(pk=client.pk).update(version=F("version") + 1)
    materialise(client_ids=[client.pk])
    return vehicle


VEHICLE_FIELDS = ("use", "plate", "colour", "registered_at", "insurance_renewal_at", "mileage_km")


@transaction.atomic
def vehicle_update(*, actor: User, vehicle: Vehicle, **changes) -> Vehicle:
    """Edit a vehicle on the card: its use (the registration's: it decides the inspection interval), plate, colour,
    registration and insurance-renewal dates, mileage. A change of use or of a date re-plans that vehicle's pending
    inspection and insurance reminders."""
    unknown = set(changes) - set(VEHICLE_FIELDS)
    if unknown:
        raise ValidationError({f: [_("This field cannot be changed here.")] for f in unknown})
    client = lock_client(vehicle.client_id)
    require_can_work(actor, client)
    vehicle = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
    errors = {}
    if "use" in changes and changes["use"] not in VehicleUse.values:
        errors["use"] = [_("Choose a known use.")]
    if "plate" in changes:
        try:
            changes["plate"] = plate_normalize(changes["plate"])
        except ValidationError as exc:
            errors["plate"] = exc.messages
    if "mileage_km" in changes and changes["mileage_km"] is not None and changes["mileage_km"] < 0:
        errors["mileage_km"] = [_("Ensure this value is greater than or equal to 0.")]
    if errors:
        raise ValidationError(errors)
    changed = [f for f, v in changes.items() if getattr(vehicle, f) != v]
    for f in changed:
        setattr(vehicle, f, changes[f])
    if changed:
        vehicle.save(update_fields=changed)
        BaseClient.objects.filter(pk=client.pk).update(version=F("version") + 1)
    if {"use", "registered_at", "insurance_renewal_at"} & set(changed):
        CareTask.objects.filter(vehicle=vehicle, status=CareStatus.PENDING, due_on__gte=timezone.localdate(),
                                kind__in=["inspection", "insurance_renewal"]).delete()
        materialise(client_ids=[client.pk])
    return vehicle


__all__ = [
    "StaleVersion",
    "client_assign",
    "client_from_deal",
    "client_update",
    "clients_from_deals",
    "link_returning_buyer",
    "returning_buyer",
    "taken_vins",
    "validate_vehicle_ids",
    "vehicle_add",
    "vehicle_update",
    "vin_free_or_error",
    "vin_taken_error",
]
