"""Lead API shapes. Output serializers mirror the models; input serializers exist where the input differs (a lead is
created with its first visit, edited field by field, and visits, follow-ups and deals take only what the service
takes). Rules (phones, grades, permissions, duplicates) live in ``leads.services``: these only parse and type-check."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dealercrm.api.schema import TruthfulModelSerializer, name_of
from dealercrm.models import Store, User, VehicleSeries

from ..models import (
    AssignmentChange,
    Channel,
    Deal,
    FollowUp,
    FollowUpMethod,
    FollowUpOutcome,
    Gender,
    Grade,
    GradeChange,
    Lead,
    PurchaseType,
    Source,
    Status,
    Visit,
    VisitStep,
)
from baseclients.api.leads import LeadReferralMixin, deal_base_client, referrer_fields
from defeats.api.timeline import DefeatEventSerializer

from ..selectors import lead_phone_for


def _caller(serializer):
    request = serializer.context.get("request")
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _staff_of_callers_group(user):
    """Who may be named as a lead's consultant: staff of the caller's dealer group. Naming someone outside it is a
    400 (they do not exist for the caller); whether the caller may assign at all is the service's 403."""
    if user is None:
        return User.objects.none()
    if user.is_superuser:
        return User.objects.all()
    return User.objects.filter(dealer_group_id=user.dealer_group_id)


def _series_of_interest():
    return VehicleSeries.objects.filter(brand__is_own=True)


# --- output -----------------------------------------------------------------------------------------------------


class LeadSerializer(LeadReferralMixin, TruthfulModelSerializer):
    """A lead as the caller may see it. ``phone`` is in full for the lead's consultant and whoever manages its store,
    masked otherwise; ``is_overdue`` comes from the queryset's SQL annotation (see LeadViewSet.get_queryset)."""

    assigned_to_name = name_of("assigned_to")
    phone = serializers.SerializerMethodField()
    phone_masked = serializers.CharField(source="masked_phone", read_only=True)
    series_name = name_of("series")
    is_overdue = serializers.BooleanField(read_only=True)
    # The jobs' flags (rows of their own tables, read through the lead's properties).
    stale_since = serializers.DateTimeField(read_only=True, allow_null=True)
    stale_max_dwell_days = serializers.IntegerField(read_only=True, allow_null=True)
    overdue_since = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Lead
        fields = [
            "id", "store", "assigned_to", "assigned_to_name", "name", "phone", "phone_masked", "gender", "source",
            "channel", "series", "series_name", "budget", "purchase_type", "district", "industry", "grade", "status",
            "first_visit_at", "last_contact_at", "next_follow_up_at", "grade_since", "is_overdue", "version",
            "stale_since", "stale_max_dwell_days", "dwell_kept_at", "overdue_since", "pooled_at",
            "referrer", "referral_types",
        ]
        read_only_fields = fields

    def get_phone(self, lead: Lead) -> str:
        user = _caller(self)
        if user is None:  # no caller to judge the right by: never reveal
            return lead.masked_phone
        return lead_phone_for(user=user, lead=lead)


class VisitSerializer(TruthfulModelSerializer):
    steps = serializers.SerializerMethodField()
    recorded_by_name = name_of("recorded_by")

    class Meta:
        model = Visit
        fields = ["id", "lead", "arrived_at", "left_at", "is_first", "steps", "companions", "note", "recorded_by",
                  "recorded_by_name", "created_at"]
        read_only_fields = fields

    def get_steps(self, visit: Visit) -> list[str]:
        return [step.value for step in VisitStep if getattr(visit, step.value)]


class FollowUpSerializer(TruthfulModelSerializer):
    lead_name = serializers.CharField(source="lead.name", read_only=True)
    created_by_name = name_of("created_by")
    reviewed_by_name = name_of("reviewed_by")

    class Meta:
        model = FollowUp
        fields = ["id", "lead", "lead_name", "occurred_at", "method", "content", "outcome", "grade_before",
                  "grade_after", "next_follow_up_at", "created_by", "created_by_name", "created_at", "review_status",
                  "review_comment", "reviewed_by", "reviewed_by_name", "reviewed_at"]
        read_only_fields = fields


class GradeChangeSerializer(TruthfulModelSerializer):
    changed_by_name = name_of("changed_by")

    class Meta:
        model = GradeChange
        fields = ["id", "from_grade", "to_grade", "changed_at", "changed_by", "changed_by_name", "reason", "follow_up"]
        read_only_fields = fields


class AssignmentChangeSerializer(TruthfulModelSerializer):
    from_user_name = name_of("from_user")
    to_user_name = name_of("to_user")
    changed_by_name = name_of("changed_by")

    class Meta:
        model = AssignmentChange
        fields = ["id", "from_user", "from_user_name", "to_user", "to_user_name", "changed_at", "changed_by",
                  "changed_by_name", "reason"]
        read_only_fields = fields


