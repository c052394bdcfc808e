"""Post-mortems (复盘, docs/defeats.md "Post-mortems"): the writes and reads of the short review a consultant writes
after an important case, and the lessons library it feeds.

- **Opened** automatically, in the transaction that confirms a defeat application, when the lead reached B or A at
  some point (the highest grade of its grade history, ``leads.GradeChange``, or its grade now); or by hand from the
  lead page, on any won or lost lead (a won fleet order is reviewed this way). One per lead: a second opening
  returns the first.
- **Written** by the lead's consultant (phone-first form): the grade where the case turned, the causes (the group's
  defeat reasons) and what happened, what to do differently, optionally our series and the competitor's.
- **Submitted** to the store's managers, who **approve** it (it is shared: the lessons library of the store, the
  talk tracks of its reasons) or **send it back** with a comment (the consultant edits and submits again).

Permission errors are ``PermissionDenied`` (403), bad input ``ValidationError`` with field messages (400)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from dealercrm.models import Role, User, VehicleSeries
from dealercrm.notifications import Draft, notify_many
from leads.models import GRADE_ORDER, GradeChange, Lead, Status
from leads.services._common import manages_store

from .models import Application, ApplicationStatus, PostMortem, PostMortemOutcome, PostMortemStatus, Reason

# Notification kinds (registered with their labels and texts in defeats/apps.py).
NOTIFY_PM_OPENED = "postmortem_opened"
NOTIFY_PM_SUBMITTED = "postmortem_submitted"
NOTIFY_PM_APPROVED = "postmortem_approved"
NOTIFY_PM_RETURNED = "postmortem_returned"

# A defeat of a lead that reached one of these grades opens a post-mortem by itself.
IMPORTANT_GRADES = ("A", "B")
# How many approved lessons a talk track shows under it (the library has them all).
LESSONS_PER_TRACK = 3


def _url(pm: PostMortem) -> str:
    return reverse("defeats:postmortem", args=[pm.pk])


def highest_grade_reached(lead: Lead) -> str:
    """The highest grade the lead ever held: the grade history's targets and the grade it holds now ("" when it was
    never graded). One query."""
    held = set(GradeChange.objects.filter(lead=lead).values_list("to_grade", flat=True).distinct())
    if lead.grade:
        held.add(lead.grade)
    ranked = [g for g in GRADE_ORDER if g in held]
    return ranked[-1] if ranked else ""


def _create(*, lead: Lead, consultant: User, actor: User, now: datetime, outcome: str,
            application: Application | None, highest: str) -> PostMortem | None:
    """The one post-mortem of the lead, or None when the lead has one already (a savepoint absorbs the race of two
    openings: the unique lead column decides)."""
    try:
        with transaction.atomic():
            pm = PostMortem.objects.create(
                lead=lead, store_id=lead.store_id, consultant=consultant, application=application, outcome=outcome,
                highest_grade=highest, turned_at_grade=lead.grade or highest,
                our_series_id=(application.our_series_id if application else
                               (lead.series_id if lead.series_id and lead.series.brand.is_own else None)),
                competitor_series_id=application.competitor_series_id if application else None,
                opened_by=actor, opened_at=now)
    except IntegrityError:
        return None
    if application is not None:
        pm.reasons.set(list(application.reasons.all()))
    return pm


def post_mortem_open_for_defeat(*, application: Application, lead: Lead, actor: User, now: datetime,
                                drafts: list[Draft]) -> PostMortem | None:
    """Called by the defeat verdict (``services._decide``), in its transaction, when an application is confirmed:
    opens the post-mortem of a lead whose highest grade reached is B or A, for the consultant who lost it, and adds
    his notification to ``drafts``. Nothing for a lower lead, a lead nobody held, or a lead that has one already."""
    consultant = application.consultant
    if consultant is None or PostMortem.objects.filter(lead=lead).exists():
        return None
    highest = highest_grade_reached(lead)
    if highest not in IMPORTANT_GRADES:
        return None
    pm = _create(lead=lead, consultant=consultant, actor=actor, now=now, outcome=PostMortemOutcome.LOST,
                 application=application, highest=highest)
    if pm is not None:
        drafts.append(Draft(consultant.pk, NOTIFY_PM_OPENED, {"name": lead.name, "grade": highest}, _url(pm)))
    return pm


def can_open(user: User, lead: Lead) -> bool:
    """Whether ``user`` may open a post-mortem on ``lead`` by hand: a won or lost (defeated) lead with a consultant,
    opened by that consultant or by whoever manages the store."""
    if lead.status not in (Status.WON, Status.DEFEATED) or lead.assigned_to_id is None or not user.is_active:
        return False
    return manages_store(user, lead.store) or (
        user.role == Role.CONSULTANT and user.pk == lead.assigned_to_id and user.store_id == lead.store_id)


@transaction.atomic
def post_mortem_open(*, actor: User, lead: Lead) -> PostMortem:
    """Open the lead's post-mortem by hand (a button on the lead page): a won lead (a fleet order, say) or a
    defeated one, for its consultant; he is notified when someone else opens it. The lead's post-mortem when it
    has one already."""
    lead = (Lead.objects.select_for_update(of=("self",)).select_related("store", "series__brand", "assigned_to")
            .get(pk=lead.pk))
    existing = PostMortem.objects.filter(lead=lead).first()
    if existing is not None:
        return existing
    if lead.status not in (Status.WON, Status.DEFEATED):
        raise ValidationError({"lead": [_("Only a won or lost customer's case is reviewed.")]})
    if lead.assigned_to_id is None:
        raise ValidationError({"lead": [_("Nobody holds this lead: assign it before its post-mortem.")]})
    if not can_open(actor, lead):
        raise PermissionDenied(_("Only the lead's consultant or the store's manager opens its post-mortem."))
    application = None
    outcome = PostMortemOutcome.WON if lead.status == Status.WON else PostMortemOutcome.LOST
    if outcome == PostMortemOutcome.LOST:
        application = (Application.objects.filter(lead=lead, status=ApplicationStatus.CONFIRMED)
                       .order_by("-decided_at", "-pk").first())
    now = timezone.now()
    pm = _create(lead=lead, consultant=lead.assigned_to, actor=actor, now=now, outcome=outcome,
                 application=application, highest=highest_grade_reached(lead))
    if pm is None:  # opened a moment earlier by someone else
        return PostMortem.objects.get(lead=lead)
    if actor.pk != pm.consultant_id:
        notify_many([Draft(pm.consultant_id, NOTIFY_PM_OPENED,
                           {"name": lead.name, "grade": pm.highest_grade}, _url(pm))])
    return pm


def _lock(pm: PostMortem, expected_version: int | None) -> PostMortem:
    from leads.services import StaleVersion

    locked = PostMortem.objects.select_for_update(of=("self",)).select_related("store", "lead").get(pk=pm.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(locked.version)
    return locked


def _require_writer(actor: User, pm: PostMortem) -> None:
    if not (actor.is_active and actor.pk == pm.consultant_id and actor.store_id == pm.store_id):
        raise PermissionDenied(_("Only the consultant of the case writes its post-mortem."))
    if not pm.editable:
        raise ValidationError({"status": [_("This post-mortem is %(status)s: it can no longer be edited.")
                                          % {"status": pm.get_status_display()}]})


def _bump(pm: PostMortem, fields: list[str]) -> None:
    pm.version += 1
    pm.save(update_fields=[*fields, "version"])


@transaction.atomic
def post_mortem_save(*, actor: User, post_mortem: PostMortem, turned_at_grade: str = "", reasons: Iterable = (),
                     what_happened: str = "", lessons: str = "", our_series: VehicleSeries | None = None,
                     competitor_series: VehicleSeries | None = None,
                     expected_version: int | None = None) -> PostMortem:
    """The consultant writes (or rewrites) his post-mortem while it is a draft or sent back. ``reasons``: Reason
    rows or ids of the group's taxonomy; ``our_series`` one of our series, ``competitor_series`` a competitor's."""
    pm = _lock(post_mortem, expected_version)
    _require_writer(actor, pm)
    errors = {}
    turned_at_grade = (turned_at_grade or "").strip()
    if turned_at_grade and turned_at_grade not in GRADE_ORDER:
        errors["turned_at_grade"] = [_("Unknown grade.")]
    wanted = {r.pk if isinstance(r, Reason) else r for r in reasons}
    chosen = list(Reason.objects.filter(group_id=pm.store.group_id, pk__in=[w for w in wanted
                                                                             if str(w).isdigit()]))
    if len(chosen) != len(wanted):
        errors["reasons"] = [_("Pick reasons of your group's list.")]
    if our_series is not None and not our_series.brand.is_own:
        errors["our_series"] = [_("Choose one of our series.")]
    if competitor_series is not None and competitor_series.brand.is_own:
        errors["competitor_series"] = [_("Choose a competitor's series, not one of ours.")]
    if errors:
        raise ValidationError(errors)
    pm.turned_at_grade = turned_at_grade
    pm.what_happened, pm.lessons = (what_happened or "").strip(), (lessons or "").strip()
    pm.our_series, pm.competitor_series = our_series, competitor_series
    _bump(pm, ["turned_at_grade", "what_happened", "lessons", "our_series", "competitor_series"])
    pm.reasons.set(chosen)
    return pm


@transaction.atomic
def post_mortem_submit(*, actor: User, post_mortem: PostMortem, expected_version: int | None = None) -> PostMortem:
    """The consultant hands his post-mortem to the store's managers (they are notified). It needs the grade where
    the case turned, what happened and what to do differently, and for a lost case at least one cause."""
    pm = _lock(post_mortem, expected_version)
    _require_writer(actor, pm)
    errors = {}
    if not pm.turned_at_grade:
        errors["turned_at_grade"] = [_("At which grade did the case turn?")]
    if not pm.what_happened:
        errors["what_happened"] = [_("Say what happened.")]
    if not pm.lessons:
        errors["lessons"] = [_("Say what you would do differently.")]
    if pm.outcome == PostMortemOutcome.LOST and not pm.reasons.exists():
        errors["reasons"] = [_("Pick at least one cause.")]
    if errors:
        raise ValidationError(errors)
    pm.status, pm.submitted_at = PostMortemStatus.SUBMITTED, timezone.now()
    _bump(pm, ["status", "submitted_at"])
    managers = User.objects.filter(store_id=pm.store_id, role=Role.MANAGER, is_active=True).values_list("pk",
                                                                                                          flat=True)
    notify_many([Draft(m, NOTIFY_PM_SUBMITTED, {"name": str(actor), "customer": pm.lead.name}, _url(pm))
                 for m in managers if m != actor.pk])
    return pm


def _require_reviewer(actor: User, pm: PostMortem) -> None:
    if not manages_store(actor, pm.store):
        raise PermissionDenied(_("Only the store's manager reviews a post-mortem."))
    if pm.status != PostMortemStatus.SUBMITTED:
        raise ValidationError({"status": [_("Only a submitted post-mortem is reviewed; this one is %(status)s.")
                                          % {"status": pm.get_status_display()}]})


@transaction.atomic
def post_mortem_approve(*, actor: User, post_mortem: PostMortem, comment: str = "",
                        expected_version: int | None = None) -> PostMortem:
    """The store's manager (or the group's admin) approves a submitted post-mortem: it is shared with the store's
    team. The consultant is notified."""
    pm = _lock(post_mortem, expected_version)
    _require_reviewer(actor, pm)
    pm.status, pm.decided_by, pm.decided_at = PostMortemStatus.APPROVED, actor, timezone.now()
    pm.manager_comment = (comment or "").strip()
    _bump(pm, ["status", "decided_by", "decided_at", "manager_comment"])
    if pm.consultant_id != actor.pk:
        notify_many([Draft(pm.consultant_id, NOTIFY_PM_APPROVED, {"customer": pm.lead.name}, _url(pm))])
    return pm


@transaction.atomic
def post_mortem_return(*, actor: User, post_mortem: PostMortem, comment: str,
                       expected_version: int | None = None) -> PostMortem:
    """The store's manager sends a submitted post-mortem back to its consultant with a comment (required)."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError({"comment": [_("Say what to rework.")]})
    pm = _lock(post_mortem, expected_version)
    _require_reviewer(actor, pm)
    pm.status, pm.decided_by, pm.decided_at, pm.manager_comment = (PostMortemStatus.RETURNED, actor,
                                                                   timezone.now(), comment)
    _bump(pm, ["status", "decided_by", "decided_at", "manager_comment"])
    if pm.consultant_id != actor.pk:
        notify_many([Draft(pm.consultant_id, NOTIFY_PM_RETURNED, {"customer": pm.lead.name, "comment": comment},
                           _url(pm))])
    return pm


