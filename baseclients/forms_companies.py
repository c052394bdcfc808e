"""Page forms for company accounts: the company with its people (a formset of rows, phone first), the lead's company
link and qualification. The rules live in leads.services.company_save / lead_qualify; these only parse."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from dealercrm.models import Role, User
from leads.companies import QUALIFICATION_POINTS, Answer, CompanySize, DecisionRole, Qualification


class CompanyForm(forms.Form):
    name = forms.CharField(label=_("Company name"), max_length=100)
    credit_code = forms.CharField(label=_("Unified social credit code"), max_length=30, required=False,
                                  help_text=_("18 characters; the last one is checked."))
    legal_representative = forms.CharField(label=_("Legal representative"), max_length=60, required=False)
    industry = forms.CharField(label=_("Industry"), max_length=60, required=False)
    size = forms.ChoiceField(label=_("Size"), choices=[("", "—"), *CompanySize.choices], required=False)
    turnover = forms.DecimalField(label=_("Annual turnover (CNY)"), max_digits=16, decimal_places=2, min_value=0,
                                  required=False)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    owner = forms.ModelChoiceField(label=_("Owner consultant"), queryset=User.objects.none(), required=False)

    def __init__(self, *args, owners=None, **kwargs):
        super().__init__(*args, **kwargs)
        if owners is None:
            del self.fields["owner"]
        else:
            self.fields["owner"].queryset = owners
        for name in ("name", "credit_code", "legal_representative", "industry", "address"):
            self.fields[name].widget.attrs["autocomplete"] = "off"
        self.fields["industry"].widget.attrs["list"] = "industry-list"
        self.fields["credit_code"].widget.attrs.update({"class": "text-uppercase", "spellcheck": "false"})


class PersonForm(forms.Form):
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False,
                            widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "off"}))
    name = forms.CharField(label=_("Name"), max_length=60, required=False)
    title = forms.CharField(label=_("Role or title"), max_length=60, required=False)
    decision_role = forms.ChoiceField(label=_("Part in the decision"), choices=[("", "—"), *DecisionRole.choices],
                                      required=False)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return not any((data.get(f) or "").strip() for f in ("phone", "name", "title", "decision_role", "note"))


PeopleFormSet = forms.formset_factory(PersonForm, extra=0, max_num=50, absolute_max=50, validate_max=True)


def owner_choices(actor: User, store_id: int):
    """Who a company can be handed to (by a manager or the fleet sales manager): the store's active staff."""
    return (User.objects.filter(store_id=store_id, is_active=True, role__in=[Role.CONSULTANT, Role.MANAGER])
            .order_by("role", "display_name", "username"))


class LeadCompanyForm(forms.Form):
    company = forms.ModelChoiceField(label=_("Company"), queryset=None, required=False)

    def __init__(self, *args, companies=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["company"].queryset = companies


class QualificationForm(forms.ModelForm):
    class Meta:
        model = Qualification
        fields = [f for p in QUALIFICATION_POINTS for f in (p, f"{p}_note")]
        widgets = {p: forms.RadioSelect(choices=Answer.choices) for p in QUALIFICATION_POINTS}
