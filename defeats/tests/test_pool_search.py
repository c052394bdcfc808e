"""The competitor pool's and nurture list's search (the page's box, posted; ``GET /api/v1/defeats/pool/?q=``): by
name, by series, by phone within the masking rule (models.pool_search_condition)."""

import pytest

from dealercrm.tests.clients import HTMX, client_for
from defeats import selectors, services
from defeats.models import PoolEntry
from leads.tests.factories import LeadFactory

from .factories import pending_application

pytestmark = pytest.mark.django_db


def _confirmed(org, *, consultant, name, phone, kind="defeat", **kw):
    lead = LeadFactory(store=org.store, assigned_to=consultant, name=name, phone=phone)
    app = pending_application(org, lead=lead, kind=kind, reasons=["model_unsatisfied"], **kw)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    return PoolEntry.objects.get(lead=lead)


@pytest.fixture
def pool(org, catalogue):
    class P:
        pass

    p = P()
    p.zhang = _confirmed(org, consultant=org.consultant, name="张三丰", phone="+8613812345678",
                         competitor_series=catalogue.han)
    p.li = _confirmed(org, consultant=org.consultant2, name="李四", phone="+8613900001111",
                      competitor_series=catalogue.accord)
    # A pool owner who is not the lead's consultant sees the entry but its phone masked.
    PoolEntry.objects.filter(pk__in=[p.zhang.pk, p.li.pk]).update(owner=org.consultant2)
    return p


def _names(user, q, **kw):
    return {e.lead.name for e in selectors.pool_list(user=user, store=user.store, q=q, **kw)}


def test_a_search_finds_by_name_phone_and_series(org, pool):
    assert _names(org.manager, "张三") == {"张三丰"}
    assert _names(org.manager, "+86 138 1234 5678") == {"张三丰"}
    assert _names(org.manager, "5678") == {"张三丰"}
    assert _names(org.manager, "Accord") == {"李四"}
    assert _names(org.manager, "汉T") == {"张三丰"}
    assert _names(org.manager, "") == {"张三丰", "李四"}


def test_a_masked_phone_is_never_matched(org, pool):
    # consultant2 owns both entries; 张三丰's phone is shown masked to them (not their lead).
    assert _names(org.consultant2, "") == {"张三丰", "李四"}
    for n in range(4, 12):
        assert _names(org.consultant2, "13812345678"[-n:]) == set()
    assert _names(org.consultant2, "1111") == {"李四"}
    assert _names(org.manager2, "5678") == set()


def test_the_nurture_list_is_searched_too(org, pool, catalogue):
    _confirmed(org, consultant=org.consultant, name="王五", phone="+8613700002222", kind="quasi")
    assert _names(org.manager, "王五", list_="nurture") == {"王五"}
    assert _names(org.manager, "王五") == set()


def test_the_page_posts_the_search_and_htmx_gets_the_results(org, pool, django_assert_max_num_queries):
    c = client_for(org.manager)
    r = c.post(f"/defeats/pool/?store={org.store.pk}", {"q": "5678"})
    body = r.content.decode()
    assert r.status_code == 200 and "张三丰" in body and "李四" not in body and 'name="q"' in body
    with django_assert_max_num_queries(14):
        r = c.post(f"/defeats/pool/?store={org.store.pk}", {"q": "李"}, **HTMX)
    body = r.content.decode()
    assert r.status_code == 200 and 'id="dft-pool-results"' in body and "<html" not in body
    assert "李四" in body and "张三丰" not in body
    r = c.post(f"/defeats/pool/?store={org.store.pk}&list=nurture", {"q": "张"})
    assert "No one matches the search." in r.content.decode()


def test_the_page_search_respects_the_mask_and_denies(org, pool):
    c = client_for(org.consultant2)
    assert "张三丰" not in c.post("/defeats/pool/", {"q": "5678"}).content.decode()
    assert "张三丰" in c.post("/defeats/pool/", {"q": "张三"}).content.decode()
    assert client_for(org.manager).post("/defeats/pool/", {"q": "x" * 61}).status_code == 400


def test_the_api_shares_the_search(org, pool, api):
    api.force_authenticate(org.consultant2)
    r = api.get("/api/v1/defeats/pool/", {"q": "5678"})
    assert r.status_code == 200 and r.json()["count"] == 0
    api.force_authenticate(org.manager)
    r = api.get("/api/v1/defeats/pool/", {"q": "5678"})
    assert [row["id"] for row in r.json()["results"]] == [pool.zhang.pk]
    assert api.get("/api/v1/defeats/pool/", {"q": "Han"}).json()["count"] == 1
