"""Scores and tiers (DOMAIN §5): a consultant scores a client criterion by criterion; the system scores the
automatic criteria (referrals, fleet) from what it knows; the group's rule turns the two totals and the facts (repeat
buyer, referral deal, fleet buyer) into a tier, with the part of the rule that decided it. Every scoring and every
tier change is kept."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Count, F, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from dealercrm.bulk import any_of, insert_objects, insert_rows, update_rows
from dealercrm.models import User

from .. import defaults
from ..models import (
    BaseClient,
    ClientScore,
    Criterion,
    Fact,
    Referral,
    ScoreRecord,
    Tier,
    TierBasis,
    TierCause,
    TierChange,
    TierRule,
)
from ._common import StaleVersion, bump, lock_client, require_can_work
from .settings import criteria_for, dimension_max, tier_rule_for


@dataclass(frozen=True)
class TierDecision:
    tier: str
    basis: str


def decide_tier(*, rule: TierRule, loyalty: int, power: int, loyalty_max: int, power_max: int, purchases: int,
                referral_deals: int, fleet_size: int) -> TierDecision:
    """The DOMAIN default rule with the group's thresholds. Pure; the re-tier job's SQL (tier_expression) says the
    same thing, and a test holds them together."""
    if rule.repeat_buyer_premium and purchases > 1:
        return TierDecision(Tier.PREMIUM, TierBasis.REPEAT_BUYER)
    if rule.fleet_min and fleet_size >= rule.fleet_min:
        return TierDecision(Tier.PREMIUM, TierBasis.FLEET)
    if rule.referral_deal_premium and referral_deals > 0:
        return TierDecision(Tier.PREMIUM, TierBasis.REFERRAL_DEAL)
    if loyalty * 100 >= rule.premium_pct * loyalty_max and power * 100 >= rule.premium_pct * power_max:
        return TierDecision(Tier.PREMIUM, TierBasis.SCORES)
    if loyalty * 100 < rule.general_pct * loyalty_max and power * 100 < rule.general_pct * power_max:
        return TierDecision(Tier.GENERAL, TierBasis.SCORES)
    return TierDecision(Tier.POTENTIAL, TierBasis.SCORES)


def _at_least(pct: int, maximum: int) -> int:
    """The least whole score that is at least ``pct`` % of ``maximum`` (score*100 >= pct*maximum)."""
    return -(-pct * maximum // 100)


def tier_expressions(rule: TierRule, loyalty_max: int, power_max: int) -> tuple[Case, Case]:
    """(tier, basis) as SQL CASE expressions over BaseClient's columns: the same rule as decide_tier."""
    whens = []
    if rule.repeat_buyer_premium:
        whens.append((Q(purchases__gt=1), Tier.PREMIUM, TierBasis.REPEAT_BUYER))
    if rule.fleet_min:
        whens.append((Q(fleet_size__gte=rule.fleet_min), Tier.PREMIUM, TierBasis.FLEET))
    if rule.referral_deal_premium:
        whens.append((Q(referral_deals__gt=0), Tier.PREMIUM, TierBasis.REFERRAL_DEAL))
    whens.append((Q(loyalty_score__gte=_at_least(rule.premium_pct, loyalty_max),
                    power_score__gte=_at_least(rule.premium_pct, power_max)), Tier.PREMIUM, TierBasis.SCORES))
    whens.append((Q(loyalty_score__lt=_at_least(rule.general_pct, loyalty_max),
                    power_score__lt=_at_least(rule.general_pct, power_max)), Tier.GENERAL, TierBasis.SCORES))
    tier = Case(*[When(q, then=Value(t)) for q, t, _b in whens], default=Value(Tier.POTENTIAL))
    basis = Case(*[When(q, then=Value(b)) for q, _t, b in whens], default=Value(TierBasis.SCORES))
    return tier, basis


def tier_label(client: BaseClient, loyalty_max: int = 100, power_max: int = 100) -> str:
    """"premium: repeat buyer", "potential: loyalty 55/100, power 72/100"."""
    tier = client.get_tier_display()
    if client.tier_basis == TierBasis.SCORES:
        return _("%(tier)s: loyalty %(l)s/%(lm)s, power %(p)s/%(pm)s") % {
            "tier": tier, "l": client.loyalty_score, "lm": loyalty_max, "p": client.power_score, "pm": power_max}
    return _("%(tier)s: %(basis)s") % {"tier": tier, "basis": client.get_tier_basis_display()}


