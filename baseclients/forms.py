"""Page forms. Rules live in the services; these parse and show the service's field errors."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dealercrm.models import Store, VehicleSeries
from leads.forms import units_from_post

from .models import (
    BaseClient,
    CareChannel,
    CareOutcome,
    CarePlanItem,
    ClientKind,
    Criterion,
    ReferralType,
    TierRule,
    VehicleUse,
)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


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
    # The fleet's growth plan heard on the call or visit (optional): the care job reminds before the month.
    plan_vehicles = forms.IntegerField(label=_("Plans to add (vehicles)"), required=False, min_value=1,
                                       max_value=999)
    plan_by = forms.DateField(label=_("By (month)"), required=False, input_formats=["%Y-%m", "%Y-%m-%d"],
                              widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"))

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("plan_vehicles")) != bool(cleaned.get("plan_by")):
            self.add_error("plan_by", _("Give both: how many vehicles and by which month."))
        return cleaned


class CareSkipForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)


class DoNotContactForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=CareChannel.choices)
    reason = forms.CharField(label=_("Reason"), max_length=200)


class ClientEditForm(forms.Form):
    """The card's fields. ``version`` is the version the user read: saving over a newer one is a form error. The
    phone field is left out for a user who sees it masked."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("Name"), max_length=60)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False,
                            widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "off"}))
    kind = forms.ChoiceField(label=_("Person or company"), choices=ClientKind.choices)
    region = forms.ChoiceField(label=_("Region (district/county)"), required=False)
    industry = forms.ChoiceField(label=_("Industry"), required=False)
    fleet_size = forms.IntegerField(label=_("Fleet size"), min_value=0, max_value=100000,
                                    widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    birthday = forms.DateField(label=_("Birthday"), required=False, widget=DateInput())
    address = forms.CharField(label=_("Address"), max_length=200, required=False)

    def __init__(self, *args, show_phone: bool = True, lists: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if not show_phone:
            del self.fields["phone"]
        # Region and industry are picked from the group's lists (``lists``: {kind: [(value, label)]}).
        for kind in ("region", "industry"):
            self.fields[kind].choices = [("", "—"), *(lists or {}).get(kind, [])]

    def changes(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("version")
        return data


class VehicleForm(forms.Form):
    """A vehicle the client owns that was not sold through a deal here. The service checks the VIN's check digit,
    the plate's format and that the VIN is on no other card."""

    series = forms.ModelChoiceField(label=_("Series"), queryset=VehicleSeries.objects.none(), required=False,
                                    empty_label="—")
    vin = forms.CharField(label=_("VIN"), max_length=30, required=False,
                          widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    plate = forms.CharField(label=_("Plate"), max_length=20, required=False,
                            widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "沪A12345"}))
    use = forms.ChoiceField(label=_("Use"), choices=VehicleUse.choices, initial=VehicleUse.PRIVATE)
    colour = forms.CharField(label=_("Colour"), max_length=30, required=False)
    ordered_at = forms.DateField(label=_("Order date"), required=False, widget=DateInput())
    delivered_at = forms.DateField(label=_("Delivery date"), required=False, widget=DateInput())
    registered_at = forms.DateField(label=_("Registration date"), required=False, widget=DateInput())
    insurance_renewal_at = forms.DateField(label=_("Insurance renewal date"), required=False, widget=DateInput())
    mileage_km = forms.IntegerField(label=_("Mileage (km)"), min_value=0, required=False,
                                    widget=forms.NumberInput(attrs={"inputmode": "numeric"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["series"].queryset = VehicleSeries.objects.select_related("brand")


class VehicleEditForm(forms.Form):
    """A vehicle on the card: its use (the inspection interval follows it), plate, dates and mileage."""

    use = forms.ChoiceField(label=_("Use"), choices=VehicleUse.choices)
    plate = forms.CharField(label=_("Plate"), max_length=20, required=False,
                            widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "沪A12345"}))
    colour = forms.CharField(label=_("Colour"), max_length=30, required=False)
    registered_at = forms.DateField(label=_("Registration date"), required=False, widget=DateInput())
    insurance_renewal_at = forms.DateField(label=_("Insurance renewal date"), required=False, widget=DateInput())
    mileage_km = forms.IntegerField(label=_("Mileage (km)"), min_value=0, required=False,
                                    widget=forms.NumberInput(attrs={"inputmode": "numeric"}))


class ContactLogForm(forms.Form):
    """A call or visit logged on the client (it closes the matching care task)."""

    method = forms.ChoiceField(label=_("Method"), choices=CareChannel.choices, initial=CareChannel.PHONE)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=[("", "—"), *CareOutcome.choices], required=False)
    content = forms.CharField(label=_("What was said or done"), max_length=2000, required=False,
                              widget=forms.Textarea(attrs={"rows": 2}))


class TierRuleForm(forms.ModelForm):
    class Meta:
        model = TierRule
        fields = ["premium_pct", "general_pct", "repeat_buyer_premium", "referral_deal_premium", "fleet_min",
                  "important_pct", "ordinary_pct", "one_brings_one_months", "review_months",
                  "inspection_operating_months", "inspection_exempt_first_year", "inspection_yearly_from_year",
                  "repurchase_age_years", "repurchase_km"]

    # The repurchase reminders' settings: left out of a post (a form of before they existed), they keep their value.
    KEEP_WHEN_EMPTY = ("repurchase_age_years", "repurchase_km")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.KEEP_WHEN_EMPTY:
            self.fields[name].required = False

    def clean(self):
        cleaned = super().clean()
        for name in self.KEEP_WHEN_EMPTY:
            if cleaned.get(name) is None:
                cleaned[name] = getattr(self.instance, name)
        return cleaned


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.kind == "inspection":  # the interval is the group's inspection rule (above)
            self.fields["every_months"].disabled = True
            self.fields["every_months"].help_text = _("Set by the inspection rule.")


CarePlanFormSet = forms.modelformset_factory(CarePlanItem, form=CarePlanItemForm, extra=0)


class DealDeliverForm(forms.Form):
    """More units of an order delivered: the date; the rows are read by ``leads.forms.units_from_post``."""

    delivered_at = forms.DateField(label=_("Delivery date"), required=False, widget=DateInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["delivered_at"].initial = timezone.localdate()
        self.units = units_from_post(self.data)

    def clean(self):
        cleaned = super().clean()
        if not self.units:
            raise forms.ValidationError(_("Give the VIN or plate of at least one vehicle delivered."))
        return cleaned


def group_of(user) -> int | None:
    """The dealer group a user works in (a group admin's, or their store's)."""
    if getattr(user, "dealer_group_id", None):
        return user.dealer_group_id
    if getattr(user, "store_id", None):
        return user.store.group_id
    return None


def referrer_fields(user) -> dict:
    """A lead's referrer (a base client of the user's dealer group, picked with the htmx search of
    ``baseclients/partials/_referrer_picker.html``) and the typed referral types; the leads' visit form adds these,
    the referral service checks them again (the lead's group, at most two types)."""
    group_id = group_of(user)
    clients = BaseClient.objects.filter(group_id=group_id) if group_id else BaseClient.objects.all()
    if user.is_superuser:
        clients = BaseClient.objects.all()
    return {
        "referrer": forms.ModelChoiceField(
            label=_("Referred by (base client)"), queryset=clients, required=False, widget=forms.HiddenInput,
            error_messages={"invalid_choice": _("Choose a base client of this dealer group.")}),
        "referral_types": forms.MultipleChoiceField(
            label=_("Referral type"), choices=ReferralType.choices, required=False,
            widget=forms.CheckboxSelectMultiple,
            help_text=_("Up to two; first-time or repeat referrer is worked out from the referrer's history.")),
        "referral_code": ReferralCodeField(group_id=None if user.is_superuser else group_id),
    }


class ReferralCodeField(forms.CharField):
    """The code on a referral reward card (推荐有奖): cleans to the card's base client (of the user's dealer group),
    or None when left blank; a code that names no client of the group is a form error."""

    def __init__(self, *, group_id: int | None, **kwargs):
        self.group_id = group_id
        kwargs.setdefault("label", _("Referral card code"))
        kwargs.setdefault("help_text", _("The six characters on the customer's referral reward card, if they have one."))
        super().__init__(max_length=20, required=False, widget=forms.TextInput(attrs={
            "autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false",
            "placeholder": "K2TK6R"}), **kwargs)

    def clean(self, value):
        from .selectors import client_by_code

        text = super().clean(value).strip()
        if not text:
            return None
        client = client_by_code(text, self.group_id)
        if client is None:
            raise forms.ValidationError(_("No base client of this dealer group has this referral card code."))
        return client


def referral_from(cleaned: dict) -> dict | None:
    """The referral a form's cleaned data names (for ``services.referral_set``), or None. A picked referrer wins
    over a card code."""
    referrer = cleaned.get("referrer") or cleaned.get("referral_code")
    types = cleaned.get("referral_types") or []
    if referrer is None and not types:
        return None
    return {"referrer_client": referrer, "types": types}


def referral_save(*, actor, lead, cleaned: dict) -> None:
    """The visit forms' hook (leads.extensions): name the new lead's referrer, if the form names one."""
    from .services import referral_set

    if (referral := referral_from(cleaned)) is not None:
        referral_set(actor=actor, lead=lead, **referral)


class ReferrerForm(forms.Form):
    """The lead page's "referred by" form."""

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(referrer_fields(user))
        self.fields["referrer"].required = True
        self.fields["referrer"].error_messages["required"] = _("Search and choose the base client who referred.")


def store_field() -> forms.ModelChoiceField:
    """A store the user works in, named by a page input: not a number, or a store outside the user's scope, is a
    form error (never a server error, and nothing about another store)."""
    return forms.ModelChoiceField(queryset=Store.objects.none(), required=False, error_messages={
        "invalid_choice": _("Choose one of your stores.")})


class ReferrerSearchForm(forms.Form):
    referrer_q = forms.CharField(max_length=40, required=False)
    store = store_field()  # the lead form's store, for a user of no group (a superuser)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = Store.objects.visible_to(user)


class VisitHintForm(forms.Form):
    """The visit form's "existing customer" hint: the phone typed, and the store when the user has none of their
    own (a group admin picks it on the visit form)."""

    phone = forms.CharField(required=False)
    store = store_field()

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = Store.objects.visible_to(user)


class VersionForm(forms.Form):
    """The version of the record the user read (a hidden input), for the service's stale-write check."""

    version = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1, error_messages={
        "invalid": _("This form is out of date: reload the page and try again.")})
