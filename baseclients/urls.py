from django.urls import path

from . import views

app_name = "baseclients"

urlpatterns = [
    path("", views.client_list, name="list"),
    path("<int:pk>/", views.client_detail, name="detail"),
    path("<int:pk>/score/", views.client_score, name="score"),
    path("<int:pk>/do-not-contact/", views.do_not_contact, name="do_not_contact"),
    path("care/", views.care_queue, name="care_queue"),
    path("care/<int:pk>/done/", views.care_done, name="care_done"),
    path("care/<int:pk>/skip/", views.care_skip, name="care_skip"),
    path("settings/", views.group_settings, name="settings"),
    path("analyses/", views.analyses, name="analyses"),
    path("visit-hint/", views.visit_hint, name="visit_hint"),
]
