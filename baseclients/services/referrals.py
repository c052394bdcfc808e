"""Referrals (推荐): a lead names its referrer, a base client of its group or a member of its staff, with the typed
referral types; first-time / repeat referrer is derived from the referrer's history."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from dealercrm.models import User
from leads.models import Channel, Lead, Source, Status
from leads.services._common import lock, require_can_work

from ..models import BaseClient, Referral, ReferralType, TierCause
from ._common import lock_client
from .scoring import refresh

MAX_TYPES = 2


@transaction.atomic
def referral_set(*, actor: User, lead: Lead, referrer_client: BaseClient | None = None,
                 referrer_staff: User | None = None, types: list[str] | tuple[str, ...] = ()) -> Referral:
    """Name (or change) an active lead's referrer. The lead's source becomes referral. A referrer outside the lead's
    group, both or neither referrer, unknown or more than two types: a 400 naming the field."""
    errors = {}
    types = list(dict.fromkeys(types or ()))
    unknown = [t for t in types if t not in ReferralType.values]
    if unknown:
        errors["referral_types"] = [_("Unknown referral type: %(type)s") % {"type": ", ".join(unknown)}]
    elif len(types) > MAX_TYPES:
        errors["referral_types"] = [_("At most two referral types apply.")]
    if (referrer_client is None) == (referrer_staff is None):
        errors["referrer"] = [_("Name one referrer: a base client or a member of staff.")]
    if errors:
        raise ValidationError(errors)
    lead = lock(lead)
    require_can_work(actor, lead)
    if lead.status != Status.ACTIVE:
        raise ValidationError({"referrer": [_("The referrer of a closed lead cannot change.")]})
    group_id = lead.store.group_id
    if referrer_client is not None:
        if referrer_client.group_id != group_id:
            raise ValidationError({"referrer": [_("Choose a base client of this dealer group.")]})
        referrer_client = lock_client(referrer_client)
    if referrer_staff is not None and (referrer_staff.dealer_group_id != group_id or not referrer_staff.is_active):
        raise ValidationError({"referrer_staff": [_("Choose an active member of this dealer group's staff.")]})
    old = Referral.objects.select_for_update().filter(lead=lead).first()
    old_client_id = old.referrer_client_id if old else None
    if referrer_client is not None:
        previous = Referral.objects.filter(referrer_client=referrer_client).exclude(lead=lead).count()
    else:
        previous = Referral.objects.filter(referrer_staff=referrer_staff).exclude(lead=lead).count()
    values = {"referrer_client": referrer_client, "referrer_staff": referrer_staff, "types": types,
              "sequence": previous + 1, "created_by": actor}
    if old is None:
        referral = Referral.objects.create(lead=lead, **values)
    else:
        for field, value in values.items():
            setattr(old, field, value)
        old.save()
        referral = old
    if lead.source != Source.REFERRAL:
        from leads.services import lead_update

        changes = {"source": Source.REFERRAL}
        if lead.channel_id and lead.channel.source != Source.REFERRAL:
            changes["channel"] = Channel.objects.filter(source=Source.REFERRAL, is_active=True).first()
        lead_update(actor=actor, lead=lead, **changes)
    # The referrer's automatic "referrals" criterion counts referral leads too.
    if referrer_client is not None:
        refresh(referrer_client, actor=actor, cause=TierCause.REFERRAL)
    if old_client_id and old_client_id != (referrer_client.pk if referrer_client else None):
        refresh(lock_client(old_client_id), actor=actor, cause=TierCause.REFERRAL)
    return referral
