"""Prepared report files: the monthly packs made on the 1st of each month (DOMAIN §8), kept as ``ReportFile`` rows.

The job (``monthly_packs_prepare``) makes, for the month that ended, each store's monthly pack (a workbook) and each
dealer group's store comparison, and notifies each active manager of the store (the pack) and each group admin (the
comparison) with a link. Idempotent: a file is keyed ``<report>:<store or group>:<YYYY-MM>`` and a notification
``report:<file id>``, so a second run makes and sends nothing new. Recorded as a ``JobRun``."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from dealercrm.jobs import job_run, job_run_count
from dealercrm.models import DealerGroup, JobRun, Role, Store, User
from dealercrm.notifications import Draft, notify_many

from ..catalogue import REPORTS, last_month
from ..excel import report_filename, report_xlsx
from ..models import ReportFile
from ..selectors import ReportParams

JOB = "prepare_monthly_packs"
KEEP_PACKS = timedelta(days=40)
KEEP_EXPORTS = timedelta(days=1)
KIND = "report_ready"


def system_user() -> User:
    """An unsaved superuser the job reads through (scoping: everything; the report's stores narrow it)."""
    return User(username="DealerCRM", display_name="DealerCRM", is_superuser=True, is_active=True)


def _prepare(*, report: str, group: DealerGroup, store: Store | None, stores: list[Store], start: date, end: date,
             key: str) -> tuple[ReportFile, bool]:
    """Make one file unless its key exists. Returns (file, made now)."""
    existing = ReportFile.objects.filter(dedupe_key=key).defer("content").first()
    if existing is not None and existing.status == ReportFile.Status.READY:
        return existing, False
    params = ReportParams(user=system_user(), start=start, end=end, stores=stores)
    with translation.override(settings.LANGUAGE_CODE):
        data = REPORTS[report].run(params)
        content = report_xlsx(data)
    now = timezone.now()
    values = dict(report=report, format="xlsx", group=group, store=store, params=params.filters(),
                  period_start=start, period_end=end, status=ReportFile.Status.READY, progress=100,
                  filename=report_filename(data, "xlsx"), content=content, size=len(content), finished_at=now,
                  expires_at=now + KEEP_PACKS)
    with transaction.atomic():
        file, _created = ReportFile.objects.update_or_create(dedupe_key=key, defaults=values)
    return file, True


def monthly_packs_prepare(*, today: date | None = None, task_id: str = "") -> JobRun:
    """Prepare the month that ended: every store's pack, every group's store comparison; notify managers and group
    admins. ``flagged`` counts the files made, ``notified`` the notifications written."""
    today = today or timezone.localdate()
    start, end = last_month(today)
    month = start.strftime("%Y-%m")
    with job_run(JOB, task_id=task_id) as run:
        for group in DealerGroup.objects.order_by("pk"):
            stores = list(Store.objects.filter(group=group).select_related("group").order_by("name"))
            drafts = []
            for store in stores:
                file, made = _prepare(report="monthly-pack", group=group, store=store, stores=[store], start=start,
                                      end=end, key=f"monthly-pack:{store.pk}:{month}")
                job_run_count(run, "flagged", int(made))
                url = reverse("reports:file", args=[file.pk])
                for manager in User.objects.filter(store=store, role=Role.MANAGER, is_active=True):
                    drafts.append(Draft(manager.pk, KIND, {"report": "monthly-pack", "store": store.name,
                                                           "month": month}, url, f"report:{file.pk}"))
            if stores:
                file, made = _prepare(report="store-comparison", group=group, store=None, stores=stores,
                                      start=start, end=end, key=f"store-comparison:g{group.pk}:{month}")
                job_run_count(run, "flagged", int(made))
                url = reverse("reports:file", args=[file.pk])
                for admin in User.objects.filter(dealer_group=group, role=Role.GROUP_ADMIN, is_active=True):
                    drafts.append(Draft(admin.pk, KIND, {"report": "store-comparison", "group": group.name,
                                                         "month": month}, url, f"report:{file.pk}"))
            job_run_count(run, "notified", notify_many(drafts))
        ReportFile.objects.filter(expires_at__lt=timezone.now()).update(content=None)
    return run
