"""The leads' phone search rule (LeadQuerySet.phone_search, used by the /leads/ page, the lead and pool APIs): digits
match only among the phones the user sees in full; a masked phone matches nothing, not even its whole number."""

import pytest

from leads.models import Lead

from .factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_growing_a_suffix_of_a_colleagues_lead_matches_nothing(org):
    colleagues = LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613812345678")
    own = LeadFactory(store=org.store, assigned_to=org.consultant2, phone="+8613711112222")
    for n in range(4, 12):
        assert not Lead.objects.phone_search(org.consultant2, "13812345678"[-n:]).filter(pk=colleagues.pk).exists()
    assert set(Lead.objects.phone_search(org.consultant2, "1111")) == {own}
    assert set(Lead.objects.phone_search(org.consultant, "5678")) == {colleagues}
    assert set(Lead.objects.phone_search(org.manager, "5678")) == {colleagues}
    assert set(Lead.objects.phone_search(org.manager2, "5678")) == set()
    assert set(Lead.objects.phone_search(org.admin, "5678")) == {colleagues}
    assert set(Lead.objects.phone_search(org.other_admin, "13812345678")) == set()
