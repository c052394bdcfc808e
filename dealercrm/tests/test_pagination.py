"""The big lists count up to a cap (dealercrm.pagination): exact below it, "more than" past it, and every row still
reachable page by page, in the lead list page and the API, for whoever asks (each sees only their own rows)."""

from __future__ import annotations

import pytest
from django.core.paginator import EmptyPage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dealercrm.pagination import CappedPaginator
from dealercrm.tests.clients import client_for
from leads.models import Lead
from leads.tests.factories import LeadFactory


@pytest.fixture
def leads(org):
    """12 leads at the first store (7 the consultant's), 2 at the second, 3 in another group."""
    made = [LeadFactory(store=org.store, assigned_to=org.consultant if i < 7 else org.consultant2) for i in range(12)]
    made += [LeadFactory(store=org.store2, assigned_to=org.consultant_b) for _ in range(2)]
    LeadFactory.create_batch(3, store=org.other_store)
    return made


def test_below_the_cap_it_is_djangos_paginator(org, leads):
    paginator = CappedPaginator(Lead.objects.filter(store=org.store).order_by("pk"), 5, cap=12)
    assert (paginator.count, paginator.count_capped, paginator.num_pages) == (12, False, 3)
    assert len(paginator.page(3)) == 2 and not paginator.page(3).has_next()
    with pytest.raises(EmptyPage):
        paginator.page(4)


def test_past_the_cap_it_counts_to_the_cap_and_still_reaches_every_row(org, leads):
    rows = Lead.objects.filter(store=org.store).order_by("pk")
    paginator = CappedPaginator(rows, 5, cap=7)
    with CaptureQueriesContext(connection) as queries:
        assert (paginator.count, paginator.count_capped) == (7, True)
    assert len(queries) == 1 and "LIMIT 8" in queries[0]["sql"]  # counted over 8 rows at most, not the 12
    seen, number = [], 1
    while True:
        page = paginator.page(number)
        seen += [lead.pk for lead in page]
        if not page.has_next():
            break
        number = page.next_page_number()
    assert seen == [lead.pk for lead in rows] and number == 3
    with pytest.raises(EmptyPage):
        paginator.page(4)
    assert paginator.get_page(9).number == 1 and paginator.get_page("x").number == 1


def test_the_lead_list_page_says_more_than_past_the_cap(org, leads, settings):
    settings.LIST_COUNT_CAP = 10
    admin = client_for(org.admin).get(reverse("leads:list")).content.decode()
    assert "More than 10 leads" in admin and "Page 1" in admin and "Page 1 of" not in admin
    manager = client_for(org.manager).get(reverse("leads:list")).content.decode()
    assert "More than 10 leads" in manager  # 12 at the store
    consultant = client_for(org.consultant).get(reverse("leads:list")).content.decode()
    assert "7 leads" in consultant and "More than" not in consultant  # their own, counted exactly
    settings.LIST_COUNT_CAP = 10_000
    assert "14 leads" in client_for(org.admin).get(reverse("leads:list")).content.decode()


def test_the_api_answers_count_capped_and_next_leads_to_the_end(org, leads, api_as, settings):
    settings.LIST_COUNT_CAP = 5
    client, url = api_as(org.admin), "/api/v1/leads/?page_size=4"
    first = client.get(url).json()
    assert (first["count"], first["count_capped"]) == (5, True)
    seen = []
    while url:
        answer = client.get(url).json()
        seen += [row["id"] for row in answer["results"]]
        url = answer["next"]
    group = Lead.objects.filter(store__group=org.group).values_list("pk", flat=True)
    assert sorted(seen) == sorted(group) and len(seen) == 14  # the group's, none of the other group's
    assert client.get("/api/v1/leads/?page_size=4&page=5").status_code == 404  # past the end
    own = api_as(org.consultant).get("/api/v1/leads/").json()
    assert (own["count"], own["count_capped"]) == (5, True)  # 7 of their own
    settings.LIST_COUNT_CAP = 10_000
    own = api_as(org.consultant).get("/api/v1/leads/").json()
    assert (own["count"], own["count_capped"], len(own["results"])) == (7, False, 7)
    assert api_as(org.other_manager).get("/api/v1/leads/").json()["count"] == 3
