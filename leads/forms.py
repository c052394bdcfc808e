"""Page input for the lead pages. Forms check the shape of the input; the rules live in leads.services, whose
ValidationError messages are copied back onto these forms' fields (see ``add_service_errors``)."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dealercrm.models import Role, Store, User, VehicleSeries

from .extensions import LEAD_FIELDS
from .models import (
    Channel,
    FollowUpMethod,
    FollowUpOutcome,
    Gender,
    Grade,
    PurchaseType,
    Source,
    VisitStep,
)
from .phones import phone_normalize
from .vehicles import VehicleUse

GRADE_CHOICES = [(g.value, g.label) for g in Grade]
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class DateTimeLocalInput(forms.DateTimeInput):
    """The browser's own date-and-time picker (a wheel on phones)."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=DATETIME_LOCAL)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class GradeChoiceField(forms.ChoiceField):
    """A grade A–E, or blank (``None``) where leaving the grade open is allowed. Pages draw it as a row of big
    tap targets (leads/partials/_grade_picker.html)."""

    def __init__(self, *, required=False, **kwargs):
        choices = GRADE_CHOICES if required else [("", _("Not graded yet")), *GRADE_CHOICES]
        super().__init__(choices=choices, required=required, widget=forms.RadioSelect, **kwargs)

    def clean(self, value):
        return super().clean(value) or None


def _channel_choices():
    """Active channels grouped under their source, so the list reads 自来 → 展厅/来电/网络 …"""
    channels = list(Channel.objects.filter(is_active=True))
    groups = []
    for source in Source:
        options = [(c.pk, str(c)) for c in channels if c.source == source.value]
        if options:
            groups.append((source.label, options))
    return [("", "—"), *groups]


class ChannelField(forms.ModelChoiceField):
    def __init__(self, **kwargs):
        super().__init__(queryset=Channel.objects.filter(is_active=True), required=False, label=_("Channel"), **kwargs)
        self.choices = _channel_choices


def own_series():
    return VehicleSeries.objects.filter(brand__is_own=True, is_active=True).select_related("brand")


