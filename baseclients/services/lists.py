"""The group's lists of regions and industries (the card's region and industry come from them, so one district is
one row of the concentration tables): look-up by name or other spelling, the group admin's edits and merges."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from dealercrm.models import User

from ..models import BaseClient, ListEntry, ListKind
from ._common import require_group_admin


def _key(text: str) -> str:
    return " ".join((text or "").split()).casefold()


def _match(entries: list[tuple[str, list]], text: str) -> str | None:
    """The name of the entry ``text`` is (its name or one of its other spellings, ignoring case and spaces)."""
    key = _key(text)
    for name, aliases in entries:
        if _key(name) == key or any(_key(a) == key for a in aliases or []):
            return name
    return None


def list_value(*, group_id: int, kind: str, text: str, create: bool = False) -> str:
    """The list's name for ``text`` (its name or one of its other spellings, ignoring case and spaces); "" for a blank
    text. Not on the list: a new entry when ``create`` (a deal's lead typed it: the group admin merges it later),
    else a 400 naming the field."""
    return list_values(group_id=group_id, kind=kind, texts=[text], create=create)[text]


def list_values(*, group_id: int, kind: str, texts, create: bool = False) -> dict[str, str]:
    """``list_value`` for many texts at once ({text: the list's name}): the list read once, the new spellings added
    with one insert (each once, as ``list_value`` called text by text adds them)."""
    entries = list(ListEntry.objects.filter(group_id=group_id, kind=kind).values_list("name", "aliases"))
    out: dict[str, str] = {}
    new: list[str] = []
    for raw in texts:
        if raw in out:
            continue
        text = " ".join((raw or "").split())
        if not text:
            out[raw] = ""
            continue
        name = _match(entries, text)
        if name is None:
            if not create:
                raise ValidationError({kind: [_("Choose a value from the group's list.")]})
            name = text[:60]
            if name not in new:
                new.append(name)
                entries.append((name, []))
        out[raw] = name
    if new:
        # The unique name ignores a spelling another transaction added meanwhile (get_or_create did the same).
        ListEntry.objects.bulk_create([ListEntry(group_id=group_id, kind=kind, name=name) for name in new],
                                      ignore_conflicts=True)
    return out


def list_choices(*, group_id: int, kind: str) -> list[tuple[str, str]]:
    return [(n, n) for n in ListEntry.objects.filter(group_id=group_id, kind=kind).order_by("name")
            .values_list("name", flat=True)]


@transaction.atomic
def list_entry_save(*, actor: User, group_id: int, kind: str, name: str, aliases: list[str],
                    entry: ListEntry | None = None) -> ListEntry:
    """Add an entry or change one (its name renames the cards carrying it). A name or spelling that is already
    another entry's: a 400."""
    require_group_admin(actor, group_id)
    if kind not in ListKind.values:
        raise ValidationError({"kind": [_("Choose region or industry.")]})
    name = " ".join((name or "").split())[:60]
    aliases = list(dict.fromkeys(" ".join(a.split()) for a in aliases if a and a.strip()))
    if not name:
        raise ValidationError({"name": [_("This field may not be blank.")]})
    taken = set()
    for other in ListEntry.objects.filter(group_id=group_id, kind=kind).exclude(pk=entry.pk if entry else None):
        taken |= {_key(other.name), *(_key(a) for a in other.aliases or [])}
    clash = [s for s in [name, *aliases] if _key(s) in taken]
    if clash:
        raise ValidationError({"aliases": [_("Already another entry's name or spelling: %(values)s") % {
            "values": ", ".join(clash)}]})
    if entry is None:
        try:
            with transaction.atomic():
                return ListEntry.objects.create(group_id=group_id, kind=kind, name=name, aliases=aliases)
        except IntegrityError:
            raise ValidationError({"name": [_("Already on the list.")]}) from None
    old = entry.name
    entry.name, entry.aliases = name, aliases
    entry.save(update_fields=["name", "aliases"])
    if old != name:
        BaseClient.objects.filter(group_id=group_id, **{kind: old}).update(**{kind: name})
    return entry


@transaction.atomic
def list_entry_merge(*, actor: User, entry: ListEntry, into: ListEntry) -> ListEntry:
    """``entry`` is another spelling of ``into``: its name and spellings become ``into``'s, its cards carry
    ``into``'s name (one UPDATE), and it leaves the list."""
    require_group_admin(actor, entry.group_id)
    if into.group_id != entry.group_id or into.kind != entry.kind or into.pk == entry.pk:
        raise ValidationError({"into": [_("Choose another entry of the same list.")]})
    into.aliases = list(dict.fromkeys([*(into.aliases or []), entry.name, *(entry.aliases or [])]))
    into.save(update_fields=["aliases"])
    BaseClient.objects.filter(group_id=entry.group_id, **{entry.kind: entry.name}).update(**{entry.kind: into.name})
    entry.delete()
    return into


def list_entries_sync(group_id: int) -> int:
    """Entries for the values the group's cards carry that are not on its lists (cards written in bulk by a seed).
    Returns how many were added."""
    added = 0
    for kind in ListKind.values:
        names = set(ListEntry.objects.filter(group_id=group_id, kind=kind).values_list("name", flat=True))
        values = set(BaseClient.objects.filter(group_id=group_id).exclude(**{kind: ""})
                     .values_list(kind, flat=True).distinct())
        new = [ListEntry(group_id=group_id, kind=kind, name=v) for v in values - names]
        ListEntry.objects.bulk_create(new, ignore_conflicts=True)
        added += len(new)
    return added
