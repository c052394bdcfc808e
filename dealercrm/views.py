from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import selectors, services
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


# The background jobs by the name they record (leads.services.jobs); an unknown name is shown as it is.
JOB_LABELS = {
    "leads_flag_stale": gettext_lazy("Flag stale leads"),
    "leads_flag_overdue": gettext_lazy("Flag overdue follow-ups"),
    "leads_reclaim": gettext_lazy("Reclaim overdue leads to the pool"),
    "notifications_send_digests": gettext_lazy("Send the daily digests"),
}
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
        job.label = JOB_LABELS.get(job.name, job.name)
    return render(request, "dealercrm/job_runs.html", {"jobs": jobs, "per_job": RUNS_PER_JOB})