def auto_points(criterion: Criterion, *, referrals: int, referral_deals: int, fleet_size: int,
                events: int = 0) -> int:
    if criterion.fact == Fact.EVENTS:
        raw = events * defaults.POINTS_PER_EVENT
    elif criterion.fact == Fact.REFERRALS:
        raw = referrals * defaults.POINTS_PER_REFERRAL + referral_deals * defaults.POINTS_PER_REFERRAL_DEAL
    elif criterion.fact == Fact.FLEET:
        raw = round(criterion.max_points * min(fleet_size, defaults.FLEET_FOR_FULL_POINTS)
                    / defaults.FLEET_FOR_FULL_POINTS)
    else:
        return 0
    return min(criterion.max_points, raw)


def _tier_change(client: BaseClient, decision: TierDecision, *, actor: User | None, at, cause: str) -> TierChange | None:
    """Set the client's tier (in memory): the TierChange row (with its ``cause``, unsaved) when the tier moves."""
    change = None
    if decision.tier != client.tier:
        change = TierChange(client=client, from_tier=client.tier, to_tier=decision.tier, basis=decision.basis,
                            cause=cause, loyalty=client.loyalty_score, power=client.power_score, at=at, by=actor,
                            owner_id=client.assigned_to_id)
        client.tier = decision.tier
        client.tier_since = at
    client.tier_basis = decision.basis
    return change


def _apply_tier(client: BaseClient, decision: TierDecision, *, actor: User | None, at, cause: str) -> bool:
    """Set the client's tier; a change writes a TierChange row (with its ``cause``). Returns changed."""
    change = _tier_change(client, decision, actor=actor, at=at, cause=cause)
    if change is not None:
        change.save(force_insert=True)
    return change is not None


def _rescore(client: BaseClient, *, criteria: list[Criterion], maxes: dict[str, int], rule: TierRule,
             current: dict[int, ClientScore], referrals: int, scores: dict[str, int] | None = None):
    """The client's automatic criteria and ``scores`` applied, its totals set (in memory) and the tier the rule
    gives: (score rows to write as (criterion, points), points before, points after, decision). ``current``: its
    score rows by criterion."""
    before = {c.code: (current[c.pk].points if c.pk in current else 0) for c in criteria}
    after = dict(before)
    for c in criteria:
        if c.fact:
            after[c.code] = auto_points(c, referrals=referrals, referral_deals=client.referral_deals,
                                        fleet_size=client.fleet_size, events=client.events_attended)
        elif scores and c.code in scores:
            after[c.code] = scores[c.code]
    rows = [(c, after[c.code]) for c in criteria
            if after[c.code] != before[c.code] or (c.pk not in current and after[c.code])]
    client.loyalty_score = sum(after[c.code] for c in criteria if c.dimension == "loyalty")
    client.power_score = sum(after[c.code] for c in criteria if c.dimension == "power")
    decision = decide_tier(rule=rule, loyalty=client.loyalty_score, power=client.power_score,
                           loyalty_max=maxes["loyalty"], power_max=maxes["power"], purchases=client.purchases,
                           referral_deals=client.referral_deals, fleet_size=client.fleet_size)
    return rows, before, after, decision


def _write_scores(rows: list[ClientScore]) -> None:
    if rows:
        ClientScore.objects.bulk_create(rows, update_conflicts=True, unique_fields=["client", "criterion"],
                                        update_fields=["points"])


def refresh(client: BaseClient, *, actor: User | None, cause: str, scores: dict[str, int] | None = None,
            record: bool = False) -> bool:
    """Recompute the client's automatic criteria, totals and tier (``client`` locked by the caller), applying the
    consultant's ``scores`` ({code: points}, validated) first. Writes the scores, a ScoreRecord when ``record``, a
    TierChange (``cause``: a TierCause) when the tier moves, and re-plans care. Returns whether the tier changed.
    ``refresh_many`` is the same for many clients at once."""
    from .care import care_replan

    at = timezone.now()
    criteria = criteria_for(client.group_id)
    current = {s.criterion_id: s for s in ClientScore.objects.filter(client=client)}
    referrals = Referral.objects.filter(referrer_client=client).count()
    loyalty_before, power_before = client.loyalty_score, client.power_score
    rows, before, after, decision = _rescore(client, criteria=criteria, maxes=dimension_max(criteria),
                                             rule=tier_rule_for(client.group_id), current=current,
                                             referrals=referrals, scores=scores)
    _write_scores([ClientScore(client=client, criterion=c, points=points) for c, points in rows])
    changed = _apply_tier(client, decision, actor=actor, at=at, cause=cause)
    if record:
        ScoreRecord.objects.create(client=client, at=at, by=actor, before=before, after=after,
                                   loyalty_before=loyalty_before, loyalty_after=client.loyalty_score,
                                   power_before=power_before, power_after=client.power_score,
                                   tier_after=client.tier)
    bump(client, ["loyalty_score", "power_score", "tier", "tier_since", "tier_basis"])
    if changed:
        care_replan(client)
    return changed


