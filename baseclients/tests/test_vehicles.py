import pytest
from django.core.exceptions import ValidationError

from baseclients.vehicles import plate_normalize, vin_check_digit, vin_normalize, vin_with_check_digit


def test_vin_known_check_digit():
    # The classic worked example of the North American check digit.
    assert vin_check_digit("1M8GDM9AXKP042788") == "X"
    assert vin_normalize("1m8gdm9a xkp042788") == "1M8GDM9AXKP042788"


def test_vin_wrong_check_digit_rejected():
    with pytest.raises(ValidationError) as exc:
        vin_normalize("1M8GDM9A1KP042788")
    assert exc.value.code == "vin_check"


@pytest.mark.parametrize("bad", ["1M8GDM9AXKP04278", "1M8GDM9AXKP0427888", "IM8GDM9AXKP042788", "1M8GDM9AXKP04278O"])
def test_vin_format(bad):
    with pytest.raises(ValidationError):
        vin_normalize(bad)


def test_vin_blank_is_blank():
    assert vin_normalize("  ") == ""


def test_vin_with_check_digit_is_valid():
    assert vin_normalize(vin_with_check_digit("LSVAB2BD0MN123456"))


@pytest.mark.parametrize("raw,norm", [("粤B·12345", "粤B12345"), ("沪a d12345", "沪AD12345"), ("京A1234挂", "京A1234挂")])
def test_plate_ok(raw, norm):
    assert plate_normalize(raw) == norm


@pytest.mark.parametrize("bad", ["B12345", "粤I12345", "粤B1234", "粤B1234567", "XX12345"])
def test_plate_bad(bad):
    with pytest.raises(ValidationError):
        plate_normalize(bad)
