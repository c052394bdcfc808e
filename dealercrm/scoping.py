"""Role scoping: the one mechanism every queryset, page, export and API view uses to decide what a user sees.

A model declares *where its rows hang* with a :class:`Scope` (the lookups from the row to its dealer group,
its store and, for consultants, its owner) and uses :class:`ScopedQuerySet`. ``visible_to(user)`` then gives:

- a superuser: everything;
- a group admin: the rows of their dealer group;
- a manager: the rows of their store;
- a consultant: the rows they own (``Scope.owner``), or the rows of their store where a model has no owner;
- anyone else (anonymous, inactive, no role): nothing.

Rows a user cannot see are a 404, not a 403 (see ``ScopedViewSetMixin``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CONSULTANT = "consultant", _("Sales consultant")
    MANAGER = "manager", _("Store manager")
    GROUP_ADMIN = "group_admin", _("Group admin")


@dataclass(frozen=True)
class Scope:
    """Lookups from a row to the ids it is scoped by. ``owner=None``: consultants see their store's rows."""

    group: str
    store: str
    owner: str | None = None


class ScopedQuerySet(models.QuerySet):
    def visible_to(self, user) -> ScopedQuerySet:
        """The rows ``user`` may see; see the module docstring for the rules."""
        scope: Scope = self.model.scope
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        role = getattr(user, "role", None)
        if role == Role.GROUP_ADMIN and user.dealer_group_id:
            return self.filter(**{scope.group: user.dealer_group_id})
        if role == Role.MANAGER and user.store_id:
            return self.filter(**{scope.store: user.store_id})
        if role == Role.CONSULTANT and user.store_id:
            if scope.owner is None:
                return self.filter(**{scope.store: user.store_id})
            # The store condition too: a consultant moved to another store stops seeing the old store's rows.
            return self.filter(**{scope.owner: user.pk, scope.store: user.store_id})
        return self.none()


class ScopedViewSetMixin:
    """For DRF viewsets: the queryset is always ``visible_to(request.user)``, so another user's object is a
    404 and lists hold no foreign rows. Every API viewset over scoped data uses it (a test walks the routes)."""

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    def scoped_object(self, queryset=None):
        """The object the URL's ``{id}`` names, looked up in the scoped queryset (``get_queryset()`` unless given)
        and nothing else: the list's filters in a query string must not turn a visible object into a 404. The id is
        converted as its field (the primary key) converts it, so a value it cannot hold (``abc``) is a 404 like an
        unknown id (out of range, ``2**63``, matches no row), never a server error. Object permissions are checked.
        The one look-up of the detail views that override ``get_object`` (DRF's own already answers 404)."""
        queryset = self.get_queryset() if queryset is None else queryset
        value = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        meta = queryset.model._meta
        field = meta.pk if self.lookup_field == "pk" else meta.get_field(self.lookup_field)
        try:
            value = field.to_python(value)
        except ValidationError:
            raise Http404 from None
        obj = queryset.filter(**{self.lookup_field: value}).first()
        if obj is None:
            raise Http404
        self.check_object_permissions(self.request, obj)
        return obj
