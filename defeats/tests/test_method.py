"""The defeat figures a manager reads are the method's: worked cases, each a small history whose right answer is
computed by hand here, read back through the selectors, the API, the page, the pack's workbook and its PDF."""

import io
import subprocess
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib import import_module
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.apps import apps as django_apps
from django.core.exceptions import PermissionDenied
from django.utils import translation

from dealercrm.tests.clients import client_for
from dealercrm.tests.factories import VehicleBrandFactory, VehicleSeriesFactory
from defeats import selectors, services
from defeats.models import Application, ApplicationReason, DefeatTarget, PoolEntry, Reason, TalkTrack
from funnel import selectors as funnel
from leads import services as lead_services
from leads.models import AssignmentChange, Lead
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
OCTOBER = selectors.Period(date(2026, 10, 1), date(2026, 10, 31))


def at(month, day, hour=10, minute=0, year=2026):
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def file(org, *, kind, reasons, when, series=None, cause="", consultant=None, our=None):
    who = consultant or org.consultant
    lead = LeadFactory(store=org.store, assigned_to=who, series=our, first_visit_at=when - timedelta(days=20))
    return services.application_file(actor=who, lead=lead, kind=kind, reasons=reasons, competitor_series=series,
                                     price_cause=cause, at=when)


def decide(org, app, verdict, when):
    services.application_decide(actor=org.manager, application=app, verdict=verdict, comment="核实")
    Application.objects.filter(pk=app.pk).update(decided_at=when)
    PoolEntry.objects.filter(application=app).update(joined_at=when, next_contact_at=when + timedelta(days=90))


def deal(org, when: date, consultant=None):
    lead = LeadFactory(store=org.store, assigned_to=consultant or org.consultant,
                       first_visit_at=datetime.combine(when, datetime.min.time(), tzinfo=TZ) - timedelta(days=9))
    lead_services.deal_record(actor=org.manager, lead=lead, price=Decimal("150000"), ordered_at=when)


@pytest.fixture
def october(org, catalogue):
    """Three deals and four decided applications in October 2026:

    A defeat (bought an Accord: not satisfied with the model, price too high by a price war), B defeat (lost
    contact), C quasi-defeat (funding not ready) confirmed, D quasi-defeat (purchase cancelled) rejected.
    By hand: defeats 2, quasi-defeats 1, rejected 1, decided 4; defeat rate 2 / (3 + 2) = 40 % (had the quasi-defeat
    counted, 3 / 6 = 50 %); false-defeat rate 1 / 4 = 25 %."""
    for day in (5, 15, 31):
        deal(org, date(2026, 10, day))
    a = file(org, kind="defeat", reasons=["model_unsatisfied", "price_high"], cause="price_war",
             series=catalogue.accord, when=at(10, 2), our=catalogue.own)
    decide(org, a, "confirm", at(10, 3))
    b = file(org, kind="defeat", reasons=["lost_contact"], when=at(10, 9))
    decide(org, b, "confirm", at(10, 10))
    c = file(org, kind="quasi", reasons=["funding_not_ready"], when=at(10, 10))
    decide(org, c, "confirm", at(10, 11))
    d = file(org, kind="quasi", reasons=["purchase_cancelled"], when=at(10, 11))
    decide(org, d, "reject", at(10, 12))
    org.apps = {"a": a, "b": b, "c": c, "d": d}
    return org


# --- 6. a quasi-defeat is not a defeat --------------------------------------------------------------------------------


def test_a_quasi_defeat_is_counted_beside_the_defeat_rate_never_inside(october, api_as):
    org = october
    figures = selectors.defeat_metrics(user=org.manager, period=OCTOBER, stores=[org.store])
    assert (figures["defeats"], figures["quasi_defeats"], figures["rejected"], figures["decided"],
            figures["deals"]) == (2, 1, 1, 4, 3)
    assert figures["defeat_rate"] == 0.4 and figures["false_defeat_rate"] == 0.25
    # The API says the same.
    body = api_as(org.manager).get("/api/v1/defeats/metrics/", {"store": org.store.pk, "start": "2026-10-01",
                                                                "end": "2026-10-31"}).json()
    assert (body["defeats"], body["quasi_defeats"], body["defeat_rate"]) == (2, 1, 0.4)
    # By month, and by the general path: the same.
    month = selectors.defeat_metrics(user=org.manager, period=OCTOBER, stores=[org.store], group_by="month")
    assert (month["total"]["defeats"], month["total"]["quasi_defeats"], month["total"]["defeat_rate"]) == (2, 1, 0.4)


