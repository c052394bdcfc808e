"""What managers enter to steer the funnel: the market-demand estimate M and monthly targets (DOMAIN §3–§4)."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from dealercrm.scoping import Scope, ScopedQuerySet


class MarketEstimate(models.Model):
    """M: the manager's estimate of all potential buyers in the store's local market for one month."""

    scope = Scope(group="store__group", store="store")

    store = models.ForeignKey(
        "dealercrm.Store", on_delete=models.PROTECT, related_name="market_estimates", verbose_name=_("store")
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    estimate = models.PositiveIntegerField(_("market demand (M)"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("entered by")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("market estimate")
        verbose_name_plural = _("market estimates")
        ordering = ["-month", "store_id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "month"], name="marketestimate_one_per_store_month"),
        ]


class Target(models.Model):
    """A monthly sales target for a store (``consultant`` empty) or for one consultant of it: units and revenue
    (CNY), with the average order value the revenue target assumes."""

    scope = Scope(group="store__group", store="store", owner="consultant")

    store = models.ForeignKey("dealercrm.Store", on_delete=models.PROTECT, related_name="targets",
                              verbose_name=_("store"))
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="targets",
        verbose_name=_("consultant"),
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    units = models.PositiveIntegerField(_("unit target"))
    revenue = models.DecimalField(
        _("revenue target (CNY)"), max_digits=14, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    average_order_value = models.DecimalField(
        _("average order value (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("set by")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("target")
        verbose_name_plural = _("targets")
        ordering = ["-month", "store_id", "consultant_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "month"], condition=Q(consultant__isnull=True), name="target_one_per_store_month"
            ),
            models.UniqueConstraint(
                fields=["store", "consultant", "month"], condition=Q(consultant__isnull=False),
                name="target_one_per_consultant_month",
            ),
            models.CheckConstraint(condition=Q(revenue__gte=0), name="target_revenue_not_negative"),
        ]


# --- rollups: the funnel's counts kept per day (funnel/rollups.py, docs/scaling.md) ---------------------------------

ROLLUP_SCOPE = Scope(group="store__group", store="store", owner="consultant")


class CohortDay(models.Model):
    """The funnel's cohort counts for the leads first seen on ``day`` at ``store``, per current consultant, source,
    channel and series (merged leads left out): ``n`` leads, ``deals`` won, and ``valid``, ``followed``, ``p_a`` …
    ``p_e`` as they stand for a period ending on or after ``as_of``. A row with ``as_of = day`` holds the counts as of
    the first-visit day; a row with a later ``as_of`` holds how they changed that day (a regrade: may be negative).
    A period [S, E]'s cohort is the SUM over ``S <= day <= E AND as_of <= E``. Written only by funnel.rollups."""

    scope = ROLLUP_SCOPE

    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name=_("store"))
    day = models.DateField(_("first-visit day"))
    as_of = models.DateField(_("counted from"))
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True,
                                   related_name="+", db_constraint=False, db_index=False, verbose_name=_("consultant"))
    source = models.CharField(_("source"), max_length=20)
    channel = models.ForeignKey("leads.Channel", on_delete=models.DO_NOTHING, null=True, related_name="+",
                                db_constraint=False, db_index=False, verbose_name=_("channel"))
    series = models.ForeignKey("dealercrm.VehicleSeries", on_delete=models.DO_NOTHING, null=True, related_name="+",
                               db_constraint=False, db_index=False, verbose_name=_("series"))
    n = models.IntegerField(default=0)
    valid = models.IntegerField(default=0)
    followed = models.IntegerField(default=0)
    deals = models.IntegerField(default=0)
    p_a = models.IntegerField(default=0)
    p_b = models.IntegerField(default=0)
    p_c = models.IntegerField(default=0)
    p_d = models.IntegerField(default=0)
    p_e = models.IntegerField(default=0)
    # The won leads' orders' units (a fleet order of five: one deal, five units).
    units = models.IntegerField(default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("cohort rollup row")
        verbose_name_plural = _("cohort rollup rows")
        indexes = [models.Index(fields=["store", "day"], name="cohortday_store_day")]


class RevisitDay(models.Model):
    """Re-visits (not first visits) arriving on ``day`` at ``store``, per the lead's current consultant, source,
    channel and series (merged leads left out). Written only by funnel.rollups."""

    scope = ROLLUP_SCOPE

    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name=_("store"))
    day = models.DateField(_("arrival day"))
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True,
                                   related_name="+", db_constraint=False, db_index=False, verbose_name=_("consultant"))
    source = models.CharField(_("source"), max_length=20)
    channel = models.ForeignKey("leads.Channel", on_delete=models.DO_NOTHING, null=True, related_name="+",
                                db_constraint=False, db_index=False, verbose_name=_("channel"))
    series = models.ForeignKey("dealercrm.VehicleSeries", on_delete=models.DO_NOTHING, null=True, related_name="+",
                               db_constraint=False, db_index=False, verbose_name=_("series"))
    n = models.IntegerField(default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("re-visit rollup row")
        verbose_name_plural = _("re-visit rollup rows")
        indexes = [models.Index(fields=["store", "day"], name="revisitday_store_day")]


class MonthDim(models.TextChoices):
    """Which one key a month rollup row is counted by (the others are empty): one grouping set each."""

    SOURCE = "s", _("source")
    CONSULTANT = "c", _("consultant")
    CHANNEL = "h", _("channel")
    SERIES = "v", _("series")


class CohortMonth(models.Model):
    """``CohortDay`` summed per month × store × ONE of consultant, source, channel or series (``dim``): per key a
    total (``as_of_month`` NULL) and the later regrades by the month they fall in (funnel.rollups_months), a few
    dozen totals per store-month where the day rows hold about one per lead, so a year of the whole group is a sum
    over thousands of rows. Derived from the day rows by
    funnel.rollups_months in the drain's transaction; read for whole months (funnel.selectors). ``n_walk_in`` …:
    ``n`` by source, so any key's row still gives N by source. PostgreSQL only."""

    scope = ROLLUP_SCOPE

    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name=_("store"))
    month = models.DateField(_("first-visit month"))
    # NULL: the total over every regrade; a month: the regrades dated in that month (after the first-visit month).
    as_of_month = models.DateField(_("counted from month"), null=True)
    dim = models.CharField(_("counted by"), max_length=1, choices=MonthDim.choices)
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True,
                                   related_name="+", db_constraint=False, db_index=False, verbose_name=_("consultant"))
    source = models.CharField(_("source"), max_length=20, blank=True)
    channel = models.ForeignKey("leads.Channel", on_delete=models.DO_NOTHING, null=True, related_name="+",
                                db_constraint=False, db_index=False, verbose_name=_("channel"))
    series = models.ForeignKey("dealercrm.VehicleSeries", on_delete=models.DO_NOTHING, null=True, related_name="+",
                               db_constraint=False, db_index=False, verbose_name=_("series"))
    n = models.IntegerField(default=0)
    n_walk_in = models.IntegerField(default=0)
    n_referral = models.IntegerField(default=0)
    n_outbound = models.IntegerField(default=0)
    valid = models.IntegerField(default=0)
    followed = models.IntegerField(default=0)
    deals = models.IntegerField(default=0)
    p_a = models.IntegerField(default=0)
    p_b = models.IntegerField(default=0)
    p_c = models.IntegerField(default=0)
    p_d = models.IntegerField(default=0)
    p_e = models.IntegerField(default=0)
    units = models.IntegerField(default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("cohort month rollup row")
        verbose_name_plural = _("cohort month rollup rows")
        indexes = [
            models.Index(fields=["store", "dim", "month"], name="cohortmonth_store_dim_month"),
            # The totals a period reaching today reads, for a whole group: a range per dim and month, not a scan.
            models.Index(fields=["dim", "month", "store"], condition=models.Q(as_of_month__isnull=True),
                         name="cohortmonth_totals"),
        ]


class RevisitMonth(models.Model):
    """``RevisitDay`` summed per month × store × ONE of consultant, source, channel or series (``dim``), as
    ``CohortMonth`` is (funnel.rollups_months). PostgreSQL only."""

    scope = ROLLUP_SCOPE

    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name=_("store"))
    month = models.DateField(_("arrival month"))
    dim = models.CharField(_("counted by"), max_length=1, choices=MonthDim.choices)
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True,
                                   related_name="+", db_constraint=False, db_index=False, verbose_name=_("consultant"))
    source = models.CharField(_("source"), max_length=20, blank=True)
    channel = models.ForeignKey("leads.Channel", on_delete=models.DO_NOTHING, null=True, related_name="+",
                                db_constraint=False, db_index=False, verbose_name=_("channel"))
    series = models.ForeignKey("dealercrm.VehicleSeries", on_delete=models.DO_NOTHING, null=True, related_name="+",
                               db_constraint=False, db_index=False, verbose_name=_("series"))
    n = models.IntegerField(default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("re-visit month rollup row")
        verbose_name_plural = _("re-visit month rollup rows")
        indexes = [models.Index(fields=["store", "dim", "month"], name="revisitmonth_store_dim_month")]


class LadderDay(models.Model):
    """The promotion ladder's counts (funnel.rollups_ladder) dated ``day`` at ``store``, per the lead's current
    consultant and a grade (E, D, C, B), merged leads left out: spells of the grade ``opened`` and ``closed``,
    promotions to the next grade, and for grade E the E spells whose lead ``reached`` A after the spell's start
    (``reach_closed``: such an E spell that ended on ``day``, A reached on ``reach_day``). ``prev_day``: the end of the
    lead's previous spell of the grade (for ``opened``, ``reached``) or its previous promotion from it (``promoted``),
    so a lead counts once per period. Written only by funnel.rollups_ladder; read as sums (see there)."""

    scope = ROLLUP_SCOPE

    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name=_("store"))
    day = models.DateField(_("day"))
    prev_day = models.DateField(_("previous day"), null=True)
    reach_day = models.DateField(_("day A was reached"), null=True)
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True,
                                   related_name="+", db_constraint=False, db_index=False, verbose_name=_("consultant"))
    grade = models.CharField(_("grade"), max_length=1)
    opened = models.IntegerField(default=0)
    closed = models.IntegerField(default=0)
    promoted = models.IntegerField(default=0)
    reached = models.IntegerField(default=0)
    reach_closed = models.IntegerField(default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("ladder rollup row")
        verbose_name_plural = _("ladder rollup rows")
        indexes = [
            models.Index(fields=["store", "day"], name="ladderday_store_day"),
            # The few rows a month-based read takes from the day rows of months it reads from ``LadderMonth``
            # (funnel.rollups_ladder): a period starting mid-month, or ending mid-month.
            models.Index(fields=["prev_day"], condition=models.Q(prev_day__isnull=False), name="ladderday_prev_day"),
            models.Index(fields=["reach_day"], condition=models.Q(reach_day__isnull=False),
                         name="ladderday_reach_day"),
        ]


class LadderMonth(models.Model):
    """``LadderDay`` summed per month × store × consultant × grade, derived from the day rows by
    funnel.rollups_months in the drain's transaction (PostgreSQL only). Three kinds of rows: the month's **totals**
    (``prev_month`` and ``reach_month`` NULL: every day row of the month), and two details a reader subtracts from
    them: per month of ``prev_day`` the counts of the day rows that have one (``prev_month``: opened, promoted,
    reached), and per month of ``reach_day`` their ``reach_closed`` (``reach_month``). A period's prefix months read
    the totals; its whole months the totals less the details whose ``prev_day`` falls in the period
    (funnel.rollups_ladder)."""

    scope = ROLLUP_SCOPE

    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name=_("store"))
    month = models.DateField(_("month"))
    prev_month = models.DateField(_("month of the previous day"), null=True)
    reach_month = models.DateField(_("month A was reached"), null=True)
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True,
                                   related_name="+", db_constraint=False, db_index=False, verbose_name=_("consultant"))
    grade = models.CharField(_("grade"), max_length=1)
    opened = models.IntegerField(default=0)
    closed = models.IntegerField(default=0)
    promoted = models.IntegerField(default=0)
    reached = models.IntegerField(default=0)
    reach_closed = models.IntegerField(default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("ladder month rollup row")
        verbose_name_plural = _("ladder month rollup rows")
        indexes = [models.Index(fields=["store", "month"], name="laddermonth_store_month")]


class FollowUpDay(models.Model):
    """Follow-ups that occurred on ``day`` at ``store``, per author and the lead's current consultant (merged leads
    left out): ``n``, and ``rejected`` by the manager's review. Written only by funnel.rollups_followups."""

    scope = ROLLUP_SCOPE

    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name=_("store"))
    day = models.DateField(_("day"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True, related_name="+",
                               db_constraint=False, db_index=False, verbose_name=_("author"))
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True,
                                   related_name="+", db_constraint=False, db_index=False, verbose_name=_("consultant"))
    n = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("follow-up rollup row")
        verbose_name_plural = _("follow-up rollup rows")
        indexes = [models.Index(fields=["store", "day"], name="followupday_store_day")]


