from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class FunnelConfig(AppConfig):
    name = "funnel"
    verbose_name = _("Funnel")

    def ready(self):
        from django.utils.translation import gettext

        from dealercrm.notifications import register_kind
        from leads.extensions import register_open_counts

        from . import lead_now, rollups, rollups_defeats, rollups_followups, rollups_ladder, rollups_stays
        from .jobs import DRIFT_KIND, DRIFT_TEXT

        register_kind(DRIFT_KIND, label=_("Dashboard counts repaired"),
                      text=lambda params: gettext(DRIFT_TEXT) % {"count": params.get("count", "")})

        # The rollups' marking triggers live on the leads' tables: (re)installed after every migrate, since SQLite
        # drops a table's triggers when a migration rebuilds the table (funnel.rollups.ensure_installed).
        post_migrate.connect(rollups.ensure_installed, sender=self, dispatch_uid="funnel_rollup_triggers")
        post_migrate.connect(rollups_ladder.ensure_installed, sender=self, dispatch_uid="funnel_ladder_triggers")
        post_migrate.connect(rollups_followups.ensure_installed, sender=self, dispatch_uid="funnel_followups_triggers")
        # The time-in-stage rows' marking triggers likewise (funnel.rollups_stays, PostgreSQL only).
        post_migrate.connect(rollups_stays.ensure_installed, sender=self, dispatch_uid="funnel_stay_triggers")
        # The control points' state-now counts likewise (funnel.lead_now, PostgreSQL only).
        # The defeat figures' rollup: a kind of its own in funnel.rollups.KINDS, and its triggers.
        rollups_defeats.register()
        post_migrate.connect(rollups_defeats.ensure_installed, sender=self, dispatch_uid="funnel_defeats_triggers")
        post_migrate.connect(lead_now.ensure_installed, sender=self, dispatch_uid="funnel_lead_now_triggers")
        # The workspace's ladder, overdue and due-today counts from the same rows (a few per store and consultant,
        # instead of every active lead of a group's stores).
        register_open_counts(lead_now.open_counts)