class DealSerializer(TruthfulModelSerializer):
    series_name = name_of("series")
    created_by_name = name_of("created_by")
    base_client = serializers.SerializerMethodField(help_text="The buyer's base client (baseclients).")

    class Meta:
        model = Deal
        fields = ["id", "lead", "series", "series_name", "price", "ordered_at", "delivered_at", "vin", "plate",
                  "trade_in", "financed", "base_client", "created_by", "created_by_name", "created_at"]
        read_only_fields = fields

    def get_base_client(self, deal) -> int | None:
        return deal_base_client(deal)


# Timeline entries: the record's own shape plus ``kind`` and ``at`` (the moment the timeline sorts by). The view
# stamps ``timeline_kind``/``timeline_at`` on each record, so these classes serve both the answer and the schema.


def _kind(value: str) -> serializers.CharField:
    """The entry's ``kind``, documented as the one value it has: the timeline's ``oneOf`` then matches exactly one
    entry schema (a plain string ``kind`` let a visit validate as any of them)."""

    @extend_schema_field({"type": "string", "enum": [value]})
    class KindField(serializers.CharField):
        pass

    return KindField(source="timeline_kind", read_only=True)


class _EntryFields(serializers.Serializer):
    kind = serializers.CharField(source="timeline_kind", read_only=True)
    at = serializers.DateTimeField(source="timeline_at", read_only=True)


class VisitEntrySerializer(_EntryFields, VisitSerializer):
    kind = _kind("visit")

    class Meta(VisitSerializer.Meta):
        fields = ["kind", "at", *VisitSerializer.Meta.fields]


class FollowUpEntrySerializer(_EntryFields, FollowUpSerializer):
    kind = _kind("follow_up")

    class Meta(FollowUpSerializer.Meta):
        fields = ["kind", "at", *FollowUpSerializer.Meta.fields]


class GradeEntrySerializer(_EntryFields, GradeChangeSerializer):
    kind = _kind("grade")

    class Meta(GradeChangeSerializer.Meta):
        fields = ["kind", "at", *GradeChangeSerializer.Meta.fields]


class AssignmentEntrySerializer(_EntryFields, AssignmentChangeSerializer):
    kind = _kind("assignment")

    class Meta(AssignmentChangeSerializer.Meta):
        fields = ["kind", "at", *AssignmentChangeSerializer.Meta.fields]


class DealEntrySerializer(_EntryFields, DealSerializer):
    kind = _kind("deal")

    class Meta(DealSerializer.Meta):
        fields = ["kind", "at", *DealSerializer.Meta.fields]


class DefeatEntrySerializer(_EntryFields, DefeatEventSerializer):
    kind = _kind("defeat")

    class Meta(DefeatEventSerializer.Meta):
        fields = ["kind", "at", *DefeatEventSerializer.Meta.fields]


TIMELINE_SERIALIZERS = {
    "visit": VisitEntrySerializer,
    "follow_up": FollowUpEntrySerializer,
    "grade": GradeEntrySerializer,
    "assignment": AssignmentEntrySerializer,
    "deal": DealEntrySerializer,
    "defeat": DefeatEntrySerializer,
}


def timeline_data(entries) -> list[dict]:
    """``selectors.lead_timeline`` entries as a list of ``{"kind", "at", ...the record's fields}``, newest first."""
    data = []
    for entry in entries:
        entry.obj.timeline_kind = entry.kind
        entry.obj.timeline_at = entry.at
        data.append(TIMELINE_SERIALIZERS[entry.kind](entry.obj).data)
    return data


# --- input ------------------------------------------------------------------------------------------------------


class _CustomerFields(serializers.Serializer):
    """Customer fields shared by create and edit. The phone is normalised (and rejected) by the service."""

    phone = serializers.CharField(max_length=40, required=False, allow_blank=True, help_text=("Any common format."))
    source = serializers.ChoiceField(choices=Source.choices)
    channel = serializers.PrimaryKeyRelatedField(queryset=Channel.objects.filter(is_active=True), required=False,
                                                 allow_null=True)
    series = serializers.PrimaryKeyRelatedField(queryset=_series_of_interest(), required=False, allow_null=True)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, allow_blank=True)
    # The service leaves the sign to the database constraint; an explicit bound keeps it a 400, not a 500.
    budget = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False, allow_null=True)
    purchase_type = serializers.ChoiceField(choices=PurchaseType.choices, required=False, allow_blank=True)
    district = serializers.CharField(max_length=60, required=False, allow_blank=True)
    industry = serializers.CharField(max_length=60, required=False, allow_blank=True)
    # The referrer (a base client) and referral types: baseclients.api.leads; the views hand them to its service.
    referrer = referrer_fields()["referrer"]
    referral_types = referrer_fields()["referral_types"]
    referral_code = referrer_fields()["referral_code"]