class FollowUpMonth(models.Model):
    """``FollowUpDay`` summed per month (same keys: store, author, the lead's current consultant), derived from the
    day rows by funnel.rollups_months in the drain's transaction. PostgreSQL only."""

    scope = ROLLUP_SCOPE

    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name=_("store"))
    month = models.DateField(_("month"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True, related_name="+",
                               db_constraint=False, db_index=False, verbose_name=_("author"))
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True,
                                   related_name="+", db_constraint=False, db_index=False, verbose_name=_("consultant"))
    n = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("follow-up month rollup row")
        verbose_name_plural = _("follow-up month rollup rows")
        indexes = [models.Index(fields=["store", "month"], name="followupmonth_store_month")]


class RollupMark(models.Model):
    """A store-day whose rollup rows may be out of date: written by database triggers on the leads, visits and grade
    changes in the writing transaction (funnel.rollups.TRIGGERS), removed by the drain once it has recounted the day.
    Append-only (no unique key): a writer never waits for another. Readers count a marked day live."""

    class Kind(models.TextChoices):
        COHORT = "c", _("cohort")
        REVISITS = "r", _("re-visits")
        LADDER = "l", _("promotion ladder")
        FOLLOW_UPS = "f", _("follow-ups")
        DEFEATS = "d", _("defeats")
        DEFEAT_MONTHS = "m", _("defeats by month")

    store_id = models.BigIntegerField(_("store"))
    day = models.DateField(_("day"))
    kind = models.CharField(_("kind"), max_length=1, choices=Kind.choices)

    class Meta:
        verbose_name = _("rollup mark")
        verbose_name_plural = _("rollup marks")
        indexes = [models.Index(fields=["store_id", "day", "kind"], name="rollupmark_key")]


