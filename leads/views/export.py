"""CSV export of the lead list, with the list page's filters. Phones are personal information: a consultant's
export always masks them; a manager's export of their own store shows them in full."""

import csv

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from dealercrm.exports import spreadsheet_safe
from dealercrm.models import Role

from ..filters import LeadFilterSet
from ..phones import phone_display, phone_mask
from ..selectors import lead_list
from ..services import manages_store


class _Echo:
    def write(self, value):
        return value


def _local(dt):
    return timezone.localtime(dt).strftime("%Y-%m-%d %H:%M") if dt else ""


@login_required
def lead_export(request):
    user = request.user
    # The list page posts its filters (the search text stays out of URLs and logs); a GET still works.
    data = request.POST.copy() if request.method == "POST" else request.GET.copy()
    data.pop("csrfmiddlewaretoken", None)
    filterset = LeadFilterSet(data, queryset=lead_list(user=user), request=request)
    if not filterset.is_valid():
        # A filter that cannot apply (an unknown choice, a date out of range) is refused with its message, rather
        # than exporting everything or nothing.
        errors = "\n".join(f"{name}: {' '.join(messages)}" for name, messages in filterset.errors.items())
        return HttpResponseBadRequest(errors, content_type="text/plain; charset=utf-8")
    leads = filterset.qs
    mask = user.role == Role.CONSULTANT

    def rows():
        writer = csv.writer(_Echo())
        yield "\ufeff"  # a BOM, so Excel opens the Chinese text as UTF-8
        yield writer.writerow([
            _("ID"), _("Name"), _("Phone"), _("Grade"), _("Status"), _("Source"), _("Channel"), _("Series"),
            _("Consultant"), _("Store"), _("First visit"), _("Last contact"), _("Next follow-up due"),
        ])
        for lead in leads.order_by("-first_visit_at", "-pk").iterator(chunk_size=2000):
            if mask or not manages_store(user, lead.store):
                phone = phone_mask(lead.phone)
            else:
                phone = phone_display(lead.phone)
            # Every cell through spreadsheet_safe: a name typed as =HYPERLINK(...) is text, not a formula.
            yield writer.writerow([spreadsheet_safe(cell) for cell in [
                lead.pk, lead.name, phone, lead.grade or "", lead.get_status_display(), lead.get_source_display(),
                str(lead.channel or ""), str(lead.series or ""), str(lead.assigned_to or ""), lead.store.name,
                _local(lead.first_visit_at), _local(lead.last_contact_at), _local(lead.next_follow_up_at),
            ]])

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
    return response
