"""Page input for the store manager's pages (allocation, reviews, merge). The rules live in leads.services; these
forms only check the shape of the input and which choices the manager may pick."""

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from dealercrm.models import Role, Store, User

from .models import Grade, Lead, Status


def store_consultants(actor: User, store: Store):
    """Active consultants of ``store`` the actor may see: the people who can take a lead."""
    return (
        User.objects.visible_to(actor)
        .filter(store=store, role=Role.CONSULTANT, is_active=True)
        .order_by("display_name", "username")
    )


class ConsultantChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return str(obj) if obj.is_active else _("%(name)s (deactivated)") % {"name": obj}


class StoreScopedForm(forms.Form):
    """A form that acts on one store; the store travels as a hidden field (group admins manage several)."""

    store = forms.ModelChoiceField(queryset=Store.objects.none(), widget=forms.HiddenInput)

    def __init__(self, *args, actor: User, store: Store | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["store"].queryset = Store.objects.visible_to(actor)
        if store is not None:
            self.fields["store"].initial = store.pk


class RoundRobinForm(StoreScopedForm):
    pass


class BulkMoveForm(StoreScopedForm):
    """Move every active lead of one consultant (often one who is leaving) to another, or share them out."""

    from_user = ConsultantChoiceField(label=_("Move the leads of"), queryset=User.objects.none(),
                                      empty_label=_("Choose a consultant…"))
    to_user = ConsultantChoiceField(
        label=_("To"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Share out round-robin"),
        help_text=_("Leave on “share out” to spread them over the other active consultants, least loaded first."),
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, actor: User, store: Store, **kwargs):
        super().__init__(*args, actor=actor, store=store, **kwargs)
        visible = User.objects.visible_to(actor).filter(store=store, role=Role.CONSULTANT)
        # A deactivated consultant still holding leads must be offered, or their customers are stranded.
        # The holders as a subquery (index-only over the store's open leads), not a DISTINCT over a users x leads join.
        holders = Lead.objects.filter(store=store, status=Status.ACTIVE, assigned_to__isnull=False).values("assigned_to")
        self.fields["from_user"].queryset = (
            visible.filter(Q(is_active=True) | Q(pk__in=holders))
            .order_by("-is_active", "display_name", "username")
        )
        self.fields["to_user"].queryset = store_consultants(actor, store)

    def clean(self):
        cleaned = super().clean()
        source, target = cleaned.get("from_user"), cleaned.get("to_user")
        if source and target and source.pk == target.pk:
            self.add_error("to_user", _("Choose someone else."))
        return cleaned


class AssignForm(forms.Form):
    """Give one lead to another consultant of its store."""

    to_user = ConsultantChoiceField(label=_("Consultant"), queryset=User.objects.none())
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, actor: User, lead: Lead, **kwargs):
        super().__init__(*args, **kwargs)
        self.lead = lead
        self.fields["to_user"].queryset = store_consultants(actor, lead.store)
        if lead.assigned_to_id:
            self.fields["to_user"].initial = lead.assigned_to_id

    def clean_to_user(self):
        user = self.cleaned_data["to_user"]
        if user and user.pk == self.lead.assigned_to_id:
            raise forms.ValidationError(_("The lead is already with %(name)s.") % {"name": user})
        return user


class ReviewForm(forms.Form):
    """Approve a follow-up record, or reject it with a comment saying what to fix."""

    APPROVE, REJECT = "approve", "reject"

    decision = forms.ChoiceField(choices=[(APPROVE, _("Approve")), (REJECT, _("Reject"))])
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": _("What should the consultant fix? (required to reject)")}
        ),
    )

    @property
    def approve(self) -> bool:
        return self.cleaned_data["decision"] == self.APPROVE

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("decision") == self.REJECT and not (cleaned.get("comment") or "").strip():
            self.add_error("comment", _("Say why the record is rejected."))
        return cleaned


class ReviewFilterForm(forms.Form):
    consultant = ConsultantChoiceField(
        label=_("Consultant"), queryset=User.objects.none(), required=False, empty_label=_("All consultants")
    )
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.none(), required=False,
                                   empty_label=_("All stores"))

    def __init__(self, *args, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["consultant"].queryset = (
            User.objects.visible_to(actor)
            .filter(role=Role.CONSULTANT)
            .order_by("-is_active", "display_name", "username")
        )
        if actor.is_superuser or actor.role == Role.GROUP_ADMIN:
            self.fields["store"].queryset = Store.objects.visible_to(actor).order_by("name")
        else:
            del self.fields["store"]


class MergeForm(forms.Form):
    """Two lead ids: the one to keep and the one it absorbs. The leads are looked up among those the actor sees,
    so another store's lead reads as "not found" (a 404 in form terms: nothing about it is revealed)."""

    keep = forms.IntegerField(label=_("Keep lead #"), min_value=1)
    absorb = forms.IntegerField(label=_("Absorb lead #"), min_value=1,
                                help_text=_("This lead's visits, follow-ups and history move to the kept lead."))

    def __init__(self, *args, leads, **kwargs):
        super().__init__(*args, **kwargs)
        self.leads = leads

    def _lead(self, field):
        pk = self.cleaned_data[field]
        lead = self.leads.filter(pk=pk).first()
        if lead is None:
            raise forms.ValidationError(_("There is no lead #%(id)s among your leads.") % {"id": pk})
        return lead

    def clean_keep(self):
        return self._lead("keep")

    def clean_absorb(self):
        return self._lead("absorb")

    def clean(self):
        cleaned = super().clean()
        keep, absorb = cleaned.get("keep"), cleaned.get("absorb")
        if keep is None or absorb is None:
            return cleaned
        # Early feedback before the confirmation step; services.lead_merge enforces the same rules on the write.
        if keep.pk == absorb.pk:
            self.add_error("absorb", _("Choose two different leads."))
        elif keep.store_id != absorb.store_id:
            self.add_error("absorb", _("Only leads of the same store can be merged."))
        elif Status.MERGED in (keep.status, absorb.status):
            self.add_error("absorb", _("This lead has already been merged."))
        elif keep.has_deal and absorb.has_deal:
            self.add_error("absorb", _("Both leads have a deal; they are different sales."))
        return cleaned


# --- the stale queue and the pool ------------------------------------------------------------------------------------


class StaleKeepForm(forms.Form):
    """Keep a stale lead in its grade: the reason is required (services.lead_keep checks it too)."""

    reason = forms.CharField(
        label=_("Why it stays in its grade"), max_length=300,
        error_messages={"required": _("Say why the lead stays in its grade.")},
        widget=forms.TextInput(attrs={"placeholder": _("e.g. waits for the new model")}),
    )


class StaleRegradeForm(forms.Form):
    """Move a stale lead to another grade (up or down the ladder)."""

    grade = forms.ChoiceField(label=_("New grade"), choices=Grade.choices)

    def __init__(self, *args, lead: Lead, **kwargs):
        super().__init__(*args, **kwargs)
        self.lead = lead
        # Its current grade is no choice: keeping it there is the "keep" action, with a reason.
        self.fields["grade"].choices = [("", _("Choose a grade…"))] + [
            (value, label) for value, label in Grade.choices if value != lead.grade
        ]


class StalePoolForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class PoolAssignForm(forms.Form):
    """Give a pool lead to a consultant of its store (the manager's side of the pool)."""

    to_user = ConsultantChoiceField(label=_("Consultant"), queryset=User.objects.none(),
                                    empty_label=_("Choose a consultant…"))
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, actor: User, store: Store, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = store_consultants(actor, store)
