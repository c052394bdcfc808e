from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DealerCRMConfig(AppConfig):
    name = "dealercrm"
    verbose_name = _("Organisation")
