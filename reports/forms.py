"""Report filters, read the same way by the pages and the API (one form: one set of rules and messages).

A store, consultant or series outside the user's scope is a 404 (as everywhere else), bad dates are field errors."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from dealercrm.api.dates import date_in_range
from dealercrm.models import Role, Store, User, VehicleSeries
from funnel.calc import month_bounds

from .catalogue import ReportDef, default_period
from .models import ImportKind
from .selectors import ReportParams

MAX_DAYS = 400


class ReportFilterForm(forms.Form):
    # date_in_range: the app's one accepted date range (a period ending in 9999 is a 400, not an overflow).
    start = forms.DateField(label=_("Start date"), required=False, validators=[date_in_range],
                            widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("End date"), required=False, validators=[date_in_range],
                          widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise ValidationError({"end": _("The end date is before the start date.")})
            if (end - start).days > MAX_DAYS:
                raise ValidationError({"end": _("A report covers at most %(days)s days.") % {"days": MAX_DAYS}})
        return data


def ids_from_query(raw: list[str]) -> list[int]:
    """Ids from the query string; anything that cannot be an id (not a number, beyond a 32-bit key) is a 404."""
    try:
        ids = [int(v) for v in raw if v not in ("", None)]
    except (TypeError, ValueError):
        raise Http404 from None
    if any(not 0 < pk < 2**31 for pk in ids):
        raise Http404
    return ids


def params_from_query(report: ReportDef, user: User, query) -> tuple[ReportParams | None, ReportFilterForm]:
    """Read the report's filters from a QueryDict. Returns ``(params, form)``; params is None when the form has
    errors (``form.errors`` says which). Unknown or invisible stores, consultants and series raise Http404."""
    form = ReportFilterForm(query)
    if not form.is_valid():
        return None, form
    first, last = default_period(report)
    start = form.cleaned_data.get("start") or (first if not form.cleaned_data.get("end") else None)
    end = form.cleaned_data.get("end") or (last if not form.cleaned_data.get("start") else None)
    if start is None:
        start = end.replace(day=1)
    if end is None:
        end = month_bounds(start)[1]
    if start > end:
        form.add_error("end", _("The end date is before the start date."))
        return None, form

    visible = Store.objects.visible_to(user).select_related("group")
    store_ids = ids_from_query(query.getlist("store")) if "store" in report.filters else []
    stores = list(visible.filter(pk__in=store_ids)) if store_ids else []
    if len(stores) != len(set(store_ids)):
        raise Http404
    if report.one_store and len(stores) != 1:
        if stores:
            form.add_error(None, _("Choose one store."))
            return None, form
        own = visible.filter(pk=user.store_id).first() if user.store_id else None
        own = own or visible.order_by("name").first()
        if own is None:
            raise Http404
        stores = [own]
    if user.role == Role.CONSULTANT:
        stores = [s for s in stores if s.pk == user.store_id]

    consultant = None
    if "consultant" in report.filters and query.get("consultant"):
        [pk] = ids_from_query([query.get("consultant")])
        consultant = User.objects.visible_to(user).filter(pk=pk).first()
        if consultant is None:
            raise Http404
    series = None
    if "series" in report.filters and query.get("series"):
        [pk] = ids_from_query([query.get("series")])
        series = VehicleSeries.objects.filter(pk=pk).first()
        if series is None:
            raise Http404
    return ReportParams(user=user, start=start, end=end, stores=stores, consultant=consultant, series=series), form


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=ImportKind.choices, initial=ImportKind.LEADS)
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.none())
    file = forms.FileField(label=_("Workbook (.xlsx) or .csv file"))

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        stores = Store.objects.visible_to(user).order_by("name")
        self.fields["store"].queryset = stores
        if user.store_id:
            self.fields["store"].initial = user.store_id


class ImportMappingForm(forms.Form):
    """The import page's column mapping: ``col_<n>`` for each column of the file, the field it holds ("" to ignore
    it). A ``col_`` input that names no column of the file (``col_abc``, ``col_99``) is a form error; which fields
    may be mapped, and how often, is the service's rule (``imports.import_set_mapping``)."""

    def __init__(self, *args, columns: int, **kwargs):
        super().__init__(*args, **kwargs)
        for index in range(columns):
            self.fields[f"col_{index}"] = forms.CharField(required=False, max_length=40)

    def clean(self):
        data = super().clean()
        unknown = sorted(key for key in self.data if key.startswith("col_") and key not in self.fields)
        if unknown:
            raise ValidationError(_("The file has no column %(column)s: reload the page and map its columns again.")
                                  % {"column": unknown[0].removeprefix("col_")})
        return data

    def mapping(self) -> dict[str, str]:
        """Column index (as text) -> field, for the columns the form posted."""
        return {name.removeprefix("col_"): self.cleaned_data[name] for name in self.fields if name in self.data}
