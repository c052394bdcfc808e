"""Page input of the defeat workflow. The rules live in defeats.services; these forms only shape the input."""

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from dealercrm.models import Store, VehicleSeries
from leads.models import FollowUpMethod, Grade

from .models import DefeatSettings, Kind, PriceCause, Reason, TalkTrack, Verdict


class SeriesChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.brand.label} · {obj.label}"


def competitor_series():
    return VehicleSeries.objects.filter(brand__is_own=False, is_active=True).select_related("brand").order_by(
        "brand__name_en", "name_en")


def own_series():
    return VehicleSeries.objects.filter(brand__is_own=True).select_related("brand").order_by("name_en")


class ApplicationForm(forms.Form):
    """The phone-first application: kind as two big toggles, reasons as checkboxes grouped by category."""

    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices, widget=forms.RadioSelect, initial=Kind.QUASI)
    reasons = forms.MultipleChoiceField(label=_("Reasons"), widget=forms.CheckboxSelectMultiple)
    competitor_series = SeriesChoiceField(label=_("Competitor's series bought"), queryset=VehicleSeries.objects.none(),
                                          required=False, empty_label=_("— not known / not bought —"))
    price_cause = forms.ChoiceField(label=_("Price too high: why?"), choices=[("", "—"), *PriceCause.choices],
                                    required=False, help_text=_("With the reason \"price too high\" only."))
    price_gap = forms.DecimalField(label=_("Price gap (CNY)"), max_digits=12, decimal_places=2, required=False,
                                   help_text=_("How much cheaper the competitor's offer was, when known."))
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, reasons: list[Reason], **kwargs):
        super().__init__(*args, **kwargs)
        active = [r for r in reasons if r.is_active]
        self.categories = [(p, [c for c in active if c.parent_id == p.pk]) for p in active if p.parent_id is None]
        self.fields["reasons"].choices = [(r.code, r.label) for r in active if r.parent_id is not None]
        self.reason_by_code = {r.code: r for r in active}
        self.fields["competitor_series"].queryset = competitor_series()

    def grouped_reasons(self):
        """(category, [(code, label, checked, requires_note, requires_competitor)]) for the template."""
        chosen = set(self.data.getlist("reasons")) if self.is_bound else set()
        return [(cat, [(c.code, c.label, c.code in chosen, c.requires_note, c.requires_competitor) for c in children])
                for cat, children in self.categories if children]