def refresh_many(clients: list[BaseClient], *, actor: User | None, cause: str,
                 fields: tuple[str, ...] = (), plan: bool = True) -> set[int]:
    """``refresh`` for many clients of one group at once (each once, locked by the caller: the base-client import's
    batches): the same scores, totals, tiers and TierChange rows, with one statement per kind of row whatever the
    number of clients; ``fields`` the caller changed on them are saved by the same UPDATE. Returns the ids whose
    tier moved; their care is re-planned (as ``care_replan``). ``plan=False``: their old plan's tasks are dropped and
    the caller plans the new ones (``materialise``) with others' at once. ``rescore_many`` and ``rescored_write``
    are its two halves."""
    if not clients:
        return set()
    scores, changes = rescore_many(clients, actor=actor, cause=cause, at=timezone.now())
    return rescored_write(clients, scores, changes, fields=fields, plan=plan)


def rescore_many(clients: list[BaseClient], *, actor: User | None, cause: str,
                 at) -> tuple[list[tuple[BaseClient, int, int]], list[TierChange]]:
    """``refresh_many``'s reckoning, in memory, for clients of one group: each client's automatic criteria, totals
    and tier set on it (a move dated ``at``), its version bumped and ``updated_at`` set to ``at``. Returns the score
    rows to write, (client, criterion id, points), and the TierChange rows (unsaved) of the tiers that moved. A
    client not saved yet (no primary key: a card the caller inserts in this state) has no scores or referrals."""
    group_id = clients[0].group_id
    if any(client.group_id != group_id for client in clients):
        raise ValueError("refresh_many takes the clients of one group")
    criteria = criteria_for(group_id)
    maxes, rule = dimension_max(criteria), tier_rule_for(group_id)
    ids = [client.pk for client in clients if client.pk is not None]
    current: dict[int, dict[int, ClientScore]] = {pk: {} for pk in ids}
    referrals: dict[int, int] = {}
    if ids:
        for score in ClientScore.objects.filter(any_of("client_id", ids)):
            current[score.client_id][score.criterion_id] = score
        referrals = dict(Referral.objects.filter(any_of("referrer_client_id", ids)).order_by()
                         .values("referrer_client_id").annotate(n=Count("pk")).values_list("referrer_client_id", "n"))
    rows, changes = [], []
    for client in clients:
        client_rows, _before, _after, decision = _rescore(client, criteria=criteria, maxes=maxes, rule=rule,
                                                          current=current.get(client.pk, {}),
                                                          referrals=referrals.get(client.pk, 0))
        rows += [(client, criterion.pk, points) for criterion, points in client_rows]
        if (change := _tier_change(client, decision, actor=actor, at=at, cause=cause)) is not None:
            changes.append(change)
        client.version += 1  # what ``bump`` does for one
        client.updated_at = at
    return rows, changes


def rescored_write(clients: list[BaseClient], scores: list[tuple[BaseClient, int, int]], changes: list[TierChange],
                   *, fields: tuple[str, ...] = (), plan: bool = True,
                   inserted: frozenset[int] = frozenset()) -> set[int]:
    """Write what ``rescore_many`` reckoned for ``clients``: the score rows, the TierChange rows, the clients' tier
    columns, version and ``fields`` (one UPDATE); the ids whose tier moved lose their old plan's pending tasks, and
    are planned anew unless ``plan`` is False (``refresh_many``). ``inserted``: the ids of clients the caller
    inserted in the state reckoned (their scores are new rows, their columns and plan need no writing). Returns the
    ids whose tier moved."""
    fresh = [(client, criterion, points) for client, criterion, points in scores if client.pk in inserted]
    insert_rows(ClientScore, {"client_id": [client.pk for client, _c, _p in fresh],
                              "criterion_id": [criterion for _client, criterion, _p in fresh],
                              "points": [points for _client, _c, points in fresh]})
    _write_scores([ClientScore(client=client, criterion_id=criterion, points=points)
                   for client, criterion, points in scores if client.pk not in inserted])
    insert_objects(changes)
    update_rows(BaseClient, [client for client in clients if client.pk not in inserted],
                [*fields, "loyalty_score", "power_score", "tier", "tier_since", "tier_basis", "version",
                 "updated_at"])
    moved = sorted(change.client.pk for change in changes)
    replan = [pk for pk in moved if pk not in inserted]
    if replan:
        from .care import care_drop_unplanned, materialise

        care_drop_unplanned(client_ids=replan)
        if plan:
            materialise(client_ids=replan)
    return set(moved)


