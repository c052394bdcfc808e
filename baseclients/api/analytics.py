"""The analyses' answers as documented shapes (OpenAPI only: the figures come from ``baseclients.selectors`` and are
returned as they are). Each field's help text says the method's definition and the choices made."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from ..models import ReferralType

TIER_HELP = "premium / potential / general"


def _counts(prefix: str, help_text: str) -> dict:
    return {f"{prefix}_{t}": serializers.IntegerField(help_text=f"{help_text} ({t})")
            for t in ("premium", "potential", "general")}


class TierCountsSerializer(serializers.Serializer):
    premium = serializers.IntegerField()
    potential = serializers.IntegerField()
    general = serializers.IntegerField()
    total = serializers.IntegerField()


class TierSharesSerializer(serializers.Serializer):
    premium = serializers.FloatField(help_text="Percent of the side's total.")
    potential = serializers.FloatField()
    general = serializers.FloatField()


class ConcentrationRowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The region (or industry); \"\" when the card has none.")
    this_year = TierCountsSerializer(
        help_text="Base clients produced (年产生的) in `year`: their first purchase's order date falls in it (an "
                  "imported client is dated by its purchase, not the import; a card with no purchase by its "
                  "creation day). Per tier: today's when `year` is the current year, the tier held at its end "
                  "otherwise.")
    this_year_share = TierSharesSerializer()
    last_year = TierCountsSerializer(help_text="Base clients produced in the year before, under the tier held at "
                                               "its end.")
    last_year_share = TierSharesSerializer()
    rank = serializers.ChoiceField(
        choices=["important", "ordinary", "weak"],
        help_text="重要 / 一般 / 薄弱. Ranked by this year's count: the values making up the first `important_pct` % "
                  "of the clients (default 60, the one crossing it included) are important, up to `ordinary_pct` % "
                  "(default 90, the one crossing it included) ordinary, the rest weak; the group admin sets both.")


class ConcentrationSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["region", "industry"])
    year = serializers.IntegerField()
    rows = ConcentrationRowSerializer(many=True)


MonthlyEffectRowSerializer = type("MonthlyEffectRowSerializer", (serializers.Serializer,), {
    "month": serializers.IntegerField(help_text="1..12, local time (Asia/Shanghai)."),
    **_counts("referrals", "Referral leads brought by base clients, in the month of the lead's first visit, under the "
                           "tier its referrer held when the lead arrived (from the tier history, not today's tier)"),
    "referrals": serializers.IntegerField(),
    **_counts("repeats", "Repeat purchases in the month of the order date, under the tier the buyer held when the "
                         "deal was recorded (before the deal itself moved it)"),
    "repeats": serializers.IntegerField(),
})


class MonthlyEffectSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["monthly"])
    year = serializers.IntegerField()
    rows = MonthlyEffectRowSerializer(many=True)


_StructureCounts = type("ReferralStructureCountsSerializer", (serializers.Serializer,), {
    "n": serializers.IntegerField(help_text="N: new leads, first visit in the month (local time), merged leads "
                                            "excluded: the funnel's N."),
    "referrals": serializers.IntegerField(help_text="Referral leads: the new leads whose source is referral, named "
                                                    "referrer or not (the funnel's referral N)."),
    "referral_deals": serializers.IntegerField(help_text="Referral leads won so far."),
    "first_time": serializers.IntegerField(help_text="Referral leads whose named referrer referred for the first "
                                                     "time."),
    "repeat": serializers.IntegerField(help_text="Referral leads whose named referrer had referred before."),
    **{t: serializers.IntegerField(help_text=f"Referral leads typed {t}.") for t in ReferralType.values},
    "share_of_n": serializers.FloatField(allow_null=True, help_text="Referral leads / N, percent (SQL, 1 decimal); "
                                                                    "null when N is 0."),
    "close_rate": serializers.FloatField(allow_null=True, help_text="Referral close rate: referral deals / referral "
                                                                    "leads, percent; null without a referral lead."),
})

StructureRowSerializer = type("ReferralStructureRowSerializer", (_StructureCounts,), {
    "month": serializers.IntegerField()})

StructureSharesSerializer = type("ReferralStructureSharesSerializer", (serializers.Serializer,), {
    k: serializers.FloatField(allow_null=True) for k in ["referral_deals", "first_time", "repeat",
                                                          *ReferralType.values]})


class ReferralStructureSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["referrals"])
    year = serializers.IntegerField()
    rows = StructureRowSerializer(many=True)
    total = _StructureCounts(help_text="合计: the year's sums, with the year's share of N and close rate.")
    shares = StructureSharesSerializer(help_text="比例: each column of the total over the year's referral leads, "
                                                 "percent.")


class MovementRowSerializer(serializers.Serializer):
    consultant = serializers.IntegerField(allow_null=True, help_text="The consultant holding the client at the "
                                                                     "change.")
    name = serializers.CharField()
    up = serializers.IntegerField()
    down = serializers.IntegerField()
    up_scored = serializers.IntegerField(help_text="Moved up by a consultant's scoring (care work, the yearly "
                                                   "review included).")
    down_scored = serializers.IntegerField()
    up_auto = serializers.IntegerField(help_text="Moved up automatically: a purchase, a referral lead or deal, a "
                                                 "rule change, a fleet-size edit.")
    down_auto = serializers.IntegerField()


class TierMovementSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["tier-movement"])
    since = serializers.DateField()
    until = serializers.DateField()
    rows = MovementRowSerializer(many=True)


class OneBringsOneRowSerializer(serializers.Serializer):
    tier = serializers.CharField(help_text=TIER_HELP)
    clients = serializers.IntegerField(help_text="Base clients holding the tier at the period's end.")
    referrals = serializers.IntegerField(help_text="Referral leads they brought that arrived in the period, under "
                                                   "the tier the referrer held when the lead arrived.")
    referral_deals = serializers.IntegerField(help_text="Those referral leads won so far.")
    close_rate = serializers.FloatField(allow_null=True, help_text="Referral deals / referral leads, percent (the "
                                                                   "method's aim is to raise it).")
    per_client = serializers.FloatField(help_text="Referral leads / clients.")
    done = serializers.BooleanField(help_text="The tier's step is done: one referral lead per client or more over "
                                              "the period.")
    since = serializers.DateField()
    until = serializers.DateField()


class OneBringsOneSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["one-brings-one"])
    since = serializers.DateField(help_text="The period: the group's `one_brings_one_months` (default 12) months "
                                            "ending on `until`.")
    until = serializers.DateField()
    rows = OneBringsOneRowSerializer(many=True)
    phase = serializers.ChoiceField(
        choices=["premium", "potential", "general", "all"],
        help_text="The roll-out step: premium first, then potential, then general, then everyone (all); the first "
                  "tier, in that order, whose step is not done.")


class SegmentSerializer(serializers.Serializer):
    segment = serializers.CharField(help_text="The vehicle segment; \"\" for vehicles of no known series.")
    segment_label = serializers.CharField()
    clients = serializers.IntegerField(help_text="This year's clients owning a vehicle of the segment.")
    rows = ConcentrationRowSerializer(many=True)


class IndustrySegmentSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["industry-segment"])
    year = serializers.IntegerField()
    segments = SegmentSerializer(many=True)


class CareRowSerializer(serializers.Serializer):
    key = serializers.JSONField(help_text="The consultant's id (by=consultant) or the region.")
    name = serializers.CharField()
    planned = serializers.IntegerField(help_text="Care tasks due in the period (the yearly reviews included).")
    on_time = serializers.IntegerField()
    late = serializers.IntegerField()
    skipped = serializers.IntegerField()
    overdue = serializers.IntegerField()
    rate = serializers.FloatField(help_text="Done (on time or late) / planned, percent.")


class CareCompletionSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["care-completion"])
    since = serializers.DateField()
    until = serializers.DateField()
    by = serializers.CharField()
    rows = CareRowSerializer(many=True)


ANALYSIS_RESPONSE = PolymorphicProxySerializer(
    component_name="BaseClientAnalysis",
    serializers={
        "region": ConcentrationSerializer, "industry": ConcentrationSerializer,
        "industry-segment": IndustrySegmentSerializer, "monthly": MonthlyEffectSerializer,
        "referrals": ReferralStructureSerializer, "tier-movement": TierMovementSerializer,
        "care-completion": CareCompletionSerializer, "one-brings-one": OneBringsOneSerializer,
    },
    resource_type_field_name="kind",
    many=False,
)
