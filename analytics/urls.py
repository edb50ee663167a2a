from django.urls import path

from analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("intents/", views.intents, name="intents"),
    path("cohorts/", views.cohorts, name="cohorts"),
    path("topics/", views.topics, name="topics"),
    path("knowledge/", views.knowledge, name="knowledge"),
    path("churn/", views.churn, name="churn"),
    path("api/<slug:page>/", views.api, name="api"),
]
