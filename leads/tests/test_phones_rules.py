"""Pure functions: phone normalisation and masking, grade-rule date arithmetic."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from leads.phones import phone_display, phone_mask, phone_normalize, phone_search_digits
from leads.rules import DEFAULT_RULES, dwell_deadline, next_follow_up_due


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("021 6888 8888", "+862168888888"),
        ("", ""),
        (None, ""),
    ],
)
def test_phone_normalize(raw, expected):
    assert phone_normalize(raw) == expected


@pytest.mark.parametrize("raw", ["12345", "1380013800", "abc", "138001380001", "+1 555"])
def test_phone_normalize_rejects_invalid_numbers(raw):
    with pytest.raises(ValidationError):
        phone_normalize(raw)


def test_phone_mask_and_display():
    assert phone_mask("+8613800138000") == "138****8000"
    assert phone_mask("") == ""
    assert phone_display("+8613800138000") == "138 0013 8000"
    assert phone_search_digits("+86 138 0013") == "1380013"
    assert phone_search_digits("8613800138000") == "13800138000"


def test_default_rules_follow_the_domain_table():
    table = {g: (r.follow_up_days, r.max_dwell_days) for g, r in DEFAULT_RULES.items()}
    assert table == {"A": (3, 90), "B": (7, 120), "C": (14, 150), "D": (30, 180), "E": (3, 14)}


def test_rule_arithmetic_is_timezone_aware():
    start = datetime(2026, 3, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert next_follow_up_due(start, 7) == start + timedelta(days=7)
    assert dwell_deadline(start, 14).tzinfo is not None


def test_the_fast_path_for_mobiles_formats_as_phonenumbers_does():
    """phone_display and phone_mask skip parsing for +86 mobiles (an export formats one per row): same output."""
    import random

    import phonenumbers

    from leads.phones import phone_display, phone_mask

    rng = random.Random(7)
    prefixes = ["130", "138", "139", "150", "166", "177", "186", "199", "145", "170"]
    for _ in range(500):
        e164 = "+86" + rng.choice(prefixes) + f"{rng.randrange(10**8):08d}"
        number = phonenumbers.parse(e164, "CN")
        assert phone_display(e164) == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        national = str(number.national_number)
        assert phone_mask(e164) == national[:3] + "****" + national[-4:]
    # Landlines and foreign numbers still go through phonenumbers.
    assert phone_display("+862168888888") == "021 6888 8888"
    assert phone_display("+14155550100").startswith("+1 ")
