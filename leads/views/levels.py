"""The manager's consultant-levels page (``/settings/levels/``) and the pick of a waiting handoff from the
allocation page. Managers (their store) and group admins (any store of the group: the store picker); anyone else a
403; a store or handoff out of sight a 404. Writes through leads.services.levels."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import formset_factory
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from dealercrm.forms import add_service_errors
from dealercrm.models import Role, User

from ..models import GRADE_ORDER
from ..models_levels import DealCredit, Handoff, HandoffMode
from ..selectors_levels import level_of_members
from ..services.levels import (
    MAX_CAPACITY,
    MAX_LEVELS,
    handoff_pick,
    store_level_settings,
    store_levels,
    store_levels_set,
)
from .manager import _allocation_url, _page, _pick_store, manager_required

GRADE_CHOICES = [(g, g) for g in reversed(GRADE_ORDER)]


class LevelRowForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Level name"), max_length=40, required=False)
    order = forms.IntegerField(label=gettext_lazy("Level rank"), min_value=1, max_value=MAX_LEVELS, required=False,
                               help_text=gettext_lazy("1 is the top level."))
    grades = forms.MultipleChoiceField(label=gettext_lazy("Grades it holds"), choices=GRADE_CHOICES, required=False,
                                       widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}))
    capacity = forms.IntegerField(label=gettext_lazy("Capacity"), min_value=1, max_value=MAX_CAPACITY, required=False,
                                  help_text=gettext_lazy("Active leads one consultant works at once."))

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not (data.get("name") or data.get("grades") or data.get("capacity"))


LevelRowFormSet = formset_factory(LevelRowForm, extra=0, max_num=MAX_LEVELS, absolute_max=MAX_LEVELS)


class LevelRulesForm(forms.Form):
    handoff = forms.ChoiceField(label=gettext_lazy("A lead promoted above its holder's level"),
                                choices=HandoffMode.choices)
    credit = forms.ChoiceField(label=gettext_lazy("Who a handed-off lead's deal counts for"), choices=DealCredit.choices)

    def __init__(self, *args, consultants=(), ranks=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", _("No level"))] + [(str(order), name) for order, name in ranks]
        self.consultants = list(consultants)
        for person in self.consultants:
            self.fields[f"c{person.pk}"] = forms.ChoiceField(label=str(person), choices=choices, required=False)

    def members(self) -> dict[int, int | None]:
        return {p.pk: int(self.cleaned_data[f"c{p.pk}"]) if self.cleaned_data.get(f"c{p.pk}") else None
                for p in self.consultants}

    def consultant_fields(self):
        return [self[f"c{p.pk}"] for p in self.consultants]


def _rows(levels) -> list[dict]:
    return [{"name": lv.name, "order": lv.order, "grades": lv.grade_list, "capacity": lv.capacity} for lv in levels]


@manager_required
def levels_settings(request):
    """The store's consultant levels (name, rank, grades, capacity), its handoff and credit rules, and each active
    consultant's level, in one form saved as a whole."""
    store, stores = _pick_store(request, request.GET.get("store"))
    if store is None:
        raise PermissionDenied(_("You manage no store yet."))
    levels = store_levels(store)
    settings_row = store_level_settings(store)
    consultants = list(User.objects.filter(store=store, role=Role.CONSULTANT, is_active=True)
                       .order_by("display_name", "username"))
    member_level = level_of_members(store=store)
    ranks = [(lv.order, lv.name) for lv in levels]
    initial_rules = {"handoff": settings_row.handoff, "credit": settings_row.credit,
                     **{f"c{p.pk}": str(member_level[p.pk].order) if p.pk in member_level else "" for p in consultants}}
    if request.method == "POST":
        # No initial here: a row typed as it was shown must still count (an unchanged extra row would be skipped).
        formset = LevelRowFormSet(request.POST, prefix="level")
        typed_ranks = []
        for i in range(min(int(request.POST.get("level-TOTAL_FORMS") or 0), MAX_LEVELS)):
            order, name = request.POST.get(f"level-{i}-order"), request.POST.get(f"level-{i}-name")
            if (order or "").isdigit() and name:
                typed_ranks.append((int(order), name))
        rules = LevelRulesForm(request.POST, consultants=consultants, ranks=typed_ranks or ranks)
        if formset.is_valid() and rules.is_valid():
            rows = [dict(f.cleaned_data) for f in formset if not f.is_blank()]
            try:
                store_levels_set(actor=request.user, store=store, levels=rows, handoff=rules.cleaned_data["handoff"],
                                 credit=rules.cleaned_data["credit"], members=rules.members())
            except ValidationError as exc:
                _spread_errors(formset, rules, exc)
            else:
                messages.success(request, _("Consultant levels saved."))
                return redirect(f"{reverse('leads:levels')}?store={store.pk}")
    else:
        formset = LevelRowFormSet(prefix="level", initial=_rows(levels) + [{}] * (len(levels) < MAX_LEVELS))
        rules = LevelRulesForm(initial=initial_rules, consultants=consultants, ranks=ranks)
    return _page(request, "leads/manager/levels.html", {
        "store": store, "stores": stores, "formset": formset, "rules": rules, "levels": levels,
    })


def _spread_errors(formset, rules, exc: ValidationError) -> None:
    """The service's messages where they belong: ``levels.<i>.<field>`` on that row (counted among the filled rows),
    ``levels`` above the levels, the rules' and consultants' on the rules form."""
    filled = [f for f in formset if not f.is_blank()]
    for key, errors in exc.message_dict.items():
        parts = key.split(".")
        if parts[0] == "levels" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(filled):
            for error in errors:
                filled[int(parts[1])].add_error(parts[2] if parts[2] in LevelRowForm.base_fields else None, error)
        elif parts[0] == "levels":
            formset.level_errors = [*getattr(formset, "level_errors", []), *errors]
        else:
            add_service_errors(rules, ValidationError({key: errors}))


class PickForm(forms.Form):
    to_user = forms.IntegerField(min_value=1)


@manager_required
@require_POST
def handoff_pick_view(request, pk):
    """The manager gives a waiting handoff's lead to a consultant of the store (the allocation page's list)."""
    handoff = get_object_or_404(Handoff.objects.visible_to(request.user).select_related("lead__store"), pk=pk)
    form = PickForm(request.POST)
    store = handoff.lead.store
    to_user = None
    if form.is_valid():
        to_user = User.objects.visible_to(request.user).filter(pk=form.cleaned_data["to_user"]).first()
    if to_user is None:
        messages.error(request, _("Choose an active consultant of this store."))
        return redirect(_allocation_url(store) + "#mgr-handoffs")
    try:
        handoff_pick(actor=request.user, handoff=handoff, to_user=to_user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("%(lead)s now goes to %(name)s.") % {"lead": handoff.lead.name, "name": to_user})
    return redirect(_allocation_url(store) + "#mgr-handoffs")

