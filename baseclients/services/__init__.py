"""Writes on base clients. Pages, the API, the deal service and the jobs call these; each is one transaction."""

from ._common import StaleVersion, can_work
from .care import (
    care_contact_log,
    care_task_done,
    care_task_skip,
    do_not_contact_clear,
    do_not_contact_set,
    flag_overdue,
    materialise,
)
from .clients import (
    client_assign,
    client_from_deal,
    client_update,
    clients_from_deals,
    clients_with_phones,
    link_returning_buyer,
    returning_buyer,
    taken_vins,
    validate_vehicle_ids,
    vehicle_add,
    vehicle_update,
    vehicles_with_vins,
    vin_free_or_error,
    vin_taken_error,
)
from .fleet import deal_deliver, units_free_or_error, validate_units
from .lists import list_choices, list_entries_sync, list_entry_merge, list_entry_save, list_value, list_values
from .referrals import referral_set
from .scoring import client_score, decide_tier, refresh_many, retier_group, tier_label
from .settings import criteria_for, criteria_update, ensure_group_defaults, tier_rule_for, tier_rule_update

__all__ = [
    "StaleVersion",
    "can_work",
    "care_contact_log",
    "care_task_done",
    "care_task_skip",
    "client_assign",
    "client_from_deal",
    "client_score",
    "client_update",
    "clients_from_deals",
    "clients_with_phones",
    "criteria_for",
    "criteria_update",
    "deal_deliver",
    "decide_tier",
    "do_not_contact_clear",
    "do_not_contact_set",
    "ensure_group_defaults",
    "flag_overdue",
    "link_returning_buyer",
    "list_choices",
    "list_entries_sync",
    "list_entry_merge",
    "list_entry_save",
    "list_value",
    "list_values",
    "materialise",
    "referral_set",
    "refresh_many",
    "retier_group",
    "returning_buyer",
    "taken_vins",
    "tier_label",
    "tier_rule_for",
    "tier_rule_update",
    "units_free_or_error",
    "validate_units",
    "validate_vehicle_ids",
    "vehicle_add",
    "vehicle_update",
    "vehicles_with_vins",
    "vin_free_or_error",
    "vin_taken_error",
]
