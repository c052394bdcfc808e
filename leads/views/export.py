"""CSV export of the lead list, with the list page's filters. Phones are personal information: a consultant's
export always masks them; a manager's export of their own store shows them in full."""

import csv

from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

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
    filterset = LeadFilterSet(request.GET, queryset=lead_list(user=user), request=request)
    leads = filterset.qs if filterset.is_valid() else lead_list(user=user).none()
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
            yield writer.writerow([
                lead.pk, lead.name, phone, lead.grade or "", lead.get_status_display(), lead.get_source_display(),
                str(lead.channel or ""), str(lead.series or ""), str(lead.assigned_to or ""), lead.store.name,
                _local(lead.first_visit_at), _local(lead.last_contact_at), _local(lead.next_follow_up_at),
            ])

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
    return response
