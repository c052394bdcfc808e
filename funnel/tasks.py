"""Celery task: keep the dashboards managers open first counted ahead (funnel.figures.warm_dashboards), every
five minutes on the beat schedule. Not a JobRun: it changes no record, and a missed run only means the next
reader counts the figures themselves."""

from celery import shared_task

from leads.tasks import RETRYING

from .figures import warm_dashboards


@shared_task(**RETRYING)
def warm_dashboard_figures(self) -> dict:
    return {"counted": warm_dashboards()}
