"""The v1 API router. Apps register their viewsets here so one router lists every route."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from defeats.api.views import ApplicationViewSet, DefeatTargetViewSet, PoolViewSet, ReasonViewSet, TalkTrackViewSet
from defeats.api.views import MetricsView as DefeatMetricsView
from baseclients.api.views import BaseClientViewSet, CareTaskViewSet
from funnel.api.views import MarketEstimateViewSet, TargetViewSet
from leads.api.views import FollowUpViewSet, LeadViewSet
from reports.api.imports import ImportViewSet

from . import views
from .notifications import JobRunViewSet, NotificationViewSet

router = DefaultRouter()
router.register("stores", views.StoreViewSet, basename="store")
router.register("users", views.UserViewSet, basename="user")
router.register("vehicles/brands", views.VehicleBrandViewSet, basename="vehicle-brand")
router.register("vehicles/series", views.VehicleSeriesViewSet, basename="vehicle-series")
router.register("leads", LeadViewSet, basename="lead")
router.register("follow-ups", FollowUpViewSet, basename="follow-up")
router.register("funnel/targets", TargetViewSet, basename="funnel-target")
router.register("funnel/market-estimates", MarketEstimateViewSet, basename="funnel-market-estimate")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("job-runs", JobRunViewSet, basename="job-run")
router.register("base-clients", BaseClientViewSet, basename="base-client")
router.register("care-tasks", CareTaskViewSet, basename="care-task")
router.register("defeats/reasons", ReasonViewSet, basename="defeat-reason")
router.register("defeats/talk-tracks", TalkTrackViewSet, basename="defeat-talk-track")
router.register("defeats/applications", ApplicationViewSet, basename="defeat-application")
router.register("defeats/pool", PoolViewSet, basename="defeat-pool")
router.register("defeats/targets", DefeatTargetViewSet, basename="defeat-target")
router.register("imports", ImportViewSet, basename="import")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("funnel/", include("funnel.api.urls")),
    path("defeats/metrics/", DefeatMetricsView.as_view(), name="defeat-metrics"),
    path("reports/", include("reports.api.urls")),
    path("", include(router.urls)),
]
