from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = _("Leads")

    def ready(self):
        from dealercrm.jobs import register_job_label

        from .services import jobs

        for name, label in ((jobs.JOB_STALE, _("Flag stale leads")), (jobs.JOB_OVERDUE, _("Flag overdue follow-ups")),
                            (jobs.JOB_RECLAIM, _("Move long-overdue leads back to the pool")),
                            (jobs.JOB_DIGESTS, _("Send the daily digests"))):
            register_job_label(name, label)
