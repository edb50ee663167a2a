from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from helpdesk.accounts import ADMIN, role_of
from inbox import widget_views

# Django's admin edits rows directly, past inbox.actions (no labels, no audit) and past the teams'
# visibility rules: it is for admins only, whatever model permissions a role holds.
admin.site.has_permission = lambda request: request.user.is_active and role_of(request.user) == ADMIN

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="inbox:queue", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("inbox/", include("inbox.urls")),
    path("ai/", include("agents.urls")),
    path("api/v1/", include("helpdesk.api_urls")),
    path("analytics/", include("analytics.urls")),
    path("widget.js", widget_views.widget_js, name="widget_js"),
    path("", include("knowledge.urls")),  # /kb/ (staff editor) and /help/ (public help centre)
]
if settings.DEMO_ENABLED:
    urlpatterns[-1:-1] = [
        path("demo/", widget_views.demo_host, name="demo_host"),
        path("demo/<slug:page>/", widget_views.demo_host, name="demo_page"),
    ]
