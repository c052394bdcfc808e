from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DefeatsConfig(AppConfig):
    name = "defeats"
    verbose_name = _("Defeats")
