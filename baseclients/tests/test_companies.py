"""Company accounts through the API and the pages: nested people written all or nothing, field messages, scoping per
role (the fleet sales manager sees his store's companies), the fleet counted by segment from the base clients'
vehicles, masked phones, query counts, and the workbook."""

import io
from decimal import Decimal

import pytest
from django.test import Client
from openpyxl import load_workbook

from baseclients.services import client_update
from baseclients.tests.factories import buy
from dealercrm.models import Segment
from dealercrm.tests.factories import ConsultantFactory, VehicleBrandFactory, VehicleSeriesFactory
from leads.companies import Company, CompanyPerson
from leads.services import company_save
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/companies/"
BODY = {
    "name": "顺丰速运（上海）有限公司", "credit_code": "91350100M000100Y43", "industry": "物流", "size": "large",
    "turnover": "85000000.00", "legal_representative": "王卫",
    "people": [
        {"name": "王总", "title": "总经理", "phone": "13800138000", "decision_role": "decider", "note": "看总价"},
        {"name": "李队长", "title": "车队长", "phone": "139 1234 5678", "decision_role": "influencer", "note": ""},
    ],
}


def test_a_consultant_creates_a_company_with_people_in_one_request(org, api_as):
    r = api_as(org.consultant).post(URL, BODY, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["owner"], body["store"], body["credit_code"], body["turnover"]) == (
        org.consultant.pk, org.store.pk, "91350100M000100Y43", "85000000.00")
    assert [(p["name"], p["phone"], p["decision_role"]) for p in body["people"]] == [
        ("王总", "+8613800138000", "decider"), ("李队长", "+8613912345678", "influencer")]
    assert body["fleet"] == []


def test_a_wrong_check_character_is_a_400_on_credit_code(org, api_as):
    r = api_as(org.consultant).post(URL, {**BODY, "credit_code": "91350100M000100Y44"}, format="json")
    assert r.status_code == 400 and "credit_code" in r.json()
    assert not Company.objects.exists()


def test_a_bad_person_is_a_400_and_nothing_is_written(org, api_as):
    people = [*BODY["people"], {"name": "赵", "phone": "12345", "decision_role": "decider"}]
    r = api_as(org.consultant).post(URL, {**BODY, "people": people}, format="json")
    assert r.status_code == 400
    assert list(r.json()["people"]) == ["2"] and "phone" in r.json()["people"]["2"]  # the third person
    assert not Company.objects.exists() and not CompanyPerson.objects.exists()


def test_an_edit_replaces_the_people_and_a_colleague_gets_403_or_404(org, api_as):
    pk = api_as(org.consultant).post(URL, BODY, format="json").json()["id"]
    r = api_as(org.consultant).patch(f"{URL}{pk}/", {"people": [BODY["people"][1]]}, format="json")
    assert r.status_code == 200 and [p["name"] for p in r.json()["people"]] == ["李队长"]
    # A colleague with a lead naming the company sees it (phones masked) but may not edit it.
    LeadFactory(store=org.store, assigned_to=org.consultant2, company_id=pk)
    seen = api_as(org.consultant2).get(f"{URL}{pk}/")
    assert seen.status_code == 200 and seen.json()["people"][0]["phone"] == "139****5678"
    assert api_as(org.consultant2).patch(f"{URL}{pk}/", {"name": "x"}, format="json").status_code == 403
    # The sister store's manager and another group's admin do not see it at all.
    assert api_as(org.manager2).get(f"{URL}{pk}/").status_code == 404
    assert api_as(org.other_admin).patch(f"{URL}{pk}/", {"name": "x"}, format="json").status_code == 404
    assert Company.objects.get(pk=pk).name == BODY["name"]


def test_list_scoping_per_role_with_the_fleet_manager(org, api_as):
    company_save(actor=org.consultant, name="Mine")
    company_save(actor=org.consultant2, name="Colleague's")
    company_save(actor=org.consultant_b, name="Sister store's")

    def names(user):
        r = api_as(user).get(URL)
        assert r.status_code == 200
        return sorted(row["name"] for row in r.json()["results"])

    assert names(org.consultant) == ["Mine"]
    assert names(org.manager) == ["Colleague's", "Mine"]
    assert names(org.admin) == ["Colleague's", "Mine", "Sister store's"]
    assert names(org.other_admin) == []
    fleet = ConsultantFactory(store=org.store, fleet_manager=True)
    assert names(fleet) == ["Colleague's", "Mine"]
    sister_fleet = ConsultantFactory(store=org.store2, fleet_manager=True)
    assert names(sister_fleet) == ["Sister store's"]


