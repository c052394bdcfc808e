"""Helpers shared by the base-client services: permissions, row locks, versions."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from dealercrm.models import Role, User
from leads.services import manages_store

from ..models import BaseClient


class StaleVersion(Exception):
    """The row changed since the client read it (API: 412/409)."""

    def __init__(self, current_version: int):
        self.current_version = current_version
        super().__init__(f"at version {current_version}")


def can_work(user: User, client: BaseClient) -> bool:
    """The client's consultant (in the client's store), or whoever manages the client's store."""
    if manages_store(user, client.store):
        return True
    return bool(user.is_active and user.role == Role.CONSULTANT and client.assigned_to_id == user.pk
                and user.store_id == client.store_id)


def require_can_work(user: User, client: BaseClient) -> None:
    if not can_work(user, client):
        raise PermissionDenied(_("This base client is not yours."))


def require_group_admin(user: User, group_id: int) -> None:
    if not user.is_active:
        raise PermissionDenied(_("Only the group admin can change this."))
    if user.is_superuser or (user.role == Role.GROUP_ADMIN and user.dealer_group_id == group_id):
        return
    raise PermissionDenied(_("Only the group admin can change this."))


def lock_client(client: BaseClient | int, expected_version: int | None = None) -> BaseClient:
    """Re-read the client under a row lock; check the caller's version."""
    pk = client if isinstance(client, int) else client.pk
    locked = BaseClient.objects.select_for_update().select_related("store", "group").get(pk=pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(locked.version)
    return locked


def bump(client: BaseClient, fields: list[str]) -> None:
    client.version += 1
    client.save(update_fields=[*fields, "version", "updated_at"])


def field_error(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})
