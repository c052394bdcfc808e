"""The events API's shapes. Figures are counted by ``campaigns.selectors`` (annotations), never here."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from baseclients.models import Tier
from defeats.models import PoolList

from ..models import Answer, Event, EventKind, Invitation

RESULT_HELP = {
    "invited": "Guests on the target list (walk-ins added at the door not included).",
    "accepted": "Invited guests whose answer is accepted.",
    "declined": "Invited guests whose answer is declined.",
    "attended": "Guests marked arrived at the door, walk-ins included.",
    "walk_ins": "Guests added at the door (not invited).",
    "leads": "Leads of the dealer group (merged ones left out) brought by an attendee from the event's day to the "
             "last day of its month: a showroom visit (first or re-visit) in that window of a lead whose phone is "
             "an attendee's, or a lead first seen in that window whose referrer is an attending base client.",
    "referrals": "Of `leads`, those whose referrer is an attending base client (first seen in the window).",
    "deals": "Deals ordered from the event's day to the last day of its month, of a lead whose phone is an "
             "attendee's or whose referrer is an attending base client.",
}


class EventSerializer(serializers.ModelSerializer):
    store_name = serializers.CharField(source="store.name", read_only=True)

    class Meta:
        model = Event
        fields = ["id", "store", "store_name", "kind", "title", "held_on", "starts_at", "place", "note",
                  "results_until", "created_at", "version"]
        read_only_fields = ["results_until", "created_at", "version"]
        extra_kwargs = {"results_until": {"help_text": "The last day of the event's month: results are counted "
                                                       "from `held_on` to this day."}}


class EventCreateSerializer(serializers.Serializer):
    store = serializers.IntegerField(required=False, help_text="The store; a manager's own store when left out.")
    kind = serializers.ChoiceField(choices=EventKind.choices)
    title = serializers.CharField(max_length=100)
    held_on = serializers.DateField()
    starts_at = serializers.TimeField(required=False, allow_null=True)
    place = serializers.CharField(max_length=200)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


def _ids():
    return serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False,
                                 default=list, max_length=5000)


class InviteSerializer(serializers.Serializer):
    tiers = serializers.ListField(child=serializers.ChoiceField(choices=Tier.choices), required=False, default=list,
                                  help_text="Base clients of the event's store in these tiers.")
    regions = serializers.ListField(child=serializers.CharField(max_length=60), required=False, default=list,
                                    max_length=200,
                                    help_text="…in these regions (the group's region list); every tier when no "
                                              "tier is given.")
    industries = serializers.ListField(child=serializers.CharField(max_length=60), required=False, default=list,
                                       max_length=200, help_text="…in these industries (the group's industry list).")
    client_ids = _ids()
    pool_lists = serializers.ListField(child=serializers.ChoiceField(choices=PoolList.choices), required=False,
                                       default=list,
                                       help_text="Every customer still on the store's competitor pool "
                                                 "(`competitor`) and/or nurture list (`nurture`).")
    pool_entry_ids = _ids()

    def validate(self, attrs):
        if not any(attrs.get(k) for k in ("tiers", "regions", "industries", "client_ids", "pool_lists",
                                          "pool_entry_ids")):
            raise serializers.ValidationError({"non_field_errors": [_("Choose whom to invite.")]})
        return attrs


class InviteResultSerializer(serializers.Serializer):
    invited = serializers.IntegerField(help_text="Guests put on the list by this call.")
    already = serializers.IntegerField(help_text="Guests the call picked who were on the list already (unchanged).")
    total = serializers.IntegerField(help_text="Guests on the list now.")


class InvitationSerializer(serializers.ModelSerializer):
    phone = serializers.CharField(source="phone_shown", read_only=True,
                                  help_text="In full for the guest's consultant and the store's managers, masked "
                                            "(138****8000) for anyone else.")
    arrived = serializers.BooleanField(source="arrived_at", read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "event", "source", "client", "pool_entry", "name", "phone", "consultant", "walk_in",
                  "invited_by", "invited_at", "answer", "answered_at", "answered_by", "arrived", "arrived_at",
                  "arrived_by", "version"]
        read_only_fields = fields


class AnswerSerializer(serializers.Serializer):
    invitation = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    answer = serializers.ChoiceField(choices=Answer.choices)


class AttendanceSerializer(serializers.Serializer):
    invitation = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1,
                                          help_text="The guest on the list who arrived.")
    arrived = serializers.BooleanField(required=False, default=True,
                                       help_text="false takes a mistaken arrival back.")
    name = serializers.CharField(required=False, max_length=60,
                                 help_text="A walk-in guest not on the list (instead of `invitation`).")
    phone = serializers.CharField(required=False, allow_blank=True, max_length=30,
                                  help_text="The walk-in's phone: one already on the list marks that guest arrived; "
                                            "a base client's links the client.")

    def validate(self, attrs):
        if ("invitation" in attrs) == bool(attrs.get("name")):
            raise serializers.ValidationError({"invitation": [_("Name a guest on the list, or a walk-in's name.")]})
        return attrs


class ResultsSerializer(serializers.Serializer):
    invited = serializers.IntegerField(help_text=RESULT_HELP["invited"])
    accepted = serializers.IntegerField(help_text=RESULT_HELP["accepted"])
    declined = serializers.IntegerField(help_text=RESULT_HELP["declined"])
    attended = serializers.IntegerField(help_text=RESULT_HELP["attended"])
    walk_ins = serializers.IntegerField(help_text=RESULT_HELP["walk_ins"])
    leads = serializers.IntegerField(help_text=RESULT_HELP["leads"])
    referrals = serializers.IntegerField(help_text=RESULT_HELP["referrals"])
    deals = serializers.IntegerField(help_text=RESULT_HELP["deals"])


class KindResultsSerializer(ResultsSerializer):
    kind = serializers.ChoiceField(choices=EventKind.choices)
    label = serializers.CharField()
    events = serializers.IntegerField(help_text="Events of the kind held in the year the caller sees. The other "
                                                "figures are the sums of the events' own (a lead brought by a guest "
                                                "of two events counts under both).")


class TargetCountSerializer(serializers.Serializer):
    base_clients = serializers.IntegerField()
    pool = serializers.IntegerField()
    total = serializers.IntegerField()
    new = serializers.IntegerField(help_text="Of `total`, those not on the list yet (what inviting would add).")


class KindTotalSerializer(ResultsSerializer):
    events = serializers.IntegerField()


class ByKindSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    kinds = KindResultsSerializer(many=True)
    total = KindTotalSerializer(help_text="Over every kind.")