@transaction.atomic
def client_score(*, actor: User, client: BaseClient, scores: dict, expected_version: int | None = None) -> BaseClient:
    """A consultant's scoring: ``scores`` maps criterion codes to points (0..the criterion's max). Unknown codes,
    automatic criteria and points out of range are a 400 naming each; nothing is written then."""
    if not isinstance(scores, dict) or not scores:
        raise ValidationError({"scores": [_("Give at least one criterion's points.")]})
    client = lock_client(client, expected_version)
    require_can_work(actor, client)
    criteria = {c.code: c for c in criteria_for(client.group_id)}
    errors = {}
    for code, points in scores.items():
        criterion = criteria.get(code)
        if criterion is None:
            errors[code] = [_("Unknown criterion.")]
        elif criterion.fact:
            errors[code] = [_("This criterion is scored automatically.")]
        elif isinstance(points, bool) or not isinstance(points, int):
            errors[code] = [_("A whole number of points.")]
        elif not 0 <= points <= criterion.max_points:
            errors[code] = [_("Between 0 and %(max)s points.") % {"max": criterion.max_points}]
    if errors:
        # One message per criterion, led by its code (the API answers {"scores": ["satisfaction: ...", ...]}).
        raise ValidationError({"scores": [f"{code}: {messages[0]}" for code, messages in errors.items()]})
    refresh(client, actor=actor, cause=TierCause.SCORING, scores=scores, record=True)
    from .care import close_reviews

    close_reviews(client, actor=actor, at=timezone.now())
    return client


@transaction.atomic
def events_attended_set(*, actor: User | None, client: BaseClient, count: int) -> BaseClient:
    """The number of events the client was marked arrived at (the campaigns app counts its attendance rows and
    calls this after every arrival it records or takes back): kept on the card and scored by the automatic
    "events" criterion, with a TierChange (cause: scoring) if the tier moves. A ScoreRecord is written when the
    points change, so the scoring history shows where they came from."""
    client = lock_client(client)
    if client.events_attended == count:
        return client
    client.events_attended = count
    client.save(update_fields=["events_attended"])
    refresh(client, actor=actor, cause=TierCause.SCORING, record=True)
    return client


def retier_group(group_id: int, *, job_run=None) -> tuple[int, int]:
    """Re-tier every client of the group set-based (one UPDATE, its TierChange rows in one INSERT … SELECT-like
    bulk insert, scores over a lowered maximum cut first). Returns (clients moved, scores cut)."""
    from .care import care_drop_unplanned

    rule = tier_rule_for(group_id)
    criteria = criteria_for(group_id)
    maxes = dimension_max(criteria)
    at = timezone.now()
    with transaction.atomic():
        cut = 0
        for c in criteria:
            cut += ClientScore.objects.filter(criterion=c, points__gt=c.max_points).update(points=c.max_points)
        if cut:
            _recompute_totals(group_id)
        tier, basis = tier_expressions(rule, maxes["loyalty"], maxes["power"])
        clients = BaseClient.objects.filter(group_id=group_id).annotate(new_tier=tier, new_basis=basis)
        moving = clients.exclude(tier=F("new_tier"))
        changes = [
            TierChange(client_id=pk, from_tier=old, to_tier=new, basis=new_basis, cause=TierCause.RULE_CHANGE,
                       loyalty=loyalty, power=power,
                       at=at, owner_id=owner, job_run=job_run)
            for pk, old, new, new_basis, loyalty, power, owner in moving.values_list(
                "pk", "tier", "new_tier", "new_basis", "loyalty_score", "power_score", "assigned_to_id").iterator(
                chunk_size=5000)
        ]
        TierChange.objects.bulk_create(changes, batch_size=5000)
        moved_ids = [c.client_id for c in changes]
        BaseClient.objects.filter(group_id=group_id).exclude(tier=tier).update(
            tier=tier, tier_basis=basis, tier_since=at, version=F("version") + 1)
        BaseClient.objects.filter(group_id=group_id).exclude(tier_basis=basis).update(
            tier_basis=basis)
        if moved_ids:
            care_drop_unplanned(client_ids=moved_ids)
    return len(moved_ids), cut


def _recompute_totals(group_id: int) -> None:
    from django.db.models import OuterRef, Subquery, Sum
    from django.db.models.functions import Coalesce

    def total(dimension):
        return Coalesce(Subquery(
            ClientScore.objects.filter(client=OuterRef("pk"), criterion__dimension=dimension)
            .values("client").annotate(s=Sum("points")).values("s"), output_field=IntegerField()), 0)

    BaseClient.objects.filter(group_id=group_id).update(loyalty_score=total("loyalty"), power_score=total("power"))


def tier_counts(clients) -> dict[str, int]:
    row = clients.aggregate(**{t: Count("pk", filter=Q(tier=t)) for t in Tier.values})
    return row


__all__ = ["StaleVersion", "TierDecision", "client_score", "decide_tier", "events_attended_set", "refresh",
           "refresh_many", "rescore_many", "rescored_write", "retier_group", "tier_label"]
