"""What the leads API takes and shows of base clients: the deal answer's ``base_client``, a lead's ``referrer`` (a
base-client id) and ``referral_types``. The leads serializers and views call these, so the rules stay here."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..models import BaseClient, Referral, ReferralType


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


def pop_referral(validated: dict) -> dict | None:
    """Take ``referrer``/``referral_types`` out of the validated data (the lead services do not take them)."""
    code = (validated.pop("referral_code", "") or "").strip()
    has = "referrer" in validated or "referral_types" in validated or bool(code)
    referrer = validated.pop("referrer", None)
    types = validated.pop("referral_types", None)
    return {"referrer": referrer, "types": types, "code": code} if has else None


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


class LeadReferralMixin(serializers.Serializer):
    """Output: the lead's referrer (base-client id) and referral types (typed, plus the derived one)."""

    referrer = serializers.SerializerMethodField()
    referral_types = serializers.SerializerMethodField()

    def _referral(self, lead):
        try:
            return lead.referral
        except Referral.DoesNotExist:
            return None

    def get_referrer(self, lead) -> int | None:
        referral = self._referral(lead)
        return referral.referrer_client_id if referral else None

    def get_referral_types(self, lead) -> list[str]:
        referral = self._referral(lead)
        return [*referral.types, referral.derived_type] if referral else []


def deal_base_client(deal) -> int | None:
    try:
        return deal.purchase.client_id
    except Exception:  # noqa: BLE001 - RelatedObjectDoesNotExist: a deal without a card (not yet backfilled)
        return None
