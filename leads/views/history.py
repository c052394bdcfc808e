"""Who changed what on a lead: the field-level history kept by django-simple-history."""

from collections import defaultdict

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from dealercrm.models import User

from ..selectors import lead_list


def _readable(rows, fields):
    """Show each changed value as a user reads it: a choice by its label, a related record by its name (looked up
    once per model for the whole page), not by its stored code or id."""
    wanted = defaultdict(set)
    for row in rows:
        for change in row["changes"]:
            field = change["field"]
            if field is not None and field.is_relation:
                wanted[field.related_model].update(v for v in (change["old"], change["new"]) if v not in (None, ""))
    names = {model: {obj.pk: str(obj) for obj in model._default_manager.filter(pk__in=ids)}
             for model, ids in wanted.items()}
    for row in rows:
        for change in row["changes"]:
            field = change.pop("field")
            for key in ("old", "new"):
                value = change[key]
                if field is None or value in (None, ""):
                    continue
                if field.is_relation:
                    change[key] = names.get(field.related_model, {}).get(value, value)
                elif field.choices:
                    change[key] = dict(field.flatchoices).get(value, value)


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
                changes.append({"label": field.verbose_name if field else change.field, "field": field,
                                "old": change.old, "new": change.new})
        rows.append({
            "record": newer,
            "user": users.get(newer.history_user_id),
            "changes": changes,
            "created": older is None,
        })
    _readable(rows, fields)
    return render(request, "leads/history.html", {"lead": lead, "rows": rows})
