"""Writes on leads. Pages, the API, commands and tasks all call these; each is one transaction."""

from ._common import DuplicatePhone, StaleVersion, column_limits_or_error, grade_rules_for, manages_store
from .assignment import lead_assign, leads_bulk_reassign, leads_round_robin, round_robin_next
from .bulk import visit_log_many
from .companies import can_edit_company, company_save, lead_qualify
from .deals import deal_record
from .flags import AlreadyClaimed, lead_claim, lead_keep, lead_move_to_pool
from .followups import follow_up_log, follow_up_review
from .merge import lead_merge
from .rules import grade_rules_update
from .visits import VisitResult, interval_days, lead_create, lead_grade_change, lead_update, visit_add, visit_log

__all__ = [
    "AlreadyClaimed",
    "DuplicatePhone",
    "StaleVersion",
    "VisitResult",
    "can_edit_company",
    "column_limits_or_error",
    "company_save",
    "deal_record",
    "follow_up_log",
    "follow_up_review",
    "grade_rules_for",
    "grade_rules_update",
    "interval_days",
    "lead_assign",
    "lead_claim",
    "lead_create",
    "lead_grade_change",
    "lead_keep",
    "lead_merge",
    "lead_move_to_pool",
    "lead_qualify",
    "lead_update",
    "leads_bulk_reassign",
    "leads_round_robin",
    "manages_store",
    "round_robin_next",
    "visit_add",
    "visit_log",
    "visit_log_many",
]
