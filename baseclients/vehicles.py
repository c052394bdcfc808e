"""The VIN and plate rules, which live with the deal (``leads.vehicles``); kept importable here for the vehicles of
a card and for the data migration that backfilled them."""

from leads.vehicles import PROVINCES, plate_normalize, vin_check_digit, vin_normalize, vin_with_check_digit

__all__ = ["PROVINCES", "plate_normalize", "vin_check_digit", "vin_normalize", "vin_with_check_digit"]
