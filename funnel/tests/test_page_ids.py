"""The funnel pages' inputs that name an id: not a number is a form error or a 404, never a server error."""

import pytest

from dealercrm.tests.clients import client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("bad", ["²", "abc", "99999999999"])
def test_a_target_for_a_consultant_that_is_not_an_id_is_not_a_500(org, bad):
    r = client_for(org.manager).post("/funnel/targets/", {"store": org.store.pk, "consultant": bad,
                                                          "month": "2026-12", "units": 3})
    assert r.status_code in (200, 400, 404)
