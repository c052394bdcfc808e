"""VIN (ISO 3779 / GB 16735, check digit in position 9) and Chinese plate validation. Pure functions, no ORM.

They live here, under the deal that carries the VIN and plate, so the deal service checks them before writing;
``baseclients`` (the vehicles on a card) uses the same functions."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

_TRANSLIT = {
    **{str(d): d for d in range(10)},
    "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 7, "H": 8,
    "J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9,
    "S": 2, "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9,
}
_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]


def vin_check_digit(vin: str) -> str:
    """The check character (0-9 or X) a 17-character VIN must carry in position 9."""
    total = sum(_TRANSLIT[ch] * weight for ch, weight in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def vin_normalize(raw: str | None) -> str:
    """Upper-case, spaces removed; ``""`` for blank. ValidationError: not 17 characters of A-Z (no I, O, Q) and
    0-9, or a wrong check digit."""
    vin = re.sub(r"\s+", "", raw or "").upper()
    if not vin:
        return ""
    if len(vin) != 17 or any(ch not in _TRANSLIT for ch in vin):
        raise ValidationError(_("A VIN has 17 characters: digits and letters except I, O and Q."), code="vin_format")
    if vin[8] != vin_check_digit(vin):
        raise ValidationError(_("This VIN's check digit (9th character) is wrong: check the number."),
                              code="vin_check")
    return vin


def vin_with_check_digit(first17: str) -> str:
    """``first17`` with its 9th character replaced by the right check digit (demo and test data)."""
    vin = first17.upper()
    return vin[:8] + vin_check_digit(vin[:8] + "0" + vin[9:]) + vin[9:]


PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_LETTER = "A-HJ-NP-Z"
# Ordinary plates: province, issuing-office letter, 5 letters/digits (粤B12345); new-energy plates have 6 (粤BD12345);
# trailer and coach plates end in 挂 / 学.
_PLATE = re.compile(rf"^[{PROVINCES}][{_LETTER}]([{_LETTER}0-9]{{5,6}}|[{_LETTER}0-9]{{4}}[挂学])$")


def plate_normalize(raw: str | None) -> str:
    """Upper-case, without spaces, dots and hyphens (粤B·12345 → 粤B12345); ``""`` for blank. ValidationError when it
    is not a Chinese plate."""
    plate = re.sub(r"[\s·.\-]", "", raw or "").upper()
    if not plate:
        return ""
    if not _PLATE.match(plate):
        raise ValidationError(_("Enter a plate like 粤B12345 (province, letter, 5 or 6 letters/digits)."),
                              code="plate_format")
    return plate


def vehicle_ids_normalize(*, vin: str | None, plate: str | None) -> tuple[str, str]:
    """The VIN and plate normalised; a ValidationError naming the field (``vin``, ``plate``) when one is malformed."""
    errors = {}
    try:
        vin = vin_normalize(vin)
    except ValidationError as exc:
        errors["vin"] = exc.messages
    try:
        plate = plate_normalize(plate)
    except ValidationError as exc:
        errors["plate"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return vin, plate


class VehicleUse(models.TextChoices):
    """The use on the vehicle's registration (使用性质), set at the deal: it decides the inspection interval
    (``baseclients`` plans the reminders)."""

    PRIVATE = "private", _("Private (non-operating)")
    COMPANY = "company", _("Company car (non-operating)")
    COMMERCIAL = "commercial", _("Commercial (operating)")
    RENTAL = "rental", _("Rental")


def units_normalize(units: list[dict], *, room: int) -> list[dict]:
    """The units delivered now (``[{vin, plate, use}]``), normalised: at most ``room`` (the order's undelivered
    units), each VIN and plate well formed, no VIN twice, ``use`` a known use (default private). A ValidationError on
    ``vehicles`` naming the unit (1-based) otherwise. Whether a VIN is already on a card is the base clients' check."""
    if len(units) > room:
        raise ValidationError({"vehicles": [ngettext(
            "At most %(n)d vehicle: the order has %(n)d unit left to deliver.",
            "At most %(n)d vehicles: the order has %(n)d units left to deliver.", room) % {"n": room}]})
    errors, out, seen = [], [], set()
    for number, unit in enumerate(units, start=1):
        try:
            vin, plate = vehicle_ids_normalize(vin=unit.get("vin", ""), plate=unit.get("plate", ""))
        except ValidationError as exc:
            errors += [gettext("Vehicle %(n)d: %(error)s") % {"n": number, "error": message}
                       for messages in exc.message_dict.values() for message in messages]
            continue
        use = unit.get("use") or VehicleUse.PRIVATE
        if use not in VehicleUse.values:
            errors.append(gettext("Vehicle %(n)d: choose a known use.") % {"n": number})
        if vin and vin in seen:
            errors.append(gettext("Vehicle %(n)d: this VIN is given twice.") % {"n": number})
        seen.add(vin)
        out.append({"vin": vin, "plate": plate, "use": use})
    if errors:
        raise ValidationError({"vehicles": errors})
    return out
