"""The events tests' world: one store's base clients of each tier, a competitor-pool and a nurture-list customer, a
sister store's client and another group's, built through the real services."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from baseclients.models import BaseClient
from baseclients.tests.factories import buy
from defeats import services as defeats
from defeats.models import PoolEntry
from defeats.tests.factories import pending_application
from leads.tests.factories import LeadFactory


@pytest.fixture(autouse=True)
def _eager_celery(tasks_in_process):
    """The base clients' tasks (re-tier, care planning) run in-process in these tests."""


@pytest.fixture
def client():
    """Page tests read the English source strings."""
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _client(org, consultant, phone, tier, *, store=None, name=None, region="", industry=""):
    deal = buy(store=store or org.store, consultant=consultant, phone=phone, delivered_days_ago=400,
               **({"name": name} if name else {}))
    pk = deal.purchase.client_id
    BaseClient.objects.filter(pk=pk).update(tier=tier, region=region, industry=industry)
    return BaseClient.objects.get(pk=pk)


def _pool(org, phone, kind, name):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, phone=phone, name=name,
                       first_visit_at=timezone.now() - timedelta(days=200))
    app = pending_application(org, lead=lead, kind=kind, reasons=("lost_contact",) if kind == "defeat"
                              else ("funding_not_ready",))
    defeats.application_decide(actor=org.manager, application=app, verdict="confirm", comment="ok")
    return PoolEntry.objects.get(lead=lead)


class World:
    pass


@pytest.fixture
def world(org):
    w = World()
    w.org = org
    w.p1 = _client(org, org.consultant, "+8613900000001", "premium", name="张总", region="浦东新区",
                   industry="物流")
    w.p2 = _client(org, org.consultant2, "+8613900000002", "premium", name="李总", region="闵行区", industry="建筑")
    w.g1 = _client(org, org.consultant, "+8613900000003", "general", name="王师傅", region="浦东新区",
                   industry="物流")
    w.sister = _client(org, org.consultant_b, "+8613900000004", "premium", store=org.store2, name="赵总")
    w.d1 = _pool(org, "+8613900000005", "defeat", "陈先生")
    w.n1 = _pool(org, "+8613900000006", "quasi", "周女士")
    from baseclients.models import ListEntry

    for kind, name in (("region", "浦东新区"), ("region", "闵行区"), ("industry", "物流"), ("industry", "建筑")):
        ListEntry.objects.get_or_create(group=org.group, kind=kind, name=name)
    return w
