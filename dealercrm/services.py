"""Writes on the organisation: stores and staff. Every page, API view and command goes through these."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from .models import DealerGroup, Role, Store, User


def _actor_group(actor: User, group: DealerGroup | None) -> DealerGroup:
    if actor.is_superuser:
        if group is None:
            raise ValidationError({"group": _("A superuser must name the dealer group.")})
        return group
    if actor.role != Role.GROUP_ADMIN or actor.dealer_group_id is None:
        raise PermissionDenied(_("Only a group admin can do this."))
    return actor.dealer_group


@transaction.atomic
def store_create(*, actor: User, name: str, group: DealerGroup | None = None) -> Store:
    """Create a store in the actor's dealer group (group admins; superusers name the group)."""
    target_group = _actor_group(actor, group)
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("This field may not be blank.")})
    if Store.objects.filter(group=target_group, name=name).exists():
        raise ValidationError({"name": _("This group already has a store with this name.")})
    return Store.objects.create(group=target_group, name=name)


def staff_can_manage(actor: User, *, role: str, store: Store | None) -> bool:
    """Whether ``actor`` may create or deactivate staff of ``role`` in ``store``.

    A group admin manages any role in any store of their group; a manager manages consultants of their own
    store; a superuser manages everyone; a consultant manages no one."""
    if not actor.is_active:
        return False
    if actor.is_superuser:
        return True
    if actor.role == Role.GROUP_ADMIN:
        return store is None or store.group_id == actor.dealer_group_id
    if actor.role == Role.MANAGER:
        return role == Role.CONSULTANT and store is not None and store.pk == actor.store_id
    return False


@transaction.atomic
def staff_create(
    *,
    actor: User,
    username: str,
    password: str,
    role: str,
    store: Store | None,
    display_name: str = "",
    group: DealerGroup | None = None,
) -> User:
    """Create a member of staff. Raises PermissionDenied when the actor may not, ValidationError on bad input.

    ``store`` is required for consultants and managers and decides the dealer group; a group admin without a
    store joins the actor's group (or ``group`` for a superuser)."""
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    if role in (Role.CONSULTANT, Role.MANAGER) and store is None:
        raise ValidationError({"store": _("Consultants and managers must belong to a store.")})
    if not staff_can_manage(actor, role=role, store=store):
        raise PermissionDenied(_("You may not create this member of staff."))
    if store is not None:
        dealer_group = store.group
    elif actor.is_superuser:
        if group is None:
            raise ValidationError({"group": _("A superuser must name the dealer group.")})
        dealer_group = group
    else:
        dealer_group = actor.dealer_group
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("A user with that username already exists.")})
    user = User(username=username, role=role, store=store, dealer_group=dealer_group, display_name=display_name)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


@transaction.atomic
def staff_deactivate(*, actor: User, user: User) -> User:
    """Deactivate a member of staff: they can no longer log in or use their API token. Their records stay
    with the store (nothing is deleted); reassigning them is the leads app's bulk move."""
    if actor.pk == user.pk:
        raise ValidationError(_("You cannot deactivate yourself."))
    if not staff_can_manage(actor, role=user.role, store=user.store):
        raise PermissionDenied(_("You may not deactivate this member of staff."))
    user.is_active = False
    user.save(update_fields=["is_active"])
    Token.objects.filter(user=user).delete()
    return user


def _require_staff_manager(actor: User, user: User, message: str) -> None:
    if not staff_can_manage(actor, role=user.role, store=user.store):
        raise PermissionDenied(message)


@transaction.atomic
def staff_update(*, actor: User, user: User, display_name: str) -> User:
    """Change a member of staff's display name (what colleagues and customers' records show)."""
    _require_staff_manager(actor, user, _("You may not change this member of staff."))
    display_name = (display_name or "").strip()
    if len(display_name) > 60:
        raise ValidationError({"display_name": _("At most 60 characters.")})
    user.display_name = display_name
    user.save(update_fields=["display_name"])
    return user


@transaction.atomic
def staff_password_reset(*, actor: User, user: User, password: str) -> User:
    """Set a new password for a member of staff who forgot theirs (the manager hands it over; they change it after
    logging in). Their API token is revoked, as after a deactivation. Not for one's own password: the password page."""
    if actor.pk == user.pk:
        raise ValidationError({"password": _("Change your own password on the password page.")})
    _require_staff_manager(actor, user, _("You may not reset this member of staff's password."))
    if not user.is_active:
        raise ValidationError({"password": _("This member of staff is deactivated.")})
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    user.save(update_fields=["password"])
    Token.objects.filter(user=user).delete()
    return user
