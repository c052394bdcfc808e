"""Reads on the organisation."""

from django.db.models import Count, Q, QuerySet

from .models import Role, Store, User


def store_cards(*, user: User) -> QuerySet[Store]:
    """The stores ``user`` may see, each with its active managers and consultants counted. One query."""
    return (
        Store.objects.visible_to(user)
        .annotate(
            consultants=Count("staff", filter=Q(staff__role=Role.CONSULTANT, staff__is_active=True)),
            managers=Count("staff", filter=Q(staff__role=Role.MANAGER, staff__is_active=True)),
        )
        .order_by("name")
    )
