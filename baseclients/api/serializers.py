"""Base-client API shapes. Rules live in ``baseclients.services``: these only parse and type-check."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from dealercrm.api.schema import TruthfulModelSerializer, name_of
from dealercrm.models import VehicleSeries
from leads.api.serializers import (
    QUANTITY_HELP,
    UNIT_PRICE_HELP,
    UNITS_DELIVERED_HELP,
    USE_HELP,
    DealUnitSerializer,
)
from leads.models import Company, Deal

from ..models import (
    BaseClient,
    CareChannel,
    CareOutcome,
    CareTask,
    ClientContact,
    ClientKind,
    Criterion,
    DoNotContact,
    Referral,
    ScoreRecord,
    TierChange,
    Vehicle,
    VehicleUse,
)
from ..selectors import client_phone_for


def _caller(serializer):
    request = serializer.context.get("request")
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


class VehicleSerializer(TruthfulModelSerializer):
    series_name = name_of("series")
    use = serializers.ChoiceField(choices=VehicleUse.choices, read_only=True, help_text=USE_HELP)

    class Meta:
        model = Vehicle
        fields = ["id", "deal", "series", "series_name", "use", "vin", "plate", "colour", "ordered_at",
                  "delivered_at", "registered_at", "insurance_renewal_at", "mileage_km"]
        read_only_fields = fields


class DealDeliverSerializer(serializers.Serializer):
    delivered_at = serializers.DateField(required=False, allow_null=True,
                                         help_text=_("Default: today. Not before the order, not in the future."))
    vehicles = DealUnitSerializer(many=True, allow_empty=False, max_length=500,
                                  help_text=_("The units delivered now: at most the order's undelivered units."))


class ClientDealSerializer(TruthfulModelSerializer):
    is_repeat = serializers.SerializerMethodField()
    series_name = name_of("series")
    quantity = serializers.IntegerField(read_only=True, help_text=QUANTITY_HELP)
    units_delivered = serializers.IntegerField(read_only=True, help_text=UNITS_DELIVERED_HELP)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True, help_text=UNIT_PRICE_HELP)

    class Meta:
        model = Deal
        fields = ["id", "lead", "series", "series_name", "quantity", "unit_price", "price", "units_delivered",
                  "ordered_at", "delivered_at", "is_repeat"]
        read_only_fields = fields

    def get_is_repeat(self, deal) -> bool:
        return bool(getattr(deal, "purchase", None) and deal.purchase.is_repeat)


class ReferralLeadSerializer(TruthfulModelSerializer):
    lead_name = serializers.CharField(source="lead.name", read_only=True)
    lead_status = serializers.CharField(source="lead.status", read_only=True)
    derived_type = serializers.CharField(read_only=True)

    class Meta:
        model = Referral
        fields = ["id", "lead", "lead_name", "lead_status", "types", "derived_type", "sequence", "created_at"]
        read_only_fields = fields


class BaseClientListSerializer(TruthfulModelSerializer):
    phone = serializers.SerializerMethodField()
    phone_masked = serializers.CharField(source="masked_phone", read_only=True)
    assigned_to_name = name_of("assigned_to")
    repeat_purchases = serializers.SerializerMethodField()
    purchases = serializers.IntegerField(read_only=True, help_text=_(
        "Orders the client placed with us (a fleet order of five is ONE purchase); more than one makes a repeat "
        "buyer."))
    units = serializers.IntegerField(read_only=True, help_text=_(
        "Units bought over all the purchases (a fleet order of five counts five)."))

    class Meta:
        model = BaseClient
        fields = ["id", "store", "assigned_to", "assigned_to_name", "name", "phone", "phone_masked", "kind",
                  "region", "industry", "fleet_size", "tier", "tier_basis", "loyalty_score", "power_score",
                  "purchases", "units", "repeat_purchases", "referral_deals", "version", "company"]
        read_only_fields = fields

    def get_phone(self, client) -> str:
        user = _caller(self)
        return client.masked_phone if user is None else client_phone_for(user=user, client=client)

    def get_repeat_purchases(self, client) -> int:
        return max(0, client.purchases - 1)


class BaseClientSerializer(BaseClientListSerializer):
    tier_label = serializers.SerializerMethodField()
    vehicles = VehicleSerializer(many=True, read_only=True)
    deals = serializers.SerializerMethodField()
    referral_leads = serializers.SerializerMethodField()
    do_not_contact = serializers.SerializerMethodField()

    class Meta(BaseClientListSerializer.Meta):
        fields = [*BaseClientListSerializer.Meta.fields, "tier_label", "tier_since", "birthday", "address",
                  "vehicles", "deals", "referral_leads", "do_not_contact", "created_at"]
        read_only_fields = fields

    def get_tier_label(self, client) -> str:
        from ..services import tier_label

        return tier_label(client, *self.context.get("maxes", (100, 100)))

    def get_deals(self, client) -> list[dict]:
        deals = Deal.objects.filter(purchase__client=client).select_related("series__brand", "purchase").order_by(
            "-ordered_at", "-pk")
        return ClientDealSerializer(deals, many=True).data

    def get_referral_leads(self, client) -> list[dict]:
        return ReferralLeadSerializer(client.referrals.select_related("lead").order_by("-created_at"), many=True).data

    def get_do_not_contact(self, client) -> list[dict]:
        return [{"channel": d.channel, "reason": d.reason} for d in DoNotContact.objects.filter(client=client)]


class BaseClientUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=60, required=False)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=ClientKind.choices, required=False)
    region = serializers.CharField(max_length=60, required=False, allow_blank=True)
    industry = serializers.CharField(max_length=60, required=False, allow_blank=True)
    fleet_size = serializers.IntegerField(min_value=0, max_value=100000, required=False)
    birthday = serializers.DateField(required=False, allow_null=True)
    address = serializers.CharField(max_length=200, required=False, allow_blank=True)
    company = serializers.PrimaryKeyRelatedField(
        queryset=Company.objects.none(), required=False, allow_null=True,
        help_text=_("The company account the client buys for (a company of the client's store): its vehicles count "
                    "in the company's fleet."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A company the caller cannot see does not exist for them (400).
        self.fields["company"].queryset = Company.objects.visible_to(_caller(self))


class ScoresSerializer(serializers.Serializer):
    scores = serializers.DictField(child=serializers.IntegerField(), allow_empty=False,
                                   help_text=_("Criterion code → points (0..the criterion's max)."))


class CriterionSerializer(TruthfulModelSerializer):
    label = serializers.CharField(read_only=True)

    class Meta:
        model = Criterion
        fields = ["id", "dimension", "code", "label", "name", "name_en", "max_points", "fact", "sort_order"]
        read_only_fields = fields


class ScoreRecordSerializer(TruthfulModelSerializer):
    by_name = name_of("by")

    class Meta:
        model = ScoreRecord
        fields = ["id", "at", "by", "by_name", "before", "after", "loyalty_before", "loyalty_after", "power_before",
                  "power_after", "tier_after"]
        read_only_fields = fields


class TierChangeSerializer(TruthfulModelSerializer):
    class Meta:
        model = TierChange
        fields = ["id", "from_tier", "to_tier", "basis", "loyalty", "power", "at", "by", "job_run"]
        read_only_fields = fields


class CareTaskSerializer(TruthfulModelSerializer):
    base_client = serializers.IntegerField(source="client_id", read_only=True)
    base_client_name = serializers.CharField(source="client.name", read_only=True)
    title = serializers.SerializerMethodField()
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = CareTask
        fields = ["id", "base_client", "base_client_name", "kind", "title", "channel", "due_on", "status",
                  "is_overdue", "overdue_flagged_at", "vehicle", "assigned_to", "outcome", "note", "done_at",
                  "done_by", "version"]
        read_only_fields = fields

    def get_title(self, task) -> str:
        return task.item.label if task.item_id else task.get_kind_display()


class CareDoneSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=CareOutcome.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    plan_vehicles = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=999,
        help_text="The fleet's growth plan heard at this contact: the vehicles the client plans to add (with "
                  "`plan_by`). The nightly care job makes a fleet-growth reminder due two months before that month.")
    plan_by = serializers.DateField(required=False, allow_null=True,
                                    help_text="The month the client plans to add them by (any day of it).")

    def validate(self, attrs):
        if bool(attrs.get("plan_vehicles")) != bool(attrs.get("plan_by")):
            raise serializers.ValidationError({"plan_by": [_("Give both: how many vehicles and by which month.")]})
        return attrs


class CareSkipSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class DoNotContactSerializer(serializers.Serializer):
    channel = serializers.CharField(max_length=20)
    reason = serializers.CharField(max_length=200)


class VehicleCreateSerializer(serializers.Serializer):
    vin = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    plate = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    series = serializers.PrimaryKeyRelatedField(queryset=VehicleSeries.objects.all(), required=False, allow_null=True)
    use = serializers.ChoiceField(choices=VehicleUse.choices, required=False, default=VehicleUse.PRIVATE,
                                  help_text=USE_HELP)
    colour = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    ordered_at = serializers.DateField(required=False, allow_null=True)
    delivered_at = serializers.DateField(required=False, allow_null=True)
    registered_at = serializers.DateField(required=False, allow_null=True)
    insurance_renewal_at = serializers.DateField(required=False, allow_null=True)
    mileage_km = serializers.IntegerField(min_value=0, required=False, allow_null=True)


class ContactLogSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=CareChannel.choices, help_text=_("How the client was contacted."))
    content = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000,
                                    help_text=_("What was said or done."))
    outcome = serializers.ChoiceField(choices=CareOutcome.choices, required=False, allow_blank=True, default="",
                                      help_text=_("Blank: visited for a visit, reached otherwise."))


class ClientContactSerializer(TruthfulModelSerializer):
    method = serializers.CharField(source="channel", read_only=True)
    by_name = serializers.StringRelatedField(source="by", read_only=True)
    closed_task = CareTaskSerializer(source="task", read_only=True, allow_null=True,
                                     help_text=_("The care task this contact closed, or null."))

    class Meta:
        model = ClientContact
        fields = ["id", "method", "outcome", "content", "at", "by", "by_name", "closed_task"]
        read_only_fields = fields
