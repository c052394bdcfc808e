from django.urls import path

from . import views, views_staffing

app_name = "funnel"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("planner/", views.planner, name="planner"),
    path("market/", views.market, name="market"),
    path("targets/", views.targets, name="targets"),
    path("staffing/", views_staffing.staffing_page, name="staffing"),
]
