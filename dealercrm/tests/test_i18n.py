"""Both catalogues are complete and compiled: a string added without a translation, or a .po edited without
recompiling, fails here rather than showing English on a Chinese page."""

import html
import io
import re
import subprocess
from pathlib import Path

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from dealercrm.models import Notification
from dealercrm.notifications import notification_label, registered_kinds

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "locale"
# The project's catalogue (leads, funnel, dealercrm) and the newer apps' own.
CATALOGUES = [LOCALE, ROOT / "baseclients/locale", ROOT / "defeats/locale", ROOT / "reports/locale"]


def po_entries(po_text: str):
    """Yield (flags, msgid, msgstr) per entry of a .po file; continuation lines are joined."""
    for block in po_text.strip().split("\n\n"):
        flags, parts, key = "", {}, None
        for line in block.splitlines():
            if line.startswith("#,"):
                flags += line
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                parts[key] += line.strip('"')
            else:
                key, _, rest = line.partition(" ")
                parts[key] = rest.strip('"')
        if "msgid" in parts:
            yield flags, parts["msgid"], parts.get("msgstr", parts.get("msgstr[0]", ""))


def untranslated(po_text: str) -> list[str]:
    return [msgid for flags, msgid, msgstr in po_entries(po_text) if msgid and (not msgstr or "fuzzy" in flags)]


def test_the_check_finds_a_missing_translation():
    sample = 'msgid ""\nmsgstr "header"\n\nmsgid "Yes"\nmsgstr "是"\n\nmsgid ""\n"Long "\n"text"\nmsgstr ""\n\n#, fuzzy\nmsgid "No"\nmsgstr "否"\n'
    assert untranslated(sample) == ["Long text", "No"]


@pytest.mark.parametrize("locale", CATALOGUES, ids=lambda p: p.parent.name)
def test_every_chinese_string_is_translated(locale):
    po = (locale / "zh_Hans/LC_MESSAGES/django.po").read_text()
    assert untranslated(po) == []


@pytest.mark.parametrize("locale", CATALOGUES, ids=lambda p: p.parent.name)
@pytest.mark.parametrize("lang", ["zh_Hans", "en"])
def test_compiled_catalogue_matches_its_source(tmp_path, lang, locale):
    po = locale / lang / "LC_MESSAGES/django.po"
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(fresh), str(po)], check=True)
    assert fresh.read_bytes() == (po.with_suffix(".mo")).read_bytes(), f"run `make messages` to recompile {lang}"


def test_translations_are_active():
    with translation.override("zh-hans"):
        assert translation.gettext("Log out") == "退出登录"
    with translation.override("en"):
        assert translation.gettext("Log out") == "Log out"


# --- what readers see: notifications and exports speak their language, never a code --------------------------------

CODE_LIKE = re.compile(r"^[a-z]+(_[a-z]+)+$")
# "已核实：已核实：…": a label ending in a colon said twice in a row.
REPEATED_PREFIX = re.compile(r"([^\s：:。，,.]{1,12}[：:])\s*\1")
CJK = re.compile(r"[\u4e00-\u9fff、]")
SAMPLE_PARAMS = {"name": "王先生", "comment": "已核实：客户已在竞品店提车", "count": 2, "days": 3, "holder": "李四",
                 "store": "Alpha North", "group": "Alpha Auto", "month": "2026-10", "due_today": 1, "overdue": 1,
                 "stale": 1, "reclaimed": 0, "pool": 1, "pending_reviews": 0, "care_today": 1, "care_overdue": 1}


def _page_items(client) -> list[tuple[str, str]]:
    body = client.get(reverse("notifications")).content.decode()
    labels = [re.sub(r"<[^>]+>", "", m).split("·")[0].replace("Unread:", "").replace("未读:", "").strip()
              for m in re.findall(r'<div class="notif-kind">(.*?)</div>', body, re.DOTALL)]
    texts = [html.unescape(t).strip() for t in re.findall(r'<div class="notif-text">(.*?)</div>', body, re.DOTALL)]
    return list(zip(labels, texts, strict=True))