# --- stays: the time-in-stage figures' rows, kept per lead (funnel/rollups_stays.py, docs/scaling.md) -------------


class Stay(models.Model):
    """One row of a lead's time-in-stage history, as funnel.stage_times defines it, with the lead's slicing columns
    as they are now: a stay at a grade (``kind`` S: its start and end day, how it ended, its length and whether it
    is the lead's first reach of the grade), the lead's deal (D: the order day as ``end_day``, ``reach_days`` from
    the first visit) or the lead's open grade (O: ``start_day`` the local day its grade was set). Merged leads have
    none. Written only by funnel.rollups_stays (rebuilt per lead when a trigger marks the lead)."""

    scope = ROLLUP_SCOPE

    class Kind(models.TextChoices):
        STAY = "S", _("stay")
        DEAL = "D", _("deal")
        OPEN = "O", _("open grade")

    lead_id = models.BigIntegerField(_("lead"))
    store = models.ForeignKey("dealercrm.Store", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False,
                              db_index=False, verbose_name=_("store"))
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True,
                                   related_name="+", db_constraint=False, db_index=False, verbose_name=_("consultant"))
    source = models.CharField(_("source"), max_length=20)
    channel_id = models.BigIntegerField(_("channel"), null=True)
    series_id = models.BigIntegerField(_("series"), null=True)
    first_visit_at = models.DateTimeField(_("first visit"))
    # The lead's grade_since while it is active (null otherwise): the reader leaves out, as the live query does, the
    # active leads whose grade was set before the figures' earliest day.
    hold_since = models.DateTimeField(_("active at its grade since"), null=True)
    kind = models.CharField(_("kind"), max_length=1, choices=Kind.choices)
    grade = models.CharField(_("grade"), max_length=1, null=True)
    start_day = models.DateField(_("start day"), null=True)
    end_day = models.DateField(_("end day"), null=True)
    how = models.CharField(_("how it ended"), max_length=8, null=True)
    days = models.IntegerField(_("days"), null=True)
    first = models.BooleanField(_("first reach"), default=False)
    reach_days = models.IntegerField(_("days from the first visit"), null=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("stay row")
        verbose_name_plural = _("stay rows")
        indexes = [
            # The ended stays, deals and open grades of a store: index-only ranges by end day.
            models.Index(fields=["store", "kind", "end_day"],
                         include=["grade", "how", "days", "start_day", "consultant", "source", "channel_id",
                                  "series_id", "first_visit_at", "hold_since", "lead_id"],
                         name="stay_store_end"),
            # First reaches by start day, and a store's earliest stay (the rising flag's history).
            models.Index(fields=["store", "start_day"],
                         include=["first", "reach_days", "grade", "consultant", "source", "channel_id", "series_id",
                                  "first_visit_at", "hold_since", "lead_id"],
                         condition=Q(kind="S"), name="stay_store_start"),
            models.Index(fields=["lead_id"], name="stay_lead"),
        ]


class StayHist(models.Model):
    """The Stay rows summed into histograms, so that a group's or a store's time in stage over whole months is a sum
    over a few thousand rows (funnel.rollups_stays, docs/scaling.md "Time in stage"). A row counts (``c``) the Stay
    rows of one ``part`` (e: ended stays by end day, r: first reaches by start day, d: deals by order day, o: open
    grades by the day the grade was set) with the same grade, exit (``how``) and length in days (``days``: the stay's
    length, or the days from the first visit; none for open grades), at one ``day`` (span m: the month's first day;
    span d: the day), for one store (``store_id``) or for the whole dealer group (``store_id`` null). ``fv_day`` and
    ``hold_day`` are null for the rows whose lead's first visit and current hold cannot leave them out of any period
    that reads them (nearly all); otherwise they are the local days the reader tests. Always the exact sum of the
    Stay table: written only in the transactions that rewrite Stay rows (the drain, the rebuild)."""

    class Span(models.TextChoices):
        MONTH = "m", _("month")
        DAY = "d", _("day")

    group_id = models.BigIntegerField(_("dealer group"))
    store_id = models.BigIntegerField(_("store"), null=True)
    span = models.CharField(_("span"), max_length=1, choices=Span.choices)
    part = models.CharField(_("part"), max_length=1)
    grade = models.CharField(_("grade"), max_length=1, null=True)
    how = models.CharField(_("how it ended"), max_length=8, null=True)
    day = models.DateField(_("day"))
    days = models.IntegerField(_("days"), null=True)
    fv_day = models.DateField(_("first-visit day"), null=True)
    hold_day = models.DateField(_("active at its grade since"), null=True)
    c = models.BigIntegerField(_("count"))

    class Meta:
        verbose_name = _("stay histogram row")
        verbose_name_plural = _("stay histogram rows")
        constraints = [
            # The drain's upsert key, and the readers' index-only ranges (a group's months, a store's months).
            models.UniqueConstraint(
                fields=["group_id", "store_id", "span", "part", "day", "grade", "how", "days", "fv_day", "hold_day"],
                include=["c"], nulls_distinct=False, name="stayhist_key"),
        ]
        indexes = [models.Index(fields=["store_id", "span", "part", "day"], include=["grade", "how", "days", "fv_day",
                                                                                   "hold_day", "c"],
                                condition=Q(store_id__isnull=False), name="stayhist_store")]


class StayMark(models.Model):
    """A lead whose Stay rows may be out of date: written by database triggers on the leads, grade changes, defeat
    applications and deals in the writing transaction (funnel.rollups_stays), removed by the drain once it has
    rebuilt the lead's rows. Append-only (no unique key). Readers compute a marked lead's rows live."""

    lead_id = models.BigIntegerField(_("lead"))

    class Meta:
        verbose_name = _("stay mark")
        verbose_name_plural = _("stay marks")
        indexes = [models.Index(fields=["lead_id"], name="staymark_lead")]


# --- the state now: active leads per grade, overdue and stale, kept per store × consultant (funnel/lead_now.py) ----


class LeadNow(models.Model):
    """Counts of the active leads as they are now, written only by database triggers on the leads and folded by
    funnel.lead_now.compact. Append-only deltas (no unique key: two writers never wait for each other); a reader sums
    them. ``part`` g: per grade (``at`` null); o: per due time (``at`` = next_follow_up_at, ``grade`` null); s: per
    grade and dwell clock (``at`` = the later of grade_since and the manager's keep). ``folded``: the rows already
    past the threshold (overdue, stale) summed into one, ``at`` their latest."""

    store_id = models.BigIntegerField(_("store"))
    consultant_id = models.BigIntegerField(_("consultant"), null=True)
    grade = models.CharField(_("grade"), max_length=1, null=True)
    part = models.CharField(_("part"), max_length=1)
    at = models.DateTimeField(_("at"), null=True)
    folded = models.BooleanField(_("folded"), default=False)
    n = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("active leads count")
        verbose_name_plural = _("active leads counts")
        indexes = [
            # A store's ladder, its overdue range and each grade's stale range: index ranges.
            models.Index(fields=["store_id", "part", "grade", "at"], include=["consultant_id", "n", "folded"],
                         name="leadnow_store_part"),
            # The folded rows of a store (few): whether a rule changed under them (funnel.lead_now.read).
            models.Index(fields=["store_id", "part", "grade", "at"], condition=Q(folded=True),
                         name="leadnow_folded"),
        ]


# --- defeats: the dashboard's defeat figures and loss by stage, kept per day (funnel/rollups_defeats.py) -----------


class DefeatDay(models.Model):
    """The defeat figures dated ``day`` at ``store``, per consultant (the application's; for deals, the won lead's
    holder now), the grade at filing and the highest grade reached: applications filed (and of them still pending),
    verdicts given (confirmed defeats and quasi-defeats, rejections), deals ordered (with their units and amounts) and
    customers won back that day.
    ``reason`` null: the row counts each application once; a reason: the confirmed losses of that reason (an
    application with two reasons is in two such rows). Written only by funnel.rollups_defeats; read as sums."""

    scope = ROLLUP_SCOPE

    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name=_("store"))
    day = models.DateField(_("day"))
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True,
                                   related_name="+", db_constraint=False, db_index=False, verbose_name=_("consultant"))
    grade_at_filing = models.CharField(_("grade when filed"), max_length=1, null=True)
    highest_grade = models.CharField(_("highest grade reached"), max_length=1, null=True)
    reason_id = models.BigIntegerField(_("reason"), null=True)
    applications = models.IntegerField(default=0)
    pending = models.IntegerField(default=0)
    defeats = models.IntegerField(default=0)
    quasi_defeats = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)
    deals = models.IntegerField(default=0)
    win_backs = models.IntegerField(default=0)
    # The deals' units (a fleet order of five: 5) and amounts: the month's target progress reads them.
    units = models.IntegerField(_("units ordered"), default=0)
    revenue = models.DecimalField(_("order amount (CNY)"), max_digits=16, decimal_places=2, default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("defeat rollup row")
        verbose_name_plural = _("defeat rollup rows")
        indexes = [models.Index(fields=["store", "day"], name="defeatday_store_day")]


class DefeatMonth(models.Model):
    """``DefeatDay``'s rows summed over the calendar month starting ``day`` (a period's whole months read these:
    a twelfth of the rows for a year). Written only by funnel.rollups_defeats."""

    scope = ROLLUP_SCOPE

    store = models.ForeignKey("dealercrm.Store", on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name=_("store"))
    day = models.DateField(_("month"))
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True,
                                   related_name="+", db_constraint=False, db_index=False, verbose_name=_("consultant"))
    grade_at_filing = models.CharField(_("grade when filed"), max_length=1, null=True)
    highest_grade = models.CharField(_("highest grade reached"), max_length=1, null=True)
    reason_id = models.BigIntegerField(_("reason"), null=True)
    applications = models.IntegerField(default=0)
    pending = models.IntegerField(default=0)
    defeats = models.IntegerField(default=0)
    quasi_defeats = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)
    deals = models.IntegerField(default=0)
    win_backs = models.IntegerField(default=0)
    # The deals' units (a fleet order of five: 5) and amounts: the month's target progress reads them.
    units = models.IntegerField(_("units ordered"), default=0)
    revenue = models.DecimalField(_("order amount (CNY)"), max_digits=16, decimal_places=2, default=0)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("defeat rollup row by month")
        verbose_name_plural = _("defeat rollup rows by month")
        indexes = [models.Index(fields=["store", "day"], name="defeatmonth_store_day")]
