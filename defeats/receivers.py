"""What the defeat workflow does when a lead changes (leads.events; connected in DefeatsConfig.ready()). Runs inside
the lead service's transaction: an error here undoes the visit."""

from __future__ import annotations

from .services import customer_came_back


def customer_returned(sender, *, lead, actor, at, grade=None, assign_to=None, **kwargs) -> None:
    """``customer_returned``: a defeated customer in the competitor pool is won back; a pending defeat application is
    closed as a false defeat (``services.customer_came_back``)."""
    customer_came_back(actor=actor, lead=lead, at=at, grade=grade, assign_to=assign_to)
