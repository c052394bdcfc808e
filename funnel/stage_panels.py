"""The dashboard's "time in stage" and "loss by stage" panels (and the tables the Excel export and the monthly pack
show): the figures of funnel.stage_times and defeats.stages, formatted for display and labelled in the reader's
language. No arithmetic here: every figure is counted in the database."""

from __future__ import annotations

from django.utils.translation import gettext as _

from dealercrm import formats
from defeats.models import Reason
from leads.models import Grade

# The loss-by-stage table shows the most frequent reasons as columns, the rest together.
TOP_REASONS = 3


def days(value) -> str:
    """Days with one decimal (a percentile interpolates between two stays); "—" when there is nothing to measure."""
    return formats.number(value, 1)


def present_stage_times(figures: dict) -> dict:
    rows = []
    for row in figures["grades"]:
        rows.append({
            **row,
            "label": str(Grade(row["grade"]).label),
            "median": days(row["median_days"]), "p80": days(row["p80_days"]),
            "open_median": days(row["open_median_days"]),
            "recent": days(row.get("recent_median_days")), "prior": days(row.get("prior_median_days")),
        })
    days_to = [{**row, "median": days(row["median_days"]), "p80": days(row["p80_days"]),
                "label": _("To the deal") if row["stage"] == "deal" else row["stage"]} for row in figures["days_to"]]
    return {
        "rows": rows,
        "rising": [row for row in rows if row.get("rising")],
        "days_to": days_to,
        "has_data": any(row["n"] or row["open"] for row in rows),
    }


def present_loss_by_stage(figures: dict) -> dict:
    """Rows A to E (then "not graded") with the top reasons as columns and "other reasons"; reason names in the
    reader's language (the figures carry both names)."""
    top = figures["reasons"][:TOP_REASONS]
    columns = [{"key": r["key"], "label": Reason(name=r["name"], name_en=r["name_en"]).label} for r in top]
    rows = []
    for row in figures["rows"]:
        row = {**row, "reasons": [{**r, "label": Reason(name=r["name"], name_en=r["name_en"]).label}
                                  for r in row["reasons"]]}
        by_reason = {r["key"]: r["lost"] for r in row["reasons"]}
        shown = [by_reason.get(c["key"], 0) for c in columns]
        rows.append({
            **row,
            "label": row["grade"] or _("Not graded"),
            "cells": shown,
            # Reason mentions beyond the top columns (an application with two reasons is under each).
            "other": sum(by_reason.values()) - sum(shown),
        })
    return {"columns": columns, "rows": rows, "total": figures["total"],
            "has_other": any(row["other"] for row in rows)}
