"""The group admin's lists of regions and industries (`/base-clients/settings/lists/`): add an entry, change its
name and other spellings, merge one entry into another (its cards follow)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from . import services
from .models import ListEntry, ListKind
from .views import admin_group_id


def _aliases(text: str) -> list[str]:
    return [a.strip() for a in (text or "").replace("，", ",").replace("、", ",").split(",") if a.strip()]


@login_required
def lists_settings(request: HttpRequest) -> HttpResponse:
    user = request.user
    group_id = admin_group_id(user)
    entries = ListEntry.objects.filter(group_id=group_id)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "merge":
                entry = get_object_or_404(entries, pk=request.POST.get("entry"))
                into = get_object_or_404(entries, pk=request.POST.get("into"))
                services.list_entry_merge(actor=user, entry=entry, into=into)
                messages.success(request, _("Merged: the cards of %(old)s now say %(new)s.") % {
                    "old": entry.name, "new": into.name})
            else:
                entry = get_object_or_404(entries, pk=request.POST["entry"]) if request.POST.get("entry") else None
                services.list_entry_save(actor=user, group_id=group_id, kind=request.POST.get("kind", ""),
                                         name=request.POST.get("name", ""),
                                         aliases=_aliases(request.POST.get("aliases", "")), entry=entry)
                messages.success(request, _("List saved."))
        except ValidationError as exc:
            messages.error(request, " ".join(m for msgs in exc.message_dict.values() for m in msgs))
        return redirect("baseclients:lists")
    lists = [{"kind": kind, "label": label,
              "entries": [{"entry": e, "aliases": ", ".join(e.aliases or [])} for e in entries.filter(kind=kind)]}
             for kind, label in ListKind.choices]
    return render(request, "baseclients/lists.html", {"lists": lists})
