from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")

    def ready(self):
        from dealercrm import notifications

        from .notifications import report_ready_text

        notifications.register_kind("report_ready", label=_("Report ready"), text=report_ready_text)