def test_search_by_name_or_credit_code(org, api_as):
    company_save(actor=org.consultant, name="顺丰速运", credit_code="91350100M000100Y43")
    company_save(actor=org.consultant, name="京东物流")
    client = api_as(org.consultant)
    assert [r["name"] for r in client.get(URL, {"q": "京东"}).json()["results"]] == ["京东物流"]
    assert [r["name"] for r in client.get(URL, {"q": "m000100y"}).json()["results"]] == ["顺丰速运"]


def test_a_lead_and_a_base_client_take_and_show_the_company(org, api_as):
    company = company_save(actor=org.consultant, name="A")
    sister = company_save(actor=org.consultant_b, name="B")
    api = api_as(org.consultant)
    r = api.post("/api/v1/leads/", {"name": "王经理", "source": "walk_in", "company": company.pk}, format="json")
    assert r.status_code == 201 and r.json()["company"] == company.pk
    # A company the caller cannot see does not exist for them.
    r = api.post("/api/v1/leads/", {"name": "赵", "source": "walk_in", "company": sister.pk}, format="json")
    assert r.status_code == 400 and "company" in r.json()
    client = buy(store=org.store, consultant=org.consultant).purchase.client
    r = api.patch(f"/api/v1/base-clients/{client.pk}/", {"company": company.pk}, format="json")
    assert r.status_code == 200 and r.json()["company"] == company.pk


def _fleet_world(org):
    """A company with two base clients: 3 light trucks and a pickup, and a vehicle without a series."""
    brand = VehicleBrandFactory(name="福田T", name_en="Foton T", is_own=True)
    truck = VehicleSeriesFactory(brand=brand, name="奥铃T", name_en="Aumark T", segment="suv")
    pickup = VehicleSeriesFactory(brand=brand, name="拓陆者T", name_en="Tunland T", segment=Segment.PICKUP)
    company = company_save(actor=org.consultant, name="顺丰速运")
    first = buy(store=org.store, consultant=org.consultant, series=truck).purchase.client
    second = buy(store=org.store, consultant=org.consultant, series=pickup).purchase.client
    for c in (first, second):
        client_update(actor=org.consultant, client=c, company=company)
    for _ in range(2):
        first.vehicles.create(series=truck)
    first.vehicles.create(series=None)
    # A vehicle of a client of no company does not count.
    buy(store=org.store, consultant=org.consultant, series=truck)
    return company


def test_the_fleet_is_counted_by_segment_from_the_base_clients_vehicles(org, api_as):
    company = _fleet_world(org)
    r = api_as(org.manager).get(f"{URL}{company.pk}/")
    # first: 1 bought + 2 added trucks (segment suv here) + 1 without a series; second: 1 pickup.
    assert [(row["segment"], row["vehicles"]) for row in r.json()["fleet"]] == [
        ("suv", 3), ("pickup", 1), ("unknown", 1)]


def test_list_and_page_query_counts(org, api_as, django_assert_max_num_queries):
    for i in range(6):
        c = company_save(actor=org.consultant, name=f"Co {i}", people=BODY["people"])
        LeadFactory(store=org.store, assigned_to=org.consultant, company=c)
    _fleet_world(org)
    api = api_as(org.manager)
    with django_assert_max_num_queries(8):
        r = api.get(URL)
    assert r.status_code == 200 and r.json()["count"] == 7
    page = Client(HTTP_ACCEPT_LANGUAGE="en")
    page.force_login(org.manager)
    with django_assert_max_num_queries(12):
        assert page.get("/base-clients/companies/").status_code == 200
    company = Company.objects.get(name="Co 0")
    with django_assert_max_num_queries(16):
        r = page.get(f"/base-clients/companies/{company.pk}/")
    assert r.status_code == 200 and "王总" in r.content.decode()


# --- pages ---------------------------------------------------------------------------------------------------------


def _page(user):
    c = Client(HTTP_ACCEPT_LANGUAGE="en")
    c.force_login(user)
    return c


def _form(**people_rows):
    data = {"name": "顺丰速运", "credit_code": "91350100M000100Y43", "industry": "物流", "size": "large",
            "turnover": "1000000", "legal_representative": "", "address": "",
            "people-TOTAL_FORMS": "3", "people-INITIAL_FORMS": "0"}
    for i, row in people_rows.items():
        for k, v in row.items():
            data[f"people-{i[-1]}-{k}"] = v
    return data


