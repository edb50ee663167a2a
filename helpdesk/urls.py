from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="inbox:queue", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("inbox/", include("inbox.urls")),
    path("", include("knowledge.urls")),  # /kb/ (staff editor) and /help/ (public help centre)
]
