from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BaseclientsConfig(AppConfig):
    name = "baseclients"
    verbose_name = _("Base clients")
