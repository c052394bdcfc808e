"""Issue 10's leaks and server errors in the leads app, each pinned by a test that failed before its fix:
masked phones are not searchable by their hidden digits (pool API, list API, page, export), a duplicate phone's 409
names only a lead the caller may see, the pool claim answers 404 for anything not in the caller's pool, a malformed
If-Match is a 400, out-of-range dates are a 400 / form error, a deep or huge JSON body is refused before parsing,
and exported cells never start a formula."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dealercrm.tests.clients import HTMX, client_for
from leads.models import Lead
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/leads/"
POOL = "/api/v1/leads/pool/"


def pool_lead(store, **kwargs):
    return LeadFactory(store=store, assigned_to=None, pooled_at=timezone.now() - timedelta(days=1), **kwargs)


def ids_of(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# --- 1. masked phones are not searchable by their hidden digits --------------------------------------------------


def test_the_pool_api_does_not_narrow_a_masked_phone_by_its_hidden_digits(org, api_as):
    lead = pool_lead(org.store, name="公海客户", phone="+8617312341165")
    client = api_as(org.consultant)
    shown = client.get(POOL).json()["results"][0]
    assert shown["phone"] == "173****1165"
    # The hidden middle digits (1234) must not tell this lead apart from no match; nor must any digits at all.
    assert ids_of(client.get(POOL, {"q": "1234"})) == set()
    assert ids_of(client.get(POOL, {"q": "17312341165"})) == set()
    assert ids_of(client.get(POOL, {"q": "1165"})) == set()
    # The name still searches; and the store's manager, who sees the phone in full, searches it.
    assert ids_of(client.get(POOL, {"q": "公海"})) == {lead.pk}
    assert ids_of(api_as(org.manager).get(POOL, {"q": "1234"})) == {lead.pk}


def test_a_lead_whose_phone_the_caller_sees_in_full_is_still_found_by_it(org, api_as):
    mine = LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613912345678")
    assert ids_of(api_as(org.consultant).get(LEADS, {"q": "1234 5678"})) == {mine.pk}
    assert ids_of(api_as(org.admin).get(LEADS, {"q": "13912345678"})) == {mine.pk}


def test_the_filter_matches_phones_only_where_lead_phone_for_shows_them_in_full(org):
    """The filter's rule and the display rule are one rule: for every user and lead, a phone search matches
    exactly when selectors.lead_phone_for shows the phone unmasked."""
    from leads.filters import phone_readable_by
    from leads.selectors import lead_phone_for

    leads = [LeadFactory(store=org.store, assigned_to=org.consultant), LeadFactory(store=org.store2,
             assigned_to=org.consultant_b), pool_lead(org.store), LeadFactory(store=org.other_store, assigned_to=None)]
    users = [org.consultant, org.consultant2, org.consultant_b, org.manager, org.manager2, org.admin, org.other_admin]
    for user in users:
        readable = set(Lead.objects.filter(phone_readable_by(user)).values_list("pk", flat=True))
        for lead in leads:
            full = "*" not in lead_phone_for(user=user, lead=lead)
            assert (lead.pk in readable) == full, (user.username, lead.pk)


# --- 1. a duplicate phone's 409 names only a lead the caller may see ----------------------------------------------


def test_a_duplicate_of_a_colleagues_customer_says_only_that_the_phone_is_taken(org, api_as):
    colleague = LeadFactory(store=org.store, assigned_to=org.consultant2, phone="+8613800138000")
    body = {"name": "王先生", "phone": "138 0013 8000", "source": "walk_in"}
    resp = api_as(org.consultant).post(LEADS, body, format="json")
    assert resp.status_code == 409
    assert resp.json()["existing_lead"] is None
    assert f"#{colleague.pk}" not in " ".join(resp.json()["phone"])
    # The store's manager may see the lead: it is named.
    resp = api_as(org.manager).post(LEADS, {**body, "assigned_to": org.consultant.pk}, format="json")
    assert resp.status_code == 409 and resp.json()["existing_lead"] == colleague.pk


# --- 2. the pool claim page: 404 for anything not in the caller's pool -------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_claiming_a_colleagues_lead_is_404_and_shows_nothing_of_it(org, htmx):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant2, name="同事的客户", series=None)
    response = client_for(org.consultant).post(reverse("leads:pool_claim", args=[lead.pk]), **(HTMX if htmx else {}))
    assert response.status_code == 404
    assert "同事的客户" not in response.content.decode()
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant2


def test_a_lead_claimed_a_moment_earlier_says_so_without_its_details(org):
    from leads import services

    lead = pool_lead(org.store, name="刚被认领")
    services.lead_claim(actor=org.consultant2, lead=lead)
    response = client_for(org.consultant).post(reverse("leads:pool_claim", args=[lead.pk]), **HTMX)
    assert response.status_code == 404
    body = response.content.decode()
    assert f'id="pool-{lead.pk}"' in body and "no longer in the pool" in body
    assert "刚被认领" not in body


def test_the_pool_page_lets_htmx_swap_in_the_404_row(org):
    pool_lead(org.store)
    body = client_for(org.consultant).get(reverse("leads:pool")).content.decode()
    assert '<script src="/static/leads/pool.js"></script>' in body


# --- 4. If-Match --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ['"²"', '"1²"', '"' + "9" * 5000 + '"', "1", "", '"1", junk'])
def test_a_malformed_if_match_is_400_and_changes_nothing(org, api_as, header):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    resp = api_as(org.consultant).patch(f"{LEADS}{lead.pk}/", {"name": "改名"}, format="json",
                                        HTTP_IF_MATCH=header)
    assert resp.status_code == 400
    assert "If-Match" in resp.json()
    lead.refresh_from_db()
    assert lead.version == 1


@pytest.mark.parametrize("header", ['W/"1"', '"abc"', '"2"', '"2", "3"'])
def test_a_well_formed_if_match_that_is_not_current_is_412(org, api_as, header):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    resp = api_as(org.consultant).patch(f"{LEADS}{lead.pk}/", {"name": "改名"}, format="json",
                                        HTTP_IF_MATCH=header)
    assert resp.status_code == 412


def test_an_if_match_list_holding_the_current_version_is_accepted(org, api_as):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    resp = api_as(org.consultant).patch(f"{LEADS}{lead.pk}/", {"name": "改名"}, format="json",
                                        HTTP_IF_MATCH='"7", "1"')
    assert resp.status_code == 200


# --- 5. dates out of range ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{"first_visit_before": "9999-12-31"}, {"first_visit_after": "0001-01-01"},
                                    {"first_visit_before": "0001-01-01"}])
def test_an_out_of_range_date_filter_is_400_on_the_apis(org, api_as, params):
    pool_lead(org.store)
    LeadFactory(store=org.store, assigned_to=org.consultant)
    for path in (LEADS, POOL):
        resp = api_as(org.consultant).get(path, params)
        assert resp.status_code == 400, (path, resp.content)
        assert set(params) <= set(resp.json())


def test_an_out_of_range_date_is_a_form_error_on_the_page_and_a_400_on_the_export(org):
    LeadFactory(store=org.store, assigned_to=org.consultant, name="在列表里")
    client = client_for(org.consultant)
    page = client.get(reverse("leads:list"), {"first_visit_before": "9999-12-31"})
    assert page.status_code == 200
    assert "Enter a date between 1900-01-01 and 2999-12-31." in page.content.decode()
    partial = client.get(reverse("leads:list"), {"first_visit_before": "9999-12-31"}, **HTMX)
    assert partial.status_code == 200
    export = client.get(reverse("leads:export"), {"first_visit_before": "9999-12-31"})
    assert export.status_code == 400
    assert "first_visit_before" in export.content.decode()


def test_the_last_and_first_dates_in_range_work(org, api_as):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    client = api_as(org.consultant)
    assert ids_of(client.get(LEADS, {"first_visit_before": "2999-12-31", "first_visit_after": "1900-01-01"})) == {
        lead.pk}


# --- 8. deep or huge JSON bodies -----------------------------------------------------------------------------------


def test_a_json_body_nested_100000_deep_is_400_before_parsing(org, api_as):
    body = "[" * 100_000 + "]" * 100_000
    resp = api_as(org.consultant).post(LEADS, body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert resp.status_code == 400
    assert "nests deeper" in resp.json()["detail"]
    assert not Lead.objects.exists()


def test_a_huge_json_body_is_413(org, api_as, settings):
    settings.API_MAX_BODY_BYTES = 10_000
    body = json.dumps({"name": "x" * 20_000, "source": "walk_in"})
    resp = api_as(org.consultant).post(LEADS, body, content_type="application/json")
    assert resp.status_code == 413
    assert not Lead.objects.exists()


def test_brackets_inside_strings_do_not_count_as_nesting(org, api_as):
    body = json.dumps({"name": "王[先生]", "source": "walk_in", "extra": "[[[[" * 30 + "{{{{" * 30})
    resp = api_as(org.consultant).post(LEADS, body, content_type="application/json")
    assert resp.status_code == 201, resp.content


# --- 12. CSV injection ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example","点我")', "+1+1", "-2+3", "@SUM(A1)",
                                  "\t=1", "\r=1"])
def test_exported_cells_never_start_a_formula(org, name):
    LeadFactory(store=org.store, assigned_to=org.consultant, name=name)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.manager)
    resp = client.get(reverse("leads:export"))
    assert resp.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(resp.streaming_content).decode("utf-8-sig"))))
    assert rows[1][1] == "'" + name
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows[1:] for cell in row)


# --- 15. visit times and names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("arrived_at", ["0001-01-01T00:00:00+08:00", "before-first-visit"])
def test_a_revisit_dated_before_the_first_visit_is_400(org, api_as, arrived_at):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    if arrived_at == "before-first-visit":
        arrived_at = (lead.first_visit_at - timedelta(hours=1)).isoformat()
    resp = api_as(org.consultant).post(f"{LEADS}{lead.pk}/visits/", {"arrived_at": arrived_at}, format="json")
    assert resp.status_code == 400 and "arrived_at" in resp.json()
    assert not lead.visits.exists()


def test_a_known_phone_on_the_visit_form_dated_before_its_first_visit_is_refused(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613800009999")
    before = timezone.localtime(lead.first_visit_at - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client_for(org.consultant).post(reverse("leads:visit"), {
        "name": lead.name, "source": "walk_in", "phone": "13800009999", "arrived_at": before})
    assert response.status_code == 200
    assert "A re-visit cannot precede the first visit." in response.content.decode()
    assert not lead.visits.exists()


def test_a_revisit_after_the_first_visit_is_fine(org, api_as):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    arrived_at = (lead.first_visit_at + timedelta(hours=1)).isoformat()
    resp = api_as(org.consultant).post(f"{LEADS}{lead.pk}/visits/", {"arrived_at": arrived_at}, format="json")
    assert resp.status_code == 201, resp.content


def test_a_first_visit_in_year_1_is_a_form_error_not_a_server_error(org):
    client = client_for(org.consultant)
    response = client.post(reverse("leads:visit"), {"name": "王先生", "source": "walk_in",
                                                    "arrived_at": "0001-01-01T00:00"})
    assert response.status_code == 200
    assert "Enter a date between 1900-01-01 and 2999-12-31." in response.content.decode()
    assert not Lead.objects.exists()


@pytest.mark.parametrize("name", ["\u200b\u200b", "\u202e", "\u2066\u2069", "   ", "\x07王", "王\u202e先生", "...",
                                  "\u200e"])
def test_names_of_invisible_or_control_characters_are_refused_everywhere(org, api_as, name):
    client = api_as(org.consultant)
    resp = client.post(LEADS, {"name": name, "source": "walk_in"}, format="json")
    assert resp.status_code == 400 and "name" in resp.json()
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, name="原名")
    resp = client.patch(f"{LEADS}{lead.pk}/", {"name": name}, format="json")
    assert resp.status_code == 400 and "name" in resp.json()
    lead.refresh_from_db()
    assert lead.name == "原名" and Lead.objects.count() == 1


def test_zero_width_characters_are_stripped_from_names(org, api_as):
    resp = api_as(org.consultant).post(LEADS, {"name": "王\u200b先\u200d生\ufeff", "source": "walk_in"}, format="json")
    assert resp.status_code == 201, resp.content
    assert Lead.objects.get().name == "王先生"


# --- 13. phones stay out of URLs -------------------------------------------------------------------------------------


def urls_in(html: str) -> list[str]:
    import re

    return re.findall(r'(?:href|action|src|hx-get|hx-post|hx-push-url)="([^"]*)"', html)


def test_the_list_search_is_posted_and_the_pushed_url_keeps_the_filters_but_not_the_phone(org):
    mine = LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613912345678", grade="B")
    LeadFactory(store=org.store, assigned_to=org.consultant, phone="+8613800001111", grade="B")
    client = client_for(org.consultant)
    page = client.get(reverse("leads:list")).content.decode()
    assert 'id="lead-filters" method="post"' in page and 'hx-post="/leads/"' in page and "hx-get=\"/leads/\"" not in page

    response = client.post(reverse("leads:list"), {"q": "139 1234", "grade": "B"}, **HTMX)
    assert response.status_code == 200
    assert [lead.pk for lead in response.context["page"]] == [mine.pk]
    assert response["HX-Push-Url"] == "/leads/?grade=B"
    body = response.content.decode()
    assert not [url for url in urls_in(body) if "1234" in url]
    # The export posts the same filters: the digits are in its form body, not in a URL.
    assert 'action="/leads/export.csv"' in body and 'name="q" value="139 1234"' in body
    assert "export.csv?" not in body


def test_the_export_takes_the_posted_filters(org):
    LeadFactory(store=org.store, assigned_to=org.consultant, name="甲", phone="+8613912345678")
    LeadFactory(store=org.store, assigned_to=org.consultant, name="乙", phone="+8613800001111")
    client = client_for(org.consultant)
    response = client.post(reverse("leads:export"), {"q": "1234 5678"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [row[1] for row in rows[1:]] == ["甲"]


def test_the_pager_posts_the_filters_and_its_plain_links_carry_no_search_text(org):
    for i in range(30):
        LeadFactory(store=org.store, assigned_to=org.consultant, name=f"王{i}", phone=f"+86139000000{i:02d}")
    response = client_for(org.consultant).post(reverse("leads:list"), {"q": "13900000"}, **HTMX)
    body = response.content.decode()
    assert 'hx-include="#lead-filters"' in body and 'href="/leads/?page=2"' in body
    assert not [url for url in urls_in(body) if "13900000" in url]


# --- 16. the schema says what the answers are ----------------------------------------------------------------------


def test_the_schema_documents_nulls_blanks_counts_the_timeline_kinds_and_the_errors(org, api_as):
    schema = api_as(org.manager).get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    lead = components["Lead"]["properties"]
    assert lead["assigned_to_name"].get("nullable") and lead["series_name"].get("nullable")
    assert components["FollowUp"]["properties"]["reviewed_by_name"].get("nullable")

    def allows_blank(prop):
        return any(c.get("$ref", "").endswith("BlankEnum") for c in prop.get("oneOf", []))

    assert allows_blank(lead["purchase_type"]) and allows_blank(lead["gender"])
    assert allows_blank(components["FollowUp"]["properties"]["outcome"])
    # Grade → count, a map (a property named D breaks clients generated by openapi-python-client).
    assert components["Ladder"]["properties"]["counts"]["additionalProperties"]["type"] == "integer"
    timeline = components["LeadTimelineEntry"]
    def resolve(node):
        while "$ref" in node or "allOf" in node:
            node = node["allOf"][0] if "allOf" in node else components[node["$ref"].rsplit("/", 1)[-1]]
        return node

    kinds = [resolve(resolve(ref)["properties"]["kind"])["enum"] for ref in timeline["oneOf"]]
    assert sorted(k for (k,) in kinds) == ["assignment", "deal", "defeat", "follow_up", "grade", "visit"]
    patch = schema["paths"]["/api/v1/leads/{id}/"]["patch"]["responses"]
    assert {"400", "401", "403", "404", "409", "412", "413", "429"} <= set(patch)
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            assert "429" in operation["responses"], (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
