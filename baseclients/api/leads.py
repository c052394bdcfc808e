"""What the leads API takes and shows of base clients: the deal answer's ``base_client``, a lead's ``referrer`` (a
base-client id) and ``referral_types``. Registered with leads.extensions in BaseclientsConfig.ready(): the leads
serializers and views call these through the hook, so the rules stay here."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import BaseClient, Purchase, Referral, ReferralType


def referrer_fields() -> dict:
    """The input fields a lead's create/edit serializer adds."""
    return {
        "referrer": serializers.PrimaryKeyRelatedField(
            queryset=BaseClient.objects.all(), required=False, allow_null=True,
            help_text=_("A base client of the lead's dealer group who referred the customer; the source becomes "
                        "referral.")),
        "referral_types": serializers.ListField(
            child=serializers.ChoiceField(choices=ReferralType.choices), required=False, max_length=2,
            help_text=_("Up to two; first-time / repeat referrer is derived.")),
        "referral_code": serializers.CharField(
            required=False, allow_blank=True, max_length=20, write_only=True,
            help_text=_("The code on a base client's referral reward card (推荐有奖: six letters and digits, no 0/O/1/I/L, "
                        "printed on the delivery pack and the warranty book). The lead becomes a referral credited "
                        "to the card's client, as if named in `referrer` (which wins when both are given). A code "
                        "that names no base client of the lead's dealer group: 400.")),
    }


def apply_referral(*, actor, lead, referral: dict | None) -> None:
    """Name the lead's referrer (inside the caller's transaction). ``referral_types`` alone keeps the referrer."""
    if referral is None:
        return
    from ..services import referral_set

    current = Referral.objects.filter(lead=lead).first()
    referrer = referral["referrer"]
    if referrer is None and referral.get("code"):
        from ..selectors import client_by_code

        referrer = client_by_code(referral["code"], lead.store.group_id)
        if referrer is None:
            raise serializers.ValidationError({"referral_code": [_("No base client of this dealer group has this "
                                                                   "referral card code.")]})
    if referrer is None and current is not None and referral["types"] is not None:
        referrer = current.referrer_client
        staff = current.referrer_staff
    else:
        staff = None
    if referrer is None and staff is None:
        if referral["types"]:
            raise serializers.ValidationError({"referrer": [_("Name the referrer of these referral types.")]})
        return
    types = referral["types"] if referral["types"] is not None else (current.types if current else [])
    referral_set(actor=actor, lead=lead, referrer_client=referrer, referrer_staff=staff, types=types)


def _referral(lead) -> Referral | None:
    try:
        return lead.referral
    except Referral.DoesNotExist:
        return None


@extend_schema_field({"type": "integer", "nullable": True})
class ReferrerField(serializers.Field):
    """Output: the lead's referrer (a base-client id), or null."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, lead) -> int | None:
        referral = _referral(lead)
        return referral.referrer_client_id if referral else None


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class ReferralTypesField(serializers.Field):
    """Output: the lead's referral types (typed, plus the derived one)."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, lead) -> list[str]:
        referral = _referral(lead)
        return [*referral.types, referral.derived_type] if referral else []


def referral_output() -> dict:
    """The output fields the lead's answer adds (reading ``lead.referral``, joined by the lead lists)."""
    return {"referrer": ReferrerField(), "referral_types": ReferralTypesField()}


@extend_schema_field({"type": "integer", "nullable": True})
class DealBaseClientField(serializers.Field):
    """Output: the buyer's base client of a deal (null for a deal without a card, not yet backfilled)."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, help_text="The buyer's base client (baseclients).", **kwargs)

    def to_representation(self, deal) -> int | None:
        try:
            return deal.purchase.client_id
        except Purchase.DoesNotExist:
            return None


def deal_output() -> dict:
    return {"base_client": DealBaseClientField()}


def save_referral(*, actor, lead, data: dict) -> None:
    """The lead API's hook (leads.extensions): ``data`` holds the referral fields the request sent."""
    code = (data.get("referral_code") or "").strip()
    if not ({"referrer", "referral_types"} & set(data)) and not code:
        return  # only a blank card code was sent
    apply_referral(actor=actor, lead=lead, referral={"referrer": data.get("referrer"),
                                                    "types": data.get("referral_types"), "code": code})
