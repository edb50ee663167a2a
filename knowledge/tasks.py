from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from inbox.models import Conversation, HandledBy, Status
from knowledge import actions
from knowledge.models import Article, LearnedAnswerSource

LEARNED_BATCH = 500  # each one runs the entity model and the encoder once or twice


@shared_task(name="knowledge.tasks.reindex_article")
def reindex_article(article_id: int) -> int:
    article = Article.objects.filter(pk=article_id).first()
    if article is None:
        return 0  # deleted before the worker got to it
    return actions.reindex_article(article)


@shared_task(name="knowledge.tasks.suggest_learned_answers")
def suggest_learned_answers(now=None) -> int:
    """Beat job: human-resolved conversations whose resolution window passed without a follow-up
    become learned-answer suggestions. Looks back a week past the window, like the AI's
    resolution signal, so a stopped beat catches up without rescanning all history."""
    if not settings.LEARNING_ENABLED:
        return 0
    now = now or timezone.now()
    window = actions.learning_window()
    due = (
        Conversation.objects.filter(
            status__in=[Status.RESOLVED, Status.CLOSED], handled_by=HandledBy.HUMAN, is_spam=False,
            resolved_at__lte=now - window, resolved_at__gte=now - window - timedelta(days=7),
        )
        .exclude(Exists(Conversation.objects.filter(follow_up_of=OuterRef("pk"))))
        .exclude(Exists(LearnedAnswerSource.objects.filter(conversation=OuterRef("pk"))))
        .order_by("resolved_at")
    )
    return sum(actions.suggest_learned_answer(c, now=now) is not None for c in due[:LEARNED_BATCH])
