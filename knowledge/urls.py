"""Mounted once at the site root: the staff editor under /kb/, the public help centre under /help/."""

from django.urls import include, path

from knowledge import views

kb_patterns = [
    path("", views.article_list, name="list"),
    path("new/", views.article_create, name="create"),
    path("preview/", views.article_preview, name="preview"),
    path("learned/", views.learned_list, name="learned"),
    path("learned/<int:learned_id>/approve/", views.learned_approve, name="learned_approve"),
    path("learned/<int:learned_id>/reject/", views.learned_reject, name="learned_reject"),
    path("<int:article_id>/", views.article_detail, name="detail"),
    path("<int:article_id>/edit/", views.article_edit, name="edit"),
    path("<int:article_id>/status/", views.article_status, name="status"),
    path("<int:article_id>/history/", views.revision_list, name="history"),
    path("<int:article_id>/history/<int:revision_id>/", views.revision_detail, name="revision"),
    path("<int:article_id>/history/<int:revision_id>/restore/", views.revision_restore, name="restore"),
]

help_patterns = [
    path("", views.help_home, name="home"),
    path("search", views.help_search, name="search"),
    path("<slug:slug>/", views.help_article, name="article"),
]

urlpatterns = [
    path("kb/", include((kb_patterns, "kb"))),
    path("help/", include((help_patterns, "help"))),
]
