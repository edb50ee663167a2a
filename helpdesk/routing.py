from django.urls import path

from inbox.consumers import InboxConsumer, WidgetConsumer

websocket_urlpatterns = [
    path("ws/widget/", WidgetConsumer.as_asgi()),
    path("ws/inbox/", InboxConsumer.as_asgi()),
]
