"""The events pages' forms. The services check everything again."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from baseclients.models import Tier
from dealercrm.models import Store
from defeats.models import PoolList

from .models import Answer, EventKind


def year_param(request) -> int:
    """The ``?year=`` of the events' year pages and workbooks: this year when absent or no number, kept in
    2000..2100."""
    from django.utils import timezone

    try:
        year = int(request.GET.get("year") or timezone.localdate().year)
    except ValueError:
        year = timezone.localdate().year
    return min(max(year, 2000), 2100)


class EventForm(forms.Form):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.none(), required=False,
                                   error_messages={"invalid_choice": _("Choose one of your stores.")})
    kind = forms.ChoiceField(label=_("Kind"), choices=EventKind.choices)
    title = forms.CharField(label=_("Title"), max_length=100)
    held_on = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    starts_at = forms.TimeField(label=_("Starts at"), required=False,
                                widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    place = forms.CharField(label=_("Place"), max_length=200)
    note = forms.CharField(label=_("Note"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        stores = Store.objects.visible_to(user).order_by("name")
        self.fields["store"].queryset = stores
        if user.store_id:
            del self.fields["store"]
        else:
            self.fields["store"].required = True


CHECKS = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})


class TargetForm(forms.Form):
    """The target-list builder: filters over the store's base clients and pool customers."""

    tiers = forms.MultipleChoiceField(label=_("Base clients of the tiers"), choices=Tier.choices, required=False,
                                      widget=CHECKS)
    regions = forms.MultipleChoiceField(label=_("In the regions"), choices=(), required=False,
                                        widget=CHECKS)
    industries = forms.MultipleChoiceField(label=_("In the industries"), choices=(), required=False,
                                           widget=CHECKS)
    pool_lists = forms.MultipleChoiceField(label=_("Lost customers"), choices=PoolList.choices, required=False,
                                           widget=CHECKS)

    def __init__(self, *args, choices: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regions"].choices = [(r, r) for r in choices["regions"]]
        self.fields["industries"].choices = [(i, i) for i in choices["industries"]]

    def filters(self) -> dict:
        return {k: list(self.cleaned_data.get(k) or []) for k in ("tiers", "regions", "industries", "pool_lists")}


class AnswerForm(forms.Form):
    answer = forms.ChoiceField(choices=Answer.choices)


class DoorSearchForm(forms.Form):
    q = forms.CharField(max_length=40, required=False)


class WalkInForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False,
                            widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}))
