"""Writes of the defeat workflow (docs/defeats.md). Pages, the API, the stale queue, commands and tasks call these; each
is one transaction, takes the application's and the lead's row locks (application first, then the lead, always in
that order) and checks versions, so two managers deciding one application at once give exactly one verdict.

Permission errors are ``PermissionDenied`` (403), bad input ``ValidationError`` with field messages (400), a
conflict with what someone else just did :class:`Conflict` (409)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dealercrm.models import DealerGroup, Role, Store, User, VehicleSeries
from dealercrm.notifications import Draft, notify_many
from leads.models import GRADE_ORDER, AssignmentChange, GradeChange, Lead, Status
from leads.services import StaleVersion, lead_grade_change
from leads.services._common import bump, lock, manages_store, require_can_work, require_manager, validate_assignee
from leads.services.flags import clear_flags

from . import stages
from .models import (
    Application,
    ApplicationReason,
    ApplicationStatus,
    DefeatEvent,
    DefeatSettings,
    DefeatTarget,
    EventKind,
    Kind,
    NurtureContact,
    PoolEntry,
    PoolList,
    PoolOwner,
    PoolStatus,
    PriceCause,
    Reason,
    TalkTrack,
    Verdict,
)
from .postmortems import post_mortem_open_for_defeat
from .taxonomy import DEFEAT_WITHOUT_COMPETITOR, PRICE_REASON, default_reason_rows

# Notification kinds (registered with their labels and texts in defeats/apps.py).
NOTIFY_REJECTED = "defeat_rejected"
NOTIFY_CONFIRMED = "defeat_confirmed"
NOTIFY_POOL = "defeat_pool"
NOTIFY_POOL_HANDED = "defeat_pool_handed"
NOTIFY_NURTURE_LIST = "defeat_nurture_list"
NOTIFY_PENDING = "defeat_pending"
NOTIFY_NURTURE = "defeat_nurture"
NOTIFY_CAME_BACK = "defeat_came_back"
NOTIFY_CAME_BACK_PENDING = "defeat_came_back_pending"


class Conflict(ValidationError):
    """The application or lead changed under the caller: decided by someone else, or a pending application already
    exists (API: 409)."""


class AlreadyDecided(Conflict):
    def __init__(self, ids: Iterable[int] = ()):
        ids = sorted(ids)
        self.ids = ids
        msg = _("Someone else has already decided this application.")
        if len(ids) > 1:
            msg = _("Applications %(ids)s have already been decided.") % {"ids": ", ".join(f"#{i}" for i in ids)}
        super().__init__({"verdict": [msg]})


class AlreadyPending(Conflict):
    def __init__(self):
        super().__init__({"lead": [_("This lead already has an application awaiting a verdict.")]})


# --- settings and taxonomy ----------------------------------------------------------------------------------------


def settings_for(group_id: int) -> DefeatSettings:
    """The group's defeat settings, created with the defaults on first use."""
    obj, _created = DefeatSettings.objects.get_or_create(group_id=group_id)
    return obj


def reasons_for(group_id: int) -> list[Reason]:
    """The group's reasons (all, active or not), seeding the default taxonomy for a group that has none yet."""
    reasons = list(Reason.objects.filter(group_id=group_id).select_related("parent"))
    if reasons:
        return reasons
    with transaction.atomic():
        by_code = {}
        for code, parent, name, name_en, note, competitor, order in default_reason_rows():
            by_code[code], _created = Reason.objects.get_or_create(
                group_id=group_id, code=code,
                defaults={"parent": by_code.get(parent), "name": name, "name_en": name_en, "requires_note": note,
                          "requires_competitor": competitor, "sort_order": order})
    return list(Reason.objects.filter(group_id=group_id).select_related("parent"))


def pool_owner_for(store: Store) -> User | None:
    """The store's competitor-pool owner: the designated one if still active in the store, else its first active
    manager."""
    row = PoolOwner.objects.filter(store=store).select_related("user").first()
    if row and row.user.is_active and row.user.store_id == store.pk:
        return row.user
    return User.objects.filter(store=store, role=Role.MANAGER, is_active=True).order_by("date_joined", "pk").first()


def _require_group_admin(actor: User, group_id: int) -> None:
    if not (actor.is_active and (actor.is_superuser or (actor.role == Role.GROUP_ADMIN
                                                       and actor.dealer_group_id == group_id))):
        raise PermissionDenied(_("Only the group's admin can change the defeat settings."))


@transaction.atomic
def settings_update(*, actor: User, group: DealerGroup, **values) -> DefeatSettings:
    _require_group_admin(actor, group.pk)
    obj = DefeatSettings.objects.select_for_update().get(pk=settings_for(group.pk).pk)
    for field, value in values.items():
        setattr(obj, field, value)
    obj.full_clean()
    obj.save()
    return obj


