"""The v1 API router. Apps register their viewsets here so one router lists every route."""

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import NotFound
from rest_framework.routers import DefaultRouter

from defeats.api.views import ApplicationViewSet, DefeatTargetViewSet, PoolViewSet, ReasonViewSet, TalkTrackViewSet
from defeats.api.views import MetricsView as DefeatMetricsView
from defeats.api.postmortems import PostMortemViewSet
from defeats.api.views import PoolOwnerView
from baseclients.api.companies import CompanyViewSet
from baseclients.api.views import BaseClientViewSet, CareTaskViewSet, DealViewSet
from campaigns.api.views import EventViewSet
from funnel.api.views import MarketEstimateViewSet, TargetViewSet
from planning.api.views import WorkPlanViewSet
from leads.api.levels import StoreLevelsView
from leads.api.views import FollowUpViewSet, LeadViewSet
from reports.api.files import ReportFileViewSet
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
router.register("deals", DealViewSet, basename="deal")
router.register("companies", CompanyViewSet, basename="company")
router.register("defeats/reasons", ReasonViewSet, basename="defeat-reason")
router.register("defeats/talk-tracks", TalkTrackViewSet, basename="defeat-talk-track")
router.register("defeats/applications", ApplicationViewSet, basename="defeat-application")
router.register("defeats/pool", PoolViewSet, basename="defeat-pool")
router.register("defeats/targets", DefeatTargetViewSet, basename="defeat-target")
router.register("post-mortems", PostMortemViewSet, basename="post-mortem")
router.register("work-plans", WorkPlanViewSet, basename="work-plan")
router.register("imports", ImportViewSet, basename="import")
router.register("report-files", ReportFileViewSet, basename="report-file")
router.register("events", EventViewSet, basename="event")



@csrf_exempt  # it changes nothing; a token-authenticated POST carries no CSRF token and must get this 404, not a 403
def not_found(request, *args, **kwargs):
    """A path under /api/v1/ that names no route (an id of the wrong shape such as ``1.5``, which the router's
    ``[^/.]+`` does not take): the API's JSON 404, as the schema documents, not the site's HTML page. Only paths
    ending with a slash: one without keeps APPEND_SLASH's redirect."""
    return JsonResponse({"detail": str(NotFound.default_detail)}, status=404)


urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("funnel/", include("funnel.api.urls")),
    path("defeats/metrics/", DefeatMetricsView.as_view(), name="defeat-metrics"),
    path("stores/<int:pk>/pool-owner/", PoolOwnerView.as_view(), name="store-pool-owner"),
    path("reports/", include("reports.api.urls")),
    path("stores/<int:pk>/levels/", StoreLevelsView.as_view(), name="store-levels"),
    path("", include(router.urls)),
    re_path(r"^.*/$", not_found),
]
