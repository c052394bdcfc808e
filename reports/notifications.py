"""The text of the reports' notification (kind ``report_ready``), registered with ``dealercrm.notifications``
when the app is ready (no migration of the notification kinds: that app keeps its choices)."""

from django.utils.translation import gettext as _


def report_ready_text(params: dict) -> str:
    if params.get("report") == "store-comparison":
        return _("The store comparison is ready: %(group)s, %(month)s.") % {
            "group": params.get("group", ""), "month": params.get("month", "")}
    return _("A monthly pack is ready: %(store)s, %(month)s.") % {
        "store": params.get("store", ""), "month": params.get("month", "")}