@transaction.atomic
def pool_owner_set(*, actor: User, store: Store, user: User | None, comment: str = "") -> int:
    """Designate the store's competitor-pool owner (None: back to the store's manager): the store's manager or the
    group's admin. A consultant so designated is the store's fleet sales manager (批售经理: ``User.fleet_manager``,
    which the company accounts read); a manager is not. The open entries the previous owner held move to the new
    one, each with a ``reassigned`` step in its lead's defeat history. Returns how many entries moved."""
    if not manages_store(actor, store):
        raise PermissionDenied(_("Only the store's manager or the group's admin chooses the pool owner."))
    store = Store.objects.select_for_update().get(pk=store.pk)  # one owner change of a store at a time
    if user is not None and (not user.is_active or user.store_id != store.pk
                             or user.role not in (Role.CONSULTANT, Role.MANAGER)):
        raise ValidationError({"user": [_("Choose an active member of this store.")]})
    # The open customers of the effective owner and of the designated one (who may have left: then the manager was
    # the effective owner meanwhile) go to the new owner.
    row = PoolOwner.objects.filter(store=store).first()
    before = {u.pk for u in (pool_owner_for(store),) if u is not None} | ({row.user_id} if row else set())
    if user is None:
        PoolOwner.objects.filter(store=store).delete()
    else:
        PoolOwner.objects.update_or_create(store=store, defaults={"user": user})
    User.objects.filter(store=store, fleet_manager=True).exclude(pk=user.pk if user else None).update(
        fleet_manager=False)
    if user is not None and user.role == Role.CONSULTANT and not user.fleet_manager:
        User.objects.filter(pk=user.pk).update(fleet_manager=True)
        user.fleet_manager = True
    after = pool_owner_for(store)
    before.discard(after.pk if after else None)
    if after is None or not before:
        return 0
    entries = list(PoolEntry.objects.select_for_update().filter(store=store, owner_id__in=before,
                                                                 status=PoolStatus.IN_POOL).order_by("pk"))
    _hand_over(actor, entries, after, comment or gettext_noop("The store's pool owner changed"))
    return len(entries)


def _hand_over(actor: User, entries: list[PoolEntry], to_user: User, comment: str) -> None:
    """Give ``entries`` (locked by the caller) to ``to_user``: one ``reassigned`` step per entry on its lead."""
    now = timezone.now()
    events = []
    for entry in entries:
        events.append(DefeatEvent(lead_id=entry.lead_id, kind=EventKind.REASSIGNED, at=now, by=actor,
                                  comment=comment, from_status=Status.DEFEATED, to_status=Status.DEFEATED,
                                  to_user=to_user))
        entry.owner = to_user
        entry.version += 1
    PoolEntry.objects.bulk_update(entries, ["owner", "version"])
    DefeatEvent.objects.bulk_create(events)


def can_redistribute(actor: User, store: Store) -> bool:
    """Who hands the store's pool customers to its consultants: its manager, its group's admin, its pool owner."""
    if manages_store(actor, store):
        return True
    owner = pool_owner_for(store)
    return bool(actor.is_active and owner is not None and owner.pk == actor.pk)


@transaction.atomic
def pool_entries_reassign(*, actor: User, entries: Iterable[PoolEntry], to_user: User, comment: str = "") -> int:
    """Hand pool customers to a consultant of their store (the method: confirmed defeats go to the fleet sales
    manager, who distributes them): the store's pool owner (for the entries he holds) or whoever manages the store.
    Each entry gets a ``reassigned`` step; the new owner is notified. Won-back entries are refused (409). Returns how
    many entries moved (an entry already held by ``to_user`` does not move)."""
    ids = sorted({e.pk for e in entries})
    if not ids:
        raise ValidationError({"ids": [_("Choose at least one customer.")]})
    locked = list(PoolEntry.objects.select_for_update().select_related("store", "lead").filter(pk__in=ids)
                  .order_by("pk"))
    for entry in locked:
        if not can_redistribute(actor, entry.store) or (not manages_store(actor, entry.store)
                                                         and entry.owner_id != actor.pk):
            raise PermissionDenied(_("Only the pool owner or the store's manager hands pool customers out."))
        if to_user.store_id != entry.store_id or not to_user.is_active \
                or to_user.role not in (Role.CONSULTANT, Role.MANAGER):
            raise ValidationError({"to_user": [_("Choose an active consultant of the customer's store.")]})
    won = [e.pk for e in locked if e.status != PoolStatus.IN_POOL]
    if won:
        raise Conflict({"ids": [_("Customers %(ids)s have already been won back.") % {
            "ids": ", ".join(f"#{i}" for i in won)}]})
    moving = [e for e in locked if e.owner_id != to_user.pk]
    _hand_over(actor, moving, to_user, (comment or "").strip() or gettext_noop("Handed out by the pool owner"))
    if moving and to_user.pk != actor.pk:
        notify_many([Draft(to_user.pk, NOTIFY_POOL_HANDED, {"count": len(moving)}, reverse("defeats:pool"))])
    return len(moving)


