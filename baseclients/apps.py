from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BaseclientsConfig(AppConfig):
    name = "baseclients"
    verbose_name = _("Base clients")

    def ready(self):
        from django.utils.translation import gettext

        from dealercrm.notifications import EXTRA_TEXTS

        def care_digest(params: dict) -> str:
            return gettext("Care today: %(today)s tasks due, %(overdue)s overdue.") % {
                "today": params.get("care_today", 0), "overdue": params.get("care_overdue", 0)}

        EXTRA_TEXTS["care_digest"] = care_digest
