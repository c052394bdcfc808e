from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")

    def ready(self):
        from dealercrm import notifications

        from .notifications import report_ready_text

        # dealercrm.notifications renders the texts of other apps' kinds from this registry (where it has one).
        extra = getattr(notifications, "EXTRA_TEXTS", None)
        if extra is not None:
            extra["report_ready"] = report_ready_text
