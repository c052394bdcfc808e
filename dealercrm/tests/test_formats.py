"""One formatting of money, units, rates and dates (dealercrm.formats) on the pages, the print and the workbook, in
both languages."""

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.template.loader import render_to_string
from django.utils import translation

from dealercrm import formats
from funnel.views import num
from reports.tables import Column, Table, cell_text


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
def test_the_same_figures_read_the_same_in_both_languages(lang):
    with translation.override(lang):
        assert formats.money(Decimal("3700300")) == "¥3,700,300.00"
        assert formats.money(189900) == "¥189,900.00"
        assert formats.units(79.71) == "80" and formats.units(1234) == "1,234"
        assert formats.rate(0.125) == "12.5%" and formats.rate(None) == "—"
        assert formats.day(date(2026, 12, 6)) == "2026-12-06"
        # The reports' cells (page and print) and the funnel's figures go through the same rules.
        assert cell_text(Decimal("3700300.00"), "cny") == "¥3,700,300.00"
        assert cell_text(79.71, "int") == "80" and cell_text(0.125, "pct") == "12.5%"
        assert num(79.71) == "80"
        # The filters are in every template without a {% load %}.
        html = Template("{{ a|money }} {{ b|cny }} {{ u|units }} {{ r|rate }} {{ d|day }}").render(Context(
            {"a": Decimal("3700300"), "b": 189900, "u": 79.71, "r": 0.125, "d": date(2026, 12, 6)}))
        assert html == "¥3,700,300.00 ¥189,900.00 80 12.5% 2026-12-06"


def test_the_workbook_number_formats_are_the_same_rules():
    assert formats.EXCEL["cny"] == '"¥"#,##0.00' and formats.EXCEL["pct"] == "0.0%" and formats.EXCEL["int"] == "#,##0"


def test_a_table_of_only_a_total_does_not_say_there_is_no_data():
    columns = [Column("label", "Store", "text"), Column("units", "Units")]
    only_total = Table(key="t", title="T", columns=columns, rows=[], total={"label": "Store", "units": 3})
    nothing = Table(key="n", title="N", columns=columns, rows=[])
    data = type("Data", (), {"title": "Pack", "sections": [type("S", (), {"title": "S", "note": "", "key": "s",
                                                                          "tables": [only_total, nothing]})()]})()
    with translation.override("zh-hans"):
        html = render_to_string("reports/print.html", {"data": data, "lines": [], "bars": [], "pdf": True})
    assert html.count("该期间没有数据。") == 1  # the empty table's, not above the total's row


def test_no_template_formats_money_by_hand():
    # A yuan sign written before a variable, or a price through floatformat/intcomma, instead of |money.
    raw = re.compile(r"¥\s*\{\{|\{\{[^}]*(price|revenue|amount|gap)[^}]*\|(floatformat|intcomma)")
    offenders = []
    for path in Path(settings.BASE_DIR).glob("*/templates/**/*.html"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if raw.search(line):
                offenders.append(f"{path.relative_to(settings.BASE_DIR)}:{n}")
    assert offenders == []
