from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BaseclientsConfig(AppConfig):
    name = "baseclients"
    verbose_name = _("Base clients")

    def ready(self):
        from django.utils.translation import gettext

        from dealercrm.notifications import DigestPart, register_digest_part, register_kind

        from leads import events

        from . import receivers
        from .services.jobs import care_counts

        # Inside the lead services' transactions (leads/events.py).
        events.deal_recorded.connect(receivers.deal_makes_client, dispatch_uid="baseclients.deal_makes_client")
        events.visit_logged.connect(receivers.visit_links_returning_buyer,
                                    dispatch_uid="baseclients.visit_links_returning_buyer")

        def care_text(params: dict) -> str:
            if not (params.get("care_today") or params.get("care_overdue")):
                return ""
            return gettext("Care today: %(today)s tasks due, %(overdue)s overdue.") % {
                "today": params.get("care_today", 0), "overdue": params.get("care_overdue", 0)}

        register_digest_part(DigestPart(people=care_counts, stores=None, text=care_text))
        # The separate care digests sent before it joined the morning one render still.
        register_kind("care_digest", label=_("Care tasks"), text=care_text)
