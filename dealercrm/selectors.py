"""Reads on the organisation."""

from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from .models import JobRun, Role, Store, User


def staff_of_group(user: User | None) -> QuerySet[User]:
    """Who an API input may name as a member of staff: the caller's dealer group (everyone for a superuser). Anyone
    else does not exist for the caller (a 400); whether the person fits and the caller may act is the service's."""
    if user is None:
        return User.objects.none()
    if user.is_superuser:
        return User.objects.all()
    return User.objects.filter(dealer_group_id=user.dealer_group_id)


def store_cards(*, user: User) -> QuerySet[Store]:
    """The stores ``user`` may see, each with its active managers and consultants counted. One query."""
    return (
        Store.objects.visible_to(user)
        .annotate(
            consultants=Count("staff", filter=Q(staff__role=Role.CONSULTANT, staff__is_active=True)),
            managers=Count("staff", filter=Q(staff__role=Role.MANAGER, staff__is_active=True)),
        )
        .order_by("name")
    )


@dataclass
class JobHistory:
    name: str
    runs: list[JobRun]

    @property
    def last(self) -> JobRun:
        return self.runs[0]


def job_runs_recent(*, per_job: int = 10) -> list[JobHistory]:
    """The last ``per_job`` runs of every job that has run, newest first, jobs by name. One query (a window function
    numbers each job's runs; the (job, -started_at) index serves it). Each run gets ``duration`` (a timedelta) and
    ``seconds`` (a float), None while running. A run whose worker died is closed first (``abandoned``), so the page
    never shows a dead run as running."""
    from .jobs import close_abandoned_runs

    close_abandoned_runs()
    numbered = JobRun.objects.annotate(
        rank=Window(RowNumber(), partition_by=[F("job")], order_by=[F("started_at").desc(), F("pk").desc()])
    ).filter(rank__lte=per_job).order_by("job", "-started_at", "-pk")
    jobs: dict[str, JobHistory] = {}
    for run in numbered:
        run.duration = run.finished_at - run.started_at if run.finished_at else None
        run.seconds = run.duration.total_seconds() if run.duration is not None else None
        jobs.setdefault(run.job, JobHistory(run.job, [])).runs.append(run)
    return list(jobs.values())