def test_a_confirmed_quasi_defeat_goes_to_the_nurture_list_a_defeat_to_the_competitor_pool(october):
    org = october
    entries = {e.application_id: e for e in PoolEntry.objects.all()}
    a, b, c = (entries[org.apps[k].pk] for k in "abc")
    assert (a.list, b.list, c.list) == ("competitor", "competitor", "nurture")
    # The pool owner (by default the store's manager) works the defeats; the quasi-defeat stays with its consultant.
    assert (a.owner, b.owner, c.owner) == (org.manager, org.manager, org.consultant)
    # A quasi-defeat bought nothing: no competitor purchase, no replacement date; it is re-contacted all the same.
    assert c.purchased_on is None and c.replacement_due_on is None and c.next_contact_at
    assert a.purchased_on == date(2026, 10, 2) and a.replacement_due_on == date(2029, 10, 2)
    assert not PoolEntry.objects.filter(application=org.apps["d"]).exists()
    # The lead page says which: a quasi-defeat is not a defeat.
    lead_page = client_for(org.consultant).get(f"/leads/{c.lead_id}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Quasi-defeat, not a defeat: on the nurture list" in lead_page
    lead_page = client_for(org.manager).get(f"/leads/{a.lead_id}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Defeat: in the competitor pool" in lead_page
    # The nurture list is its own tab of the pool page; the consultant sees their quasi-defeat there.
    page = client_for(org.consultant).get("/defeats/pool/", {"list": "nurture"}).content.decode()
    assert f'id="entry-{c.pk}"' in page and f'id="entry-{a.pk}"' not in page
    # The intention returns: back to the consultant, an active lead again.
    services.nurture_contact_log(actor=org.consultant, entry=c, method="phone", content="资金到位了", came_back=True,
                                 grade="B")
    lead = Lead.objects.get(pk=c.lead_id)
    assert lead.status == "active" and lead.assigned_to == org.consultant


def test_a_quasi_defeat_names_no_competitor_and_a_defeat_names_one_unless_lost_or_used(org, catalogue):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        file(org, kind="quasi", reasons=["funding_not_ready"], series=catalogue.han, when=at(10, 1))
    assert "competitor_series" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        file(org, kind="defeat", reasons=["brand_habit"], when=at(10, 1))
    assert "competitor_series" in exc.value.message_dict
    assert file(org, kind="defeat", reasons=["bought_used"], when=at(10, 1)).competitor_series is None


# --- 7. the method's taxonomy ------------------------------------------------------------------------------------------


METHOD = {
    "product": ["价格高", "车型老旧", "配置过于简单", "试车噪音大", "品牌不认可", "载货能力差", "车型不满意"],
    "process": ["销售流程概念不清", "产品知识不足", "无存货", "对销售顾问信心不足", "偏重技巧不重流程", "跟进不及时"],
    "customer": ["资金不到位", "身边人不认可", "品牌习惯", "取消购车计划", "不合理要求", "已购二手车", "失去联系"],
}


def test_a_new_group_gets_the_methods_reasons_in_its_words_each_once(org):
    reasons = services.reasons_for(org.group.pk)
    by_parent = {}
    for r in sorted(reasons, key=lambda r: r.sort_order):
        if r.parent is not None:
            by_parent.setdefault(r.parent.code, []).append(r.name)
    # The stale queue's quasi-defeat reason closes the customer list; everything else is the method's, in order.
    assert by_parent["customer"][-1] == "长期未成交（滞留）"
    assert {k: [n for n in v if n != "长期未成交（滞留）"] for k, v in by_parent.items()} == METHOD
    names = [r.name for r in reasons]
    assert len(names) == len(set(names))


OLD = [("product", None, "产品/价格"), ("process", None, "销售流程"), ("customer", None, "客户原因"),
       ("price_really_high", "product", "价格确实偏高（我方定位）"), ("price_apparently_high", "product", "价格看似偏高"),
       ("config_basic", "product", "配置偏低"), ("product_no_stock", "product", "无现车"),
       ("process_no_stock", "process", "没有库存"), ("bought_competitor", "customer", "已购竞品车"),
       ("funding_not_ready", "customer", "资金未到位")]


def test_the_migration_maps_the_first_taxonomys_codes(org):
    """A group with the first taxonomy and applications on its codes, then migration 0006: an application with
    "really high" and "apparently high" counts once under 价格高 (cause: really high), one with "no stock" under
    both categories once under 无存货, a bought-competitor row goes where the application has another reason, the
    talk tracks follow."""
    by_code = {}
    for code, parent, name in OLD:
        by_code[code] = Reason.objects.create(group=org.group, code=code, parent=by_code.get(parent), name=name,
                                              name_en=code, requires_competitor=code == "bought_competitor")

    def app(*codes):
        lead = LeadFactory(store=org.store, assigned_to=org.consultant)
        a = Application.objects.create(lead=lead, store=org.store, consultant=org.consultant, kind="defeat",
                                       applied_by=org.consultant, applied_at=at(10, 1), from_status="active")
        for c in codes:
            ApplicationReason.objects.create(application=a, reason=by_code[c], parent=by_code[c].parent)
        return a

    both_prices = app("price_really_high", "price_apparently_high", "product_no_stock", "process_no_stock")
    apparent = app("price_apparently_high", "bought_competitor")
    only_competitor = app("bought_competitor")
    TalkTrack.objects.create(group=org.group, reason=by_code["price_apparently_high"], fact="f", problem="p",
                             viewpoint="v")
    import_module("defeats.migrations.0006_method_taxonomy").forward(django_apps, None)

    def codes(a):
        return sorted(ApplicationReason.objects.filter(application=a).values_list("reason__code", flat=True))

    assert codes(both_prices) == ["no_stock", "price_high"]
    assert codes(apparent) == ["price_high"]
    assert codes(only_competitor) == ["bought_competitor"]  # kept, its reason retired
    both_prices.refresh_from_db()
    apparent.refresh_from_db()
    assert (both_prices.price_cause, apparent.price_cause) == ("really_high", "")
    reasons = {r.code: r for r in Reason.objects.filter(group=org.group)}
    assert not {"price_really_high", "price_apparently_high", "product_no_stock", "process_no_stock"} & set(reasons)
    assert not reasons["bought_competitor"].is_active
    assert reasons["config_basic"].name == "配置过于简单" and reasons["no_stock"].parent.code == "process"
    assert TalkTrack.objects.get().reason.code == "price_high"
    assert ApplicationReason.objects.get(application=both_prices, reason__code="no_stock").parent.code == "process"


def test_the_price_cause_is_counted(october, api_as):
    body = api_as(october.manager).get("/api/v1/defeats/metrics/", {
        "store": october.store.pk, "start": "2026-10-01", "end": "2026-10-31", "group_by": "price_cause"}).json()
    assert [(r["key"], r["defeats"]) for r in body["results"]] == [("price_war", 1)]


# --- 8. the competitor table ---------------------------------------------------------------------------------------


@pytest.fixture
def rivals(october, catalogue):
    """On top of October: BYD 汉 bought twice (brand habit; configuration too basic + brand habit), a used car, an
    Accord the October before, and a confirmed quasi-defeat (never in the table). By hand, segment of our series
    (SUV): Honda T 1 this year (reasons 价格高 1, 车型不满意 1: a tie, in the taxonomy's order), 1 last year;
    BYD T 2 (品牌习惯 2, 配置过于简单 1); 二手 1; 其他 1 (lost contact)."""
    org = october
    han1 = file(org, kind="defeat", reasons=["brand_habit"], series=catalogue.han, when=at(10, 4),
                our=catalogue.own)
    decide(org, han1, "confirm", at(10, 5))
    han2 = file(org, kind="defeat", reasons=["config_basic", "brand_habit"], series=catalogue.han, when=at(10, 6),
                our=catalogue.own)
    decide(org, han2, "confirm", at(10, 7))
    used = file(org, kind="defeat", reasons=["bought_used"], when=at(10, 8), our=catalogue.own)
    decide(org, used, "confirm", at(10, 8, 15))
    before = file(org, kind="defeat", reasons=["model_unsatisfied"], series=catalogue.accord, when=at(10, 6, year=2025),
                  our=catalogue.own)
    decide(org, before, "confirm", at(10, 7, year=2025))
    quasi = file(org, kind="quasi", reasons=["people_disapprove"], when=at(10, 8), our=catalogue.own)
    decide(org, quasi, "confirm", at(10, 9))
    return org


def test_the_competitor_table_pairs_each_brand_with_its_own_reasons(rivals, catalogue, api_as):
    org = rivals
    with translation.override("en"):
        segments = selectors.competitor_table(user=org.manager, period=OCTOBER, stores=[org.store])
    # B (lost contact) has no series of ours and no competitor: its segment is unknown ("—").
    by_segment = {s["segment"]: s for s in segments}
    rows = [(r["label"], r["defeats"], r["previous"], [(x["code"], x["defeats"]) for x in r["reasons"]])
            for r in by_segment["suv"]["rows"]]
    assert rows == [
        ("BYD T", 2, 0, [("brand_habit", 2), ("config_basic", 1)]),
        ("Honda T", 1, 1, [("price_high", 1), ("model_unsatisfied", 1)]),  # a tie: the taxonomy's order
        ("Used (二手)", 1, 0, [("bought_used", 1)]),
    ]
    assert [(r["label"], r["defeats"]) for r in by_segment[""]["rows"]] == [("Other (其他)", 1)]
    # The API's brand rows carry the same reasons.
    body = api_as(org.manager).get("/api/v1/defeats/metrics/", {
        "store": org.store.pk, "start": "2026-10-01", "end": "2026-10-31", "group_by": "competitor_brand"},
        HTTP_ACCEPT_LANGUAGE="en").json()
    api_rows = {r["label"]: [(x["code"], x["defeats"]) for x in r["reasons"]] for r in body["results"] if r["key"]}
    assert api_rows == {"BYD T": [("brand_habit", 2), ("config_basic", 1)],
                        "Honda T": [("price_high", 1), ("model_unsatisfied", 1)]}
    # The page shows it.
    page = client_for(org.manager).get("/defeats/analysis/", {"store": org.store.pk, "year": 2026},
                                       HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Brand habit (2), Configuration too basic (1)" in page


# --- 9. the target ---------------------------------------------------------------------------------------------------


def test_the_defeat_rate_against_its_target_and_last_year(october, api_as):
    """This year to 31 October: 2 defeats, 3 deals → 40 %. The same days last year: 1 defeat, 1 deal → 50 %. Target
    65 %: 10 points down on last year, 25 points under the target."""
    org = october
    deal(org, date(2025, 3, 1))
    last = file(org, kind="defeat", reasons=["lost_contact"], when=at(5, 1, year=2025))
    decide(org, last, "confirm", at(5, 2, year=2025))
    services.defeat_target_set(actor=org.manager, store=org.store, year=2026, rate=Decimal("0.65"))
    progress = selectors.target_progress(user=org.manager, year=2026, stores=[org.store], today=date(2026, 10, 31))
    row = progress["rows"][0]
    assert (row["target"], row["defeat_rate"], row["last_year"], row["change_pp"], row["gap_pp"]) == (
        0.65, 0.4, 0.5, -10.0, -25.0)


def test_only_the_stores_manager_or_the_group_admin_sets_the_target(org):
    with pytest.raises(PermissionDenied):
        services.defeat_target_set(actor=org.consultant, store=org.store, year=2026, rate=Decimal("0.6"))
    with pytest.raises(PermissionDenied):
        services.defeat_target_set(actor=org.manager2, store=org.store, year=2026, rate=Decimal("0.6"))
    services.defeat_target_set(actor=org.admin, store=org.store, year=2026, rate=Decimal("0.6"))
    assert client_for(org.consultant).post("/defeats/analysis/target/", {
        "store": org.store.pk, "year": 2026, "percent": "50"}).status_code == 403
    assert client_for(org.other_manager).post("/defeats/analysis/target/", {
        "store": org.store.pk, "year": 2026, "percent": "50"}).status_code == 404
    r = client_for(org.manager).post("/defeats/analysis/target/", {"store": org.store.pk, "year": 2026,
                                                                    "percent": "65"})
    assert r.status_code == 302 and DefeatTarget.objects.get(store=org.store, year=2026).rate == Decimal("0.65")
    assert client_for(org.manager2).get("/defeats/analysis/").content.decode().count('name="percent"') == 1


# --- 10. the pool owner is not a consultant --------------------------------------------------------------------------


def test_the_pool_owner_is_no_row_of_the_per_consultant_figures(october):
    org = october
    s = funnel.Slice(user=org.manager, start=date(2026, 9, 1), end=date(2026, 10, 31), stores=[org.store])
    rows = {r.consultant_id: r for r in funnel.control_points(s).rows}
    assert org.manager.pk not in rows
    # The consultant keeps the customers they lost: N counts all seven leads first seen in the period.
    assert rows[org.consultant.pk].N == 7
    assert set(Lead.objects.filter(status="defeated").values_list("assigned_to", flat=True)) == {org.consultant.pk}


def test_the_migration_gives_handed_leads_back_to_the_consultant_who_filed(october):
    org = october
    a = org.apps["a"]
    Lead.objects.filter(pk=a.lead_id).update(assigned_to=org.manager)  # as the former confirm did
    import_module("defeats.migrations.0007_defeated_leads_stay_attributed").forward(django_apps, None)
    assert Lead.objects.get(pk=a.lead_id).assigned_to == org.consultant
    assert AssignmentChange.objects.filter(lead_id=a.lead_id, from_user=org.manager, to_user=org.consultant).exists()


# --- 11, 12. one figure, everywhere, with its basis --------------------------------------------------------------------


def test_the_page_the_pack_its_workbook_and_its_pdf_agree(october, api_as):
    org = october
    query = {"store": org.store.pk, "start": "2026-10-01", "end": "2026-10-31"}
    page = client_for(org.manager).get("/defeats/analysis/", {"store": org.store.pk, "year": 2026},
                                       HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "40.0%" in page and "Orders (calendar)" in page
    pack = api_as(org.manager).get("/api/v1/reports/monthly-pack/", query, HTTP_ACCEPT_LANGUAGE="en").json()
    tables = {t["key"]: t for s in pack["sections"] for t in s["tables"]}
    total = tables["defeats_by_consultant"]["total"]
    assert (total["defeats"], total["quasi_defeats"], total["deals"], total["defeat_rate"]) == (2, 1, 3, 0.4)
    assert [r["label"] for r in tables["defeat_lists"]["rows"]] == ["Competitor pool (defeats)",
                                                                    "Nurture list (quasi-defeats)"]
    assert [(r["in_list"], r["joined"]) for r in tables["defeat_lists"]["rows"]] == [(2, 2), (1, 1)]
    assert {"defeat_target", "defeats_competitors"} <= set(tables)
    workbook = api_as(org.manager).get("/api/v1/reports/monthly-pack/", {**query, "format": "xlsx"},
                                       HTTP_ACCEPT_LANGUAGE="en")
    book = openpyxl.load_workbook(io.BytesIO(workbook.content))
    values = [c.value for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert "Orders (calendar)" in values and "Confirmed quasi-defeats (not in the rate)" in values
    pdf = api_as(org.manager).get("/api/v1/reports/monthly-pack/", {**query, "format": "pdf"},
                                  HTTP_ACCEPT_LANGUAGE="en")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True).stdout.decode()
    assert "40.0%" in text and "Nurture list (quasi-defeats)" in text


def test_the_packs_defeat_section_honours_the_series_filter(october, catalogue, api_as):
    org = october
    other = VehicleSeriesFactory(brand=VehicleBrandFactory(is_own=True), segment="mpv")
    query = {"store": org.store.pk, "start": "2026-10-01", "end": "2026-10-31"}
    for series, defeats in ((catalogue.own, 1), (other, 0)):
        pack = api_as(org.manager).get("/api/v1/reports/monthly-pack/", {**query, "series": series.pk}).json()
        tables = {t["key"]: t for s in pack["sections"] for t in s["tables"]}
        assert tables["defeats_by_consultant"]["total"]["defeats"] == defeats


# --- periods at local midnight ---------------------------------------------------------------------------------------


def test_a_defeat_counts_in_the_local_month_it_was_filed_and_decided(org, catalogue):
    """Asia/Shanghai: filed and confirmed at 00:30 on 1 October (30 September in UTC) and 23:30 on 31 October
    (1 November in UTC) count in October; 23:30 on 30 September and 00:30 on 1 November do not."""
    for when in (at(9, 30, 23, 30), at(10, 1, 0, 30), at(10, 31, 23, 30), at(11, 1, 0, 30)):
        app = file(org, kind="defeat", reasons=["lost_contact"], when=when)
        decide(org, app, "confirm", when)
    figures = selectors.defeat_metrics(user=org.manager, period=OCTOBER, stores=[org.store], with_reasons=False)
    assert (figures["applications"], figures["defeats"]) == (2, 2)
    months = selectors.defeat_metrics(user=org.manager, period=selectors.Period(date(2026, 9, 1), date(2026, 11, 30)),
                                      stores=[org.store], group_by="month")
    assert [(r["key"], r["applications"], r["defeats"]) for r in months["results"]] == [
        ("2026-09", 1, 1), ("2026-10", 2, 2), ("2026-11", 1, 1)]
    assert selectors.defeat_metrics(user=org.manager, period=OCTOBER, stores=[org.store])["defeats"] == 2


def test_the_dashboard_shows_the_target_and_its_progress(october, settings):
    """October's dashboard of the store: target 65 %, 40 % this year up to 31 October (2 defeats, 3 deals), and last
    year's same days (1 defeat, 1 deal: 50 %): down 10 points."""
    from django.urls import reverse

    org = october
    deal(org, date(2025, 3, 1))
    last = file(org, kind="defeat", reasons=["lost_contact"], when=at(5, 1, year=2025))
    decide(org, last, "confirm", at(5, 2, year=2025))
    services.defeat_target_set(actor=org.manager, store=org.store, year=2026, rate=Decimal("0.65"))
    page = client_for(org.manager).get(reverse("funnel:dashboard"), {
        "period": "custom", "start": "2026-10-01", "end": "2026-10-31"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    card = page[page.index('id="dft-target-card"'):]
    card = card[:card.index("</div></div></div>")]
    assert "65.0%" in card and "40.0% this year so far" in card and "down 10.0 points on last year" in card


def test_the_target_through_the_api(october, api_as):
    org = october
    url = "/api/v1/defeats/targets/"
    body = {"store": org.store.pk, "year": 2026, "rate": "0.65"}
    assert api_as(org.consultant).post(url, body, format="json").status_code == 403
    assert api_as(org.other_manager).post(url, body, format="json").status_code in (400, 404)
    assert api_as(org.manager).post(url, {**body, "rate": "1.5"}, format="json").status_code == 400
    assert api_as(org.manager).post(url, body, format="json").status_code == 201
    assert api_as(org.manager).post(url, {**body, "rate": "0.6"}, format="json").status_code == 201
    assert DefeatTarget.objects.get(store=org.store, year=2026).rate == Decimal("0.6")  # one per store and year
    assert [r["rate"] for r in api_as(org.admin).get(url, {"year": 2026}).json()] == ["0.6000"]
    assert api_as(org.other_admin).get(url).json() == []
    rows = api_as(org.manager).get(f"{url}progress/", {"year": 2026}).json()["rows"]
    assert [(r["label"], r["target"]) for r in rows] == [("Alpha North", 0.6)]
    assert api_as(org.manager).get(f"{url}progress/", {"year": "x"}).status_code == 400
