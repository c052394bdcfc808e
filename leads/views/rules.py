"""The group admin's grade-rule settings page."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dealercrm.forms import add_service_errors
from dealercrm.models import DealerGroup, Role

from .. import services
from ..models import GRADE_ORDER
from ..models import FollowUpPolicy
from ..rules import FIRST_FOLLOW_UP_HOURS, WORKDAY_END_HOUR, WORKDAY_START_HOUR
from ..services.rules import follow_up_policy_update, group_reclaim_update


class GradeRuleForm(forms.Form):
    meaning = forms.CharField(label=gettext_lazy("Meaning"), max_length=200)
    follow_up_days = forms.IntegerField(label=gettext_lazy("Follow up every (days)"), min_value=1, max_value=365)
    max_dwell_days = forms.IntegerField(label=gettext_lazy("Max dwell (days)"), min_value=1, max_value=365)


class ReclaimForm(forms.Form):
    reclaim_after_days = forms.IntegerField(
        label=gettext_lazy("Take a lead back to the pool after (days overdue)"), min_value=1, max_value=365,
        help_text=gettext_lazy("A lead whose follow-up is this many days late leaves its consultant for the store's "
                               "pool, where any consultant of the store can claim it."),
    )


class FirstFollowUpForm(forms.Form):
    first_follow_up_hours = forms.IntegerField(
        label=gettext_lazy("First follow-up within (hours of the first visit)"), min_value=1, max_value=168,
        help_text=gettext_lazy("A new customer with a phone is due for a call back this soon (at a working hour); "
                               "after that first follow-up, the grade's interval applies."),
    )
    workday_start_hour = forms.IntegerField(label=gettext_lazy("Working day starts (hour)"), min_value=0,
                                            max_value=23)
    workday_end_hour = forms.IntegerField(label=gettext_lazy("Working day ends (hour)"), min_value=1, max_value=24)


@login_required
def grade_rules(request):
    """Group admins set, per grade, its meaning, follow-up interval and max dwell (DOMAIN §3 defaults)."""
    user = request.user
    if not (user.is_superuser or user.role == Role.GROUP_ADMIN):
        raise PermissionDenied
    group = DealerGroup.objects.visible_to(user).filter(pk=user.dealer_group_id).first() if user.dealer_group_id else None
    if group is None:
        group = DealerGroup.objects.visible_to(user).first()
    if group is None:
        raise PermissionDenied
    reclaim_post = request.method == "POST" and "reclaim_after_days" in request.POST
    reclaim_form = ReclaimForm(request.POST if reclaim_post else None,
                               initial={"reclaim_after_days": group.reclaim_after_days})
    if reclaim_post and reclaim_form.is_valid():
        try:
            group_reclaim_update(actor=user, group=group,
                                 reclaim_after_days=reclaim_form.cleaned_data["reclaim_after_days"])
        except ValidationError as exc:
            add_service_errors(reclaim_form, exc)
        else:
            messages.success(request, _("Pool setting saved."))
            return redirect("leads:grade_rules")
    policy = FollowUpPolicy.objects.filter(group=group).first()
    first_post = request.method == "POST" and "first_follow_up_hours" in request.POST
    first_form = FirstFollowUpForm(request.POST if first_post else None, initial={
        "first_follow_up_hours": policy.first_follow_up_hours if policy else FIRST_FOLLOW_UP_HOURS,
        "workday_start_hour": policy.workday_start_hour if policy else WORKDAY_START_HOUR,
        "workday_end_hour": policy.workday_end_hour if policy else WORKDAY_END_HOUR,
    })
    if first_post and first_form.is_valid():
        try:
            follow_up_policy_update(actor=user, group=group, **first_form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(first_form, exc)
        else:
            messages.success(request, _("First follow-up rule saved."))
            return redirect("leads:grade_rules")
    current = services.grade_rules_for(group.pk)
    grades = list(reversed(GRADE_ORDER))
    rules_post = request.POST if request.method == "POST" and not reclaim_post and not first_post else None
    forms_by_grade = {
        g: GradeRuleForm(
            rules_post,
            prefix=g,
            initial={"meaning": current[g].meaning, "follow_up_days": current[g].follow_up_days,
                     "max_dwell_days": current[g].max_dwell_days},
        )
        for g in grades
    }
    if rules_post is not None and all(f.is_valid() for f in forms_by_grade.values()):
        try:
            services.grade_rules_update(actor=user, group=group,
                                        rules={g: f.cleaned_data for g, f in forms_by_grade.items()})
        except ValidationError as exc:
            for key, errors in exc.message_dict.items():
                grade, _dot, field = key.partition(".")
                target = forms_by_grade.get(grade)
                for error in errors:
                    if target is not None:
                        target.add_error(field or None, error)
        else:
            messages.success(request, _("Grade rules saved."))
            return redirect("leads:grade_rules")
    return render(request, "leads/grade_rules.html",
                  {"group": group, "rows": list(forms_by_grade.items()), "reclaim_form": reclaim_form,
                   "first_form": first_form})
