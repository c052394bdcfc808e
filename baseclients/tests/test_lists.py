"""The group's lists of regions and industries: cards carry the list's name whatever the spelling, the group admin
merges spellings (the cards follow), and the concentration counts one place once."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from baseclients import selectors, services
from baseclients.models import BaseClient, ListEntry
from dealercrm.tests.clients import client_for

from .factories import buy

pytestmark = pytest.mark.django_db


def _card(org, phone, **lead):
    buy(store=org.store, consultant=org.consultant, phone=phone, **lead)
    return BaseClient.objects.get(phone=phone)


def test_a_deal_maps_the_leads_spelling_to_the_list_and_adds_a_new_one(org):
    services.list_entry_save(actor=org.admin, group_id=org.group.pk, kind="region", name="浦东新区",
                             aliases=["浦东", "Pudong"])
    assert _card(org, "+8613922220001", district=" pudong ").region == "浦东新区"
    assert _card(org, "+8613922220002", district="浦东").region == "浦东新区"
    # A spelling the list does not know joins it, for the admin to merge.
    assert _card(org, "+8613922220003", district="浦东新").region == "浦东新"
    assert set(ListEntry.objects.filter(group=org.group, kind="region").values_list("name", flat=True)) == {
        "浦东新区", "浦东新"}


def test_merging_moves_the_cards_and_the_concentration_counts_one_region(org):
    services.list_entry_save(actor=org.admin, group_id=org.group.pk, kind="region", name="浦东新区", aliases=[])
    _card(org, "+8613922220011", district="浦东新区")
    _card(org, "+8613922220012", district="浦东区")
    _card(org, "+8613922220013", district="浦东区")
    assert {r["key"]: r["this_year"]["total"] for r in selectors.concentration(user=org.manager, by="region")} == {
        "浦东新区": 1, "浦东区": 2}
    entries = ListEntry.objects.filter(group=org.group, kind="region")
    with pytest.raises(PermissionDenied):
        services.list_entry_merge(actor=org.manager, entry=entries.get(name="浦东区"),
                                  into=entries.get(name="浦东新区"))
    services.list_entry_merge(actor=org.admin, entry=entries.get(name="浦东区"), into=entries.get(name="浦东新区"))
    assert {r["key"]: r["this_year"]["total"] for r in selectors.concentration(user=org.manager, by="region")} == {
        "浦东新区": 3}
    assert ListEntry.objects.get(group=org.group, kind="region").aliases == ["浦东区"]
    # The merged spelling now maps to the entry.
    assert _card(org, "+8613922220014", district="浦东区").region == "浦东新区"


def test_the_card_takes_a_region_from_the_list_only(org, api_as):
    services.list_entry_save(actor=org.admin, group_id=org.group.pk, kind="industry", name="物流运输",
                             aliases=["物流"])
    card = _card(org, "+8613922220021")
    services.client_update(actor=org.consultant, client=card, industry="物流")
    card.refresh_from_db()
    assert card.industry == "物流运输"
    with pytest.raises(ValidationError) as exc:
        services.client_update(actor=org.consultant, client=card, industry="wuliu")
    assert "industry" in exc.value.message_dict
    r = api_as(org.consultant).patch(f"/api/v1/base-clients/{card.pk}/", {"industry": "快递"}, format="json")
    assert r.status_code == 400 and "industry" in r.json()
    # The edit page offers the list.
    page = client_for(org.consultant).get(f"/base-clients/{card.pk}/edit/").content.decode()
    assert '<option value="物流运输" selected>' in page


def test_only_the_group_admin_keeps_the_lists(org):
    for user in (org.manager, org.consultant, org.other_admin):
        with pytest.raises(PermissionDenied):
            services.list_entry_save(actor=user, group_id=org.group.pk, kind="region", name="闵行区", aliases=[])
    assert client_for(org.manager).get("/base-clients/settings/lists/").status_code == 403
    admin = client_for(org.admin)
    assert admin.post("/base-clients/settings/lists/", {"kind": "region", "name": "闵行区",
                                                        "aliases": "闵行，Minhang"}).status_code == 302
    entry = ListEntry.objects.get(group=org.group, name="闵行区")
    assert entry.aliases == ["闵行", "Minhang"]
    # A spelling already another entry's is refused.
    with pytest.raises(ValidationError):
        services.list_entry_save(actor=org.admin, group_id=org.group.pk, kind="region", name="松江区",
                                 aliases=["minhang"])
    page = admin.get("/base-clients/settings/lists/").content.decode()
    assert "闵行区" in page and 'data-list="industry"' in page
