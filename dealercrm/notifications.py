"""In-app notifications: writing them (one row, or many idempotently), rendering their text in the reader's
language, and marking them read. Jobs and services call these; pages and the API read through
``Notification.objects.visible_to(user)``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .models import Notification, User

Kind = Notification.Kind


@dataclass(frozen=True)
class Draft:
    """A notification to write. ``params`` are plain JSON values (counts, ids, names), never a phone number."""

    recipient_id: int
    kind: str
    params: dict
    url: str = ""
    dedupe_key: str = ""


def notify(*, recipient: User, kind: str, params: dict | None = None, url: str = "", dedupe_key: str = "") -> bool:
    """Notify one person now. With a ``dedupe_key`` a second call with the same key writes nothing. Returns whether
    a notification was written."""
    return notify_many([Draft(recipient.pk, kind, params or {}, url, dedupe_key)]) == 1


def notify_many(drafts: Iterable[Draft]) -> int:
    """Write many notifications in one statement; rows whose (recipient, dedupe_key) exists already are skipped, so a
    job that runs twice notifies nobody twice. Returns how many were written."""
    drafts = list(drafts)
    if not drafts:
        return 0
    keyed = [d for d in drafts if d.dedupe_key]
    existing = set()
    if keyed:
        existing = set(
            Notification.objects.filter(
                recipient_id__in={d.recipient_id for d in keyed}, dedupe_key__in={d.dedupe_key for d in keyed}
            ).values_list("recipient_id", "dedupe_key")
        )
    rows = [
        Notification(recipient_id=d.recipient_id, kind=d.kind, params=d.params, url=d.url, dedupe_key=d.dedupe_key)
        for d in drafts
        if not d.dedupe_key or (d.recipient_id, d.dedupe_key) not in existing
    ]
    # ignore_conflicts: should a concurrent run write the same keys in the meantime, its rows stand and nobody is
    # notified twice (the count returned then includes them).
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


@dataclass(frozen=True)
class DigestPart:
    """A part another app adds to the morning notifications (leads' ``send_daily_digests``), so each person gets one
    notification a morning, not one per app. ``people(now)`` gives {user id: params} for that person's notification
    (a consultant's digest or a manager's store summary), ``stores(now)`` {store id: params} for the store summaries
    of the store's managers (either may be None), and ``text(params)`` the sentence for those params in the active
    language, or "" when they are all 0. The params go into the one notification's params. Apps register theirs in
    AppConfig.ready()."""

    people: Callable[[datetime], dict[int, dict]] | None
    stores: Callable[[datetime], dict[int, dict]] | None
    text: Callable[[dict], str]


DIGEST_PARTS: list[DigestPart] = []


def register_digest_part(part: DigestPart) -> None:
    if part not in DIGEST_PARTS:
        DIGEST_PARTS.append(part)


def _with_parts(text: str, params: dict) -> str:
    return " ".join([text, *filter(None, (part.text(params) for part in DIGEST_PARTS))])


# Kinds other apps add without a migration of this app: kind -> function(params) -> text in the active language.
# Apps register theirs in AppConfig.ready() (e.g. defeats/apps.py) with register_kind, which also gives the kind its
# label (the line above the text): a kind without one would show its code to the reader.
EXTRA_TEXTS: dict = {}
EXTRA_LABELS: dict = {}


def register_kind(kind: str, *, label, text: Callable[[dict], str]) -> None:
    """Register another app's notification kind: ``label`` a lazy translation (the kind's name shown above the text),
    ``text(params)`` the sentence in the active language."""
    EXTRA_LABELS[kind] = label
    EXTRA_TEXTS[kind] = text


def registered_kinds() -> list[str]:
    """Every kind a notification can have: this app's choices and the kinds other apps registered."""
    return [*Kind.values, *(k for k in EXTRA_TEXTS if k not in Kind.values)]


def notification_label(notification: Notification) -> str:
    """The kind's name in the active language (never its code while the kind is registered)."""
    kind = notification.kind
    if kind in Kind.values:
        return str(notification.get_kind_display())
    if kind in EXTRA_LABELS:
        return str(EXTRA_LABELS[kind])
    return str(_("Notification"))


# "已核实：已核实：…": a manager's comment that starts with the words the sentence ends with. A label of up to 12
# characters followed by a colon, said twice in a row, is said once.
_REPEATED_PREFIX = re.compile(r"([^\s：:。，,.]{1,12}[：:])(\s*\1)+")


def _once(text: str) -> str:
    return _REPEATED_PREFIX.sub(r"\1", text)


def notification_text(notification: Notification) -> str:
    """The notification's text in the active language, from its kind and params; a prefix said twice in a row (a
    comment that repeats the sentence's last words) is said once."""
    return _once(_notification_text(notification))


def _notification_text(notification: Notification) -> str:
    p = notification.params or {}
    kind = notification.kind
    if kind == Kind.DIGEST:
        return _with_parts(_(
            "Today: %(due_today)s follow-ups due, %(overdue)s overdue, %(stale)s stale leads, "
            "%(reclaimed)s taken back to the pool."
        ) % {k: p.get(k, 0) for k in ("due_today", "overdue", "stale", "reclaimed")}, p)
    if kind == Kind.STORE_SUMMARY:
        return _with_parts(_(
            "%(store)s today: %(overdue)s overdue leads, %(stale)s stale, %(pool)s in the pool, "
            "%(pending_reviews)s follow-ups to review."
        ) % {"store": p.get("store", ""), **{k: p.get(k, 0) for k in ("overdue", "stale", "pool", "pending_reviews")}},
            p)
    if kind == Kind.ASSIGNED:
        count = p.get("count", 1)
        if count == 1 and p.get("name"):
            return _("A lead was assigned to you: %(name)s.") % {"name": p["name"]}
        return ngettext("%(count)s lead was assigned to you.", "%(count)s leads were assigned to you.", count) % {
            "count": count
        }
    if kind == Kind.REVIEW_REJECTED:
        return _("Your follow-up of %(name)s was rejected: %(comment)s") % {
            "name": p.get("name", ""), "comment": p.get("comment", "")
        }
    if kind == Kind.RECLAIMED:
        count = p.get("count", 0)
        return ngettext(
            "%(count)s overdue lead went back to the store's pool.",
            "%(count)s overdue leads went back to the store's pool.",
            count,
        ) % {"count": count}
    if kind in EXTRA_TEXTS:
        return EXTRA_TEXTS[kind](p)
    return notification_label(notification)


def unread_count(user: User) -> int:
    """The bell's number: one count on a partial index."""
    return Notification.objects.visible_to(user).unread().count()


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read: the given ones, or all. Someone else's ids are ignored. Returns how many
    changed."""
    qs = Notification.objects.visible_to(user).unread()
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=timezone.now())
