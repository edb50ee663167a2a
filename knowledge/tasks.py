from celery import shared_task

from knowledge import actions
from knowledge.models import Article


@shared_task(name="knowledge.tasks.reindex_article")
def reindex_article(article_id: int) -> int:
    article = Article.objects.filter(pk=article_id).first()
    if article is None:
        return 0  # deleted before the worker got to it
    return actions.reindex_article(article)
