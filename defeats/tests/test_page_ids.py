"""Every page input that names an id goes through a form field: not a number is a 400 with a message (or a 404), an
id outside the user's scope the same, never a server error; nothing is written."""

import pytest

from dealercrm.tests.clients import client_for
from defeats import services
from defeats.models import Application, ApplicationStatus, PoolOwner, Reason, TalkTrack

from .factories import pending_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def track(org, catalogue):
    services.reasons_for(org.group.pk)
    reason = Reason.objects.get(group=org.group, code="config_basic")
    return TalkTrack.objects.create(group=org.group, reason=reason, fact="f", problem="p", viewpoint="v",
                                    updated_by=org.manager)


def test_talk_track_edit_that_is_not_a_number_is_a_404(org, track):
    c = client_for(org.manager)
    assert c.get("/defeats/talk-tracks/", {"edit": "abc"}).status_code == 404
    assert c.get("/defeats/talk-tracks/", {"edit": "99999999999"}).status_code == 404
    assert c.get("/defeats/talk-tracks/", {"edit": track.pk}).status_code == 200


def test_talk_track_of_another_group_is_a_404(org, track):
    assert client_for(org.other_manager).get("/defeats/talk-tracks/", {"edit": track.pk}).status_code == 404


def test_verdict_assigned_to_a_non_number_is_a_400_with_a_message(org):
    app = pending_application(org)
    r = client_for(org.manager).post(f"/defeats/verify/{app.pk}/", {"verdict": "reject", "comment": "x",
                                                                    "assign_to": "abc"})
    assert r.status_code == 400 and "Choose an active consultant of this store." in r.content.decode()
    assert Application.objects.get(pk=app.pk).status == ApplicationStatus.PENDING


def test_verdict_assigned_to_another_stores_consultant_is_a_400(org):
    app = pending_application(org)
    r = client_for(org.manager).post(f"/defeats/verify/{app.pk}/", {"verdict": "reject", "comment": "x",
                                                                    "assign_to": org.consultant_b.pk})
    assert r.status_code == 400 and "Choose an active consultant of this store." in r.content.decode()
    assert Application.objects.get(pk=app.pk).status == ApplicationStatus.PENDING


def test_verdict_with_a_version_that_is_not_a_number_is_a_400(org):
    app = pending_application(org)
    r = client_for(org.manager).post(f"/defeats/verify/{app.pk}/", {"verdict": "confirm", "comment": "x",
                                                                    "version": "abc"})
    assert r.status_code == 400
    assert Application.objects.get(pk=app.pk).status == ApplicationStatus.PENDING


@pytest.mark.parametrize("field", ["store", "user"])
def test_pool_owner_with_a_non_number_is_a_400_with_a_message(org, field):
    data = {"form": "owner", "store": org.store.pk, "user": org.consultant2.pk, field: "abc"}
    r = client_for(org.admin).post("/defeats/settings/", data)
    assert r.status_code == 400 and r.context["message"]
    assert not PoolOwner.objects.filter(store=org.store).exists()


def test_pool_owner_outside_the_group_or_the_store_is_a_400(org):
    c = client_for(org.admin)
    r = c.post("/defeats/settings/", {"form": "owner", "store": org.other_store.pk})
    assert r.status_code == 400 and "Choose a store of your group." in r.content.decode()
    r = c.post("/defeats/settings/", {"form": "owner", "store": org.store.pk, "user": org.consultant_b.pk})
    assert r.status_code == 400 and "Choose someone of this store." in r.content.decode()
    assert not PoolOwner.objects.filter(store__in=[org.store, org.other_store]).exists()
    r = c.post("/defeats/settings/", {"form": "owner", "store": org.store.pk, "user": org.consultant2.pk})
    assert r.status_code == 302 and services.pool_owner_for(org.store) == org.consultant2


@pytest.mark.parametrize("bad", ["²", "abc", "99999999999"])
def test_bulk_verdict_ids_that_are_not_ids_are_refused_not_a_500(org, bad):
    app = pending_application(org)
    r = client_for(org.manager).post("/defeats/verify/bulk/", {"ids": [app.pk, bad], "verdict": "confirm",
                                                               "comment": "x"})
    assert r.status_code in (400, 404)
    assert Application.objects.get(pk=app.pk).status == ApplicationStatus.PENDING


@pytest.mark.parametrize("field", ["brand", "series"])
@pytest.mark.parametrize("bad", ["²", "abc", "-1"])
def test_pool_filters_that_are_not_ids_are_a_400(org, field, bad):
    r = client_for(org.manager).get("/defeats/pool/", {field: bad})
    assert r.status_code == 400 and r.context["message"]


def test_pool_filter_by_brand_still_works_and_stays_selected(org, catalogue):
    r = client_for(org.manager).get("/defeats/pool/", {"brand": catalogue.han.brand_id})
    assert r.status_code == 200
    assert f'<option value="{catalogue.han.brand_id}" selected>' in r.content.decode()
