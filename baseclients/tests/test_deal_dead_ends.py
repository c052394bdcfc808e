"""After a deal on the lead page: the base-client card is linked at once, at the top, and the lead no longer offers
a defeat filing (defeats.services.can_file_defeat, the rule the filing service applies)."""

import pytest
from django.utils import timezone

from baseclients.models import BaseClient
from dealercrm.tests.clients import HTMX, client_for
from defeats.services import can_file_defeat
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _deal(c, lead, **extra):
    return c.post(f"/leads/{lead.pk}/deal/", {"price": "150000", "ordered_at": timezone.localdate().isoformat(),
                                              "version": lead.version}, **extra)


def test_a_deal_shows_the_card_link_at_once_and_no_defeat_filing(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="赵六")
    c = client_for(org.consultant)
    assert 'id="defeat-apply-link"' in c.get(f"/leads/{lead.pk}/").content.decode()
    r = _deal(c, lead, **HTMX)
    body = r.content.decode()
    card = f"/base-clients/{BaseClient.objects.get(client_leads__lead=lead).pk}/"
    assert r.status_code == 200 and "Deal recorded" in body
    # The card link comes in the body, right under the notice, before the timeline ...
    assert card in body and body.index("Deal recorded") < body.index(card) < body.index('id="lead-panels"')
    # ... and the panels under the body are swapped too: no defeat filing on a won lead.
    assert 'hx-swap-oob="true"' in body and 'id="defeat-apply-link"' not in body
    page = c.get(f"/leads/{lead.pk}/").content.decode()
    assert 'id="defeat-apply-link"' not in page and page.count(card) == 1
    lead.refresh_from_db()
    assert not can_file_defeat(lead)


def test_only_an_active_lead_may_be_filed(org):
    assert can_file_defeat(LeadFactory(store=org.store, assigned_to=org.consultant))
    for status in ("won", "merged", "defeated", "defeat_pending"):
        assert not can_file_defeat(LeadFactory.build(store=org.store, status=status))