# --- reads ----------------------------------------------------------------------------------------------------------


def post_mortem_list(*, user: User) -> QuerySet[PostMortem]:
    """The post-mortems ``user`` may read (``PostMortem.objects.visible_to``: a consultant his own and his store's
    approved ones, a manager his store's, a group admin his group's), newest first, with what the lists show."""
    return (PostMortem.objects.visible_to(user)
            .select_related("consultant", "store", "our_series", "competitor_series__brand", "decided_by")
            .prefetch_related("reasons"))


def search_condition(text: str) -> Q:
    """The library's text search: what happened, the lesson and the manager's comment (never the customer's name or
    phone: the lessons are shared with people who may not see the lead)."""
    text = (text or "").strip()
    if not text:
        return Q()
    return Q(what_happened__icontains=text) | Q(lessons__icontains=text) | Q(manager_comment__icontains=text)


def lessons_by_reason(*, user: User, reason_ids: Iterable[int]) -> dict[int, dict]:
    """The approved post-mortems ``user`` may read for each of ``reason_ids`` (a cause of the post-mortem, or a
    reason under it when the id is a category): ``{reason id: {"count": n, "latest": [up to 3, newest first]}}``.
    Two queries whatever the number of reasons."""
    ids = list(reason_ids)
    if not ids:
        return {}
    rows = (PostMortem.reasons.through.objects
            .filter(Q(reason_id__in=ids) | Q(reason__parent_id__in=ids),
                    postmortem__in=post_mortem_list(user=user).approved().values("pk"))
            .values_list("reason_id", "reason__parent_id", "postmortem_id"))
    by_reason: dict[int, set[int]] = defaultdict(set)
    for reason_id, parent_id, pm_id in rows:
        for key in (reason_id, parent_id):
            if key in ids:
                by_reason[key].add(pm_id)
    wanted = {pm_id for pms in by_reason.values() for pm_id in pms}
    pms = {pm.pk: pm for pm in post_mortem_list(user=user).filter(pk__in=wanted)} if wanted else {}
    out = {}
    for key, pm_ids in by_reason.items():
        ordered = sorted((pms[i] for i in pm_ids if i in pms), key=lambda p: (p.decided_at or p.opened_at, p.pk),
                         reverse=True)
        out[key] = {"count": len(ordered), "latest": ordered[:LESSONS_PER_TRACK]}
    return out
