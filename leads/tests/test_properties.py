"""Hypothesis: phone normalisation and masking, and the date filters, over their whole input range (issue 10)."""

from datetime import date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dealercrm.api.dates import MAX_DATE, MIN_DATE
from leads.phones import phone_display, phone_mask, phone_normalize, phone_search_digits

MOBILE = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


def formats(digits: str) -> list[str]:
    return [digits, f"{digits[:3]} {digits[3:7]} {digits[7:]}", f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}",
            f"86{digits}", f"+86{digits}", f" {digits} "]


@settings(max_examples=300, deadline=None)
@given(digits=MOBILE, which=st.integers(0, 5))
def test_every_common_format_of_a_mobile_number_normalises_to_one_e164(digits, which):
    try:
        e164 = phone_normalize(formats(digits)[which])
    except ValidationError:
        # phonenumbers knows which prefixes exist; an unallocated one is refused in every format alike.
        for text in formats(digits):
            with pytest.raises(ValidationError):
                phone_normalize(text)
        return
    assert e164 == f"+86{digits}"
    assert phone_normalize(phone_display(e164)) == e164  # display form round-trips
    masked = phone_mask(e164)
    assert masked == f"{digits[:3]}****{digits[7:]}" and digits[3:7] not in masked[3:-4]
    assert phone_search_digits(formats(digits)[which]) in e164


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40))
def test_any_text_is_a_phone_or_a_validation_error_never_a_crash(text):
    try:
        result = phone_normalize(text)
    except ValidationError:
        return
    assert result == "" or (result.startswith("+") and result[1:].isdigit())


# --- the date filters, against the database ------------------------------------------------------------------------

# Mostly dates in range (the answer must be exact), and some anywhere (the answer must be a 400).
DATES = st.one_of(st.dates(min_value=MIN_DATE, max_value=MAX_DATE),
                  st.dates(min_value=timezone.now().date() - timedelta(days=500), max_value=timezone.now().date()),
                  st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=DATES, after=DATES)
def test_first_visit_filters_answer_exactly_or_400_for_any_date(org, api_as, before, after):
    from leads.models import Lead
    from leads.tests.factories import LeadFactory

    if not Lead.objects.exists():
        for days in (0, 1, 40, 400):
            LeadFactory(store=org.store, assigned_to=org.consultant,
                        first_visit_at=timezone.now() - timedelta(days=days))
    resp = api_as(org.consultant).get("/api/v1/leads/", {"first_visit_before": before.isoformat(),
                                                          "first_visit_after": after.isoformat(), "page_size": 100})
    if not (MIN_DATE <= before <= MAX_DATE and MIN_DATE <= after <= MAX_DATE):
        assert resp.status_code == 400
        return
    assert resp.status_code == 200, resp.content
    start = timezone.make_aware(datetime.combine(after, time.min))
    end = timezone.make_aware(datetime.combine(before, time.min)) + timedelta(days=1)
    expected = set(Lead.objects.filter(first_visit_at__gte=start, first_visit_at__lt=end).values_list("pk", flat=True))
    assert {row["id"] for row in resp.json()["results"]} == expected
