"""Error pages inside the layout: the handlers Django calls for a 400 and a 500 (its own render them without the
request, so without the navbar), a middleware that gives an empty 405 (``require_POST`` and friends) the page
the other errors have, and the log filter that makes a denial one line. Templates: templates/400.html … 500.html, in the user's language."""

from __future__ import annotations

import logging

from django.http import HttpResponseServerError
from django.shortcuts import render

logger = logging.getLogger(__name__)

PLAIN_500 = "<!doctype html><title>Server error</title><h1>Server error · 服务器错误</h1>"


def bad_request(request, exception=None):
    return render(request, "400.html", status=400)


def server_error(request):
    """The 500 page in the layout; if rendering it fails too (the database is down, say), a plain page."""
    try:
        return render(request, "500.html", status=500)
    except Exception:  # noqa: BLE001 - the last resort must not raise
        logger.exception("Rendering the 500 page failed")
        return HttpResponseServerError(PLAIN_500)


class DenialLogFilter(logging.Filter):
    """On ``django.request``: a 403 is a decision, not a fault, so its record becomes one line, "Forbidden: GET
    /path (user 12)", without the traceback Django attaches to a PermissionDenied. The page and the API both log
    through here (DRF's 403 response is logged by Django's handler too). The path only: no query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if getattr(record, "status_code", None) != 403 or request is None:
            return True
        user = getattr(request, "user", None)
        who = user.pk if user is not None and user.is_authenticated else "anonymous"
        record.msg, record.args = "Forbidden: %s %s (user %s)", (request.method, request.path, who)
        record.exc_info = record.exc_text = None
        return True


class MethodNotAllowedPageMiddleware:
    """A 405 with no body (Django's method decorators return one) becomes the 405 page; the Allow header stays.
    API responses (JSON bodies) and htmx requests are left as they are."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code == 405 and not getattr(response, "streaming", False) and not response.content
                and not request.headers.get("HX-Request")):
            page = render(request, "405.html", status=405)
            if response.has_header("Allow"):
                page["Allow"] = response["Allow"]
            return page
        return response
