from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _extend_lead_pages():
    """What the lead's pages and API show of base clients (leads.extensions)."""
    from leads import extensions

    from .api import leads as api
    from .forms import referral_save, referrer_fields

    extensions.register_page_part("lead_panels", "baseclients/partials/_lead_panel_open.html")
    extensions.register_page_part("lead_panels", "baseclients/companies/_panel.html")
    extensions.register_page_part("won_lead", "baseclients/partials/_lead_panel.html")
    extensions.register_page_part("deal_header", "baseclients/partials/_lead_deal_delivery.html")
    extensions.register_page_part("visit_hints", "baseclients/partials/_visit_hint.html")
    extensions.register_page_part("quick_visit_fields", "baseclients/partials/_quick_referrer.html")
    extensions.register_page_part("visit_form_fields", "baseclients/partials/_visit_referrer.html")
    extensions.register_page_part("deal_form", "baseclients/partials/_deal_note.html")
    extensions.register_page_part("workspace", "baseclients/partials/_workspace_care.html")
    extensions.register_lead_fields(extensions.LeadFields(
        name="referral", form_fields=referrer_fields, form_save=referral_save, api_input=api.referrer_fields,
        api_output=api.referral_output, api_save=api.save_referral, select_related=("referral",),
        deal_output=api.deal_output))


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
        _extend_lead_pages()

        def care_text(params: dict) -> str:
            if not (params.get("care_today") or params.get("care_overdue")):
                return ""
            return gettext("Care today: %(today)s tasks due, %(overdue)s overdue.") % {
                "today": params.get("care_today", 0), "overdue": params.get("care_overdue", 0)}

        register_digest_part(DigestPart(people=care_counts, stores=None, text=care_text))
        # The separate care digests sent before it joined the morning one render still.
        register_kind("care_digest", label=_("Care tasks"), text=care_text)
