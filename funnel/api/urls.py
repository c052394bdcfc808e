from django.urls import path

from . import views
from .staffing import StaffingView

urlpatterns = [
    path("metrics/", views.MetricsView.as_view(), name="funnel-metrics"),
    path("ladder/", views.LadderView.as_view(), name="funnel-ladder"),
    path("plan/", views.PlanView.as_view(), name="funnel-plan"),
    path("ladder-plan/", views.LadderPlanView.as_view(), name="funnel-ladder-plan"),
    path("progress/", views.ProgressView.as_view(), name="funnel-progress"),
    path("staffing/", StaffingView.as_view(), name="funnel-staffing"),
]
