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

    def handed(p):
        count = p.get("count", 0)
        return ngettext("%(count)s competitor-pool customer was handed to you.",
                        "%(count)s competitor-pool customers were handed to you.", count) % {"count": count}

    return {"defeat_pool_handed": handed, "defeat_came_back": came_back, "defeat_came_back_pending": came_back_pending,
            "defeat_rejected": rejected, "defeat_confirmed": confirmed, "defeat_pool": pool,
            "defeat_nurture_list": nurture_list,
            "defeat_pending": pending, "defeat_nurture": nurture}


def _labels():
    return {"defeat_pool_handed": _("Pool customers handed to you"),
            "defeat_came_back": _("Customer came back"), "defeat_came_back_pending": _("Customer came back"),
            "defeat_rejected": _("Defeat rejected"), "defeat_confirmed": _("Defeat confirmed"),
            "defeat_pool": _("New in the competitor pool"), "defeat_nurture_list": _("New on the nurture list"),
            "defeat_pending": _("Defeat applications waiting"), "defeat_nurture": _("Nurture contacts due")}


class DefeatsConfig(AppConfig):
    name = "defeats"
    verbose_name = _("Defeats")

    def ready(self):
        from dealercrm.notifications import DigestPart, register_digest_part, register_kind

        from .jobs import nurture_due_by_owner, pending_late_by_store

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
