"""Page input for the funnel: the dashboard's selectors, the what-if planner, and the manager's M and target entry.

Forms validate shapes and ranges only; the rules (who may set what, the first of the month, a consultant of the
store) live in funnel.services and reach the form through ``dealercrm.forms.add_service_errors``."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django import forms
from django.core.validators import MinValueValidator
from django.utils.translation import gettext_lazy as _

from dealercrm.models import User

PERIODS = [
    ("this_month", _("This month")),
    ("last_month", _("Last month")),
    ("this_quarter", _("This quarter")),
    ("last_90", _("Last 90 days")),
    ("this_year", _("This year")),
    ("last_12", _("Last 12 months")),
    ("custom", _("Custom range")),
]
DEFAULT_PERIOD = "this_month"


def period_range(period: str, *, today: date) -> tuple[date, date]:
    """The first and last day (inclusive) of a named period. A period that reaches today ends today: its cohort
    has no later first visits yet, and its M is prorated to the days it covers."""
    if period == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if period == "this_quarter":
        return date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today
    if period == "last_90":
        return today - timedelta(days=89), today
    if period == "this_year":
        return date(today.year, 1, 1), today
    if period == "last_12":  # the twelve calendar months up to this one, as the monthly trend shows them
        months = today.year * 12 + today.month - 1 - 11
        return date(months // 12, months % 12 + 1, 1), today
    return today.replace(day=1), today


class HiddenMonthInput(forms.DateInput):
    input_type = "hidden"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m")


class MonthField(forms.DateField):
    """A month typed as YYYY-MM (the browser's month picker); cleaned to its first day."""

    widget = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")
    input_formats = ("%Y-%m", "%Y-%m-%d")

    def to_python(self, value):
        day = super().to_python(value)
        return day.replace(day=1) if day else day


class DashboardForm(forms.Form):
    """The dashboard's selectors. The store and consultant are checked against the user's scope by the view (one
    the user may not see is a 404, not a form error); here they only render as choices."""

    store = forms.ChoiceField(label=_("Store"), required=False)
    period = forms.ChoiceField(label=_("Period"), choices=PERIODS, required=False)
    start = forms.DateField(label=_("Start date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("End date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    consultant = forms.ChoiceField(label=_("Consultant"), required=False)

    MAX_DAYS = 3 * 366

    def __init__(self, *args, stores, consultants, all_stores: bool, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        store_choices = [("all", _("All stores"))] if all_stores else []
        self.fields["store"].choices = store_choices + [(str(s.pk), s.name) for s in stores]
        self.fields["consultant"].choices = [("", _("All consultants"))] + [
            (str(c.pk), str(c)) for c in consultants
        ]
        for field in self.fields.values():
            css = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            field.widget.attrs.setdefault("class", f"{css} {css}-sm")

    def clean(self):
        data = super().clean()
        period = data.get("period") or DEFAULT_PERIOD
        data["period"] = period
        if period != "custom":
            data["start"], data["end"] = period_range(period, today=self.today)
            return data
        start, end = data.get("start"), data.get("end")
        if not start or not end:
            # Switching to "custom" keeps the range on screen until the user edits it.
            fallback = period_range(DEFAULT_PERIOD, today=self.today)
            start, end = start or fallback[0], end or fallback[1]
            data["start"], data["end"] = start, end
        if end < start:
            self.add_error("end", _("The end comes before the start."))
        elif (end - start).days > self.MAX_DAYS:
            self.add_error("end", _("Choose a range of at most three years."))
        return data


def _percent_field(label):
    return forms.DecimalField(
        label=label, max_digits=7, decimal_places=2, min_value=Decimal(0), max_value=Decimal(100),
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
    )


class PlannerForm(forms.Form):
    """The four levers (DOMAIN §4): N customers, K, F, C typed as percentages (0–100), and a unit target. The
    target is optional: without it the planner shows what the levers project."""

    target_units = forms.IntegerField(
        label=_("Unit target"), required=False, min_value=0, max_value=1_000_000,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    N = forms.IntegerField(label=_("N · traffic"), min_value=0, max_value=10_000_000,
                           widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    K = _percent_field(_("K · retention %"))
    F = _percent_field(_("F · follow-up %"))
    C = _percent_field(_("C · close %"))
    store = forms.IntegerField(required=False, widget=forms.HiddenInput)
    consultant = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # The month the levers were prefilled from (said on the page); the levers may since have been changed.
    base_month = forms.DateField(required=False, input_formats=("%Y-%m",), widget=HiddenMonthInput)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "plan_%s")  # beside the dashboard's own selectors on one page
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if not isinstance(field.widget, forms.HiddenInput):
                field.widget.attrs.setdefault("class", "form-control")

    def levers(self) -> dict:
        """The cleaned levers as calc.plan_levers takes them: K, F, C as fractions."""
        data = self.cleaned_data
        return {"N": data["N"], **{k: data[k] / 100 for k in ("K", "F", "C")}}

    @staticmethod
    def initial_from(figures: dict, *, target_units: int | None) -> dict:
        """Prefill from the period's figures (rates as percentages, 2 decimals)."""

        def as_percent(rate):
            return (Decimal(str(rate)) * 100).quantize(Decimal("0.01")) if rate is not None else Decimal(0)

        return {"N": figures["N"], "K": as_percent(figures["K"]), "F": as_percent(figures["F"]),
                "C": as_percent(figures["C"]), "target_units": target_units}


class MarketEstimateForm(forms.Form):
    month = MonthField(label=_("Month"))
    estimate = forms.IntegerField(
        label=_("Market demand (M)"), min_value=0, max_value=100_000_000,
        help_text=_("All potential buyers in the store's local market this month."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False,
                           help_text=_("Where the estimate comes from, e.g. registrations in the district."))


class TargetForm(forms.Form):
    month = MonthField(label=_("Month"))
    consultant = forms.ModelChoiceField(
        label=_("For"), queryset=User.objects.none(), required=False, empty_label=_("The whole store"),
    )
    units = forms.IntegerField(label=_("Unit target"), min_value=0, max_value=1_000_000,
                               widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    revenue = forms.DecimalField(
        label=_("Revenue target (CNY)"), required=False, min_value=Decimal(0), max_digits=14, decimal_places=2,
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "1000"}),
    )
    average_order_value = forms.DecimalField(
        label=_("Average order value (CNY)"), required=False, max_digits=12, decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("Left empty: revenue ÷ units."),
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "1000"}),
    )

    def __init__(self, *args, consultants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["consultant"].queryset = consultants
        # Which row the form edits is chosen on the page (the table's Set/Edit links), not in the form: switching
        # the row inside a filled form carried the other row's values into the save.
        self.fields["consultant"].widget = forms.HiddenInput()
        self.fields["month"].widget = HiddenMonthInput()
