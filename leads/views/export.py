"""CSV export of the lead list, with the list page's filters. Phones are personal information: a consultant's
export always masks them; a manager's export of their own store shows them in full."""

import csv
import io

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from dealercrm.exports import spreadsheet_safe
from dealercrm.models import Role, Store, User, VehicleSeries

from ..filters import LeadFilterSet
from ..models import Channel, Source, Status
from ..phones import phone_display, phone_mask
from ..selectors import lead_list
from ..services import manages_store


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
    # Rows as plain tuples, the names they point to from small look-up tables read once (stores, people, channels,
    # series), the choice labels translated once: at 150k rows, building a model object, a translation and a
    # related object per row was nine tenths of the time.
    statuses, sources = dict(Status.choices), dict(Source.choices)
    statuses = {key: str(label) for key, label in statuses.items()}
    sources = {key: str(label) for key, label in sources.items()}
    stores = {store.pk: store for store in Store.objects.visible_to(user)}
    full_phones = {pk for pk, store in stores.items() if not mask and manages_store(user, store)}
    people = {u.pk: str(u) for u in User.objects.filter(pk__in=leads.order_by().values("assigned_to").distinct())}
    channels = {c.pk: str(c) for c in Channel.objects.all()}
    series = {v.pk: str(v) for v in VehicleSeries.objects.select_related("brand")}
    tz = timezone.get_current_timezone()
    safe = spreadsheet_safe

    def local(dt):
        if dt is None:
            return ""
        d = dt.astimezone(tz)
        return f"{d.year:04d}-{d.month:02d}-{d.day:02d} {d.hour:02d}:{d.minute:02d}"

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")  # a BOM, so Excel opens the Chinese text as UTF-8
        writer.writerow([
            _("ID"), _("Name"), _("Phone"), _("Grade"), _("Status"), _("Source"), _("Channel"), _("Series"),
            _("Consultant"), _("Store"), _("First visit"), _("Last contact"), _("Next follow-up due"),
        ])
        columns = ("pk", "name", "phone", "grade", "status", "source", "channel_id", "series_id", "assigned_to_id",
                   "store_id", "first_visit_at", "last_contact_at", "next_follow_up_at")
        queryset = leads.order_by("-first_visit_at", "-pk").values_list(*columns)
        for n, (pk, name, phone, grade, status, source, channel, serie, holder, store, first, last,
                due) in enumerate(queryset.iterator(chunk_size=5000), start=1):
            phone = phone_display(phone) if store in full_phones else phone_mask(phone)
            # Every cell a person typed goes through spreadsheet_safe: a name typed as =HYPERLINK(...) is text, not a
            # formula (and "+1 415 …" too). Ids, grades, choice labels and dates are ours and cannot start so.
            writer.writerow([
                pk, safe(name), safe(phone), grade or "", statuses.get(status, status), sources.get(source, source),
                safe(channels.get(channel, "")), safe(series.get(serie, "")), safe(people.get(holder, "")),
                safe(stores[store].name), local(first), local(last), local(due),
            ])
            if n % 500 == 0:  # one chunk per 500 rows: memory stays flat, the response's per-chunk work is small
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
    return response
