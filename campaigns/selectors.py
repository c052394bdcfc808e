"""Reads of events: the lists the target builder draws from, the door search, and the results.

**Results of an event** (``event_results``), counted in the database from its attendance:

- *invited*: guests on the target list (walk-ins added at the door excluded); *accepted*, *declined*: their answers;
- *attended*: guests marked arrived (walk-ins included);
- *leads*: leads of the store's dealer group (merged ones left out) brought by an attendee from the event's day to
  the last day of its month (``Event.results_until``): a showroom visit (first or re-visit) in that window of a lead
  whose phone is an attendee's (the guest's own new lead, a returning buyer, a lost customer coming back), or a lead
  first seen in that window whose referrer is an attending base client;
- *referrals*: of those, the leads whose referrer is an attending base client;
- *deals*: deals ordered in that window (the event's day to its month's end) of a lead whose phone is an attendee's
  or whose referrer is an attending base client.

A lead (deal) brought by a guest of two events in one month counts under both events."""

from __future__ import annotations

from datetime import date

from django.db import connection
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery

from baseclients.models import BaseClient, ListEntry, ListKind, Tier
from dealercrm.models import Role, Store, User
from defeats.models import PoolEntry, PoolList, PoolStatus
from leads import phones
from leads.models import Deal, Lead, Status, Visit

from .models import Answer, Event, EventKind, Invitation


class SubqueryCount(Subquery):
    """COUNT(*) of a subquery's rows, as a column (0 when none)."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) _count)"
    output_field = IntegerField()


def event_list(*, user: User):
    return Event.objects.visible_to(user).select_related("store")


def invitation_list(*, user: User):
    return Invitation.objects.visible_to(user)


def phone_readable_by(user) -> Q:
    """The invitations whose phone ``user`` sees in full: the guest's consultant (in the event's store), whoever
    manages the event's store, superusers. Anyone else (a colleague at the door) sees it masked."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    if user.role == Role.GROUP_ADMIN and user.dealer_group_id:
        return Q(event__store__group_id=user.dealer_group_id)
    if user.role == Role.MANAGER and user.store_id:
        return Q(event__store_id=user.store_id)
    if user.role == Role.CONSULTANT and user.store_id:
        return Q(consultant_id=user.pk, event__store_id=user.store_id)
    return Q(pk__in=[])


def with_phones(user, invitations) -> list[Invitation]:
    """The invitations with ``phone_shown`` (full or masked, by the rule above) set, in one query."""
    readable = set(Invitation.objects.filter(phone_readable_by(user), pk__in=[i.pk for i in invitations])
                   .values_list("pk", flat=True)) if invitations else set()
    for i in invitations:
        i.phone_shown = phones.phone_display(i.phone) if i.pk in readable else i.masked_phone
        i.phone_tel = i.phone if i.pk in readable else ""
    return invitations


def door_search(*, user: User, event: Event, text: str):
    """The door list's search: a guest's name, or their phone within the masking rule (digits of the phones the
    user sees in full, only the whole number of the others; ``leads.phones.phone_search_condition``)."""
    rows = Invitation.objects.visible_to(user).filter(event=event)
    text = (text or "").strip()
    if not text:
        return rows
    return rows.filter(Q(name__icontains=text)
                       | phones.phone_search_condition(text, readable=phone_readable_by(user)))


# --- the target list ---------------------------------------------------------------------------------------------

def target_clients(event: Event, *, tiers=(), regions=(), industries=(), client_ids=()):
    """The event's store's base clients the filters pick: in any of ``tiers`` (every tier when only regions or
    industries are given), in any of ``regions`` and any of ``industries`` when given, plus the ``client_ids``.
    No filter and no ids: none."""
    clients = BaseClient.objects.filter(store_id=event.store_id)
    picked = Q(pk__in=[])
    if tiers or regions or industries:
        q = Q()
        if tiers:
            q &= Q(tier__in=list(tiers))
        if regions:
            q &= Q(region__in=list(regions))
        if industries:
            q &= Q(industry__in=list(industries))
        picked |= q
    if client_ids:
        picked |= Q(pk__in=list(client_ids))
    return clients.filter(picked)


def target_pool(event: Event, *, pool_lists=(), pool_entry_ids=()):
    """The event's store's competitor-pool / nurture-list customers still on their list (not won back): every entry
    of the chosen ``pool_lists``, plus the ``pool_entry_ids``."""
    entries = PoolEntry.objects.filter(store_id=event.store_id, status=PoolStatus.IN_POOL)
    picked = Q(pk__in=[])
    if pool_lists:
        picked |= Q(list__in=list(pool_lists))
    if pool_entry_ids:
        picked |= Q(pk__in=list(pool_entry_ids))
    return entries.filter(picked)


def target_counts(event: Event, **filters) -> dict:
    """The builder's preview: how many the filters pick, and how many of them are new to the event."""
    clients = target_clients(event, **{k: filters.get(k) or () for k in ("tiers", "regions", "industries",
                                                                         "client_ids")})
    pool = target_pool(event, **{k: filters.get(k) or () for k in ("pool_lists", "pool_entry_ids")})
    on_list_clients = Invitation.objects.filter(event=event, client=OuterRef("pk"))
    on_list_pool = Invitation.objects.filter(event=event, pool_entry=OuterRef("pk"))
    c = clients.aggregate(total=Count("pk"), new=Count("pk", filter=~Q(Exists(on_list_clients))))
    p = pool.aggregate(total=Count("pk"), new=Count("pk", filter=~Q(Exists(on_list_pool))))
    return {"base_clients": c["total"], "pool": p["total"], "total": c["total"] + p["total"],
            "new": c["new"] + p["new"]}


