from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from leads.views import consultant as leads_views

from . import views, views_help, views_notifications

urlpatterns = [
    path("", leads_views.workspace, name="home"),
    path("", include("leads.urls")),
    path("team/", views.team, name="team"),
    path("team/<int:pk>/", views.team_member, name="team_member"),
    path("notifications/", views_notifications.notification_list, name="notifications"),
    path("notifications/bell/", views_notifications.bell, name="notifications_bell"),
    path("notifications/<int:pk>/read/", views_notifications.notification_read, name="notification_read"),
    path("notifications/read-all/", views_notifications.notifications_read_all, name="notifications_read_all"),
    path("jobs/", views.job_runs, name="job_runs"),
    path("help/", views_help.help_page, name="help"),
    path("help/<slug:name>/", views_help.help_page, name="help_page"),
    path("funnel/", include("funnel.urls")),
    path("base-clients/", include("baseclients.urls")),
    path("reports/", include("reports.urls")),
    path("defeats/", include("defeats.urls")),
    path("plans/", include("planning.urls")),
    path("events/", include("campaigns.urls")),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("dealercrm.api.urls")),
    # The schema is public (REST clients generate code from it; it holds no data, every call needs a token or a
    # session); the browsable docs are a page of the application, behind its login like every other page.
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
]

handler400 = "dealercrm.error_pages.bad_request"
handler500 = "dealercrm.error_pages.server_error"
