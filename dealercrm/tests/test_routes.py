"""Every API route over scoped data goes through visible_to (RELIABILITY.md: a test walks the routes)."""

from dealercrm.api.urls import router
from dealercrm.scoping import ScopedQuerySet, ScopedViewSetMixin


def test_every_registered_viewset_is_scoped_or_says_why_not():
    unscoped = []
    for prefix, viewset, _basename in router.registry:
        if getattr(viewset, "scoping_exempt", None):
            continue
        queryset = getattr(viewset, "queryset", None)
        if not issubclass(viewset, ScopedViewSetMixin) or not isinstance(queryset, ScopedQuerySet):
            unscoped.append(prefix)
    assert unscoped == []
    assert len(router.registry) >= 4
