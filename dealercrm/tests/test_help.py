"""The user guide at /help/: in the user's language for every role, free of contributors' matter, and every link
the pages make into it lands on an anchor that exists."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from dealercrm.views_help import GUIDE_DIR, SECTIONS, render_markdown

pytestmark = pytest.mark.django_db

LANGUAGES = ("zh-hans", "en")
# The first heading of each section, per language.
HEADINGS = {
    "zh-hans": {"index": "DealerCRM 使用指南", "consultant": "销售顾问", "manager": "销售经理", "admin": "集团管理员",
                "figures": "指标说明"},
    "en": {"index": "The DealerCRM guide", "consultant": "For sales consultants", "manager": "For store managers",
           "admin": "For group admins", "figures": "What the figures mean"},
}
CONTRIBUTORS_MATTER = ("docs/", ".md", "README", "selectors", "/api/v1/")
HELP_LINK = re.compile(r'href="(/help/(?:[a-z-]+/)?)#([a-z0-9-]+)"')


def client(user, lang):
    c = Client(HTTP_ACCEPT_LANGUAGE=lang)
    c.force_login(user)
    return c


def guide_url(section):
    return reverse("help") if section == "index" else reverse("help_page", args=[section])


def article(html):
    return html.split('data-guide-section="', 1)[1].split("</article>", 1)[0]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("role", ["consultant", "manager", "admin"])
def test_every_section_of_the_guide_renders_in_the_users_language_for_every_role(org, lang, role):
    for section in SECTIONS:
        response = client(getattr(org, role), lang).get(guide_url(section))
        assert response.status_code == 200, section
        html = response.content.decode()
        assert re.search(r"<h1[^>]*>" + re.escape(HEADINGS[lang][section]) + "</h1>", html), (lang, section)
        body = article(html)
        for text in CONTRIBUTORS_MATTER:
            assert text not in body, (lang, section, text)


def test_the_chinese_guide_speaks_chinese_and_the_english_one_english(org):
    zh = article(client(org.consultant, "zh-hans").get(guide_url("consultant")).content.decode())
    en = article(client(org.consultant, "en").get(guide_url("consultant")).content.decode())
    assert "登记到店" in zh and "Log a walk-in" not in zh
    assert "Log a walk-in" in en and "登记到店" not in en


def test_the_task_sections_keep_their_stable_anchors_in_both_languages(org):
    tasks = {"consultant": ["log-a-walk-in", "write-a-follow-up", "record-a-deal", "file-a-defeat",
                            "care-for-base-clients"],
             "manager": ["review-follow-ups", "verify-defeats", "read-the-funnel", "set-targets", "import-a-workbook",
                         "print-the-monthly-pack"],
             "admin": ["compare-stores", "group-rules", "staff"],
             "figures": ["m", "n", "k", "p", "f", "c", "deals-cohort", "orders-calendar", "promotion-rates",
                         "control-points", *[f"cp{i}" for i in range(1, 10)], "defeat-rate", "quasi-defeats",
                         "base-client-tiers", "one-brings-one", "referral-share"]}
    for lang in LANGUAGES:
        for section, anchors in tasks.items():
            html = client(org.manager, lang).get(guide_url(section)).content.decode()
            for anchor in anchors:
                assert f'id="{anchor}"' in html, (lang, section, anchor)


def test_the_task_steps_are_numbered(org):
    html = client(org.consultant, "zh-hans").get(guide_url("consultant")).content.decode()
    walk_in = html.split('id="log-a-walk-in"', 1)[1].split("<h2", 1)[0]
    assert walk_in.count("<li>") >= 5 and "<ol>" in walk_in


def test_an_unknown_section_is_a_404_and_the_guide_needs_a_login(org):
    assert client(org.consultant, "en").get("/help/secrets/").status_code == 404
    assert client(org.consultant, "en").get("/help/domain/").status_code == 404  # the contributors' text is not served
    assert Client().get(reverse("help")).status_code == 302


def _anchors(user, lang, path):
    html = client(user, lang).get(path).content.decode()
    return set(re.findall(r'id="([a-z0-9-]+)"', article(html)))


def _assert_links_land(user, links):
    for lang in LANGUAGES:
        for path, anchor in links:
            assert anchor in _anchors(user, lang, path), (lang, path, anchor)


def test_every_link_from_the_pages_into_the_guide_lands_on_an_anchor(org):
    manager, consultant = org.manager, org.consultant
    pages = [
        (manager, reverse("funnel:dashboard")),        # the control-point marks, "why two bases?"
        (manager, reverse("team")),                    # how grades work
        (manager, reverse("defeats:queue")),           # empty: no application awaits a verdict
        (manager, reverse("reports:imports")),         # empty: no import yet
        (consultant, reverse("baseclients:care_queue")),  # empty: nothing due
        (consultant, reverse("leads:allocation")),     # the 403 page
    ]
    links = set()
    for user, url in pages:
        html = client(user, "en").get(url).content.decode()
        found = set(HELP_LINK.findall(html))
        assert found, url
        links |= found
    anchors = {anchor for _, anchor in links}
    assert {"cohort-and-calendar", "the-grade-ladder", "verify-defeats", "import-a-workbook",
            "care-for-base-clients", "guide"} <= anchors
    assert any(re.fullmatch(r"cp[1-9]", a) for a in anchors), anchors
    _assert_links_land(manager, links)


def test_the_control_point_marks_each_link_to_their_point(org):
    from django.template.loader import render_to_string
    html = render_to_string("funnel/partials/_cp.html", {"cp": "5 · 6"})
    assert 'href="/help/figures/#cp5"' in html


def test_the_guides_own_links_land_on_anchors(org):
    links = set()
    for lang in LANGUAGES:
        for section in SECTIONS:
            links |= set(re.findall(r"\]\((/help/(?:[a-z-]+/)?)#([a-z0-9-]+)\)",
                                    (GUIDE_DIR / lang / f"{section}.md").read_text(encoding="utf-8")))
    assert len(links) > 15
    _assert_links_land(org.admin, links)


def test_every_screenshot_the_guide_shows_exists_and_they_stay_small():
    """They are made by `manage.py guide_screenshots`; the repository keeps them under 5 MB in all."""
    for lang in LANGUAGES:
        for section in SECTIONS:
            source = (GUIDE_DIR / lang / f"{section}.md").read_text(encoding="utf-8")
            for name in re.findall(r"^!\[[^\]]*\]\(([\w.-]+)\)", source, re.MULTILINE):
                assert finders.find(f"guide/{lang}/{name}"), (lang, name)
    assert sum(p.stat().st_size for p in (GUIDE_DIR.parent / "static" / "guide").rglob("*.*")) < 5_000_000


def test_the_guide_shows_its_screenshots_in_the_users_language(org):
    html = client(org.consultant, "zh-hans").get(guide_url("consultant")).content.decode()
    assert '<img src="/static/guide/zh-hans/log-a-walk-in.png"' in html
    html = client(org.manager, "en").get(guide_url("manager")).content.decode()
    assert '<img src="/static/guide/en/verify-defeats-desk.jpg"' in html


def test_the_markdown_subset_escapes_markup_and_links_only_within_the_app():
    html = render_markdown("# Title {#top}\n\nA <script>x</script>, **bold** `code`, [in](/help/#top) and "
                           "[out](https://example.com)\n\n1. one\n2. two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<h1 id="top">Title</h1>' in html and "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert '<a href="/help/#top">in</a>' in html and "example.com\">" not in html
    assert "<ol><li>one</li><li>two</li></ol>" in html and "<td>1</td>" in html


def test_the_screenshot_command_refuses_without_debug(settings):
    """It logs in with the demo passwords and writes a walk-in: a demo database only, never a store's data."""
    from django.core.management import CommandError, call_command

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("guide_screenshots")
