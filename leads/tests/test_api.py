"""The leads API: create, read, edit, visits, follow-ups, deals, assignment, timeline and review, with the grants and
denials of each role, optimistic locking, filters, phone masking and a constant query count."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient, APIRequestFactory

from dealercrm.tests.factories import ConsultantFactory, VehicleSeriesFactory
from leads.api.serializers import LeadSerializer
from leads.models import AssignmentChange, Channel, Deal, FollowUp, GradeChange, Lead, Visit
from leads.tests.factories import FollowUpFactory, LeadFactory

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/leads/"
FOLLOW_UPS = "/api/v1/follow-ups/"


def url(lead, suffix=""):
    return f"{LEADS}{lead.pk}/{suffix}"


def lead_of(user, **overrides):
    """A lead of ``user``'s store held by ``user``."""
    return LeadFactory(store=user.store, assigned_to=user, **overrides)


def new_lead(**overrides):
    body = {"name": "王先生", "phone": "138 0013 8000", "source": "walk_in", "grade": "C"}
    body.update(overrides)
    return body


# --- create -----------------------------------------------------------------------------------------------------


def test_consultant_creates_a_lead_held_by_them_with_its_first_visit_now(org, api_as):
    before = timezone.now()
    resp = api_as(org.consultant).post(LEADS, new_lead(), format="json")
    after = timezone.now()

    assert resp.status_code == 201, resp.content
    body = resp.json()
    lead = Lead.objects.get(pk=body["id"])
    assert (lead.store, lead.assigned_to, lead.created_by) == (org.store, org.consultant, org.consultant)
    assert lead.phone == "+8613800138000"
    assert before <= lead.first_visit_at <= after
    first_visit = Visit.objects.get(lead=lead)
    assert first_visit.is_first and first_visit.arrived_at == lead.first_visit_at
    assert body["assigned_to"] == org.consultant.pk
    assert body["phone"] == "138 0013 8000"
    assert body["phone_masked"] == "138****8000"
    assert body["version"] == 1 and resp["ETag"] == '"1"'
    assert body["is_overdue"] is False
    assert GradeChange.objects.get(lead=lead).to_grade == "C"