class LeadCreateSerializer(_CustomerFields):
    """A new lead, with its first visit now. ``assigned_to`` defaults to the calling consultant (a manager may name
    a consultant of the store or leave it to round-robin); ``store`` is needed only by group admins and superusers."""

    name = serializers.CharField(max_length=60)
    grade = serializers.ChoiceField(choices=Grade.choices, required=False, allow_null=True)
    assigned_to = serializers.PrimaryKeyRelatedField(queryset=User.objects.none(), required=False, allow_null=True)
    store = serializers.PrimaryKeyRelatedField(queryset=Store.objects.none(), required=False, allow_null=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = _caller(self)
        self.fields["assigned_to"].queryset = _staff_of_callers_group(user)
        # A store the caller cannot see does not exist for them.
        self.fields["store"].queryset = Store.objects.visible_to(user)

    def validate(self, attrs):
        user = _caller(self)
        if attrs.get("store") is None:
            if user is None or user.store_id is None:
                raise serializers.ValidationError({"store": [_("Choose the store of the lead.")]})
            attrs["store"] = user.store
        return attrs


class LeadUpdateSerializer(_CustomerFields):
    """A partial edit. ``store`` and ``status`` may be sent back unchanged; changing them is a 400 (the view checks).
    ``version`` is the version the client read: a different current version is a 409 (If-Match: 412)."""

    name = serializers.CharField(max_length=60, required=False)
    grade = serializers.ChoiceField(choices=Grade.choices, required=False)
    assigned_to = serializers.PrimaryKeyRelatedField(queryset=User.objects.none(), required=False, allow_null=True,
                                                     help_text=("Managers only."))
    store = serializers.IntegerField(required=False, help_text=("Read-only: a lead never changes store."))
    status = serializers.ChoiceField(choices=Status.choices, required=False,
                                     help_text=("Read-only: a deal or a merge changes it."))
    version = serializers.IntegerField(required=False, min_value=1)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)
        self.fields["assigned_to"].queryset = _staff_of_callers_group(_caller(self))


class LeadAssignSerializer(serializers.Serializer):
    assigned_to = serializers.PrimaryKeyRelatedField(queryset=User.objects.none(), allow_null=True,
                                                     help_text=("null: nobody (the reclaim pool)."))
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assigned_to"].queryset = _staff_of_callers_group(_caller(self))


class VisitCreateSerializer(serializers.Serializer):
    arrived_at = serializers.DateTimeField(required=False, allow_null=True, help_text=("Default: now."))
    left_at = serializers.DateTimeField(required=False, allow_null=True)
    steps = serializers.ListField(child=serializers.ChoiceField(choices=VisitStep.choices), required=False,
                                  default=list)
    companions = serializers.IntegerField(min_value=0, max_value=100, required=False, default=0)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class FollowUpCreateSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=FollowUpMethod.choices)
    content = serializers.CharField()
    outcome = serializers.ChoiceField(choices=FollowUpOutcome.choices, required=False, allow_blank=True, default="")
    grade_after = serializers.ChoiceField(choices=Grade.choices, required=False, allow_null=True)
    next_follow_up_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text=("Default: after the (new) grade's follow-up interval.")
    )
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, help_text=("Default: now."))


class FollowUpReviewSerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    comment = serializers.CharField(required=False, allow_blank=True, default="",
                                    help_text=("Required when rejecting."))


class DealCreateSerializer(serializers.Serializer):
    # No lower bound here: the sign is the service's rule (a 400 with its message).
    price = serializers.DecimalField(max_digits=12, decimal_places=2, help_text=("CNY, as a decimal string."))
    series = serializers.PrimaryKeyRelatedField(queryset=_series_of_interest(), required=False, allow_null=True,
                                                help_text=("Default: the lead's series of interest."))
    ordered_at = serializers.DateField(required=False, allow_null=True, help_text=("Default: today."))
    delivered_at = serializers.DateField(required=False, allow_null=True)
    vin = serializers.CharField(max_length=30, required=False, allow_blank=True, default="",
                                help_text="17 characters, check digit verified.")
    plate = serializers.CharField(max_length=20, required=False, allow_blank=True, default="",
                                  help_text="e.g. 粤B12345.")
    trade_in = serializers.BooleanField(required=False, default=False)
    financed = serializers.BooleanField(required=False, default=False)


class LeadKeepSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text=("Why the lead stays in its grade (required)."))


class LeadPoolSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
