"""Text typed by people that becomes a name others read: one rule for every name field (leads, staff, stores)."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

# Zero-width characters: invisible, so removed wherever they are (a name pasted from a chat app often has some).
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u180e"))


def clean_name(value: str | None, *, field: str = "name", blank_message: str | None = None) -> str:
    """A person's or lead's name as stored: zero-width characters removed, surrounding space stripped. Refused
    (ValidationError on ``field``): a name with control characters or other invisible format characters (text
    direction overrides and isolates such as U+202E, which make a name display as something else), and a name with
    no letter or digit at all (only spaces, punctuation or invisible characters). ``""`` when blank and
    ``blank_message`` is None; with a ``blank_message``, blank is refused with it."""
    text = (value or "").translate(ZERO_WIDTH).strip()
    if not text:
        if blank_message is None:
            return ""
        raise ValidationError({field: [blank_message]}, code="blank")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp") for ch in text):
        raise ValidationError(
            {field: [_("A name cannot contain control characters or invisible text-direction marks.")]},
            code="invisible")
    if not any(unicodedata.category(ch)[0] in ("L", "N") for ch in text):
        raise ValidationError({field: [_("A name needs at least one letter or digit.")]}, code="no_letters")
    return text


def join_list(items) -> str:
    """Items joined for the reader: "、" in Chinese, ", " in English (the separator is the active language's)."""
    return pgettext("list separator", ", ").join(str(i) for i in items)
