from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from inbox import api

router = DefaultRouter()
router.register("conversations", api.ConversationViewSet, basename="conversation")

urlpatterns = [
    path("events/", api.product_event, name="product_event"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", include(router.urls)),
]
