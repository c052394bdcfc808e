"""Reviews (issue 14, item 14): the oldest record's age reads as a date and days, the count drops as the manager
reviews, bulk approval in one transaction, newest-first ordering."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dealercrm.tests.clients import HTMX, client_for
from leads.models import FollowUp, ReviewStatus
from leads.tests.factories import FollowUpFactory, LeadFactory

pytestmark = pytest.mark.django_db
REVIEWS = reverse("leads:reviews")


def queue(org, n=3, store=None):
    now = timezone.now()
    lead = LeadFactory(store=store or org.store, assigned_to=org.consultant, first_visit_at=now - timedelta(days=60))
    return [FollowUpFactory(lead=lead, occurred_at=now - timedelta(days=40 - i)) for i in range(n)]


def test_the_oldest_reads_as_a_date_and_days_not_a_month(org):
    follow_ups = queue(org)
    html = client_for(org.manager).get(REVIEWS).content.decode()
    day = timezone.localtime(follow_ups[0].occurred_at).strftime("%Y-%m-%d")
    assert f"Oldest waiting since {day} (40 days)" in html


def test_newest_first_on_request(org):
    follow_ups = queue(org)
    page = client_for(org.manager).get(REVIEWS, {"order": "newest"}).context["page"]
    assert [fu.pk for fu in page] == [fu.pk for fu in reversed(follow_ups)]


def test_the_count_drops_as_the_manager_reviews(org):
    follow_ups = queue(org)
    client = client_for(org.manager)
    response = client.post(reverse("leads:review", args=[follow_ups[0].pk]),
                           {"decision": "approve", "next": REVIEWS}, **HTMX)
    html = response.content.decode()
    assert '<span class="stat-value" id="review-count" hx-swap-oob="true">2</span>' in html
    # The queue's filters ride in "next": the count is the filtered queue's.
    response = client.post(reverse("leads:review", args=[follow_ups[1].pk]),
                           {"decision": "approve", "next": f"{REVIEWS}?consultant={org.consultant2.pk}"}, **HTMX)
    assert 'hx-swap-oob="true">0</span>' in response.content.decode()


def test_the_reviews_tab_badge_drops_too(org):
    import re

    def badge(html: str) -> str:
        return re.search(r'<span id="reviews-tab-badge"[^>]*>([^<]*)</span>', html).group(1)

    follow_ups = queue(org)
    client = client_for(org.manager)
    assert badge(client.get(REVIEWS).content.decode()) == "3"
    response = client.post(reverse("leads:review", args=[follow_ups[0].pk]),
                           {"decision": "approve", "next": REVIEWS}, **HTMX)
    assert badge(response.content.decode()) == "2"
    # From a filtered page the badge still counts the whole queue.
    response = client.post(reverse("leads:review", args=[follow_ups[1].pk]),
                           {"decision": "approve", "next": f"{REVIEWS}?consultant={org.consultant2.pk}"}, **HTMX)
    assert badge(response.content.decode()) == "1"


def test_bulk_approve_approves_the_ticked_ones_only(org):
    follow_ups = queue(org, n=4)
    client = client_for(org.manager)
    assert 'form="bulk-approve"' in client.get(REVIEWS).content.decode()
    ticked = [follow_ups[0].pk, follow_ups[2].pk]
    response = client.post(REVIEWS, {"ids": ticked, "next": REVIEWS})
    assert response.status_code == 302
    approved = set(FollowUp.objects.filter(review_status=ReviewStatus.APPROVED).values_list("pk", flat=True))
    assert approved == set(ticked)
    assert FollowUp.objects.get(pk=ticked[0]).reviewed_by == org.manager


def test_bulk_approve_is_all_or_nothing_and_scoped(org):
    mine = queue(org, n=2)
    other = queue(org, n=1, store=org.store2)
    client = client_for(org.manager)
    # Another store's record in the batch: a 404, and nothing approved.
    assert client.post(REVIEWS, {"ids": [mine[0].pk, other[0].pk]}).status_code == 404
    assert not FollowUp.objects.filter(review_status=ReviewStatus.APPROVED).exists()
    # An already reviewed record in the batch: nothing approved either.
    FollowUp.objects.filter(pk=mine[1].pk).update(review_status=ReviewStatus.REJECTED)
    assert client.post(REVIEWS, {"ids": [mine[0].pk, mine[1].pk]}).status_code == 404
    assert not FollowUp.objects.filter(review_status=ReviewStatus.APPROVED).exists()
    assert client.post(REVIEWS, {"ids": ["x"]}).status_code == 404
    assert client_for(org.consultant).post(REVIEWS, {"ids": [mine[0].pk]}).status_code == 403
    assert not FollowUp.objects.filter(review_status=ReviewStatus.APPROVED).exists()
