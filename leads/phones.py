"""Phone numbers (personal information under PIPL): parse and normalise with `phonenumbers`, mask for display."""

import phonenumbers
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

REGION = "CN"


def phone_normalize(raw: str | None) -> str:
    """Parse a phone number typed by staff (``138 0013 8000``, ``+86 138-0013-8000``, ``021 6888 8888``) and return
    it in E.164 (``+8613800138000``); ``""`` for blank input. Raises ValidationError when it is not a valid number."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(_("Enter a valid phone number."), code="invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("Enter a valid phone number."), code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _cn_mobile(e164: str) -> str | None:
    """The 11 national digits of a Chinese mobile number in E.164 (+861xxxxxxxxxx), else None: the common case,
    formatted without parsing (an export formats a phone per row)."""
    if len(e164) == 14 and e164.startswith("+861") and e164[1:].isdigit():
        return e164[3:]
    return None


def phone_display(e164: str) -> str:
    """The national form for a Chinese number (138 0013 8000), international otherwise."""
    if not e164:
        return ""
    mobile = _cn_mobile(e164)
    if mobile is not None:
        return f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    number = phonenumbers.parse(e164, REGION)
    fmt = phonenumbers.PhoneNumberFormat.NATIONAL if number.country_code == 86 else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, fmt)


def phone_mask(e164: str) -> str:
    """Mask the middle digits: +8613800138000 → 138****8000 (DOMAIN: shown to those without the right)."""
    if not e164:
        return ""
    national = _cn_mobile(e164) or str(phonenumbers.parse(e164, REGION).national_number)
    if len(national) <= 7:
        return national[:2] + "*" * (len(national) - 4) + national[-2:]
    return national[:3] + "****" + national[-4:]


def phone_search_digits(text: str) -> str:
    """The digits of a search term, without a leading +86/86, for matching stored E.164 numbers."""
    digits = "".join(ch for ch in text if ch.isdigit())
    has_country_code = text.strip().startswith("+86") or (digits.startswith("86") and len(digits) > 11)
    return digits[2:] if has_country_code else digits


def phone_search_condition(text: str, *, readable: Q, whole_number: bool = True, field: str = "phone",
                           min_digits: int = 4) -> Q:
    """What a search for ``text`` matches among stored E.164 phones in ``field``: its digits (``min_digits`` or more)
    anywhere in the phones the searcher sees in full (``readable``, a condition on the same rows), and elsewhere
    only the whole number (``text`` normalised), or nothing at all with ``whole_number=False``. A masked phone
    (138****8000) is never matched by part of it, so growing a search one digit at a time recovers nothing; the
    whole number still finds its row where a search needs it (the referrer's number credits a referral)."""
    condition = Q(pk__in=[])
    digits = phone_search_digits(text or "")
    if len(digits) >= min_digits:
        condition |= Q(**{f"{field}__contains": digits}) & readable
    if whole_number:
        try:
            full = phone_normalize(text)
        except ValidationError:
            full = ""
        if full:
            condition |= Q(**{field: full})
    return condition
