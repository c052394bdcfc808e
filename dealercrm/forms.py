from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

# Django 6.1's label for a blank choice, not yet in Django's own zh_Hans catalogue: our catalogue
# (LOCALE_PATHS comes first) carries its translation.
gettext_noop("- Select an option -")

from .models import Role, Store


class StaffCreateForm(forms.Form):
    """Page input for adding staff; the rules themselves live in services.staff_create."""

    username = forms.RegexField(
        label=_("Username"),
        regex=r"^[\w.@+-]+\Z",
        max_length=150,
        error_messages={"invalid": _("Letters, digits and @/./+/-/_ only.")},
    )
    display_name = forms.CharField(label=_("Display name"), max_length=60, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.none(), required=False)
    password = forms.CharField(label=_("Initial password"), widget=forms.PasswordInput, min_length=8)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = Store.objects.visible_to(actor)
        if actor.role == Role.MANAGER:
            # A manager staffs consultants in their own store: nothing else to choose.
            self.fields["role"].choices = [(Role.CONSULTANT, Role.CONSULTANT.label)]
            self.fields["store"].initial = actor.store_id
            self.fields["store"].widget = forms.HiddenInput()


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on the field it names, else above the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        for error in exc.messages:
            form.add_error(None, error)


def bad_input_page(request, form: forms.Form) -> HttpResponse:
    """A page input that names an id (or a version) did not validate: not a number, or a record outside the user's
    scope. A 400 with the form's messages (the error page in the layout), never a server error; htmx gets the
    same (it swaps nothing on a 400)."""
    message = " ".join(str(m) for errors in form.errors.values() for m in errors)
    return render(request, "400.html", {"message": message}, status=400)
