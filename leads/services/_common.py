"""Helpers shared by the lead services: permission checks, row locks, grade rules."""

from __future__ import annotations

from decimal import Decimal, localcontext

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation
from django.utils.translation import gettext as _

from dealercrm.text import clean_name  # noqa: F401  (the services' name rule)
from dealercrm.models import Role, Store, User

from ..models import GradeRule, Lead, Status
from ..rules import DEFAULT_RULES


class DuplicatePhone(ValidationError):
    """A lead with this phone already exists in the store; ``lead_id`` names it (API: 409). The message does not
    name it: the caller may not be allowed to see that lead (a colleague's customer). Whoever answers a caller who
    may see it names it (``message_for``)."""

    def __init__(self, lead_id: int):
        self.lead_id = lead_id
        super().__init__({"phone": [_("A customer with this phone already exists in this store.")]})

    def message_for(self, *, visible: bool) -> str:
        if visible:
            return _("A customer with this phone already exists in this store (lead #%(id)s).") % {"id": self.lead_id}
        return _("A customer with this phone already exists in this store.")


class StaleVersion(Exception):
    """The lead changed since the client read it (API: 409/412)."""

    def __init__(self, current_version: int):
        self.current_version = current_version
        super().__init__(f"lead is at version {current_version}")


def manages_store(user: User, store: Store) -> bool:
    """Managers of the store, group admins of its group and superusers manage a store's leads."""
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    if user.role == Role.MANAGER:
        return user.store_id == store.pk
    if user.role == Role.GROUP_ADMIN:
        return user.dealer_group_id == store.group_id
    return False


def require_manager(user: User, store: Store) -> None:
    if not manages_store(user, store):
        raise PermissionDenied(_("Only the store's manager can do this."))


def require_can_work(user: User, lead: Lead) -> None:
    """The lead's consultant, or whoever manages its store, may work the lead."""
    if manages_store(user, lead.store):
        return
    if user.is_active and user.role == Role.CONSULTANT and lead.assigned_to_id == user.pk and user.store_id == lead.store_id:
        return
    raise PermissionDenied(_("This lead is not yours."))


def require_active(lead: Lead) -> None:
    if not lead.is_active:
        raise ValidationError(
            {"lead": [_("This lead is %(status)s; it cannot be changed.") % {"status": lead.get_status_display()}]}
        )


def lock(lead: Lead, expected_version: int | None = None) -> Lead:
    """Re-read ``lead`` under a row lock so concurrent writes on one lead serialise; check the client's version."""
    locked = Lead.objects.select_for_update().select_related("store").get(pk=lead.pk)
    if locked.status == Status.MERGED:
        raise ValidationError({"lead": [_("This lead has been merged; work on the lead it was merged into.")]})
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(locked.version)
    return locked


# Reasons the system writes (history, grade and assignment changes) are stored as English source strings marked
# with gettext_noop and translated when shown ({% translate change.reason %}), so every reader sees their language.


def bump(lead: Lead, fields: list[str], *, actor: User) -> None:
    """Save ``fields`` with the next version; the field history records ``actor`` even outside a request."""
    lead.version += 1
    lead._history_user = actor
    lead.save(update_fields=[*fields, "version", "updated_at"])


def _default_meaning(grade: str) -> str:
    """The DOMAIN default meaning of a grade in the installation's language, not the current request's."""
    with translation.override(settings.LANGUAGE_CODE):
        return translation.gettext(DEFAULT_RULES[grade].meaning)


def grade_rules_for(group_id: int) -> dict[str, GradeRule]:
    """The group's grade rules by grade, creating the DOMAIN defaults for any grade the group has not set."""
    rules = {rule.grade: rule for rule in GradeRule.objects.filter(group_id=group_id)}
    missing = [g for g in DEFAULT_RULES if g not in rules]
    if missing:
        GradeRule.objects.bulk_create(
            [
                GradeRule(group_id=group_id, grade=g, meaning=_default_meaning(g),
                          follow_up_days=DEFAULT_RULES[g].follow_up_days, max_dwell_days=DEFAULT_RULES[g].max_dwell_days)
                for g in missing
            ],
            ignore_conflicts=True,
        )
        rules = {rule.grade: rule for rule in GradeRule.objects.filter(group_id=group_id)}
    return rules


def validate_assignee(store: Store, user: User | None) -> None:
    if user is None:
        return
    if not user.is_active or user.store_id != store.pk or user.role not in (Role.CONSULTANT, Role.MANAGER):
        raise ValidationError({"assigned_to": [_("Choose an active consultant of this store.")]})


def check_visit_time(lead, arrived_at, *, field: str = "arrived_at") -> None:
    """A re-visit is refused the times a follow-up is refused: before the lead's first visit (0001-01-01 among
    them); the future is refused by the visit itself."""
    if arrived_at < lead.first_visit_at:
        raise ValidationError({field: [_("A re-visit cannot precede the first visit.")]})



def column_limits_or_error(model, field: str, value) -> None:
    """A value its database column would refuse, as a ValidationError on ``field`` rather than a database error
    (numeric field overflow, value too long): the model field's own validators (max_digits, max_length, minimums).
    Extra decimal places are not refused: the column rounds them, as it always has. The import's dry run calls it
    too, so what it accepts the write accepts."""
    if value in (None, ""):
        return
    column = model._meta.get_field(field)
    try:
        value = column.to_python(value)
        if isinstance(value, Decimal) and column.decimal_places is not None:
            with localcontext(prec=60):  # 99999999999999 rounded to fen still has all its whole digits
                value = value.quantize(Decimal(1).scaleb(-column.decimal_places))
        column.run_validators(value)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None


def date_in_range_or_error(moment, field: str) -> None:
    """An aware datetime typed by someone must fall in the app's date range (dealercrm.api.dates)."""
    from dealercrm.api.dates import date_in_range

    if moment is None:
        return
    try:
        date_in_range(moment.date())
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None
