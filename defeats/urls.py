from django.urls import path

from . import views, views_postmortems

app_name = "defeats"

urlpatterns = [
    path("leads/<int:pk>/apply/", views.apply, name="apply"),
    path("leads/<int:pk>/talk-tracks/", views.talk_tracks_preview, name="talk_tracks_preview"),
    path("verify/", views.queue, name="queue"),
    path("verify/<int:pk>/", views.decide, name="decide"),
    path("verify/bulk/", views.bulk_decide, name="bulk_decide"),
    path("pool/", views.pool, name="pool"),
    path("pool/<int:pk>/contact/", views.pool_contact, name="pool_contact"),
    path("pool/hand-out/", views.pool_hand_out, name="pool_hand_out"),
    path("pool/owner/", views.pool_owner, name="pool_owner"),
    path("visit-hint/", views.visit_hint, name="visit_hint"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/reasons/<int:pk>/", views.reason_edit, name="reason_edit"),
    path("talk-tracks/", views.talk_tracks, name="talk_tracks"),
    path("analysis/", views.analysis, name="analysis"),
    path("analysis/target/", views.target_save, name="target_save"),
    path("post-mortems/", views_postmortems.library, name="postmortems"),
    path("post-mortems/<int:pk>/", views_postmortems.detail, name="postmortem"),
    path("leads/<int:pk>/post-mortem/", views_postmortems.open_for_lead, name="postmortem_open"),
]