class PhoneField(forms.CharField):
    """A phone typed as staff type it (138 0013 8000, +86 …); cleaned to E.164 or ``""``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Phone"))
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 30)
        super().__init__(
            widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "off",
                                          "placeholder": "138 0013 8000"}),
            **kwargs,
        )

    def clean(self, value):
        return phone_normalize(super().clean(value))


class _VisitTimesMixin:
    """The customer leaves after arriving (checked here to show it on the field; the service checks it too)."""

    def clean(self):
        cleaned = super().clean()
        arrived, left = cleaned.get("arrived_at"), cleaned.get("left_at")
        if arrived and left and left < arrived:
            self.add_error("left_at", _("The customer cannot leave before arriving."))
        return cleaned


class QuickVisitForm(forms.Form):
    """The workspace's walk-in form: the fewest fields that make a lead, logged in seconds."""

    name = forms.CharField(
        label=_("Name"), max_length=60,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. Mr. Wang"), "autocomplete": "off"}),
        error_messages={"required": _("Enter a name, or Mr./Ms. and a surname.")},
    )
    phone = PhoneField()
    source = forms.ChoiceField(label=_("Source"), choices=Source.choices, initial=Source.WALK_IN,
                               widget=forms.RadioSelect)
    channel = ChannelField()
    series = forms.ModelChoiceField(label=_("Series"), queryset=VehicleSeries.objects.none(), required=False,
                                    empty_label="—")
    grade = GradeChoiceField(label=_("Grade"))

    def __init__(self, *args, user: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["series"].queryset = own_series()
        if user is not None:
            for extra in LEAD_FIELDS.values():  # e.g. referred by a base client (baseclients), optional
                self.fields.update(extra.form_fields(user))

    def clean(self):
        cleaned = super().clean()
        channel = cleaned.get("channel")
        # The channel names its source (亲友推荐 is a referral): take it from there rather than reject the pair.
        if channel is not None:
            cleaned["source"] = channel.source
            self.errors.pop("source", None)
        return cleaned

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {key: data.get(key) for key in ("name", "phone", "source", "channel", "series", "grade")}

    def save_referral(self, *, actor: User, lead) -> None:
        """Save what the other apps' fields name for the new lead, e.g. its referrer (in the caller's transaction)."""
        for extra in LEAD_FIELDS.values():
            extra.form_save(actor=actor, lead=lead, cleaned=self.cleaned_data)


class VisitForm(_VisitTimesMixin, QuickVisitForm):
    """Every field of a showroom visit (the full /leads/visit/ page)."""

    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.none(), required=False)
    assigned_to = forms.ModelChoiceField(
        label=_("Consultant"), queryset=User.objects.none(), required=False,
        empty_label=_("Round-robin (least loaded consultant)"),
    )
    gender = forms.ChoiceField(label=_("Gender"), choices=Gender.choices, required=False)
    budget = forms.DecimalField(label=_("Budget (CNY)"), min_value=0, max_digits=12, decimal_places=2,
                                required=False, widget=forms.NumberInput(attrs={"inputmode": "decimal"}))
    purchase_type = forms.ChoiceField(label=_("Purchase type"), choices=[("", "—"), *PurchaseType.choices],
                                      required=False)
    district = forms.CharField(label=_("District"), max_length=60, required=False)
    industry = forms.CharField(label=_("Industry"), max_length=60, required=False)
    arrived_at = forms.DateTimeField(label=_("Arrived"), required=False, widget=DateTimeLocalInput())
    left_at = forms.DateTimeField(label=_("Left"), required=False, widget=DateTimeLocalInput())
    steps = forms.MultipleChoiceField(label=_("Steps taken"), choices=VisitStep.choices, required=False,
                                      widget=forms.CheckboxSelectMultiple)
    companions = forms.IntegerField(label=_("Companions"), min_value=0, max_value=20, initial=0, required=False)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        self.fields["phone"].help_text = _("A known phone records a re-visit of that customer.")
        self.fields["arrived_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        if user.role == Role.CONSULTANT:
            # A consultant logs their own customers in their own store: nothing to choose.
            del self.fields["store"], self.fields["assigned_to"]
            return
        consultants = User.objects.visible_to(user).filter(role=Role.CONSULTANT, is_active=True)
        self.fields["assigned_to"].queryset = consultants.select_related("store").order_by("store__name", "username")
        if user.store_id:
            del self.fields["store"]
        else:
            self.fields["store"].queryset = Store.objects.visible_to(user).order_by("name")
            self.fields["store"].required = True
            self.fields["assigned_to"].label_from_instance = lambda u: f"{u} · {u.store}"

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        kwargs = super().service_kwargs()
        kwargs.update(
            assigned_to=data.get("assigned_to"),
            gender=data.get("gender") or "",
            budget=data.get("budget"),
            purchase_type=data.get("purchase_type") or "",
            district=data.get("district") or "",
            industry=data.get("industry") or "",
            arrived_at=data.get("arrived_at"),
            left_at=data.get("left_at"),
            steps=data.get("steps") or [],
            companions=data.get("companions") or 0,
            note=data.get("note") or "",
        )
        return kwargs


class FollowUpForm(forms.Form):
    method = forms.ChoiceField(label=_("Method"), choices=FollowUpMethod.choices, initial=FollowUpMethod.PHONE)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=[("", "—"), *FollowUpOutcome.choices], required=False)
    content = forms.CharField(
        label=_("What was discussed"),
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("Needs, objections, what was agreed…")}),
        error_messages={"required": _("Say what was discussed.")},
    )
    grade_after = GradeChoiceField(label=_("Grade after this follow-up"))
    next_follow_up_at = forms.DateTimeField(
        label=_("Next follow-up"), required=False, widget=DateTimeLocalInput(),
        help_text=_("Leave blank to follow the grade's cadence."),
    )

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "method": data["method"],
            "content": data["content"],
            "outcome": data.get("outcome") or "",
            "grade_after": data.get("grade_after"),
            "next_follow_up_at": data.get("next_follow_up_at"),
        }


class GradeChangeForm(forms.Form):
    to_grade = GradeChoiceField(label=_("New grade"), required=True)
    reason = forms.CharField(label=_("Reason"), max_length=200,
                             error_messages={"required": _("Say why the grade changes.")})
    version = forms.IntegerField(widget=forms.HiddenInput)


MAX_UNIT_ROWS = 500  # an order's most units (DealForm.quantity's max)


def units_from_post(data) -> list[dict]:
    """The unit rows a deal or delivery form posts (``unit_vin``/``unit_plate``/``unit_use``, one of each per row;
    rows with neither VIN nor plate are left out), in order, for the deal service (``leads.vehicles.units_normalize``)."""
    if not hasattr(data, "getlist"):
        return []
    vins, plates, uses = data.getlist("unit_vin"), data.getlist("unit_plate"), data.getlist("unit_use")
    rows = []
    for i in range(min(max(len(vins), len(plates)), MAX_UNIT_ROWS)):
        vin = (vins[i] if i < len(vins) else "").strip()
        plate = (plates[i] if i < len(plates) else "").strip()
        if vin or plate:
            rows.append({"vin": vin, "plate": plate, "use": uses[i] if i < len(uses) else VehicleUse.PRIVATE})
    return rows


