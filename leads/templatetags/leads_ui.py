"""Presentation helpers for lead pages. Pure formatting: no database queries here (STYLE)."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from leads.extensions import PAGE_PARTS
from leads.models import GRADE_ORDER, Grade
from leads.vehicles import VehicleUse

register = template.Library()


@register.filter
def badge_count(n):
    """A count on a badge or tile, "999+" past leads.selectors.REVIEW_BADGE_CAP (what pending_review_count counts)."""
    from leads.selectors import REVIEW_BADGE_CAP

    return f"{REVIEW_BADGE_CAP}+" if n and n > REVIEW_BADGE_CAP else n

_LABELS = dict(Grade.choices)


@register.filter
def grade_badge(grade, size=""):
    """``{{ lead.grade|grade_badge }}`` → a coloured A–E badge (A strongest, E lightest); a dashed one when
    the lead is not graded yet. ``|grade_badge:"lg"`` for the large header badge."""
    extra = f" grade-badge-{size}" if size else ""
    if grade in GRADE_ORDER:
        return format_html('<span class="grade-badge grade-{}{}" title="{}">{}</span>', grade.lower(), extra,
                           _LABELS[grade], grade)
    return format_html('<span class="grade-badge grade-none{}" title="{}">–</span>', extra, _("Not graded yet"))


@register.filter
def grade_label(grade):
    """The meaning of a grade (``A · closes within 3 months``), or "Not graded yet"."""
    return _LABELS.get(grade, _("Not graded yet"))


@register.filter
def grade_up(from_grade, to_grade):
    """True when moving from ``from_grade`` to ``to_grade`` climbs the ladder (E→D→C→B→A)."""
    if from_grade not in GRADE_ORDER or to_grade not in GRADE_ORDER:
        return False
    return GRADE_ORDER.index(to_grade) > GRADE_ORDER.index(from_grade)


@register.simple_tag(takes_context=True)
def lead_parts(context, slot):
    """``{% lead_parts "lead_panels" %}``: the templates other apps registered at this place of a lead's page
    (leads.extensions.PAGE_PARTS), each rendered with the page's context, in registration order."""
    engine = context.template.engine
    return mark_safe("".join(engine.get_template(name).render(context) for name in PAGE_PARTS.get(slot, ())))


def unit_rows_context(form, rows_id: str, legend, default_use: str = VehicleUse.PRIVATE) -> dict:
    """The vehicle rows of a deal or delivery form: the posted rows again (after an error) or one empty row."""
    rows = getattr(form, "units", None) if form is not None and form.is_bound else None
    return {"rows": rows or [{}], "rows_id": rows_id, "legend": legend, "uses": VehicleUse.choices,
            "default_use": default_use}


@register.inclusion_tag("leads/partials/_unit_rows.html")
def unit_rows(form, rows_id: str = "deal-units"):
    """The deal form's vehicles delivered now: the posted rows again (after an error) or one empty row; "another
    vehicle" adds a row (htmx)."""
    from django.utils.translation import gettext_lazy

    return unit_rows_context(form, rows_id, gettext_lazy("Vehicles delivered now"))
