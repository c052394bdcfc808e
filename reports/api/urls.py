from django.urls import path

from . import views

urlpatterns = [
    path("", views.ReportListView.as_view(), name="report-list"),
    # Any name reaches the view, so that an unknown one is the API's JSON 404, not the site's HTML page.
    path("<str:name>/", views.ReportView.as_view(), name="report-detail"),
]
