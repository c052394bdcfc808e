"""Defeat API shapes. Rules (reasons, notes, competitors, permissions, conflicts) live in defeats.services: these only
parse and type-check."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from dealercrm.api.schema import GroupKeyField, TruthfulModelSerializer
from dealercrm.models import User
from dealercrm.selectors import staff_of_group
from leads import deal_bases
from leads.models import FollowUpMethod, Grade
from leads.selectors import lead_phone_for

from ..models import (
    Application,
    ApplicationStatus,
    DefeatTarget,
    Kind,
    PoolEntry,
    PriceCause,
    Reason,
    TalkTrack,
    Verdict,
)
from ..selectors import BRAND_TOP_REASONS, FIGURES, GROUP_BY


def _caller(serializer):
    request = serializer.context.get("request")
    return getattr(request, "user", None)


# --- output -------------------------------------------------------------------------------------------------------


class ReasonSerializer(TruthfulModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True,
                                          help_text="The category's code; null for a category itself.")

    class Meta:
        model = Reason
        fields = ["id", "code", "name", "name_en", "parent", "requires_note", "requires_competitor", "is_active",
                  "sort_order"]


class ApplicationSerializer(TruthfulModelSerializer):
    reasons = serializers.SerializerMethodField()
    lead_name = serializers.CharField(source="lead.name", read_only=True)
    consultant_name = serializers.StringRelatedField(source="consultant", read_only=True, allow_null=True)
    competitor_series_name = serializers.StringRelatedField(source="competitor_series", read_only=True, allow_null=True)
    competitor_brand_name = serializers.StringRelatedField(source="competitor_brand", read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=ApplicationStatus.choices, read_only=True,
                                     help_text="pending, confirmed or rejected (a false defeat).")

    class Meta:
        model = Application
        fields = ["id", "lead", "lead_name", "store", "consultant", "consultant_name", "kind", "reasons",
                  "competitor_series", "competitor_series_name", "competitor_brand", "competitor_brand_name",
                  "our_series", "price_gap", "price_cause", "note", "status", "applied_by", "applied_at", "decided_by",
                  "decided_at", "comment", "version"]
        read_only_fields = fields

    def get_reasons(self, obj) -> list[str]:
        return [r.code for r in obj.reasons.all()]


class PoolEntrySerializer(TruthfulModelSerializer):
    lead_name = serializers.CharField(source="lead.name", read_only=True)
    phone = serializers.SerializerMethodField(help_text="In full for the owner and the store's managers.")
    owner_name = serializers.StringRelatedField(source="owner", read_only=True)
    competitor_series_name = serializers.StringRelatedField(source="competitor_series", read_only=True, allow_null=True)
    competitor_brand_name = serializers.StringRelatedField(source="competitor_brand", read_only=True, allow_null=True)

    class Meta:
        model = PoolEntry
        fields = ["id", "lead", "lead_name", "phone", "store", "application", "owner", "owner_name", "list",
                  "competitor_brand", "competitor_brand_name", "competitor_series", "competitor_series_name",
                  "purchased_on", "joined_at", "last_contact_at", "next_contact_at", "replacement_due_on", "status",
                  "won_back_at", "version"]
        read_only_fields = fields

    def get_phone(self, obj) -> str:
        user = _caller(self)
        if user is None:
            return ""
        if obj.owner_id == user.pk:
            from leads.phones import phone_display

            return phone_display(obj.lead.phone) if obj.lead.phone else ""
        return lead_phone_for(user=user, lead=obj.lead)


class DefeatTargetSerializer(TruthfulModelSerializer):
    rate = serializers.DecimalField(max_digits=5, decimal_places=4, min_value=0, max_value=1, help_text=(
        "The store's target defeat rate for the year, 0..1 (the method's example: 0.65, down from 0.70); the defeat "
        "rate is defeats / (deals ordered + defeats), quasi-defeats not in it."))

    class Meta:
        model = DefeatTarget
        fields = ["id", "store", "year", "rate", "updated_by", "updated_at"]
        read_only_fields = ["id", "updated_by", "updated_at"]
        validators = []  # one per store and year: a second POST updates it (the service's upsert)


class TalkTrackSerializer(TruthfulModelSerializer):
    reason = serializers.SlugRelatedField(slug_field="code", queryset=Reason.objects.none())

    class Meta:
        model = TalkTrack
        fields = ["id", "reason", "series", "fact", "problem", "viewpoint", "updated_by", "updated_at"]
        read_only_fields = ["id", "updated_by", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = _caller(self)
        group_id = getattr(user, "dealer_group_id", None)
        self.fields["reason"].queryset = Reason.objects.filter(group_id=group_id) if group_id else Reason.objects.all()


# --- input --------------------------------------------------------------------------------------------------------


class ApplicationCreateSerializer(serializers.Serializer):
    lead = serializers.IntegerField(min_value=1, help_text="The lead's id (a lead you may see; else 404).")
    kind = serializers.ChoiceField(choices=Kind.choices, help_text=(
        "quasi (准战败: has not bought another brand, intention unclear; no competitor series) or defeat (战败: "
        "bought a competitor's car, whose series is then required, or lost contact / bought a used car: the reasons "
        "lost_contact, bought_used)."))
    price_cause = serializers.ChoiceField(choices=PriceCause.choices, required=False, allow_blank=True, help_text=(
        "Required with the reason price_high (价格高), refused without it: really high for its positioning, or "
        "apparently high (mark-up, price war, promotions, excuse, needs misread)."))
    reasons = serializers.ListField(child=serializers.SlugField(max_length=40), allow_empty=False, max_length=20,
                                    help_text="Reason codes (GET /defeats/reasons/).")
    competitor_series = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                                 help_text="The competitor's vehicle series the customer bought: "
                                                           "required for a defeat unless its reasons are lost_contact "
                                                           "or bought_used; refused for a quasi-defeat.")
    price_gap = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True,
                                         help_text="CNY, when known.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000,
                                 help_text="Required when a reason requires a note.")
    version = serializers.IntegerField(required=False, min_value=1, help_text="The lead's version as read (409).")


class VerdictSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Verdict.values)
    comment = serializers.CharField(max_length=2000)
    assign_to = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), required=False, allow_null=True,
                                                   help_text="Rejection only: who works the lead again (default: "
                                                             "its consultant).")
    grade = serializers.ChoiceField(choices=Grade.choices, required=False, allow_null=True,
                                    help_text="Rejection only: the grade it comes back with (default: its grade).")
    version = serializers.IntegerField(required=False, min_value=1,
                                       help_text="The application's version as read (409 if it changed).")

    def validate(self, attrs):
        if attrs["verdict"] == Verdict.CONFIRM and (attrs.get("assign_to") or attrs.get("grade")):
            raise serializers.ValidationError({"verdict": [_("assign_to and grade go with a rejection only.")]})
        return attrs


class BulkVerdictSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=200)
    verdict = serializers.ChoiceField(choices=Verdict.values)
    comment = serializers.CharField(max_length=2000)


class NurtureContactSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=FollowUpMethod.choices)
    content = serializers.CharField(max_length=2000)
    came_back = serializers.BooleanField(default=False, help_text="The customer wants to buy again: a win-back.")
    grade = serializers.ChoiceField(choices=Grade.choices, required=False, allow_null=True)
    assign_to = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), required=False, allow_null=True)


class PoolReassignSerializer(serializers.Serializer):
    to_user = serializers.PrimaryKeyRelatedField(queryset=User.objects.none(), help_text=(
        "An active consultant (or the manager) of the customer's store."))
    comment = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = staff_of_group(_caller(self))


class PoolBulkReassignSerializer(PoolReassignSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=500,
                                help_text="Pool entries to hand to `to_user`; all or nothing.")


class PoolOwnerSerializer(serializers.Serializer):
    store = serializers.IntegerField(read_only=True)
    user = serializers.IntegerField(read_only=True, allow_null=True, help_text=(
        "The designated pool owner; null: none designated, the store's manager owns the pool."))
    owner = serializers.IntegerField(read_only=True, allow_null=True, help_text=(
        "Who owns the pool now: the designated owner while an active member of the store, else the store's first "
        "active manager."))
    owner_name = serializers.CharField(read_only=True, allow_null=True)
    fleet_manager = serializers.BooleanField(read_only=True, help_text=(
        "The owner is a consultant: the store's fleet sales manager (批售经理), who also sees its company accounts."))
    open_entries = serializers.IntegerField(read_only=True, help_text="Customers in the pool the owner holds.")
    moved = serializers.IntegerField(read_only=True, required=False, help_text=(
        "On PUT: the open entries that moved from the previous owner to the new one."))


class PoolOwnerWriteSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.none(), allow_null=True, help_text=(
        "An active consultant or manager of the store; null: back to the store's manager."))
    comment = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = staff_of_group(_caller(self))


class MetricsQuerySerializer(serializers.Serializer):
    store = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    consultant = serializers.IntegerField(required=False, min_value=1)
    group_by = serializers.ChoiceField(choices=GROUP_BY, required=False)
    compare = serializers.BooleanField(default=False, help_text="Add `previous`: the same days a year earlier.")

    def validate(self, attrs):
        today = timezone.localdate()
        attrs.setdefault("end", today)
        attrs.setdefault("start", attrs["end"].replace(day=1))
        if attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"start": [_("The start must not be after the end.")]})
        if attrs["start"].year < 2000 or attrs["end"].year > today.year + 1:
            raise serializers.ValidationError({"start": [_("Ask about the years from 2000 to next year.")]})
        if attrs["end"] - attrs["start"] > timedelta(days=3 * 366):
            raise serializers.ValidationError({"end": [_("Ask for at most three years at a time.")]})
        return attrs


_FIGURE_HELP = {
    "applications": "Applications filed in the period.",
    "pending": "Of those, still awaiting a verdict.",
    "decided": "defeats + quasi_defeats + rejected.",
    "defeats": "Defeats (战败: bought a competitor's car, lost contact) confirmed in the period (by the verdict's "
               "time).",
    "quasi_defeats": "Quasi-defeats (准战败) confirmed in the period: counted beside the defeats, never in the defeat "
                     "rate; they are on the nurture list.",
    "rejected": "Applications rejected in the period: false defeats (虚战败).",
    "deals": deal_bases.described(deal_bases.CALENDAR,
                                  "Null where a grouping has no deals (competitor, reason, price cause)."),
    "defeat_rate": "defeats / (deals + defeats), deals on the calendar basis; quasi-defeats are not in it. Null when "
                   "nothing closed or deals do not apply.",
    "false_defeat_rate": "rejected / decided; null when nothing was decided.",
    "win_backs": "Competitor-pool customers who came back in the period.",
}


def _figure_field(name):
    if name.endswith("_rate"):
        return serializers.FloatField(allow_null=True, help_text=_FIGURE_HELP[name])
    return serializers.IntegerField(allow_null=name == "deals", help_text=_FIGURE_HELP[name])


FiguresSerializer = type("DefeatFigures", (serializers.Serializer,), {f: _figure_field(f) for f in FIGURES})
GroupRowSerializer = type("DefeatGroupRow", (FiguresSerializer,), {
    "key": GroupKeyField(help_text="The group's id, an integer (store, consultant, reason, reason_category, "
                                   "competitor_brand, competitor_series; by_reason: the reason's), or the month as a "
                                   "string YYYY-MM (group_by month), or a grade A-E (group_by grade_at_filing: the "
                                   "lead's grade when the application was filed; highest_grade: the highest grade "
                                   "it had reached by then); null for the rows that have none (a lead never "
                                   "graded)."),
    "label": serializers.CharField(),
    "code": serializers.CharField(required=False, help_text="The reason's code (group_by reason / reason_category)."),
    "reasons": inline_serializer("DefeatBrandReason", {
        "code": serializers.CharField(), "label": serializers.CharField(),
        "defeats": serializers.IntegerField(help_text="The confirmed defeats with this reason (this brand's; by "
                                                      "grade: defeats and quasi-defeats).")},
        many=True, required=False, help_text=(
            f"group_by=competitor_brand: the main reasons of that brand's confirmed defeats in the period, the "
            f"top {BRAND_TOP_REASONS} by count, ties in the taxonomy's order (an application with two reasons counts "
            f"under each). group_by=grade_at_filing or highest_grade (loss by stage): every reason of the row's "
            f"defeats and quasi-defeats confirmed in the period, most frequent first; `defeats` counts both kinds "
            f"there."))})
MetricsSerializer = type("DefeatMetrics", (FiguresSerializer,), {
    "by_reason": GroupRowSerializer(many=True, required=False),
    "previous": FiguresSerializer(required=False, help_text="With compare=true."),
})
GroupedMetricsSerializer = type("DefeatGroupedMetrics", (serializers.Serializer,), {
    "results": GroupRowSerializer(many=True), "total": FiguresSerializer(),
    "previous": serializers.DictField(required=False, help_text="With compare=true: the same, a year earlier.")})

