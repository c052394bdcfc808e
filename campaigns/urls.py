from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("", views.event_list, name="list"),
    path("new/", views.event_create, name="create"),
    path("results/", views.results_by_kind, name="by_kind"),
    path("<int:pk>/", views.event_detail, name="detail"),
    path("<int:pk>/targets/", views.targets, name="targets"),
    path("<int:pk>/targets/count/", views.target_count, name="target_count"),
    path("<int:pk>/invitations/<int:inv>/answer/", views.answer, name="answer"),
    path("<int:pk>/door/", views.door, name="door"),
    path("<int:pk>/door/<int:inv>/", views.door_mark, name="door_mark"),
    path("<int:pk>/door/walk-in/", views.walk_in, name="walk_in"),
    path("<int:pk>/results/", views.event_results, name="results"),
]