def test_anonymous_walk_in_without_a_phone_is_still_a_lead(org, api_as):
    resp = api_as(org.consultant).post(LEADS, {"name": "李女士", "source": "walk_in"}, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert (body["phone"], body["phone_masked"], body["grade"]) == ("", "", None)
    assert Visit.objects.filter(lead_id=body["id"], is_first=True).exists()


def test_create_takes_the_optional_customer_fields(org, api_as):
    series = VehicleSeriesFactory()
    channel = Channel.objects.get(code="friend")
    resp = api_as(org.consultant).post(
        LEADS,
        new_lead(source="referral", channel=channel.pk, series=series.pk, budget="185000.50", gender="female",
                 purchase_type="replacement", district="浦东", industry="IT"),
        format="json",
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert (body["channel"], body["series"], body["series_name"]) == (channel.pk, series.pk, str(series))
    assert body["budget"] == "185000.50"
    assert Lead.objects.get(pk=body["id"]).budget == Decimal("185000.50")


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "not a phone"}, "phone"),
        ({"grade": "F"}, "grade"),
        ({"source": "tv_advert"}, "source"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"budget": "-1"}, "budget"),
        ({"gender": "other"}, "gender"),
        ({"series": 999999}, "series"),
        ({"channel": "__event__"}, "channel"),  # an outbound channel on a walk-in
    ],
)
def test_create_bad_input_is_400_with_the_field_and_creates_nothing(org, api_as, overrides, field):
    if overrides.get("channel") == "__event__":
        overrides["channel"] = Channel.objects.get(code="event").pk
    resp = api_as(org.consultant).post(LEADS, new_lead(**overrides), format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()
    assert not Lead.objects.exists() and not Visit.objects.exists()


def test_create_without_name_or_source_is_400(org, api_as):
    resp = api_as(org.consultant).post(LEADS, {}, format="json")
    assert resp.status_code == 400
    assert {"name", "source"} <= set(resp.json())


def test_duplicate_phone_in_the_store_is_409_naming_the_existing_lead(org, api_as):
    existing = lead_of(org.consultant, phone="+8613800138000")
    resp = api_as(org.consultant).post(LEADS, new_lead(phone="+86 138-0013-8000"), format="json")
    assert resp.status_code == 409
    body = resp.json()
    assert body["existing_lead"] == existing.pk
    assert body["phone"]
    assert Lead.objects.count() == 1 and Visit.objects.count() == 0


def test_duplicate_phone_of_a_colleagues_customer_is_409_without_naming_it(org, api_as):
    lead_of(org.consultant2, phone="+8613800138000")
    resp = api_as(org.consultant).post(LEADS, new_lead(phone="+86 138-0013-8000"), format="json")
    assert resp.status_code == 409
    assert resp.json()["existing_lead"] is None and resp.json()["phone"]
    assert Lead.objects.count() == 1 and not Visit.objects.exists()


def test_the_same_phone_in_another_store_is_a_new_lead(org, api_as):
    LeadFactory(store=org.store2, assigned_to=org.consultant_b, phone="+8613800138000")
    assert api_as(org.consultant).post(LEADS, new_lead(), format="json").status_code == 201


def test_consultant_cannot_create_a_lead_for_a_colleague(org, api_as):
    resp = api_as(org.consultant).post(LEADS, new_lead(assigned_to=org.consultant2.pk), format="json")
    assert resp.status_code == 403
    assert not Lead.objects.exists()


def test_manager_names_the_consultant(org, api_as):
    resp = api_as(org.manager).post(LEADS, new_lead(assigned_to=org.consultant2.pk), format="json")
    assert resp.status_code == 201, resp.content
    assert Lead.objects.get(pk=resp.json()["id"]).assigned_to == org.consultant2


def test_manager_leaves_the_consultant_to_round_robin(org, api_as):
    lead_of(org.consultant)  # consultant2 now holds fewer active leads
    resp = api_as(org.manager).post(LEADS, new_lead(), format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["assigned_to"] == org.consultant2.pk


def test_manager_cannot_name_another_stores_consultant(org, api_as):
    resp = api_as(org.manager).post(LEADS, new_lead(assigned_to=org.consultant_b.pk), format="json")
    assert resp.status_code == 400
    assert "assigned_to" in resp.json()
    resp = api_as(org.manager).post(LEADS, new_lead(assigned_to=org.other_manager.pk), format="json")
    assert resp.status_code == 400
    assert not Lead.objects.exists()


def test_manager_cannot_create_in_another_store(org, api_as):
    resp = api_as(org.manager).post(LEADS, new_lead(store=org.store2.pk), format="json")
    assert resp.status_code == 400
    assert "store" in resp.json()
    assert not Lead.objects.exists()


def test_group_admin_names_the_store(org, api_as):
    client = api_as(org.admin)
    missing = client.post(LEADS, new_lead(), format="json")
    assert missing.status_code == 400 and "store" in missing.json()
    foreign = client.post(LEADS, new_lead(store=org.other_store.pk), format="json")
    assert foreign.status_code == 400 and "store" in foreign.json()
    resp = client.post(LEADS, new_lead(store=org.store2.pk), format="json")
    assert resp.status_code == 201, resp.content
    assert (resp.json()["store"], resp.json()["assigned_to"]) == (org.store2.pk, org.consultant_b.pk)


def test_anonymous_calls_are_refused(org):
    lead = lead_of(org.consultant)
    client = APIClient()
    assert client.get(LEADS).status_code == 401
    assert client.get(url(lead)).status_code == 401
    assert client.post(LEADS, new_lead(), format="json").status_code == 401
    assert client.get(FOLLOW_UPS).status_code == 401


# --- scoping ----------------------------------------------------------------------------------------------------


def test_list_is_scoped_by_role(org, api_as):
    mine = lead_of(org.consultant)
    colleague = lead_of(org.consultant2)
    south = LeadFactory(store=org.store2, assigned_to=org.consultant_b)
    beta = LeadFactory(store=org.other_store)

    def ids(user):
        return {row["id"] for row in api_as(user).get(LEADS).json()["results"]}

    assert ids(org.consultant) == {mine.pk}
    assert ids(org.manager) == {mine.pk, colleague.pk}
    assert ids(org.admin) == {mine.pk, colleague.pk, south.pk}
    assert ids(org.other_admin) == {beta.pk}


def test_merged_leads_are_left_out(org, api_as):
    keep = lead_of(org.consultant)
    merged = lead_of(org.consultant, status="merged", merged_into=keep)
    client = api_as(org.manager)
    assert [row["id"] for row in client.get(LEADS).json()["results"]] == [keep.pk]
    assert client.get(url(merged)).status_code == 404


WRITES = [
    ("patch", "", {"name": "改名"}),
    ("post", "follow-ups/", {"method": "phone", "content": "回访"}),
    ("post", "deal/", {"price": "100000.00"}),
    ("post", "visits/", {}),
    ("post", "assign/", {"assigned_to": None}),
]


@pytest.mark.parametrize("method,suffix,body", [("get", "", None), ("get", "timeline/", None),
                                                ("get", "follow-ups/", None), *WRITES])
def test_another_consultants_lead_is_404(org, api_as, method, suffix, body):
    lead = lead_of(org.consultant2)
    resp = getattr(api_as(org.consultant), method)(url(lead, suffix), body, format="json")
    assert resp.status_code == 404
    lead.refresh_from_db()
    assert lead.version == 1 and lead.status == "active" and lead.assigned_to == org.consultant2
    assert not FollowUp.objects.exists() and not Deal.objects.exists() and not Visit.objects.exists()


@pytest.mark.parametrize("who", ["manager2", "other_manager", "other_admin"])
@pytest.mark.parametrize("method,suffix,body", [("get", "", None), *WRITES])
def test_another_stores_or_groups_lead_is_404_for_managers(org, api_as, who, method, suffix, body):
    lead = lead_of(org.consultant)
    resp = getattr(api_as(getattr(org, who)), method)(url(lead, suffix), body, format="json")
    assert resp.status_code == 404
    lead.refresh_from_db()
    assert lead.version == 1


def test_a_non_numeric_id_is_404(org, api_as):
    assert api_as(org.manager).get(f"{LEADS}abc/").status_code == 404


# --- edit -------------------------------------------------------------------------------------------------------


def test_consultant_edits_customer_fields_and_grade_in_one_call(org, api_as):
    lead = lead_of(org.consultant, grade="C")
    resp = api_as(org.consultant).patch(url(lead), {"name": "王总", "budget": "300000.00", "grade": "B"}, format="json")
    assert resp.status_code == 200, resp.content
    lead.refresh_from_db()
    assert (lead.name, lead.budget, lead.grade) == ("王总", Decimal("300000.00"), "B")
    change = GradeChange.objects.get(lead=lead)
    assert (change.from_grade, change.to_grade, change.changed_by) == ("C", "B", org.consultant)
    assert resp.json()["version"] == lead.version == 3
    assert resp["ETag"] == '"3"'


def test_consultant_patching_assigned_to_is_403_and_nothing_changes(org, api_as):
    lead = lead_of(org.consultant)
    resp = api_as(org.consultant).patch(url(lead), {"name": "改名", "assigned_to": org.consultant2.pk}, format="json")
    assert resp.status_code == 403
    lead.refresh_from_db()
    assert (lead.assigned_to, lead.version) == (org.consultant, 1)
    assert lead.name != "改名"
    assert not AssignmentChange.objects.filter(lead=lead).exists()


def test_sending_back_the_unchanged_owner_store_and_status_is_fine(org, api_as):
    lead = lead_of(org.consultant)
    resp = api_as(org.consultant).patch(
        url(lead), {"assigned_to": org.consultant.pk, "store": org.store.pk, "status": "active", "district": "静安"},
        format="json",
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["district"] == "静安"


def test_manager_reassigns_through_patch(org, api_as):
    lead = lead_of(org.consultant)
    resp = api_as(org.manager).patch(url(lead), {"assigned_to": org.consultant2.pk}, format="json")
    assert resp.status_code == 200, resp.content
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant2
    change = AssignmentChange.objects.get(lead=lead)
    assert (change.from_user, change.to_user, change.changed_by) == (org.consultant, org.consultant2, org.manager)


@pytest.mark.parametrize("who", ["consultant", "manager", "admin"])
def test_patching_the_store_is_400_and_nothing_changes(org, api_as, who):
    lead = lead_of(org.consultant)
    resp = api_as(getattr(org, who)).patch(url(lead), {"store": org.store2.pk, "name": "改名"}, format="json")
    assert resp.status_code == 400
    assert "store" in resp.json()
    lead.refresh_from_db()
    assert (lead.store, lead.version) == (org.store, 1)


def test_patching_the_status_is_400(org, api_as):
    lead = lead_of(org.consultant)
    resp = api_as(org.manager).patch(url(lead), {"status": "won"}, format="json")
    assert resp.status_code == 400
    assert "status" in resp.json()
    lead.refresh_from_db()
    assert lead.status == "active"


@pytest.mark.parametrize(
    "body,field",
    [({"phone": "123"}, "phone"), ({"grade": "Z"}, "grade"), ({"grade": None}, "grade"), ({"name": ""}, "name"),
     ({"budget": "-5"}, "budget"), ({"assigned_to": 999999}, "assigned_to")],
)
def test_edit_bad_input_is_400(org, api_as, body, field):
    lead = lead_of(org.consultant)
    resp = api_as(org.manager).patch(url(lead), body, format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()
    lead.refresh_from_db()
    assert lead.version == 1


def test_edit_to_another_leads_phone_is_409(org, api_as):
    other = lead_of(org.consultant2, phone="+8613900139000")
    lead = lead_of(org.consultant)
    resp = api_as(org.consultant).patch(url(lead), {"phone": "139 0013 9000"}, format="json")
    assert resp.status_code == 409
    assert resp.json()["existing_lead"] is None  # a colleague's customer: not named
    resp = api_as(org.manager).patch(url(lead), {"phone": "139 0013 9000"}, format="json")
    assert resp.status_code == 409
    assert resp.json()["existing_lead"] == other.pk


def test_a_failing_part_of_an_edit_leaves_nothing_written(org, api_as):
    lead = lead_of(org.consultant, status="won")
    resp = api_as(org.consultant).patch(url(lead), {"name": "改名", "grade": "A"}, format="json")
    assert resp.status_code == 400  # a won lead has no grade to change
    lead.refresh_from_db()
    assert lead.name != "改名" and lead.version == 1


# --- optimistic locking -----------------------------------------------------------------------------------------


def test_get_carries_the_version_as_etag(org, api_as):
    lead = lead_of(org.consultant, version=4)
    resp = api_as(org.consultant).get(url(lead))
    assert resp.status_code == 200
    assert resp["ETag"] == '"4"' and resp.json()["version"] == 4


def test_stale_if_match_is_412_and_the_lead_is_unchanged(org, api_as):
    lead = lead_of(org.consultant)
    client = api_as(org.consultant)
    etag = client.get(url(lead))["ETag"]
    api_as(org.manager).patch(url(lead), {"district": "徐汇"}, format="json")  # someone else saves first

    resp = client.patch(url(lead), {"name": "改名", "grade": "A"}, format="json", HTTP_IF_MATCH=etag)
    assert resp.status_code == 412
    assert resp.json()["version"] == 2 and resp["ETag"] == '"2"'
    lead.refresh_from_db()
    assert (lead.version, lead.grade, lead.district) == (2, "C", "徐汇")
    assert lead.name != "改名"


def test_current_if_match_is_accepted(org, api_as):
    lead = lead_of(org.consultant)
    resp = api_as(org.consultant).patch(url(lead), {"name": "改名"}, format="json", HTTP_IF_MATCH='"1"')
    assert resp.status_code == 200, resp.content
    assert resp["ETag"] == '"2"'


@pytest.mark.parametrize("header", ['W/"1"', '"abc"'])
def test_an_if_match_that_is_not_our_etag_never_matches(org, api_as, header):
    lead = lead_of(org.consultant)
    resp = api_as(org.consultant).patch(url(lead), {"name": "改名"}, format="json", HTTP_IF_MATCH=header)
    assert resp.status_code == 412


def test_stale_body_version_is_409_with_the_current_version(org, api_as):
    lead = lead_of(org.consultant, version=3)
    resp = api_as(org.consultant).patch(url(lead), {"name": "改名", "version": 2}, format="json")
    assert resp.status_code == 409
    assert resp.json()["version"] == 3
    lead.refresh_from_db()
    assert lead.version == 3 and lead.name != "改名"
    ok = api_as(org.consultant).patch(url(lead), {"name": "改名", "version": 3}, format="json")
    assert ok.status_code == 200 and ok.json()["version"] == 4


# --- visits -----------------------------------------------------------------------------------------------------


def test_consultant_logs_a_revisit(org, api_as):
    lead = lead_of(org.consultant)
    arrived = timezone.now() - timedelta(hours=1)
    resp = api_as(org.consultant).post(
        url(lead, "visits/"),
        {"arrived_at": arrived.isoformat(), "left_at": timezone.now().isoformat(), "steps": ["test_drive", "quote"],
         "companions": 2, "note": "带家人试驾"},
        format="json",
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["steps"] == ["test_drive", "quote"]
    visit = Visit.objects.get(lead=lead)
    assert not visit.is_first and visit.test_drive and visit.quote and visit.companions == 2


@pytest.mark.parametrize(
    "body,field",
    [({"steps": ["dance"]}, "steps"), ({"companions": -1}, "companions"),
     ({"arrived_at": (timezone.now() - timedelta(hours=1)).isoformat(),
       "left_at": (timezone.now() - timedelta(hours=2)).isoformat()}, "left_at"),
     ({"arrived_at": "2099-01-01T10:00:00+08:00"}, "arrived_at")],
)
def test_revisit_bad_input_is_400(org, api_as, body, field):
    lead = lead_of(org.consultant)
    resp = api_as(org.consultant).post(url(lead, "visits/"), body, format="json")
    assert resp.status_code == 400
    assert field in resp.json()
    assert not Visit.objects.exists()


# --- follow-ups -------------------------------------------------------------------------------------------------


def test_follow_up_that_promotes_the_grade_is_recorded_as_a_grade_change(org, api_as):
    lead = lead_of(org.consultant, grade="E")
    resp = api_as(org.consultant).post(
        url(lead, "follow-ups/"), {"method": "phone", "content": "客户有换车计划", "grade_after": "D"}, format="json"
    )
    assert resp.status_code == 201, resp.content
    follow_up = FollowUp.objects.get(pk=resp.json()["id"])
    assert (follow_up.grade_before, follow_up.grade_after, follow_up.review_status) == ("E", "D", "pending")
    change = GradeChange.objects.get(lead=lead)
    assert (change.from_grade, change.to_grade, change.follow_up) == ("E", "D", follow_up)
    assert change.is_promotion
    lead.refresh_from_db()
    assert lead.grade == "D"
    # No date given: due after the D rule's interval (30 days by default) from the follow-up.
    assert lead.next_follow_up_at == follow_up.occurred_at + timedelta(days=30)
    assert follow_up.next_follow_up_at == lead.next_follow_up_at
    assert lead.last_contact_at == follow_up.occurred_at


def test_follow_up_keeps_the_given_next_date(org, api_as):
    lead = lead_of(org.consultant)
    due = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    resp = api_as(org.consultant).post(
        url(lead, "follow-ups/"), {"method": "wechat", "content": "约周末到店", "outcome": "appointment",
                                   "next_follow_up_at": due.isoformat()}, format="json"
    )
    assert resp.status_code == 201, resp.content
    lead.refresh_from_db()
    assert lead.next_follow_up_at == due and lead.grade == "C"
    assert not GradeChange.objects.exists()


@pytest.mark.parametrize(
    "body,field",
    [({"method": "pigeon", "content": "x"}, "method"), ({"method": "phone", "content": ""}, "content"),
     ({"method": "phone", "content": "x", "grade_after": "Q"}, "grade_after"),
     ({"method": "phone", "content": "x", "occurred_at": "2099-01-01T00:00:00+08:00"}, "occurred_at")],
)
def test_follow_up_bad_input_is_400(org, api_as, body, field):
    lead = lead_of(org.consultant)
    resp = api_as(org.consultant).post(url(lead, "follow-ups/"), body, format="json")
    assert resp.status_code == 400
    assert field in resp.json()
    assert not FollowUp.objects.exists()


def test_follow_up_on_a_won_lead_is_400(org, api_as):
    lead = lead_of(org.consultant, status="won")
    resp = api_as(org.consultant).post(url(lead, "follow-ups/"), {"method": "phone", "content": "回访"}, format="json")
    assert resp.status_code == 400
    assert "lead" in resp.json()
    assert not FollowUp.objects.exists()


def test_lead_follow_ups_are_listed_newest_first(org, api_as):
    lead = lead_of(org.consultant)
    old = FollowUpFactory(lead=lead, occurred_at=lead.first_visit_at + timedelta(hours=1))
    new = FollowUpFactory(lead=lead, occurred_at=lead.first_visit_at + timedelta(days=1))
    FollowUpFactory(lead=lead_of(org.consultant))
    resp = api_as(org.consultant).get(url(lead, "follow-ups/"))
    assert resp.status_code == 200
    assert [row["id"] for row in resp.json()["results"]] == [new.pk, old.pk]


# --- deals ------------------------------------------------------------------------------------------------------


def test_deal_makes_the_lead_won_and_keeps_the_price_exact(org, api_as):
    lead = lead_of(org.consultant)
    resp = api_as(org.consultant).post(url(lead, "deal/"), {"price": "199999.99"}, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["price"] == "199999.99"
    deal = Deal.objects.get(lead=lead)
    assert deal.price == Decimal("199999.99")
    assert deal.ordered_at == timezone.localdate()
    lead.refresh_from_db()
    assert lead.status == "won" and lead.next_follow_up_at is None
    assert api_as(org.consultant).get(url(lead)).json()["status"] == "won"


def test_negative_price_is_400(org, api_as):
    lead = lead_of(org.consultant)
    resp = api_as(org.consultant).post(url(lead, "deal/"), {"price": "-1.00"}, format="json")
    assert resp.status_code == 400
    assert "price" in resp.json()
    assert not Deal.objects.exists()
    lead.refresh_from_db()
    assert lead.status == "active"


@pytest.mark.parametrize(
    "body,field",
    [({}, "price"), ({"price": "abc"}, "price"), ({"price": "1.234"}, "price"),
     ({"price": "1000", "ordered_at": "2025-05-02", "delivered_at": "2025-05-01"}, "delivered_at")],
)
def test_deal_bad_input_is_400(org, api_as, body, field):
    lead = lead_of(org.consultant)
    resp = api_as(org.consultant).post(url(lead, "deal/"), body, format="json")
    assert resp.status_code == 400
    assert field in resp.json()
    assert not Deal.objects.exists()


def test_deal_on_a_won_lead_is_400(org, api_as):
    lead = lead_of(org.consultant)
    client = api_as(org.consultant)
    assert client.post(url(lead, "deal/"), {"price": "100000"}, format="json").status_code == 201
    again = client.post(url(lead, "deal/"), {"price": "120000"}, format="json")
    assert again.status_code == 400
    assert "lead" in again.json()
    assert Deal.objects.get(lead=lead).price == Decimal(100000)


# --- assignment -------------------------------------------------------------------------------------------------


def test_manager_assigns_with_a_reason(org, api_as):
    lead = lead_of(org.consultant)
    resp = api_as(org.manager).post(url(lead, "assign/"), {"assigned_to": org.consultant2.pk, "reason": "休假"},
                                    format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["assigned_to"] == org.consultant2.pk
    assert AssignmentChange.objects.get(lead=lead).reason == "休假"


def test_manager_puts_a_lead_in_the_reclaim_pool(org, api_as):
    lead = lead_of(org.consultant)
    resp = api_as(org.manager).post(url(lead, "assign/"), {"assigned_to": None}, format="json")
    assert resp.status_code == 200
    assert resp.json()["assigned_to"] is None
    lead.refresh_from_db()
    assert lead.assigned_to is None


def test_consultant_cannot_assign(org, api_as):
    lead = lead_of(org.consultant)
    resp = api_as(org.consultant).post(url(lead, "assign/"), {"assigned_to": org.consultant2.pk}, format="json")
    assert resp.status_code == 403
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant


def test_assign_to_another_stores_consultant_is_400(org, api_as):
    lead = lead_of(org.consultant)
    resp = api_as(org.admin).post(url(lead, "assign/"), {"assigned_to": org.consultant_b.pk}, format="json")
    assert resp.status_code == 400
    assert "assigned_to" in resp.json()


# --- timeline ---------------------------------------------------------------------------------------------------


def test_timeline_lists_the_history_newest_first(org, api_as):
    client = api_as(org.consultant)
    lead_id = client.post(LEADS, new_lead(grade="E"), format="json").json()["id"]
    lead = Lead.objects.get(pk=lead_id)
    assert client.post(url(lead, "follow-ups/"), {"method": "phone", "content": "电话回访", "grade_after": "D"},
                       format="json").status_code == 201
    assert client.post(url(lead, "deal/"), {"price": "150000.00"}, format="json").status_code == 201

    resp = client.get(url(lead, "timeline/"))
    assert resp.status_code == 200
    entries = resp.json()
    assert [e["kind"] for e in entries] == ["deal", "grade", "follow_up", "grade", "assignment", "visit"]
    ats = [e["at"] for e in entries]
    assert ats == sorted(ats, reverse=True)
    deal, promotion, follow_up, first_grade, assignment, visit = entries
    assert deal["price"] == "150000.00"
    assert (promotion["from_grade"], promotion["to_grade"], promotion["follow_up"]) == ("E", "D", follow_up["id"])
    assert follow_up["content"] == "电话回访" and follow_up["review_status"] == "pending"
    assert (first_grade["from_grade"], first_grade["to_grade"]) == (None, "E")
    assert (assignment["from_user"], assignment["to_user"]) == (None, org.consultant.pk)
    assert visit["is_first"] is True and visit["recorded_by"] == org.consultant.pk


# --- follow-up review -------------------------------------------------------------------------------------------


def test_review_queue_lists_the_stores_pending_follow_ups(org, api_as):
    pending = FollowUpFactory(lead=lead_of(org.consultant))
    FollowUpFactory(lead=lead_of(org.consultant2), review_status="approved")
    FollowUpFactory(lead=LeadFactory(store=org.store2, assigned_to=org.consultant_b))
    resp = api_as(org.manager).get(FOLLOW_UPS, {"review_status": "pending"})
    assert resp.status_code == 200
    assert [row["id"] for row in resp.json()["results"]] == [pending.pk]


def test_consultant_sees_only_follow_ups_of_their_leads(org, api_as):
    mine = FollowUpFactory(lead=lead_of(org.consultant))
    other = FollowUpFactory(lead=lead_of(org.consultant2))
    client = api_as(org.consultant)
    assert [row["id"] for row in client.get(FOLLOW_UPS).json()["results"]] == [mine.pk]
    assert client.get(f"{FOLLOW_UPS}{other.pk}/").status_code == 404


def test_manager_approves_a_follow_up(org, api_as):
    follow_up = FollowUpFactory(lead=lead_of(org.consultant))
    resp = api_as(org.manager).post(f"{FOLLOW_UPS}{follow_up.pk}/review/", {"approve": True}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["review_status"] == "approved"
    follow_up.refresh_from_db()
    assert (follow_up.review_status, follow_up.reviewed_by) == ("approved", org.manager)
    again = api_as(org.manager).post(f"{FOLLOW_UPS}{follow_up.pk}/review/", {"approve": False, "comment": "x"},
                                     format="json")
    assert again.status_code == 400


def test_manager_rejects_a_follow_up_with_a_comment(org, api_as):
    follow_up = FollowUpFactory(lead=lead_of(org.consultant))
    resp = api_as(org.manager).post(f"{FOLLOW_UPS}{follow_up.pk}/review/",
                                    {"approve": False, "comment": "写清楚客户的顾虑"}, format="json")
    assert resp.status_code == 200, resp.content
    follow_up.refresh_from_db()
    assert (follow_up.review_status, follow_up.review_comment) == ("rejected", "写清楚客户的顾虑")


def test_reject_without_a_comment_is_400(org, api_as):
    follow_up = FollowUpFactory(lead=lead_of(org.consultant))
    resp = api_as(org.manager).post(f"{FOLLOW_UPS}{follow_up.pk}/review/", {"approve": False}, format="json")
    assert resp.status_code == 400
    assert "comment" in resp.json()
    follow_up.refresh_from_db()
    assert follow_up.review_status == "pending"


def test_consultant_cannot_review(org, api_as):
    own = FollowUpFactory(lead=lead_of(org.consultant))
    colleagues = FollowUpFactory(lead=lead_of(org.consultant2))
    client = api_as(org.consultant)
    assert client.post(f"{FOLLOW_UPS}{own.pk}/review/", {"approve": True}, format="json").status_code == 403
    assert client.post(f"{FOLLOW_UPS}{colleagues.pk}/review/", {"approve": True}, format="json").status_code == 404
    assert set(FollowUp.objects.values_list("review_status", flat=True)) == {"pending"}


def test_another_stores_manager_cannot_review(org, api_as):
    follow_up = FollowUpFactory(lead=lead_of(org.consultant))
    resp = api_as(org.manager2).post(f"{FOLLOW_UPS}{follow_up.pk}/review/", {"approve": True}, format="json")
    assert resp.status_code == 404


# --- filters ----------------------------------------------------------------------------------------------------


def ids_of(resp):
    assert resp.status_code == 200, resp.content
    return {row["id"] for row in resp.json()["results"]}


def test_filter_by_repeated_grade(org, api_as):
    a = lead_of(org.consultant, grade="A")
    b = lead_of(org.consultant, grade="B")
    lead_of(org.consultant, grade="D")
    assert ids_of(api_as(org.consultant).get(f"{LEADS}?grade=A&grade=B")) == {a.pk, b.pk}


def test_filter_overdue(org, api_as):
    now = timezone.now()
    late = lead_of(org.consultant, next_follow_up_at=now - timedelta(days=2))
    on_time = lead_of(org.consultant, next_follow_up_at=now + timedelta(days=2))
    won_late = lead_of(org.consultant, status="won", next_follow_up_at=now - timedelta(days=2))
    client = api_as(org.consultant)
    assert ids_of(client.get(LEADS, {"overdue": "true"})) == {late.pk}
    assert ids_of(client.get(LEADS, {"overdue": "false"})) == {on_time.pk, won_late.pk}
    flags = {row["id"]: row["is_overdue"] for row in client.get(LEADS).json()["results"]}
    assert flags == {late.pk: True, on_time.pk: False, won_late.pk: False}


def test_the_overdue_list_puts_the_most_days_overdue_first(org, api_as):
    now = timezone.now()
    # Created in an order that the default (newest first visit first) would list otherwise.
    days = [3, 10, 1, 6]
    leads = {d: lead_of(org.consultant, next_follow_up_at=now - timedelta(days=d),
                        first_visit_at=now - timedelta(days=30 + d)) for d in days}
    client = api_as(org.consultant)
    listed = [row["id"] for row in client.get(LEADS, {"overdue": "true"}).json()["results"]]
    assert listed == [leads[d].pk for d in sorted(days, reverse=True)]
    # A sort the user picks still wins.
    listed = [row["id"] for row in client.get(LEADS, {"overdue": "true", "ordering": "-first_visit"}).json()["results"]]
    assert listed == [leads[d].pk for d in sorted(days)]


def test_filter_q_by_phone_digits_and_by_name(org, api_as):
    zhang = lead_of(org.consultant, name="张伟", phone="+8613912345678")
    li = lead_of(org.consultant, name="李娜", phone="+8613800001111")
    client = api_as(org.consultant)
    assert ids_of(client.get(LEADS, {"q": "5678"})) == {zhang.pk}
    assert ids_of(client.get(LEADS, {"q": "139 1234"})) == {zhang.pk}
    assert ids_of(client.get(LEADS, {"q": "李"})) == {li.pk}


def test_manager_filters_by_consultant(org, api_as):
    lead_of(org.consultant)
    theirs = lead_of(org.consultant2)
    client = api_as(org.manager)
    assert ids_of(client.get(LEADS, {"assigned_to": org.consultant2.pk})) == {theirs.pk}
    # A consultant of another store is not a choice for this manager.
    assert client.get(LEADS, {"assigned_to": org.consultant_b.pk}).status_code == 400


def test_filter_source_and_ordering(org, api_as):
    first = lead_of(org.consultant, name="A-customer", source="referral")
    second = lead_of(org.consultant, name="B-customer", source="referral")
    lead_of(org.consultant, source="outbound")
    resp = api_as(org.consultant).get(LEADS, {"source": "referral", "ordering": "-name"})
    assert [row["id"] for row in resp.json()["results"]] == [second.pk, first.pk]


# --- query count ------------------------------------------------------------------------------------------------


def _make_leads(org, n):
    series = VehicleSeriesFactory()
    channel = Channel.objects.get(code="showroom")
    consultants = [org.consultant, org.consultant2, ConsultantFactory(store=org.store)]
    for i in range(n):
        LeadFactory(store=org.store, assigned_to=consultants[i % 3], series=series, channel=channel)


def test_list_runs_a_constant_number_of_queries(org, api_as, django_assert_max_num_queries):
    client = api_as(org.manager)
    _make_leads(org, 3)
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(LEADS, {"page_size": 100}).json()["results"]) == 3
    _make_leads(org, 27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        resp = client.get(LEADS, {"page_size": 100, "grade": "C", "overdue": "false", "ordering": "grade"})
    assert resp.json()["count"] == 30
    assert len(few.captured_queries) <= 3


def test_follow_up_list_runs_a_constant_number_of_queries(org, api_as, django_assert_max_num_queries):
    for _ in range(12):
        FollowUpFactory(lead=lead_of(org.consultant))
    with django_assert_max_num_queries(2):
        resp = api_as(org.manager).get(FOLLOW_UPS, {"review_status": "pending"})
    assert resp.json()["count"] == 12


# --- phone masking ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["consultant", "manager", "admin"])
def test_owner_and_managers_see_the_full_phone(org, api_as, who):
    lead = lead_of(org.consultant, phone="+8613800138000")
    body = api_as(getattr(org, who)).get(url(lead)).json()
    assert body["phone"] == "138 0013 8000"
    assert body["phone_masked"] == "138****8000"


def test_serializer_masks_the_phone_for_someone_without_the_right(org):
    # Through the API a consultant only sees the leads they hold, so call the serializer as a colleague directly.
    lead = lead_of(org.consultant, phone="+8613800138000")
    request = APIRequestFactory().get("/")
    request.user = org.consultant2
    assert LeadSerializer(lead, context={"request": request}).data["phone"] == "138****8000"
    request.user = org.manager2  # manages another store of the same group
    assert LeadSerializer(lead, context={"request": request}).data["phone"] == "138****8000"
    assert LeadSerializer(lead).data["phone"] == "138****8000"  # no caller: never in full


# --- schema -----------------------------------------------------------------------------------------------------


def test_schema_documents_the_lead_routes(org, client):
    client.force_login(org.manager)
    paths = client.get(reverse("schema"), HTTP_ACCEPT="application/json").json()["paths"]
    assert {"/api/v1/leads/", "/api/v1/leads/{id}/", "/api/v1/leads/{id}/timeline/",
            "/api/v1/follow-ups/{id}/review/"} <= set(paths)
    patch = paths["/api/v1/leads/{id}/"]["patch"]
    assert {"409", "412"} <= set(patch["responses"])
    assert "409" in paths["/api/v1/leads/"]["post"]["responses"]
    assert patch["tags"] == ["leads"]
