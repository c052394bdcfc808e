from django.urls import path

from . import stage_times, views
from .staffing import StaffingView

urlpatterns = [
    path("metrics/", views.MetricsView.as_view(), name="funnel-metrics"),
    path("ladder/", views.LadderView.as_view(), name="funnel-ladder"),
    path("plan/", views.PlanView.as_view(), name="funnel-plan"),
    path("ladder-plan/", views.LadderPlanView.as_view(), name="funnel-ladder-plan"),
    path("progress/", views.ProgressView.as_view(), name="funnel-progress"),
    path("stage-times/", stage_times.StageTimesView.as_view(), name="funnel-stage-times"),
    path("stage-times/trend/", stage_times.StageTimesTrendView.as_view(), name="funnel-stage-times-trend"),
    path("staffing/", StaffingView.as_view(), name="funnel-staffing"),
]
