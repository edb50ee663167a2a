from django.urls import path

from inbox import views

app_name = "inbox"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("c/<int:conversation_id>/", views.conversation, name="conversation"),
]