@pytest.mark.django_db
@pytest.mark.parametrize("lang", ["zh-hans", "en"])
def test_every_notification_kind_has_a_label_and_says_its_prefix_once(org, lang):
    kinds = registered_kinds()
    # Every app's kinds are registered (the apps' own and those added in AppConfig.ready()).
    assert {"digest", "defeat_confirmed", "defeat_rejected", "care_digest", "report_ready"} <= set(kinds)
    for kind in kinds:
        Notification.objects.create(recipient=org.consultant, kind=kind, params=SAMPLE_PARAMS)
    client = Client(HTTP_ACCEPT_LANGUAGE=lang)
    client.force_login(org.consultant)
    items = _page_items(client)
    assert len(items) == len(kinds)
    for label, text in items:
        assert label and not CODE_LIKE.match(label), label
        assert not CODE_LIKE.match(text), text
        assert not REPEATED_PREFIX.search(text), text
    with translation.override(lang):
        for n in Notification.objects.filter(recipient=org.consultant):
            assert not CODE_LIKE.match(notification_label(n)), n.kind
            if lang == "en":
                assert not CJK.search(notification_label(n)), n.kind


def _confirmed_defeat(org):
    from dealercrm.tests.factories import VehicleBrandFactory, VehicleSeriesFactory
    from defeats import services
    from leads.tests.factories import LeadFactory

    rival = VehicleSeriesFactory(brand=VehicleBrandFactory(name="本田T", name_en="Honda T", is_own=False),
                                 name="雅阁T", name_en="Accord T")
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    app = services.application_file(actor=org.consultant, lead=lead, kind="defeat",
                                    reasons=["config_basic", "brand_habit"], competitor_series=rival)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="已提车")


def _workbook_cells(content: bytes) -> list[list]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    return [[c for c in row if isinstance(c, str)] for ws in book.worksheets for row in ws.iter_rows(values_only=True)]


@pytest.mark.django_db
def test_the_defeat_report_says_change_against_last_year_and_joins_in_the_readers_language(org):
    _confirmed_defeat(org)
    for lang, change, sep, other in [("zh-hans", "同比变化", "、", ", "), ("en", "Change", ", ", "、")]:
        client = Client(HTTP_ACCEPT_LANGUAGE=lang)
        client.force_login(org.manager)
        page = client.get("/reports/defeat-analysis/").content.decode()
        assert f">{change}<" in page and ">修改<" not in page
        rows = _workbook_cells(client.get("/reports/defeat-analysis/?format=xlsx").content)
        header = next(r for r in rows if any("Main reasons" in c or "主要原因" in c for c in r))
        assert change in header and "修改" not in header, header
        reasons = [c for r in rows for c in r if "(1)" in c and sep in c]
        assert reasons and not any(other in c for c in reasons), rows
        # The defeats' own analysis page joins the reasons the same way.
        analysis = client.get(reverse("defeats:analysis")).content.decode()
        assert f"(1){sep}" in analysis and f"(1){other}" not in analysis


@pytest.mark.django_db
@pytest.mark.parametrize("lang", ["zh-hans", "en"])
def test_exports_headers_and_labels_are_translated_and_never_codes(org, lang):
    from leads.tests.factories import FollowUpFactory, LeadFactory
    from reports.services.exports import EXPORTS

    _confirmed_defeat(org)
    FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    client = Client(HTTP_ACCEPT_LANGUAGE=lang)
    client.force_login(org.manager)
    urls = [f"/reports/exports/{name}/" for name in EXPORTS] + ["/reports/defeat-analysis/?format=xlsx"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        rows = _workbook_cells(response.content)
        for row in rows:
            for cell in row:
                assert not CODE_LIKE.match(cell.lstrip("'")), (url, cell)
        if lang == "en":  # headers (the first row of each sheet's table) are English; data may be Chinese names
            headers = [r for r in rows if r and r[0] in ("ID", "When", "Segment", "Reason", "Consultant")]
            for row in headers:
                assert not any(CJK.search(c) for c in row), (url, row)


@pytest.mark.django_db
def test_the_competitor_pool_eyebrow_is_in_the_readers_language(org):
    for lang, eyebrow in [("zh-hans", "战败 · 竞品客源"), ("en", "Defeats · competitor pool")]:
        client = Client(HTTP_ACCEPT_LANGUAGE=lang)
        client.force_login(org.manager)
        page = client.get(reverse("defeats:pool")).content.decode()
        assert eyebrow in page
        if lang == "en":
            assert "竞品客源" not in page