@transaction.atomic
def defeat_target_set(*, actor: User, store: Store, year: int, rate: Decimal | None) -> DefeatTarget | None:
    """Set (or, with ``rate`` None, remove) the store's defeat-rate target for ``year``: a rate 0..1 (the method's
    example: 0.65, down from 0.70). The store's manager or its group's admin."""
    if not manages_store(actor, store):
        raise PermissionDenied(_("Only the store's manager or the group's admin sets its defeat-rate target."))
    if rate is None:
        DefeatTarget.objects.filter(store=store, year=year).delete()
        return None
    if not isinstance(rate, Decimal):
        raise ValidationError({"rate": [_("The target must be a decimal rate, e.g. 0.65.")]})
    target = DefeatTarget.objects.filter(store=store, year=year).first() or DefeatTarget(store=store, year=year)
    target.rate, target.updated_by = rate, actor
    target.full_clean(validate_unique=False)
    target.save()
    return target


@transaction.atomic
def reason_save(*, actor: User, group: DealerGroup, reason: Reason | None = None, code: str = "",
                parent: Reason | None = None, name: str, name_en: str, requires_note: bool = False,
                requires_competitor: bool = False, is_active: bool = True, sort_order: int = 0) -> Reason:
    """Add a reason to the group's taxonomy or edit one (its code never changes). Two levels only: a parent must be
    a category of the same group. Reasons are deactivated, never deleted."""
    _require_group_admin(actor, group.pk)
    errors = {}
    if parent is not None and (parent.group_id != group.pk or parent.parent_id is not None):
        errors["parent"] = [_("Choose a category (a top-level reason) of this group.")]
    if reason is not None and parent is not None and reason.children.exists():
        errors["parent"] = [_("A category with reasons under it cannot move under another.")]
    if not (name or "").strip() or not (name_en or "").strip():
        errors["name"] = [_("Give the reason a Chinese and an English name.")]
    if reason is None:
        code = (code or "").strip()
        if not code:
            errors["code"] = [_("Give the reason a code.")]
        elif Reason.objects.filter(group=group, code=code).exists():
            errors["code"] = [_("This code is taken.")]
    if errors:
        raise ValidationError(errors)
    if reason is None:
        reason = Reason(group=group, code=code)
    elif reason.group_id != group.pk:
        raise PermissionDenied(_("This reason belongs to another group."))
    reason.parent = parent
    reason.name, reason.name_en = name.strip(), name_en.strip()
    reason.requires_note, reason.requires_competitor = requires_note, requires_competitor
    reason.is_active, reason.sort_order = is_active, sort_order
    reason.full_clean()
    reason.save()
    return reason


@transaction.atomic
def talk_track_save(*, actor: User, reason: Reason, fact: str, problem: str, viewpoint: str,
                    series: VehicleSeries | None = None, track: TalkTrack | None = None) -> TalkTrack:
    """A manager or group admin writes the three steps against a reason (optionally for one of our series)."""
    if not actor.is_active or not (actor.is_superuser or actor.role in (Role.MANAGER, Role.GROUP_ADMIN)) or (
            not actor.is_superuser and (actor.dealer_group_id != reason.group_id)):
        raise PermissionDenied(_("Only managers write talk tracks."))
    errors = {}
    for field, value in (("fact", fact), ("problem", problem), ("viewpoint", viewpoint)):
        if not (value or "").strip():
            errors[field] = [_("Write this step.")]
    if series is not None and not series.brand.is_own:
        errors["series"] = [_("Choose one of our series.")]
    if errors:
        raise ValidationError(errors)
    if track is None:
        existing = TalkTrack.objects.filter(reason=reason, series=series).first()
        track = existing or TalkTrack(group_id=reason.group_id, reason=reason, series=series)
    track.reason, track.series = reason, series
    track.fact, track.problem, track.viewpoint = fact.strip(), problem.strip(), viewpoint.strip()
    track.updated_by = actor
    try:
        with transaction.atomic():
            track.save()
    except IntegrityError:
        raise ValidationError({"series": [_("This reason already has a talk track for this series.")]}) from None
    return track


# --- apply ------------------------------------------------------------------------------------------------------


def _url(lead_id: int) -> str:
    return reverse("leads:detail", args=[lead_id])


def _resolve_reasons(group_id: int, reasons: Iterable) -> list[Reason]:
    """Reasons given as Reason rows or codes, checked against the group's active taxonomy."""
    reasons_for(group_id)
    wanted = list(dict.fromkeys(r.code if isinstance(r, Reason) else str(r) for r in reasons))
    if not wanted:
        raise ValidationError({"reasons": [_("Pick at least one reason.")]})
    found = {r.code: r for r in Reason.objects.filter(group_id=group_id, code__in=wanted, is_active=True)
             .select_related("parent")}
    unknown = [c for c in wanted if c not in found]
    if unknown:
        raise ValidationError({"reasons": [_("Unknown reason: %(codes)s.") % {"codes": ", ".join(unknown)}]})
    return [found[c] for c in wanted]