class DealForm(forms.Form):
    """The sale: ``price`` is a unit's price (the order's amount for one unit); ``quantity`` units; the vehicles
    delivered now are rows (``unit_vin``/``unit_plate``/``unit_use``) read by ``units_from_post`` into ``units``."""

    quantity = forms.IntegerField(label=_("Units ordered"), min_value=1, max_value=500, initial=1, required=False,
                                  widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    price = forms.DecimalField(label=_("Price per unit (CNY)"), min_value=0, max_digits=12, decimal_places=2,
                               widget=forms.NumberInput(attrs={"inputmode": "decimal"}))
    series = forms.ModelChoiceField(label=_("Series"), queryset=VehicleSeries.objects.none(), required=False,
                                    empty_label="—")
    ordered_at = forms.DateField(label=_("Order date"), widget=DateInput())
    delivered_at = forms.DateField(label=_("Delivery date"), required=False, widget=DateInput())
    # The delivery record (the service checks the VIN's check digit and the plate's format).
    vin = forms.CharField(label=_("VIN"), max_length=30, required=False,
                          widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    plate = forms.CharField(label=_("Plate"), max_length=20, required=False,
                            widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "沪A12345"}))
    trade_in = forms.BooleanField(label=_("Trade-in"), required=False)
    financed = forms.BooleanField(label=_("Financed"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["series"].queryset = own_series()
        self.fields["ordered_at"].initial = timezone.localdate()
        self.units = units_from_post(self.data)

    def clean(self):
        cleaned = super().clean()
        ordered, delivered = cleaned.get("ordered_at"), cleaned.get("delivered_at")
        if ordered and delivered and delivered < ordered:
            self.add_error("delivered_at", _("Delivery cannot precede the order."))
        return cleaned


class RevisitForm(_VisitTimesMixin, forms.Form):
    arrived_at = forms.DateTimeField(label=_("Arrived"), required=False, widget=DateTimeLocalInput())
    left_at = forms.DateTimeField(label=_("Left"), required=False, widget=DateTimeLocalInput())
    steps = forms.MultipleChoiceField(label=_("Steps taken"), choices=VisitStep.choices, required=False,
                                      widget=forms.CheckboxSelectMultiple)
    companions = forms.IntegerField(label=_("Companions"), min_value=0, max_value=20, initial=0, required=False)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arrived_at"].initial = timezone.localtime().replace(second=0, microsecond=0)

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "arrived_at": data.get("arrived_at"),
            "left_at": data.get("left_at"),
            "steps": data.get("steps") or [],
            "companions": data.get("companions") or 0,
            "note": data.get("note") or "",
        }


class LeadEditForm(forms.Form):
    """The customer fields of a lead. ``version`` is the version the user read: saving over a newer one fails."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("Name"), max_length=60)
    phone = PhoneField()
    gender = forms.ChoiceField(label=_("Gender"), choices=Gender.choices, required=False)
    source = forms.ChoiceField(label=_("Source"), choices=Source.choices)
    channel = ChannelField()
    series = forms.ModelChoiceField(label=_("Series of interest"), queryset=VehicleSeries.objects.none(),
                                    required=False, empty_label="—")
    budget = forms.DecimalField(label=_("Budget (CNY)"), min_value=0, max_digits=12, decimal_places=2,
                                required=False, widget=forms.NumberInput(attrs={"inputmode": "decimal"}))
    purchase_type = forms.ChoiceField(label=_("Purchase type"), choices=[("", "—"), *PurchaseType.choices],
                                      required=False)
    district = forms.CharField(label=_("District"), max_length=60, required=False)
    industry = forms.CharField(label=_("Industry"), max_length=60, required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, show_phone: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["series"].queryset = own_series()
        if not show_phone:
            del self.fields["phone"]

    def changes(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("version")
        for key in ("gender", "purchase_type", "district", "industry", "notes"):
            data[key] = data.get(key) or ""
        return data


def style_filter_form(form: forms.Form, *, show_consultant: bool, for_display: bool = True) -> forms.Form:
    """Widgets for LeadFilterSet's form on the page (the FilterSet itself is shared with the API). Without
    ``for_display`` (an htmx request for the results only) the option lists are left unread: no queries."""
    fields = form.fields
    fields["q"].widget.attrs.update(
        {"placeholder": _("Name or phone"), "type": "search", "autocomplete": "off", "inputmode": "search"}
    )
    fields["grade"].widget = forms.CheckboxSelectMultiple(choices=GRADE_CHOICES)
    fields["overdue"].widget = forms.Select(
        choices=[("", "—"), ("true", _("Overdue only")), ("false", _("Not overdue"))]
    )
    for name in ("first_visit_after", "first_visit_before"):
        fields[name].widget = DateInput()
    if not show_consultant:
        fields.pop("assigned_to", None)
    else:
        fields["assigned_to"].queryset = fields["assigned_to"].queryset.order_by("username")
    if not for_display:
        return form
    # Only the options shown change; the FilterSet still validates against its own querysets.
    fields["channel"].widget.choices = _channel_choices()
    # "All" reads better than django-filter's "---------" for a filter left open.
    for field in fields.values():
        widget = field.widget
        if isinstance(widget, forms.Select) and not isinstance(widget, forms.SelectMultiple):
            widget.choices = [("", _("All")) if value == "" else (value, label) for value, label in widget.choices]
    fields["ordering"].widget.choices = [
        ("", _("Newest first")) if value == "" else (value, label) for value, label in fields["ordering"].widget.choices
    ]
    return form
