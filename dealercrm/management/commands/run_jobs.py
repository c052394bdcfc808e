"""Run the daily jobs in-process, now: what the Celery worker runs on schedule (leads.tasks), for the embedded default
(no Redis: `make run` calls this at start) and for operators."""

from django.core.management.base import BaseCommand, CommandError

from dealercrm.jobs import job_summary
from baseclients.services import jobs as care_jobs
from funnel.jobs import rollups_reconcile
from leads.services.jobs import JOBS as LEAD_JOBS
from leads.services.jobs import RUNNERS as LEAD_RUNNERS

# The leads' jobs, then the base clients' (overdue care, care planned a window ahead). The morning digest (leads)
# carries the other apps' counts too: care due, late defeat verdicts, competitor-pool contacts due.
# Then the funnel's rollups: drained, and a sample of store-days checked against the leads (funnel.jobs).
JOBS = (*LEAD_JOBS, *care_jobs.JOBS, "rollups_reconcile")
RUNNERS = {**LEAD_RUNNERS, **care_jobs.RUNNERS, "rollups_reconcile": rollups_reconcile}


class Command(BaseCommand):
    help = ("Run the daily jobs now, in this process (flag overdue follow-ups, flag stale leads, reclaim long-overdue "
            "leads to the pool, send the daily digests, plan and flag care, check the dashboards' rollups) and print "
            "what each did. Safe to repeat: a second run changes nothing and notifies nobody twice.")

    def add_arguments(self, parser):
        parser.add_argument("--only", action="append", choices=JOBS, metavar="JOB",
                            help=f"Run only this job (repeatable). One of: {', '.join(JOBS)}.")

    def handle(self, *args, only=None, **options):
        failed = []
        for name in JOBS:
            if only and name not in only:
                continue
            try:
                summary = job_summary(RUNNERS[name]())
            except Exception as exc:  # noqa: BLE001 - the run is recorded failed; report it and go on with the next job
                failed.append(name)
                self.stderr.write(f"{name}: failed: {exc}")
                continue
            self.stdout.write(
                f"{name}: flagged {summary['flagged']}, cleared {summary['cleared']}, notified {summary['notified']} "
                f"({summary['seconds']} s, run {summary['run']})"
            )
        if failed:
            raise CommandError(f"failed: {', '.join(failed)} (see the job runs)")
