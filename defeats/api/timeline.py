"""The shape of a defeat step in the lead's timeline (``GET /api/v1/leads/{id}/timeline/``, kind ``defeat``):
leads.api.serializers adds ``kind`` and ``at`` to it as to its own entries."""

from rest_framework import serializers

from dealercrm.api.schema import TruthfulModelSerializer, name_of

from ..models import DefeatEvent, Kind


class DefeatEventSerializer(TruthfulModelSerializer):
    step = serializers.CharField(source="kind", read_only=True,
                                 help_text="applied, confirmed, rejected (a false defeat), nurtured (a competitor-pool "
                                           "contact) or won_back.")
    by_name = name_of("by")
    to_user_name = name_of("to_user")
    application_kind = serializers.ChoiceField(source="application.kind", choices=Kind.choices, read_only=True,
                                                allow_null=True, help_text="quasi or defeat; null for a nurture "
                                                                           "contact.")
    reasons = serializers.SerializerMethodField(help_text="The application's reason codes.")
    competitor_series_name = name_of("application.competitor_series")
    competitor_brand_name = name_of("application.competitor_brand")
    price_gap = serializers.DecimalField(source="application.price_gap", max_digits=12, decimal_places=2,
                                         read_only=True, allow_null=True)

    class Meta:
        model = DefeatEvent
        fields = ["id", "step", "application", "application_kind", "reasons", "competitor_brand_name",
                  "competitor_series_name", "price_gap", "by", "by_name", "comment", "from_status", "to_status",
                  "to_user", "to_user_name"]
        read_only_fields = fields

    def get_reasons(self, obj) -> list[str]:
        return [r.code for r in obj.application.reasons.all()] if obj.application_id else []
