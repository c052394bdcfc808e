"""The staffing planner page (``/funnel/staffing/``): managers for their store, group admins per store of the
group. Every figure comes from ``funnel.staffing``; the view picks the store and period and formats nothing beyond
what the template's number filters do."""

from __future__ import annotations

from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from . import selectors, staffing
from .views import _pick_store, manager_required

YEARS_BACK, YEARS_AHEAD = 3, 1


def _int_in(raw, low: int, high: int) -> int | None:
    """A whole number typed in the address bar within [low, high], else None (the page falls back)."""
    if raw and str(raw).isdecimal() and low <= int(raw) <= high:
        return int(raw)
    return None


@manager_required
@require_GET
def staffing_page(request):
    """How many consultants each level needs for the store's target of the year or a month, beside the team it has,
    and what the gap costs in units."""
    store, stores = _pick_store(request.user, request.GET.get("store"), allow_all=False)
    if store is None:
        return render(request, "funnel/staffing.html", {"store": None, "stores": stores})
    today = timezone.localdate()
    year = _int_in(request.GET.get("year"), today.year - YEARS_BACK, today.year + YEARS_AHEAD) or today.year
    month = _int_in(request.GET.get("month"), 1, 12)
    plan = staffing.staffing_plan(user=request.user, store=store, year=year, month=month, today=today)
    ladder = []
    for grade, need in plan["needed"].items():
        rung = selectors.RUNG_NAMES.get(grade)  # the rung the grade climbs: B → "B->A"
        ladder.append({"grade": grade, "need": need, "rung": rung.replace("->", "→") if rung else "",
                       "rate": plan["rates"].get(rung) if rung else None})
    return render(request, "funnel/staffing.html", {
        "store": store, "stores": stores, "plan": plan, "year": year, "month": month, "ladder": ladder,
        "years": list(range(today.year - YEARS_BACK, today.year + YEARS_AHEAD + 1)), "months": list(range(1, 13)),
        "period": f"{year}-{month:02d}" if month else _("%(year)s (the months with a target)") % {"year": year},
        "saturation_pct": int((staffing.SATURATION - 1) * 100) + 100,
    })