def filter_choices(store: Store) -> dict:
    """The builder's choices: the tiers, the group's regions and industries (its lists), the pool's lists."""
    entries = ListEntry.objects.filter(group_id=store.group_id).order_by("name")
    return {
        "tiers": Tier.choices,
        "regions": [e.name for e in entries if e.kind == ListKind.REGION],
        "industries": [e.name for e in entries if e.kind == ListKind.INDUSTRY],
        "pool_lists": PoolList.choices,
    }


# --- results -------------------------------------------------------------------------------------------------------

def _attendees():
    return Invitation.objects.filter(event=OuterRef(OuterRef("pk")), arrived_at__isnull=False)


def _leads_brought():
    """Leads brought by the outer event's attendees (see the module docstring), as a queryset over OuterRef."""
    attendees = _attendees()
    by_phone = Exists(Visit.objects.filter(
        lead=OuterRef("pk"), arrived_at__date__gte=OuterRef(OuterRef("held_on")),
        arrived_at__date__lte=OuterRef(OuterRef("results_until"))))
    return (Lead.objects.filter(store__group_id=OuterRef("store__group_id")).exclude(status=Status.MERGED)
            .filter((Q(phone__in=attendees.exclude(phone="").values("phone")) & Q(by_phone))
                    | Q(_referred_in_window())))


def _referred_in_window() -> Q:
    return Q(referral__referrer_client__in=_attendees().filter(client__isnull=False).values("client_id"),
             first_visit_at__date__gte=OuterRef("held_on"), first_visit_at__date__lte=OuterRef("results_until"))


def with_results(events):
    """``events`` annotated with their results (``invited``, ``accepted``, ``declined``, ``attended``, ``leads``,
    ``referrals``, ``deals``; the module docstring defines them), one query."""
    invitations = Invitation.objects.filter(event=OuterRef("pk"))
    attendees = Invitation.objects.filter(event=OuterRef(OuterRef("pk")), arrived_at__isnull=False)
    leads = _leads_brought()
    referrals = (Lead.objects.filter(store__group_id=OuterRef("store__group_id")).exclude(status=Status.MERGED)
                 .filter(_referred_in_window()))
    deals = Deal.objects.filter(
        lead__store__group_id=OuterRef("store__group_id"), ordered_at__gte=OuterRef("held_on"),
        ordered_at__lte=OuterRef("results_until")).filter(
        Q(lead__phone__in=attendees.exclude(phone="").values("phone"))
        | Q(lead__referral__referrer_client__in=attendees.filter(client__isnull=False).values("client_id")))
    return events.annotate(
        invited=SubqueryCount(invitations.filter(walk_in=False).values("pk")),
        accepted=SubqueryCount(invitations.filter(walk_in=False, answer=Answer.ACCEPTED).values("pk")),
        declined=SubqueryCount(invitations.filter(walk_in=False, answer=Answer.DECLINED).values("pk")),
        attended=SubqueryCount(invitations.filter(arrived_at__isnull=False).values("pk")),
        walk_ins=SubqueryCount(invitations.filter(walk_in=True).values("pk")),
        leads=SubqueryCount(leads.values("pk")),
        referrals=SubqueryCount(referrals.values("pk")),
        deals=SubqueryCount(deals.values("pk")),
    )


RESULT_FIELDS = ("invited", "accepted", "declined", "attended", "walk_ins", "leads", "referrals", "deals")


def event_results(event: Event) -> dict:
    row = with_results(Event.objects.filter(pk=event.pk)).values(*RESULT_FIELDS).get()
    return dict(row)


def results_by_kind(*, user: User, start: date, end: date, stores=None) -> dict:
    """Per event kind, the events held in [start, end] the user sees (of ``stores`` when given): how many, and the
    sums of their results; and the total over the kinds. Two queries (the per-event counts summed by kind, and in
    all, in the database). ``{"rows": [...one per kind...], "total": {...}}``."""
    events = event_list(user=user).filter(held_on__gte=start, held_on__lte=end)
    if stores:
        events = events.filter(store__in=stores)
    per_event = with_results(events.order_by()).values("kind", *RESULT_FIELDS)
    sums = {}
    sql, params = per_event.query.sql_with_params()
    # PostgreSQL sums counts as numeric: cast back to whole numbers.
    totals = ", ".join(f"CAST(COALESCE(SUM(r.{f}), 0) AS INTEGER)" for f in RESULT_FIELDS)
    with connection.cursor() as cursor:
        # The per-event counts (one derived table) summed per kind: the ORM cannot sum subquery annotations.
        cursor.execute(f"SELECT r.kind, COUNT(*), {totals} FROM ({sql}) r GROUP BY r.kind", params)
        for kind, count, *values in cursor.fetchall():
            sums[kind] = {"events": count, **dict(zip(RESULT_FIELDS, values))}
        cursor.execute(f"SELECT COUNT(*), {totals} FROM ({sql}) r", params)
        count, *values = cursor.fetchone()
    empty = {"events": 0, **{f: 0 for f in RESULT_FIELDS}}
    return {"rows": [{"kind": kind, "label": str(label), **sums.get(kind, empty)} for kind, label in EventKind.choices],
            "total": {"events": count, **dict(zip(RESULT_FIELDS, values))}}


__all__ = ["RESULT_FIELDS", "event_list", "event_results", "results_by_kind", "target_clients", "target_counts",
           "target_pool", "with_results"]
