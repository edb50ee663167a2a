from django.urls import path

from inbox import views

app_name = "inbox"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("counts/", views.queue_counts, name="counts"),
    path("macros/", views.macro_list, name="macros"),
    path("macros/<int:macro_id>/", views.macro_edit, name="macro_edit"),
    path("macros/<int:macro_id>/delete/", views.macro_delete, name="macro_delete"),
    path("c/<int:conversation_id>/", views.conversation, name="conversation"),
    path("c/<int:conversation_id>/part/<slug:part>/", views.conversation_part, name="part"),
    path("c/<int:conversation_id>/reply/", views.reply, name="reply"),
    path("c/<int:conversation_id>/note/", views.note, name="note"),
    path("c/<int:conversation_id>/suggest/", views.suggest, name="suggest"),
    path("c/<int:conversation_id>/drafts/<int:draft_id>/reject/", views.reject_draft, name="reject_draft"),
    path("c/<int:conversation_id>/intent/", views.correct_intent, name="intent"),
    path("c/<int:conversation_id>/entities/", views.label_entities, name="entities"),
    path("c/<int:conversation_id>/answer/", views.mark_answer, name="answer"),
    path("c/<int:conversation_id>/flag-article/", views.flag_article, name="flag_article"),
    path("c/<int:conversation_id>/escalate/", views.escalate, name="escalate"),
    path("c/<int:conversation_id>/assign/", views.assign, name="assign"),
    path("c/<int:conversation_id>/status/", views.set_status, name="status"),
    path("c/<int:conversation_id>/snooze/", views.snooze, name="snooze"),
]