class VerdictForm(forms.Form):
    verdict = forms.ChoiceField(label=_("Verdict"), choices=Verdict.choices, widget=forms.HiddenInput)
    comment = forms.CharField(label=_("Comment"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    grade = forms.ChoiceField(label=_("Grade when reactivated"), choices=[("", _("keep the grade")), *Grade.choices],
                              required=False)
    assign_to = forms.ModelChoiceField(label=_("Give it to"), queryset=None, required=False,
                                       empty_label=_("the same consultant"))
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, assignees=(), **kwargs):
        super().__init__(*args, **kwargs)
        from dealercrm.models import User

        self.fields["assign_to"].queryset = User.objects.filter(pk__in=[u.pk for u in assignees])


class DecideForm(forms.Form):
    """The ids a verdict's form posts: the consultant the lead goes to (one of the store's active consultants) and
    the version of the application the manager read. Not a number, or someone else, is a form error."""

    assign_to = forms.ModelChoiceField(queryset=None, required=False, error_messages={
        "invalid_choice": _("Choose an active consultant of this store.")})
    version = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1)

    def __init__(self, *args, assignees, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assign_to"].queryset = assignees


class PoolHandOutForm(forms.Form):
    """The pool page's hand-out bar: the ticked customers (``entries``, already scoped) and a consultant of the
    store."""

    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())
    to_user = forms.ModelChoiceField(queryset=None, error_messages={
        "invalid_choice": _("Choose someone of this store.")})

    def __init__(self, *args, entries, assignees, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ids"].choices = [(e.pk, e.pk) for e in entries]
        self.fields["to_user"].queryset = assignees


class PoolOwnerForm(forms.Form):
    """A store's pool owner (settings page): a store of the admin's group, and nobody (the store's manager by
    default) or one of that store's staff."""

    store = forms.ModelChoiceField(queryset=None, error_messages={
        "invalid_choice": _("Choose a store of your group.")})
    user = forms.ModelChoiceField(queryset=None, required=False, error_messages={
        "invalid_choice": _("Choose someone of this store.")})

    def __init__(self, *args, stores, **kwargs):
        from dealercrm.models import User

        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores
        self.fields["user"].queryset = User.objects.filter(store__in=stores)

    def clean(self):
        data = super().clean()
        store, user = data.get("store"), data.get("user")
        if store is not None and user is not None and user.store_id != store.pk:
            self.add_error("user", self.fields["user"].error_messages["invalid_choice"])
        return data


class PoolFilterForm(forms.Form):
    """The competitor pool's brand and series filters (ids in the query string) and its search (``q``, posted: a
    phone stays out of URLs; models.pool_search_condition)."""

    brand = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    series = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    q = forms.CharField(required=False, max_length=60, label=_("Name, phone or series"))


class VisitHintForm(forms.Form):
    """The visit form's "lost customer" hint: the phone typed, and the store when the user has none of their own
    (a group admin picks it on the visit form)."""

    phone = forms.CharField(required=False, max_length=40)
    store = forms.ModelChoiceField(queryset=Store.objects.none(), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = Store.objects.visible_to(user)


class TalkTrackPickForm(forms.Form):
    """``?edit=<id>``: the talk track to edit, one the user may see."""

    edit = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, tracks, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["edit"].queryset = tracks


class BulkVerdictForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(coerce=int, label=_("Applications"), choices=[])
    verdict = forms.ChoiceField(label=_("Verdict"), choices=Verdict.choices)
    comment = forms.CharField(label=_("Comment"), max_length=2000)

    def __init__(self, *args, ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ids"].choices = [(i, i) for i in ids]
        self.fields["ids"].error_messages["required"] = _("Tick at least one application.")


class NurtureForm(forms.Form):
    method = forms.ChoiceField(label=_("Method"), choices=FollowUpMethod.choices, initial=FollowUpMethod.PHONE)
    content = forms.CharField(label=_("What was said"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    came_back = forms.BooleanField(label=_("The customer wants to buy again (win-back)"), required=False)
    grade = forms.ChoiceField(label=_("Grade"), choices=[("", "—"), *Grade.choices], required=False)
    assign_to = forms.ModelChoiceField(label=_("Give the lead to"), queryset=None, required=False,
                                       empty_label=_("the consultant who lost them"))

    def __init__(self, *args, assignees=(), **kwargs):
        super().__init__(*args, **kwargs)
        from dealercrm.models import User

        self.fields["assign_to"].queryset = User.objects.filter(pk__in=[u.pk for u in assignees])
        for name, f in self.fields.items():
            f.widget.attrs["class"] = {"came_back": "form-check-input", "content": "form-control"}.get(
                name, "form-select")


class SettingsForm(forms.ModelForm):
    class Meta:
        model = DefeatSettings
        fields = ["second_follow_up_days", "pending_alert_days", "nurture_interval_days", "replacement_after_years"]


class TargetForm(forms.Form):
    year = forms.IntegerField(min_value=2000, max_value=2100)
    percent = forms.DecimalField(label=_("Target defeat rate (%)"), min_value=0, max_value=100, max_digits=5,
                                 decimal_places=2, required=False)


class ReasonForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=40, required=False,
                           help_text=_("Letters, digits, - and _; fixed once created."))
    parent = forms.ModelChoiceField(label=_("Category"), queryset=Reason.objects.none(), required=False,
                                    empty_label=_("— a category itself —"))
    name = forms.CharField(label=_("Name (Chinese)"), max_length=80)
    name_en = forms.CharField(label=_("Name (English)"), max_length=120)
    requires_note = forms.BooleanField(label=_("Requires a note"), required=False)
    requires_competitor = forms.BooleanField(label=_("Requires the competitor's series"), required=False)
    is_active = forms.BooleanField(label=_("In use"), required=False, initial=True)
    sort_order = forms.IntegerField(label=_("Order"), min_value=0, max_value=32000, initial=0)

    def __init__(self, *args, group_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = Reason.objects.filter(group_id=group_id, parent__isnull=True)


class TalkTrackForm(forms.ModelForm):
    reason = forms.ModelChoiceField(label=_("Reason"), queryset=Reason.objects.none())
    series = SeriesChoiceField(label=_("Our series"), queryset=VehicleSeries.objects.none(), required=False,
                               empty_label=_("— every series —"))

    class Meta:
        model = TalkTrack
        fields = ["reason", "series", "fact", "problem", "viewpoint"]
        widgets = {f: forms.Textarea(attrs={"rows": 2}) for f in ("fact", "problem", "viewpoint")}

    def __init__(self, *args, group_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].queryset = Reason.objects.filter(group_id=group_id, parent__isnull=False).select_related(
            "parent")
        self.fields["series"].queryset = own_series()

    def validate_unique(self):  # the service says it, in the form's words
        pass


# The stale queue's fifth action (leads.views.stale, registered in DefeatsConfig.ready()): file the stale lead as a
# quasi-defeat, reason "a long time without a deal"; the label and the form live here so their words are in this
# app's catalogue.
STALE_DEFEAT_LABEL = pgettext_lazy("stale queue tab: file as quasi-defeat", "Lost")  # short: five tabs on a phone
STALE_DEFEAT_REASON = "long_no_deal"


class StaleDefeatForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=2000, required=False)
# The stale queue is the manager's: his filing is confirmed at once (services.application_file), never his to verify.
STALE_DEFEAT_DONE = _("Confirmed as a quasi-defeat: the customer is on the nurture list of the consultant who held them.")


def stale_defeat_file(*, actor, lead, form: StaleDefeatForm) -> str:
    """The stale queue's hook (leads.extensions.StaleAction): file ``lead`` as a quasi-defeat; the card's outcome."""
    from .services import application_file

    application_file(actor=actor, lead=lead, kind="quasi", reasons=[STALE_DEFEAT_REASON],
                     note=form.cleaned_data["note"])
    return str(STALE_DEFEAT_DONE)
