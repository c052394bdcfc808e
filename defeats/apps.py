from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _texts():
    from django.utils.translation import gettext, ngettext

    def rejected(p):
        return gettext("False defeat: %(name)s is back with you, a follow-up is due within %(days)s days. "
                       "Manager's comment: %(comment)s") % {
            "name": p.get("name", ""), "days": p.get("days", ""), "comment": p.get("comment", "")}

    def confirmed(p):
        return gettext("The defeat of %(name)s was confirmed: %(comment)s") % {
            "name": p.get("name", ""), "comment": p.get("comment", "")}

    def pool(p):
        return gettext("%(name)s joined your competitor-customer pool.") % {"name": p.get("name", "")}

    def nurture_list(p):
        return gettext("%(name)s joined your nurture list (a confirmed quasi-defeat).") % {"name": p.get("name", "")}

    def pending(p):
        count = p.get("count", 0)
        return ngettext("%(count)s defeat application has waited more than %(days)s days for your verdict.",
                        "%(count)s defeat applications have waited more than %(days)s days for your verdict.",
                        count) % {"count": count, "days": p.get("days", "")}

    def nurture(p):
        count = p.get("count", 0)
        return ngettext("%(count)s customer of your competitor pool or nurture list is due for a contact.",
                        "%(count)s customers of your competitor pool or nurture list are due for a contact.",
                        count) % {"count": count}

    def came_back(p):
        return gettext("%(name)s came back to the showroom: won back from the competitor pool, now with "
                       "%(holder)s.") % {"name": p.get("name", ""), "holder": p.get("holder", "")}

    def came_back_pending(p):
        return gettext("%(name)s came back to the showroom: the pending defeat application is closed as a false "
                       "defeat and the lead is active again.") % {"name": p.get("name", "")}

    def pm_opened(p):
        return gettext("Write the post-mortem of %(name)s (reached grade %(grade)s): where it turned, why, and what "
                       "to do differently.") % {"name": p.get("name", ""), "grade": p.get("grade", "")}

    def pm_submitted(p):
        return gettext("%(name)s submitted the post-mortem of %(customer)s for your review.") % {
            "name": p.get("name", ""), "customer": p.get("customer", "")}

    def pm_approved(p):
        return gettext("Your post-mortem of %(customer)s was approved and is shared with the team.") % {
            "customer": p.get("customer", "")}

    def pm_returned(p):
        return gettext("Your post-mortem of %(customer)s was sent back: %(comment)s") % {
            "customer": p.get("customer", ""), "comment": p.get("comment", "")}

    def handed(p):
        count = p.get("count", 0)
        return ngettext("%(count)s competitor-pool customer was handed to you.",
                        "%(count)s competitor-pool customers were handed to you.", count) % {"count": count}

    return {"defeat_pool_handed": handed, "postmortem_opened": pm_opened, "postmortem_submitted": pm_submitted,
            "postmortem_approved": pm_approved, "postmortem_returned": pm_returned,
            "defeat_came_back": came_back, "defeat_came_back_pending": came_back_pending,
            "defeat_rejected": rejected, "defeat_confirmed": confirmed, "defeat_pool": pool,
            "defeat_nurture_list": nurture_list,
            "defeat_pending": pending, "defeat_nurture": nurture}


def _labels():
    return {"defeat_pool_handed": _("Pool customers handed to you"),
            "postmortem_opened": _("Post-mortem to write"), "postmortem_submitted": _("Post-mortem to review"),
            "postmortem_approved": _("Post-mortem approved"), "postmortem_returned": _("Post-mortem sent back"),
            "defeat_came_back": _("Customer came back"), "defeat_came_back_pending": _("Customer came back"),
            "defeat_rejected": _("Defeat rejected"), "defeat_confirmed": _("Defeat confirmed"),
            "defeat_pool": _("New in the competitor pool"), "defeat_nurture_list": _("New on the nurture list"),
            "defeat_pending": _("Defeat applications waiting"), "defeat_nurture": _("Nurture contacts due")}


def _extend_lead_pages():
    """What the lead's pages and API show of the defeat workflow (leads.extensions)."""
    from leads import extensions

    from .api.timeline import DefeatEventSerializer
    from .forms import STALE_DEFEAT_LABEL, StaleDefeatForm, stale_defeat_file
    from .selectors import lead_defeat_entries

    extensions.register_page_part("lead_panels", "defeats/partials/_lead_panel.html")
    extensions.register_page_part("visit_hints", "defeats/partials/_visit_hint.html")
    extensions.register_timeline_kind(extensions.TimelineKind(
        kind="defeat", entries=lead_defeat_entries, serializer=DefeatEventSerializer,
        template="defeats/partials/_timeline_entry.html", rank=1))
    extensions.register_stale_action(extensions.StaleAction(
        action="defeat", label=STALE_DEFEAT_LABEL, form_class=StaleDefeatForm,
        fields="defeats/partials/_stale_fields_defeat.html", act=stale_defeat_file))


class DefeatsConfig(AppConfig):
    name = "defeats"
    verbose_name = _("Defeats")

    def ready(self):
        from dealercrm.notifications import DigestPart, register_digest_part, register_kind
        from leads import events

        from . import receivers
        from .jobs import nurture_due_by_owner, pending_late_by_store

        # Inside the visit service's transaction (leads/events.py).
        events.customer_returned.connect(receivers.customer_returned, dispatch_uid="defeats.customer_returned")
        _extend_lead_pages()

        texts = _texts()
        labels = _labels()
        # The separate pending and nurture alerts sent before they joined the morning digest render still.
        for kind, text in texts.items():
            register_kind(kind, label=labels[kind], text=text)

        def digest_text(params: dict) -> str:
            lines = []
            if params.get("defeat_pending_late"):
                lines.append(texts["defeat_pending"]({"count": params["defeat_pending_late"],
                                                      "days": params.get("defeat_pending_days", "")}))
            if params.get("defeat_nurture_due"):
                lines.append(texts["defeat_nurture"]({"count": params["defeat_nurture_due"]}))
            return " ".join(lines)

        register_digest_part(DigestPart(people=nurture_due_by_owner, stores=pending_late_by_store, text=digest_text))
