"""In-app notifications: the navbar's bell (a tiny partial htmx polls), the list page, mark one or all read.
Personal: everyone sees only their own (``Notification.objects.visible_to``); someone else's is a 404.
Reads through dealercrm.notifications; the writes are its ``notifications_mark_read``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .models import Notification
from .notifications import notification_label, notification_text, notifications_mark_read, unread_count

PER_PAGE = 30
# Sent with every change of the read state: the bell (listening on body) fetches its count again.
CHANGED = "notificationsChanged"


def _safe_url(request, url: str) -> str:
    """A notification's link, if it stays on this site (jobs write relative paths)."""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return ""


def _decorate(request, notifications):
    items = list(notifications)
    for n in items:
        n.label = notification_label(n)
        n.text = notification_text(n)
        n.link = _safe_url(request, n.url)
    return items


@login_required
def bell(request):
    """`/notifications/bell/`: the navbar's bell with the unread count (one count on a partial index). The navbar
    loads it once the page is up and every 60 s, and again whenever the read state changes."""
    return render(request, "dealercrm/partials/_bell.html", {"unread": unread_count(request.user)})


@login_required
def notification_list(request):
    """`/notifications/`: the user's notifications, newest first, unread ones highlighted, 30 a page."""
    qs = Notification.objects.visible_to(request.user)
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = _decorate(request, page.object_list)
    unread = unread_count(request.user)
    return render(request, "dealercrm/notifications.html", {"page": page, "unread": unread})


@login_required
@require_POST
def notification_read(request, pk):
    """Mark one notification read. htmx gets the item back (read); ``open=1`` goes on to its link."""
    notification = get_object_or_404(Notification.objects.visible_to(request.user), pk=pk)
    notifications_mark_read(user=request.user, ids=[notification.pk])
    notification.refresh_from_db()
    link = _safe_url(request, notification.url)
    if request.POST.get("open") and link:
        return redirect(link)
    if not request.htmx:
        return redirect("notifications")
    [notification] = _decorate(request, [notification])
    response = render(request, "dealercrm/partials/_notification.html", {"n": notification})
    response["HX-Trigger"] = CHANGED
    return response


@login_required
@require_POST
def notifications_read_all(request):
    """Mark every notification of the user read; htmx gets the list's first page back."""
    notifications_mark_read(user=request.user)
    if not request.htmx:
        return redirect("notifications")
    page = Paginator(Notification.objects.visible_to(request.user), PER_PAGE).get_page(1)
    page.object_list = _decorate(request, page.object_list)
    response = render(request, "dealercrm/partials/_notification_list.html", {"page": page, "unread": 0})
    response["HX-Trigger"] = CHANGED
    return response
