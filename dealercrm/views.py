from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import services
from .forms import StaffCreateForm, add_service_errors
from .models import Role, User


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        messages.success(self.request, gettext_lazy("Your password has been changed."))
        return super().form_valid(form)


@login_required
def team(request):
    """Staff the user may see, and (managers, group admins) a form to add staff."""
    actor = request.user
    can_add = actor.is_superuser or actor.role in (Role.MANAGER, Role.GROUP_ADMIN)
    form = StaffCreateForm(request.POST or None, actor=actor) if can_add else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied
        if form.is_valid():
            try:
                user = services.staff_create(actor=actor, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            except PermissionDenied:
                form.add_error(None, _("You may not add this member of staff."))
            else:
                messages.success(request, _("%(name)s has been added.") % {"name": user})
                return redirect("team")
    staff = User.objects.visible_to(actor).select_related("store").order_by("store__name", "role", "username")
    return render(request, "dealercrm/team.html", {"staff": staff, "form": form})
