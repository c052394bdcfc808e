"""Both catalogues are complete and compiled: a string added without a translation, or a .po edited without
recompiling, fails here rather than showing English on a Chinese page."""

import subprocess
from pathlib import Path

import pytest
from django.utils import translation

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