def test_the_form_saves_a_company_with_people_and_skips_blank_rows(org):
    r = _page(org.consultant).post("/base-clients/companies/new/", _form(
        p0={"phone": "13800138000", "name": "王总", "title": "总经理", "decision_role": "decider"},
        p1={"phone": "", "name": "李工", "decision_role": "opponent", "note": "倾向竞品"}))
    company = Company.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/base-clients/companies/{company.pk}/"
    assert list(company.people.values_list("name", "decision_role")) == [("王总", "decider"), ("李工", "opponent")]
    page = _page(org.consultant).get(r["Location"]).content.decode()
    assert "Decider" in page and "Opponent" in page and "138 0013 8000" in page


def test_the_form_shows_the_errors_and_writes_nothing(org):
    r = _page(org.consultant).post("/base-clients/companies/new/", _form(
        p0={"phone": "12", "name": "王总", "decision_role": "decider"}) | {"credit_code": "91350100M000100Y44"})
    assert r.status_code == 400
    text = r.content.decode()
    assert "check character" in text and "Person 1" in text
    assert not Company.objects.exists()


def test_pages_deny_what_the_user_may_not_see(org):
    company = company_save(actor=org.consultant2, name="Colleague's")
    assert _page(org.consultant).get(f"/base-clients/companies/{company.pk}/").status_code == 404
    assert _page(org.consultant).get(f"/base-clients/companies/{company.pk}/edit/").status_code == 404
    assert _page(org.manager2).get(f"/base-clients/companies/{company.pk}/").status_code == 404
    assert "Colleague&#x27;s" not in _page(org.consultant).get("/base-clients/companies/").content.decode()


def test_the_lead_panel_links_a_company_and_records_the_qualification(org):
    company = company_save(actor=org.consultant, name="顺丰速运", people=BODY["people"])
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    page = _page(org.consultant)
    assert "Buys for a company?" in page.get(f"/leads/{lead.pk}/").content.decode()
    page.post(f"/base-clients/leads/{lead.pk}/company/", {"company": company.pk})
    lead.refresh_from_db()
    assert lead.company == company
    page.post(f"/base-clients/leads/{lead.pk}/company/", {
        "qualify": "1", "need": "yes", "need_note": "20 台", "ability": "yes", "ability_note": "",
        "willingness": "unknown", "willingness_note": "", "authority": "no", "authority_note": "老板拍板"})
    text = page.get(f"/leads/{lead.pk}/").content.decode()
    assert "Qualification" in text and "老板拍板" in text and "Decider" in text
    # A company the consultant may not see cannot be linked.
    other = company_save(actor=org.consultant2, name="Colleague's")
    assert page.post(f"/base-clients/leads/{lead.pk}/company/", {"company": other.pk}).status_code == 404


def test_the_workbook_lists_companies_and_people_with_masked_phones_for_readers(org):
    company = company_save(actor=org.consultant2, name="顺丰速运", turnover=Decimal("1000000.00"),
                           people=BODY["people"])
    LeadFactory(store=org.store, assigned_to=org.consultant, company=company)
    r = _page(org.consultant).get("/reports/companies.xlsx")
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    companies, people = book.worksheets
    assert companies.cell(2, 1).value == "顺丰速运" and companies.cell(2, 6).value == 1000000
    assert [people.cell(i, 4).value for i in (2, 3)] == ["138****8000", "139****5678"]
    manager_book = load_workbook(io.BytesIO(_page(org.manager).get("/reports/companies.xlsx").content))
    assert manager_book.worksheets[1].cell(2, 4).value == "138 0013 8000"
    assert load_workbook(io.BytesIO(_page(org.manager2).get("/reports/companies.xlsx").content)
                         ).worksheets[0].max_row == 1


def test_the_monthly_pack_lists_the_stores_company_accounts_with_their_counted_fleet(org):
    company = _fleet_world(org)
    company_save(actor=org.consultant_b, name="Other group's")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.manager)
    pack = client.get("/api/v1/reports/monthly-pack/", {"store": org.store.pk, "start": "2026-12-01",
                                                        "end": "2026-12-31"}).json()
    table = next(t for s in pack["sections"] if s["key"] == "companies" for t in s["tables"])
    assert [row["name"] for row in table["rows"]] == [company.name]
    (row,) = table["rows"]
    assert row["fleet"] == 5 and row["fleet_by_segment"] == "SUV 3, Pickup 1, Segment not known 1"
