from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import selectors, services
from .forms import StaffCreateForm, add_service_errors
from .jobs import JOB_LABELS
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
    staff = list(User.objects.visible_to(actor).select_related("store").order_by("store__name", "role", "username"))
    for member in staff:
        member.manageable = member.pk != actor.pk and services.staff_can_manage(actor, role=member.role,
                                                                                 store=member.store)
    return render(request, "dealercrm/team.html", {"staff": staff, "form": form, "can_manage": can_add})


class StaffEditForm(forms.Form):
    display_name = forms.CharField(label=gettext_lazy("Display name"), max_length=60, required=False)


class StaffPasswordForm(forms.Form):
    password = forms.CharField(label=gettext_lazy("New password"), widget=forms.PasswordInput, min_length=8,
                               help_text=gettext_lazy("Tell it to them in person; they change it after logging in."))


@login_required
def team_member(request, pk: int):
    """`/team/<id>/`: a manager (their consultants) or group admin (the group's staff) edits the display name,
    resets the password or deactivates the member. Someone the user may not see is a 404; may see but not manage
    (a manager and a colleague manager) is a 403."""
    actor = request.user
    member = User.objects.visible_to(actor).select_related("store").filter(pk=pk).first()
    if member is None:
        raise Http404
    if not services.staff_can_manage(actor, role=member.role, store=member.store) or member.pk == actor.pk:
        raise PermissionDenied(_("You may not manage this member of staff."))
    action = request.POST.get("action") if request.method == "POST" else None
    edit_form = StaffEditForm(request.POST if action == "edit" else None,
                              initial={"display_name": member.display_name}, prefix="edit")
    password_form = StaffPasswordForm(request.POST if action == "password" else None, prefix="pw")
    try:
        if action == "edit" and edit_form.is_valid():
            services.staff_update(actor=actor, user=member, **edit_form.cleaned_data)
            messages.success(request, _("%(name)s has been updated.") % {"name": member})
            return redirect("team")
        if action == "password" and password_form.is_valid():
            services.staff_password_reset(actor=actor, user=member, **password_form.cleaned_data)
            messages.success(request, _("%(name)s has a new password. Tell it to them in person.") % {"name": member})
            return redirect("team")
        if action == "deactivate":
            services.staff_deactivate(actor=actor, user=member)
            messages.success(request, _("%(name)s has been deactivated: they can no longer log in. Move their leads "
                                        "to colleagues on the allocation page.") % {"name": member})
            return redirect("team")
    except ValidationError as exc:
        add_service_errors(password_form if action == "password" else edit_form, exc)
    return render(request, "dealercrm/team_member.html", {
        "member": member, "edit_form": edit_form, "password_form": password_form,
    })


RUNS_PER_JOB = 10


@login_required
def job_runs(request):
    """`/jobs/`: the last runs of each background job (start, duration, status, counts, error). Group admins and
    superusers; anyone else gets a 403. Runs are not per group (a job sweeps every store), so admins see them all."""
    user = request.user
    if not (user.is_superuser or user.role == Role.GROUP_ADMIN):
        raise PermissionDenied(_("Only group admins can see the job runs."))
    jobs = selectors.job_runs_recent(per_job=RUNS_PER_JOB)
    for job in jobs:
        job.label = JOB_LABELS.get(job.name, job.name)  # an unknown name is shown as it is
    return render(request, "dealercrm/job_runs.html", {"jobs": jobs, "per_job": RUNS_PER_JOB})
