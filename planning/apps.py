from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PlanningConfig(AppConfig):
    """Work plans (工作计划和工作记录): each consultant's year, quarter, month, week and day plan beside what the
    records say was done. Reads leads, funnel and baseclients; reports reads it; nothing below imports it."""

    name = "planning"
    verbose_name = _("Work plans")