def can_file_defeat(lead: Lead) -> bool:
    """Whether the lead may be filed as a defeat at all (whoever files it): only an active lead. A won, merged,
    defeated or pending lead may not; the lead page offers the filing by this same rule."""
    return lead.status == Status.ACTIVE


@transaction.atomic
def application_file(*, actor: User, lead: Lead, kind: str, reasons: Iterable, competitor_series=None,
                     price_gap: Decimal | None = None, price_cause: str = "", note: str = "",
                     expected_version: int | None = None, at: datetime | None = None) -> Application:
    """The lead's consultant (or the store's manager) files a defeat application. A consultant's filing waits for the
    manager's verdict; the filing of someone who manages the store (a manager, a group admin) is confirmed at once by
    the filer (:func:`application_decide`'s confirmation, comment: the note or "Filed and confirmed by the manager.").
    While pending, the lead is frozen
    (``defeat_pending``): nothing falls due, its stale and overdue flags are cleared, it leaves every queue and job
    (they all read active leads), and stays its consultant's.

    The method's kinds: a **quasi-defeat** (准战败) has not bought another brand (so no competitor series); a
    **defeat** (战败) bought a competitor's car (its series is required) or lost contact / bought a used car (the
    reasons ``lost_contact``, ``bought_used``). The reason "price high" (价格高) needs its cause (``price_cause``, a
    :class:`PriceCause`); a cause without that reason is refused."""
    errors = {}
    if kind not in Kind.values:
        errors["kind"] = [_("Choose quasi-defeat or defeat.")]
    price_cause = price_cause or ""
    if price_cause and price_cause not in PriceCause.values:
        errors["price_cause"] = [_("Unknown price cause.")]
    note = (note or "").strip()
    if price_gap is not None and not isinstance(price_gap, Decimal):
        errors["price_gap"] = [_("The price gap must be a decimal amount.")]
    if isinstance(competitor_series, int | str):
        competitor_series = VehicleSeries.objects.select_related("brand").filter(pk=competitor_series).first()
        if competitor_series is None:
            errors["competitor_series"] = [_("Unknown series.")]
    if competitor_series is not None and competitor_series.brand.is_own:
        errors["competitor_series"] = [_("Choose a competitor's series, not one of ours.")]
    lead = lock(lead, expected_version)
    require_can_work(actor, lead)
    try:
        chosen = _resolve_reasons(lead.store.group_id, reasons)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        chosen = []
    if any(r.requires_note for r in chosen) and not note:
        names = ", ".join(str(r) for r in chosen if r.requires_note)
        errors["note"] = [_("Say more: %(reasons)s needs a note.") % {"reasons": names}]
    codes = {r.code for r in chosen}
    if "competitor_series" not in errors:
        if kind == Kind.QUASI and competitor_series is not None:
            errors["competitor_series"] = [_("A quasi-defeat has not bought another brand: file a defeat, or leave "
                                             "the competitor's series empty.")]
        elif competitor_series is None and (any(r.requires_competitor for r in chosen) or (
                kind == Kind.DEFEAT and chosen and not codes & set(DEFEAT_WITHOUT_COMPETITOR))):
            errors["competitor_series"] = [_("Which competitor's series did the customer buy? (A defeat without one "
                                             "is a lost contact or a used car.)")]
    if chosen and "price_cause" not in errors:
        if PRICE_REASON in codes and not price_cause:
            errors["price_cause"] = [_("Why was the price too high? Pick the cause.")]
        elif price_cause and PRICE_REASON not in codes:
            errors["price_cause"] = [_("A price cause goes with the reason \"price too high\".")]
    if lead.status == Status.DEFEAT_PENDING:
        raise AlreadyPending()
    if not can_file_defeat(lead):
        errors["lead"] = [_("This lead is %(status)s; it cannot be filed as a defeat.")
                          % {"status": lead.get_status_display()}]
    if errors:
        raise ValidationError(errors)
    now = at or timezone.now()
    try:
        with transaction.atomic():
            application = Application.objects.create(
                # The lead's series is "ours" only when it is one of our brand's: a customer interested in a
                # competitor's model has no series of ours to lose.
                lead=lead, store=lead.store, consultant=lead.assigned_to,
                our_series_id=lead.series_id if lead.series_id and lead.series.brand.is_own else None,
                source=lead.source, kind=kind, competitor_series=competitor_series,
                competitor_brand_id=competitor_series.brand_id if competitor_series else None, price_gap=price_gap,
                price_cause=price_cause, note=note, applied_by=actor, applied_at=now, from_status=lead.status,
                grade_at_filing=lead.grade, highest_grade=stages.highest_of([lead.grade, GradeChange.objects.filter(
                    lead=lead, changed_at__lte=now).aggregate(top=Min("to_grade"))["top"]]))
    except IntegrityError:  # the partial unique index: a pending application exists (the lead lock makes it rare)
        raise AlreadyPending() from None
    ApplicationReason.objects.bulk_create(
        [ApplicationReason(application=application, reason=r, parent_id=r.parent_id or r.pk) for r in chosen])
    DefeatEvent.objects.create(lead=lead, application=application, kind=EventKind.APPLIED, at=now, by=actor,
                               comment=note, from_status=lead.status, to_status=Status.DEFEAT_PENDING)
    lead.status = Status.DEFEAT_PENDING
    lead.next_follow_up_at = None
    lead._change_reason = gettext_noop("Defeat application filed")
    flags = clear_flags(lead, actor=actor, at=now, reason=gettext_noop("Defeat application filed"), stale=True,
                        overdue=True, pool=True)
    bump(lead, ["status", "next_follow_up_at", *flags], actor=actor)
    if manages_store(actor, lead.store):
        # A manager (or group admin) would otherwise verify his own filing: it is decided at once, in the same
        # transaction and with the same record (his confirmed verdict, the filing's note as the comment).
        drafts: list[Draft] = []
        application = _decide(actor, application, Verdict.CONFIRM, note or _("Filed and confirmed by the manager."),
                              assign_to=None, grade=None, now=now, drafts=drafts)
        notify_many(drafts)
    return application


