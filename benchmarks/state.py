"""What a benchmark figure was measured on: the machine and its load, the database server, and the data's state
(how much of it, whether the nightly jobs have run, when each table was last vacuumed and analysed). Printed before
every run of `make bench-all`, so a figure is never read without its conditions."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable

from django.db import connection
from django.db.models import Count, Max
from django.utils import timezone

from dealercrm.models import JobRun

# The tables the pages read most; their planner statistics and visibility maps decide the morning's plans.
TABLES = ["leads_lead", "leads_followup", "leads_gradechange", "leads_visit", "leads_staleflag", "leads_overdueflag",
          "leads_flagevent", "leads_assignmentchange", "dealercrm_notification", "baseclients_baseclient",
          "baseclients_caretask", "defeats_application",
          # The rollups the dashboards read, and their marks: a marked store-day or lead is counted live.
          "funnel_cohortday", "funnel_revisitday", "funnel_cohortmonth", "funnel_revisitmonth", "funnel_ladderday",
          "funnel_followupday", "funnel_stay",
          "funnel_rollupmark", "funnel_staymark"]


def machine() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SHOW jit")
        jit = cursor.fetchone()[0]
    load = os.getloadavg()
    return {"host": platform.node(), "cores": os.cpu_count(), "load": load, "python": platform.python_version(),
            "postgresql": version, "jit": jit}


def data() -> dict:
    from leads.models import Lead

    leads = Lead.objects.aggregate(n=Count("pk"), newest=Max("first_visit_at"))
    runs = {row["job"]: row["last"] for row in
            JobRun.objects.filter(status=JobRun.Status.SUCCEEDED).values("job").annotate(last=Max("finished_at"))}
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT relname, n_live_tup, n_dead_tup, n_mod_since_analyze,
                   GREATEST(last_analyze, last_autoanalyze), GREATEST(last_vacuum, last_autovacuum)
              FROM pg_stat_user_tables WHERE relname = ANY(%s) ORDER BY relname""", [TABLES])
        tables = cursor.fetchall()
    from funnel.models import RollupMark, StayMark

    marks = {"store-days": RollupMark.objects.count(), "leads' stays": StayMark.objects.count()}
    return {"leads": leads["n"], "newest_visit": leads["newest"], "jobs": runs, "tables": tables, "marks": marks}


def report(out: Callable[[str], None]) -> bool:
    """Print the conditions; answer whether they are fit for publishing figures (a quiet machine, the nightly jobs
    run on this data)."""
    m, d = machine(), data()
    now = timezone.now()
    out(f"measured {timezone.localtime(now):%Y-%m-%d %H:%M %Z} on {m['host']}: {m['cores']} cores, load "
        f"{m['load'][0]:.2f} / {m['load'][1]:.2f} / {m['load'][2]:.2f} (1/5/15 min), Python {m['python']}, "
        f"PostgreSQL {m['postgresql']} (jit {m['jit']})")
    out(f"data: {d['leads']:,} leads, newest first visit {d['newest_visit']:%Y-%m-%d}" if d["newest_visit"]
        else f"data: {d['leads']:,} leads")
    from leads.services.jobs import JOBS as nightly

    for job in nightly:
        last = d["jobs"].get(job)
        out(f"  job {job}: " + (f"last succeeded {timezone.localtime(last):%Y-%m-%d %H:%M}" if last else "never run"))
    out("  table                          live      dead   changed since analyse   analysed          vacuumed")
    for name, live, dead, mod, analysed, vacuumed in d["tables"]:
        out(f"  {name:<26} {live:>10,} {dead:>9,} {mod:>12,}            "
            f"{f'{timezone.localtime(analysed):%m-%d %H:%M}' if analysed else 'never':<17} "
            f"{f'{timezone.localtime(vacuumed):%m-%d %H:%M}' if vacuumed else 'never'}")
    out("  rollups waiting for the drain (counted live until it runs): "
        + ", ".join(f"{n:,} {what}" for what, n in d["marks"].items()))
    fit = True
    if m["load"][0] > 0.5 * (m["cores"] or 1):
        out(f"WARNING: the machine is busy (load {m['load'][0]:.2f} on {m['cores']} cores): figures will be noisy.")
        fit = False
    missing = [job for job in nightly if job not in d["jobs"]]
    if missing:
        out(f"WARNING: the nightly jobs have not run on this data ({', '.join(missing)}): this is not a morning.")
        fit = False
    return fit
