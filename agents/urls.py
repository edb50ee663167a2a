from django.urls import path

from agents import views

app_name = "agents"
urlpatterns = [
    path("models/", views.model_versions, name="model_versions"),
    path("models/rollback/", views.rollback, name="rollback"),
    path("models/retrain/", views.retrain, name="retrain"),
]