# --- verdicts -----------------------------------------------------------------------------------------------------


def _lock_applications(ids: list[int]) -> list[Application]:
    """Lock the applications in id order (so two bulk verdicts never deadlock), then their leads in id order."""
    apps = list(Application.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk"))
    return apps


def _decide(actor: User, app: Application, verdict: str, comment: str, *, assign_to: User | None, grade: str | None,
            now: datetime, drafts: list[Draft]) -> Application:
    lead = lock(app.lead)
    require_manager(actor, lead.store)
    if lead.status != Status.DEFEAT_PENDING:  # cannot happen while the constraint and services hold; be loud
        raise Conflict({"lead": [_("The lead is no longer awaiting a verdict.")]})
    app.status = ApplicationStatus.CONFIRMED if verdict == Verdict.CONFIRM else ApplicationStatus.REJECTED
    app.decided_by, app.decided_at, app.comment = actor, now, comment
    app.version += 1
    app.save(update_fields=["status", "decided_by", "decided_at", "comment", "version"])
    url = _url(lead.pk)
    if verdict == Verdict.CONFIRM:
        # A defeat joins the competitor pool, worked by the store's pool owner; a quasi-defeat the nurture list,
        # worked by the consultant who filed it (while still active in the store). Either way the lead stays with the
        # consultant who held it: the pool owner works the entry, not the lead, so he never becomes a row of the
        # per-consultant figures and the consultant's history keeps its lost customers.
        is_defeat = app.kind == Kind.DEFEAT
        consultant = app.consultant
        if not is_defeat and consultant is not None and consultant.is_active and consultant.store_id == lead.store_id:
            owner = consultant
        else:
            owner = pool_owner_for(lead.store) or actor
        s = settings_for(lead.store.group_id)
        purchased = timezone.localtime(app.applied_at).date() if is_defeat else None
        replacement = None
        if purchased is not None:
            replacement = (purchased.replace(year=purchased.year + s.replacement_after_years)
                           if not (purchased.month == 2 and purchased.day == 29)
                           else purchased + timedelta(days=365 * s.replacement_after_years))
        PoolEntry.objects.update_or_create(lead=lead, defaults={
            "store": lead.store, "application": app, "owner": owner,
            "list": PoolList.COMPETITOR if is_defeat else PoolList.NURTURE,
            "competitor_brand_id": app.competitor_brand_id, "competitor_series_id": app.competitor_series_id,
            "purchased_on": purchased, "joined_at": now, "last_contact_at": None,
            "next_contact_at": now + timedelta(days=s.nurture_interval_days), "replacement_due_on": replacement,
            "status": PoolStatus.IN_POOL, "won_back_at": None})
        DefeatEvent.objects.create(lead=lead, application=app, kind=EventKind.CONFIRMED, at=now, by=actor,
                                   comment=comment, from_status=lead.status, to_status=Status.DEFEATED,
                                   to_user=owner)
        lead.status = Status.DEFEATED
        lead.next_follow_up_at = None
        lead._change_reason = gettext_noop("Defeat confirmed") if is_defeat else gettext_noop(
            "Quasi-defeat confirmed: nurture list")
        bump(lead, ["status", "next_follow_up_at"], actor=actor)
        # An important case (the lead reached B or A) opens its post-mortem for the consultant who lost it.
        post_mortem_open_for_defeat(application=app, lead=lead, actor=actor, now=now, drafts=drafts)
        if app.consultant_id and app.consultant_id != actor.pk:
            drafts.append(Draft(app.consultant_id, NOTIFY_CONFIRMED, {"name": lead.name, "comment": comment}, url))
        if owner.pk != actor.pk and owner.pk != app.consultant_id:
            drafts.append(Draft(owner.pk, NOTIFY_POOL if is_defeat else NOTIFY_NURTURE_LIST, {"name": lead.name},
                                reverse("defeats:pool") + ("" if is_defeat else "?list=nurture")))
        return app

    # Rejected: a false defeat (虚战败). Reactivate with a grade, the same or another consultant, a second follow-up.
    grade = grade or lead.grade
    to_user = assign_to or app.consultant or lead.assigned_to
    if to_user is None or not to_user.is_active or to_user.store_id != lead.store_id:
        raise ValidationError({"assign_to": [_("Choose an active consultant of this store.")]})
    validate_assignee(lead.store, to_user)
    s = settings_for(lead.store.group_id)
    DefeatEvent.objects.create(lead=lead, application=app, kind=EventKind.REJECTED, at=now, by=actor,
                               comment=comment, from_status=lead.status, to_status=Status.ACTIVE, to_user=to_user)
    fields = ["status", "next_follow_up_at"]
    if lead.assigned_to_id != to_user.pk:
        AssignmentChange.objects.create(lead=lead, from_user=lead.assigned_to, to_user=to_user, changed_at=now,
                                        changed_by=actor, reason=gettext_noop("False defeat: reassigned"))
        lead.assigned_to = to_user
        fields.append("assigned_to")
    lead.status = Status.ACTIVE
    lead.next_follow_up_at = now + timedelta(days=s.second_follow_up_days)
    if lead.dwell_kept_at is None or lead.dwell_kept_at < now:
        # The dwell clock restarts: the lead is not stale again the moment it comes back.
        lead.dwell_kept_at = now
        fields.append("dwell_kept_at")
    lead._change_reason = gettext_noop("Rejected as a false defeat")
    bump(lead, fields, actor=actor)
    if grade != lead.grade:
        lead = lead_grade_change(actor=actor, lead=lead, to_grade=grade,
                                 reason=gettext_noop("False defeat: regraded"), at=now)
        # The grade change set the due date from the grade's interval: the second follow-up is the verdict's.
        lead.next_follow_up_at = now + timedelta(days=s.second_follow_up_days)
        bump(lead, ["next_follow_up_at"], actor=actor)
    params = {"name": lead.name, "comment": comment, "days": s.second_follow_up_days}
    for who in {app.consultant_id, to_user.pk} - {None, actor.pk}:
        drafts.append(Draft(who, NOTIFY_REJECTED, params, url))
    return app


def _check_verdict(verdict: str, comment: str, grade: str | None) -> str:
    errors = {}
    if verdict not in Verdict.values:
        errors["verdict"] = [_("Choose confirm or reject.")]
    comment = (comment or "").strip()
    if not comment:
        errors["comment"] = [_("Say why: the verdict's comment is kept with the lead.")]
    if grade is not None and grade not in GRADE_ORDER:
        errors["grade"] = [_("Unknown grade.")]
    if errors:
        raise ValidationError(errors)
    return comment


@transaction.atomic
def application_decide(*, actor: User, application: Application, verdict: str, comment: str,
                       assign_to: User | None = None, grade: str | None = None,
                       expected_version: int | None = None) -> Application:
    """The store's manager decides one application: ``confirm`` (the lead is closed: a defeat joins the competitor
    pool, worked by the pool owner; a quasi-defeat the nurture list, worked by its consultant; the lead stays with
    the consultant who held it) or ``reject`` (a false defeat: active again with ``grade``, held by ``assign_to`` or
    its consultant, a second follow-up due in the group's number of days; both consultants are notified). A
    verdict on an application already decided raises :class:`AlreadyDecided`; with ``expected_version`` a changed
    application raises ``StaleVersion``."""
    comment = _check_verdict(verdict, comment, grade)
    if not manages_store(actor, application.store):
        raise PermissionDenied(_("Only the store's manager can decide a defeat application."))
    app = _lock_applications([application.pk])[0]
    if app.status != ApplicationStatus.PENDING:
        raise AlreadyDecided([app.pk])
    if expected_version is not None and app.version != expected_version:
        raise StaleVersion(app.version)
    drafts: list[Draft] = []
    app = _decide(actor, app, verdict, comment, assign_to=assign_to, grade=grade, now=timezone.now(), drafts=drafts)
    notify_many(drafts)
    return app


@transaction.atomic
def applications_bulk_decide(*, actor: User, ids: Iterable[int], verdict: str, comment: str) -> list[Application]:
    """Decide many applications with one comment, all or nothing: an application the actor may not decide is a 403,
    one someone already decided refuses the whole batch (:class:`AlreadyDecided` names them). A bulk rejection keeps
    each lead with its consultant and grade."""
    ids = sorted({int(i) for i in ids})
    if not ids:
        raise ValidationError({"ids": [_("Pick at least one application.")]})
    comment = _check_verdict(verdict, comment, None)
    apps = _lock_applications(ids)
    if len(apps) != len(ids):
        raise ValidationError({"ids": [_("Unknown application.")]})
    stores = {a.store_id: a for a in apps}
    for app in stores.values():
        if not manages_store(actor, app.store):
            raise PermissionDenied(_("Only the store's manager can decide a defeat application."))
    decided = [a.pk for a in apps if a.status != ApplicationStatus.PENDING]
    if decided:
        raise AlreadyDecided(decided)
    now, drafts = timezone.now(), []
    done = [_decide(actor, a, verdict, comment, assign_to=None, grade=None, now=now, drafts=drafts) for a in apps]
    notify_many(drafts)
    return done


# --- the competitor pool --------------------------------------------------------------------------------------------


def _require_pool_worker(actor: User, entry: PoolEntry) -> None:
    if manages_store(actor, entry.store):
        return
    if actor.is_active and actor.pk == entry.owner_id and actor.store_id == entry.store_id:
        return
    raise PermissionDenied(_("Only the pool owner or the store's manager can work this customer."))


@transaction.atomic
def nurture_contact_log(*, actor: User, entry: PoolEntry, method: str, content: str, came_back: bool = False,
                        grade: str | None = None, assign_to: User | None = None,
                        occurred_at: datetime | None = None) -> NurtureContact:
    """Log a contact with a pooled customer, like a follow-up; the next one falls due after the group's interval.
    ``came_back``: the customer wants to buy again: a win-back (the lead is active again with ``grade``, held by
    ``assign_to``, else, for a manager, by the consultant who lost the customer (while active; else the entry's
    owner), for the owner himself by him; a follow-up due today; the lead's history stays)."""
    from leads.models import FollowUpMethod

    errors = {}
    if method not in FollowUpMethod.values:
        errors["method"] = [_("Unknown contact method.")]
    if not (content or "").strip():
        errors["content"] = [_("Say what was discussed.")]
    if came_back and grade not in GRADE_ORDER:
        errors["grade"] = [_("A customer who comes back needs a grade.")]
    occurred_at = occurred_at or timezone.now()
    if occurred_at > timezone.now() + timedelta(minutes=5):
        errors["occurred_at"] = [_("A contact cannot happen in the future.")]
    if errors:
        raise ValidationError(errors)
    entry = PoolEntry.objects.select_for_update().select_related("store").get(pk=entry.pk)
    _require_pool_worker(actor, entry)
    if entry.status != PoolStatus.IN_POOL:
        raise Conflict({"entry": [_("This customer has already been won back.")]})
    contact = NurtureContact.objects.create(entry=entry, occurred_at=occurred_at, method=method,
                                            content=content.strip(), came_back=came_back, created_by=actor)
    s = settings_for(entry.store.group_id)
    entry.last_contact_at = occurred_at
    entry.next_contact_at = occurred_at + timedelta(days=s.nurture_interval_days)
    entry.version += 1
    lead = lock(entry.lead)
    if not came_back:
        DefeatEvent.objects.create(lead=lead, kind=EventKind.NURTURED, at=occurred_at, by=actor,
                                   comment=content.strip(), from_status=lead.status, to_status=lead.status)
        entry.save(update_fields=["last_contact_at", "next_contact_at", "version"])
        return contact
    to_user = assign_to or (_lost_by(entry) if manages_store(actor, lead.store) else actor)
    validate_assignee(lead.store, to_user)
    if not manages_store(actor, lead.store) and to_user.pk != actor.pk:
        raise PermissionDenied(_("Only the store's manager can hand the customer to someone else."))
    lead = _win_back(actor, entry, lead, at=occurred_at, grade=grade, to_user=to_user, comment=content.strip())
    if to_user.pk != actor.pk:
        notify_many([Draft(to_user.pk, "assigned", {"count": 1, "name": lead.name}, _url(lead.pk))])
    return contact


def _lost_by(entry: PoolEntry) -> User:
    """Who a customer coming back goes to by default: the consultant who held the lead when it was filed, while an
    active consultant of the store (the pool owner is not a consultant: he works the list, not the leads); else the
    entry's owner."""
    who = entry.application.consultant
    if who is not None and who.is_active and who.store_id == entry.store_id and who.role == Role.CONSULTANT:
        return who
    return entry.owner


def _win_back(actor: User, entry: PoolEntry, lead: Lead, *, at: datetime, grade: str | None, to_user: User,
              comment: str) -> Lead:
    """A pooled customer came back: the entry is won back, the lead is active again held by ``to_user`` with a
    follow-up due now (and ``grade`` if given), a ``won_back`` step is recorded; the history stays. The caller holds
    the entry's and the lead's locks and has bumped the entry's version."""
    entry.last_contact_at = at
    entry.status, entry.won_back_at, entry.next_contact_at = PoolStatus.WON_BACK, at, None
    entry.save(update_fields=["last_contact_at", "next_contact_at", "status", "won_back_at", "version"])
    DefeatEvent.objects.create(lead=lead, application=entry.application, kind=EventKind.WON_BACK, at=at, by=actor,
                               comment=comment, from_status=lead.status, to_status=Status.ACTIVE, to_user=to_user)
    fields = ["status", "next_follow_up_at", "last_contact_at", "dwell_kept_at"]
    if lead.assigned_to_id != to_user.pk:
        AssignmentChange.objects.create(lead=lead, from_user=lead.assigned_to, to_user=to_user, changed_at=at,
                                        changed_by=actor, reason=gettext_noop("Won back from the competitor pool"))
        lead.assigned_to = to_user
        fields.append("assigned_to")
    lead.status = Status.ACTIVE
    lead.next_follow_up_at = max(at, timezone.now())
    lead.last_contact_at = at
    lead.dwell_kept_at = at
    lead._change_reason = gettext_noop("Won back from the competitor pool")
    bump(lead, fields, actor=actor)
    if grade and grade != lead.grade:
        due = lead.next_follow_up_at
        lead = lead_grade_change(actor=actor, lead=lead, to_grade=grade, reason=gettext_noop("Won back"), at=at)
        lead.next_follow_up_at = due
        bump(lead, ["next_follow_up_at"], actor=actor)
    return lead


def customer_came_back(*, actor: User, lead: Lead, at: datetime, grade: str | None = None,
                       assign_to: User | None = None) -> Lead:
    """A showroom visit by a customer whose lead is defeated or awaiting a defeat verdict (the
    ``customer_returned`` receiver calls it in the visit's transaction, holding the lead's lock, after the visit is
    recorded):

    - **defeated, in the competitor pool** → a win-back: the lead is active again (history kept) with the visit's
      ``grade`` if given, held by ``assign_to`` (a manager's pick), else by the consultant who logged the visit,
      else by the consultant who lost the customer (while active), else by the pool owner; a follow-up is due now; it counts in ``win_backs``. The pool owner and the new holder
      are notified.
    - **awaiting a verdict** → the customer is not lost: the pending application is closed as rejected (a false
      defeat, counted in the false-defeat rate), the lead is active again with its consultant and grade, and a
      second follow-up falls due within the group's ``second_follow_up_days``. The consultant and the store's
      managers are notified.

    The entry or application is locked with SKIP LOCKED: if a manager is deciding the application (or someone is
    logging a pool contact) at this very moment, the visit stays a plain re-visit and their write stands (they lock
    the application/entry before the lead, this path holds the lead first: waiting could deadlock). Returns the
    lead (re-read when it changed)."""
    if lead.status == Status.DEFEATED:
        entry = (PoolEntry.objects.select_for_update(skip_locked=True).select_related("owner")
                 .filter(lead=lead, status=PoolStatus.IN_POOL).first())
        if entry is None:
            return lead
        if assign_to is not None:
            if assign_to.pk != actor.pk:
                require_manager(actor, lead.store)
            to_user = assign_to
        elif actor.role == Role.CONSULTANT and actor.is_active and actor.store_id == lead.store_id:
            to_user = actor
        else:
            to_user = _lost_by(entry)
        validate_assignee(lead.store, to_user)
        entry.version += 1
        lead = _win_back(actor, entry, lead, at=at, grade=grade, to_user=to_user,
                         comment=_("The customer came back to the showroom."))
        params = {"name": lead.name, "holder": str(to_user)}
        notify_many([Draft(who, NOTIFY_CAME_BACK, params, _url(lead.pk))
                     for who in {entry.owner_id, to_user.pk} - {actor.pk}])
        return lead
    if lead.status != Status.DEFEAT_PENDING:
        return lead
    app = (Application.objects.select_for_update(skip_locked=True, of=("self",))
           .filter(lead=lead, status=ApplicationStatus.PENDING).first())
    if app is None:
        return lead
    decided_at = max(at, app.applied_at)
    comment = _("The customer came back to the showroom.")
    app.status, app.decided_by, app.decided_at, app.comment = ApplicationStatus.REJECTED, actor, decided_at, comment
    app.version += 1
    app.save(update_fields=["status", "decided_by", "decided_at", "comment", "version"])
    s = settings_for(lead.store.group_id)
    DefeatEvent.objects.create(lead=lead, application=app, kind=EventKind.REJECTED, at=decided_at, by=actor,
                               comment=comment, from_status=lead.status, to_status=Status.ACTIVE,
                               to_user=lead.assigned_to)
    lead.status = Status.ACTIVE
    lead.next_follow_up_at = max(at, timezone.now()) + timedelta(days=s.second_follow_up_days)
    lead.dwell_kept_at = max(lead.dwell_kept_at or at, at)
    lead._change_reason = gettext_noop("The customer came back: the defeat application is closed as a false defeat")
    bump(lead, ["status", "next_follow_up_at", "dwell_kept_at"], actor=actor)
    managers = User.objects.filter(store=lead.store, role=Role.MANAGER, is_active=True).values_list("pk", flat=True)
    params = {"name": lead.name}
    notify_many([Draft(who, NOTIFY_CAME_BACK_PENDING, params, _url(lead.pk))
                 for who in ({*managers, lead.assigned_to_id} - {None, actor.pk})])
    return lead

