"""Who changed what on a lead: the field-level history kept by django-simple-history."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from dealercrm.models import User

from ..selectors import lead_list


@login_required
def lead_history(request, pk):
    """Each saved version of the lead with the fields that changed, who changed them and when, newest first."""
    lead = get_object_or_404(lead_list(user=request.user), pk=pk)
    records = list(lead.history.all().order_by("-history_date", "-history_id")[:200])
    user_ids = {r.history_user_id for r in records if r.history_user_id}
    users = {u.pk: u for u in User.objects.filter(pk__in=user_ids)}
    fields = {f.attname: f for f in lead._meta.fields}
    rows = []
    for newer, older in zip(records, records[1:] + [None]):
        changes = []
        if older is not None:
            for change in newer.diff_against(older).changes:
                field = fields.get(change.field) or fields.get(f"{change.field}_id")
                changes.append({"label": field.verbose_name if field else change.field,
                                "old": change.old, "new": change.new})
        rows.append({
            "record": newer,
            "user": users.get(newer.history_user_id),
            "changes": changes,
            "created": older is None,
        })
    return render(request, "leads/history.html", {"lead": lead, "rows": rows})
