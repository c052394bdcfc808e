"""The company accounts as a workbook: a sheet of companies (with their fleet counted from their base clients'
vehicles) and a sheet of their people. The companies the user sees, phones in full only where the user may edit the
company (its owner, the store's fleet sales manager, whoever manages the store), masked elsewhere."""

from __future__ import annotations

import io

from django.contrib.auth.decorators import login_required
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from baseclients.selectors_companies import company_fleet, company_list, people_prefetch
from leads.phones import phone_display
from leads.services import can_edit_company

from .excel import XLSX, Formats, workbook, write_table
from .outputs import attachment
from .sections import COMPANY_COLUMNS, company_row
from .tables import Column, Table

MAX_COMPANIES = 5000

PEOPLE_COLUMNS = [
    Column("company", gettext_lazy("Company name"), "text"),
    Column("name", gettext_lazy("Name"), "text"),
    Column("title", gettext_lazy("Role or title"), "text"),
    Column("phone", gettext_lazy("Phone"), "text"),
    Column("decision_role", gettext_lazy("Part in the decision"), "text"),
    Column("note", gettext_lazy("Note"), "text"),
]


def companies_workbook(user) -> bytes:
    """Two sheets: the companies ``user`` sees and their people. Three queries whatever the number of companies."""
    companies = list(company_list(user=user).prefetch_related(people_prefetch())[:MAX_COMPANIES])
    fleet = company_fleet([c.pk for c in companies])
    rows, people = [], []
    for c in companies:
        readable = can_edit_company(user, c)
        segments = fleet.get(c.pk, [])
        rows.append(company_row(c, segments, separator="; "))
        for p in c.people.all():
            people.append({"company": c.name, "name": p.name, "title": p.title,
                           "phone": phone_display(p.phone) if readable else p.masked_phone,
                           "decision_role": p.get_decision_role_display(), "note": p.note})
    out = io.BytesIO()
    book = workbook(out)
    formats, used = Formats(book), set()
    write_table(book, formats, Table(key="companies", title=_("Companies"), columns=COMPANY_COLUMNS, rows=rows), used)
    write_table(book, formats, Table(key="people", title=_("People"), columns=PEOPLE_COLUMNS, rows=people), used)
    book.close()
    return out.getvalue()


@login_required
@require_GET
def companies_xlsx(request):
    """`/reports/companies.xlsx`: the workbook of the companies the user sees."""
    content = companies_workbook(request.user)
    return attachment(content, filename=f"companies_{timezone.localdate():%Y%m%d}.xlsx", content_type=XLSX)
