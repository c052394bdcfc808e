from django.urls import path

from . import events, views, views_companies, views_imports

app_name = "reports"

urlpatterns = [
    path("", views.report_catalogue, name="catalogue"),
    path("files/<int:pk>/", views.report_file, name="file"),
    path("files/<int:pk>/status/", views.report_file_status, name="file_status"),
    path("files/<int:pk>/wait/", views.report_file_wait, name="file_wait"),
    path("files/<int:pk>/retry/", views.report_file_retry, name="file_retry"),
    path("exports/<slug:name>/", views.export, name="export"),
    path("companies.xlsx", views_companies.companies_xlsx, name="companies_xlsx"),
    path("imports/", views_imports.import_list, name="imports"),
    path("imports/template/", views_imports.import_template, name="import_template"),
    path("imports/<int:pk>/", views_imports.import_detail, name="import"),
    path("imports/<int:pk>/commit/", views_imports.import_commit, name="import_commit"),
    path("imports/<int:pk>/cancel/", views_imports.import_cancel, name="import_cancel"),
    path("imports/<int:pk>/resume/", views_imports.import_resume, name="import_resume"),
    path("imports/<int:pk>/errors.xlsx", views_imports.import_errors, name="import_errors"),
    path("events/<int:pk>.xlsx", events.event_xlsx, name="event_xlsx"),
    path("events/by-kind.xlsx", events.events_by_kind_xlsx, name="events_by_kind_xlsx"),
    path("<slug:name>/", views.report_page, name="report"),
    path("<slug:name>/print/", views.report_print, name="print"),
]
