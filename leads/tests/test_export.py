"""CSV export: filtered like the list, scoped by role, phones masked in every consultant's export."""

import csv
import io

import pytest
from django.urls import reverse

from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def export(client, user, **params):
    client.force_login(user)
    resp = client.get(reverse("leads:export"), params)
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/csv")
    text = b"".join(resp.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))[1:]


def test_a_consultant_exports_only_their_leads_with_masked_phones(org, client):
    LeadFactory(store=org.store, assigned_to=org.consultant, name="甲", phone="+8613800138000")
    LeadFactory(store=org.store, assigned_to=org.consultant2, name="乙")
    rows = export(client, org.consultant)
    assert [(r[1], r[2]) for r in rows] == [("甲", "138****8000")]


def test_a_manager_exports_the_store_with_full_phones_and_the_filters_apply(org, client):
    LeadFactory(store=org.store, assigned_to=org.consultant, name="甲", phone="+8613800138000", grade="A")
    LeadFactory(store=org.store, assigned_to=org.consultant2, name="乙", grade="C")
    LeadFactory(store=org.store2, assigned_to=org.consultant_b, name="丙", grade="A")
    rows = export(client, org.manager, grade="A")
    assert [(r[1], r[2], r[3]) for r in rows] == [("甲", "138 0013 8000", "A")]


def test_export_runs_a_constant_number_of_queries(org, client, django_assert_max_num_queries):
    for _ in range(30):
        LeadFactory(store=org.store, assigned_to=org.consultant)
    client.force_login(org.manager)
    # The session and the user, the store, people, channel and series look-ups, the rows.
    with django_assert_max_num_queries(7):
        resp = client.get(reverse("leads:export"))
        body = b"".join(resp.streaming_content)
    assert body.count(b"\n") == 31
    for _ in range(30):  # more leads, another holder: not one query more
        LeadFactory(store=org.store, assigned_to=org.consultant2)
    with django_assert_max_num_queries(7):
        body = b"".join(client.get(reverse("leads:export")).streaming_content)
    assert body.count(b"\n") == 61


def test_anonymous_users_cannot_export(client):
    assert client.get(reverse("leads:export")).status_code == 302
