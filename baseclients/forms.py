"""Page forms. Rules live in the services; these parse and show the service's field errors."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import CareChannel, CareOutcome, CarePlanItem, Criterion, TierRule


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Name, phone, plate or VIN"), max_length=60, required=False)


class ScoreForm(forms.Form):
    """One number field per criterion the consultant scores (0..max); automatic criteria are shown, not edited."""

    def __init__(self, *args, criteria: list[Criterion], current: dict[str, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria = criteria
        for c in criteria:
            if c.fact:
                continue
            self.fields[c.code] = forms.IntegerField(
                label=c.label, min_value=0, max_value=c.max_points, initial=current.get(c.code, 0),
                help_text=_("0–%(max)s points") % {"max": c.max_points},
                widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "form-control form-control-lg"}))

    def rows(self, current: dict[str, int]):
        """(dimension, criterion, bound field or None, current points) in display order."""
        for c in self.criteria:
            yield c.dimension, c, (self[c.code] if not c.fact else None), current.get(c.code, 0)


class CareDoneForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=CareOutcome.choices)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000,
                           widget=forms.TextInput(attrs={"placeholder": _("What was said or done")}))


class CareSkipForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)


class DoNotContactForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=CareChannel.choices)
    reason = forms.CharField(label=_("Reason"), max_length=200)


class TierRuleForm(forms.ModelForm):
    class Meta:
        model = TierRule
        fields = ["premium_pct", "general_pct", "repeat_buyer_premium", "referral_deal_premium", "fleet_min"]


class CriteriaForm(forms.Form):
    def __init__(self, *args, criteria: list[Criterion], **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria = criteria
        for c in criteria:
            self.fields[c.code] = forms.IntegerField(label=c.label, min_value=1, max_value=100,
                                                     initial=c.max_points)


class CarePlanItemForm(forms.ModelForm):
    class Meta:
        model = CarePlanItem
        fields = ["is_active", "channel", "every_months", "offset_days"]


CarePlanFormSet = forms.modelformset_factory(CarePlanItem, form=CarePlanItemForm, extra=0)


def deal_delivery_fields() -> dict:
    """The delivery record the leads' deal form takes (labels in this app's catalog; the deal service validates)."""
    return {
        "vin": forms.CharField(label=_("VIN"), max_length=30, required=False,
                               widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})),
        "plate": forms.CharField(label=_("Plate"), max_length=20, required=False,
                                 widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "沪A12345"})),
        "trade_in": forms.BooleanField(label=_("Trade-in"), required=False),
        "financed": forms.BooleanField(label=_("Financed"), required=False),
    }
