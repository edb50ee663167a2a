"""Every change to the knowledge base goes through here (DESIGN.md: one write path).

Saving an article writes a revision in the same transaction; re-chunking and re-embedding
run in Celery after commit, so editors never wait for the encoder.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from knowledge.chunking import chunk_markdown
from knowledge.models import Area, Article, ArticleRevision, ArticleStatus, Chunk


class KnowledgeError(ValueError):
    pass


def _unique_slug(title: str, exclude_id: int | None) -> str:
    base = slugify(title)[:180] or "article"
    slug, n = base, 2
    while Article.objects.filter(slug=slug).exclude(pk=exclude_id).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def save_article(
    *,
    title: str,
    body: str,
    article: Article | None = None,
    area: str = Area.OTHER,
    tags: list[str] | None = None,
    status: str | None = None,
    source_url: str = "",
    import_key: str = "",
    author=None,
    reindex: str = "async",
) -> Article:
    """Create or update an article and record a revision. reindex: "async" | "now" | "none"."""
    title, body = (title or "").strip(), body or ""
    if not title:
        raise KnowledgeError("An article needs a title.")
    if not body.strip():
        raise KnowledgeError(f"The article “{title}” has an empty body.")
    if area not in Area.values:
        raise KnowledgeError(f"Unknown product area “{area}”; use one of {', '.join(Area.values)}.")
    with transaction.atomic():
        if article is None:
            article = Article(author=author, status=status or ArticleStatus.DRAFT)
        changed = article.pk is None or (title, body) != (article.title, article.body)
        article.title, article.body, article.area = title, body, area
        article.tags = [t.strip()[:50] for t in (tags or []) if t.strip()]
        article.source_url = source_url or article.source_url
        article.import_key = import_key or article.import_key
        if status:
            article.status = status
        if not article.slug:
            article.slug = _unique_slug(title, article.pk)
        article.save()
        ArticleRevision.objects.create(
            article=article, title=title, body=body, status=article.status, author=author
        )
        if changed or not article.chunks.exists():
            if reindex == "now":
                reindex_article(article)
            elif reindex == "async":
                article_id = article.pk
                transaction.on_commit(lambda: _enqueue_reindex(article_id))
    return article


def _enqueue_reindex(article_id: int) -> None:
    from helpdesk.celery import app

    app.send_task("knowledge.tasks.reindex_article", args=[article_id])


def set_status(article: Article, status: str, *, author=None) -> Article:
    """Publish or unpublish. Publishing an article that has no chunks yet indexes it now.

    Saves re-embed in Celery; when no worker has got to the article yet (or none runs, as on a
    laptop without `up`), "Published" would otherwise mean "invisible to search and the agent".
    """
    if status not in ArticleStatus.values:
        raise KnowledgeError(f"Unknown status “{status}”.")
    with transaction.atomic():
        article.status = status
        article.save(update_fields=["status", "updated_at"])
        ArticleRevision.objects.create(
            article=article, title=article.title, body=article.body, status=status, author=author
        )
    if status == ArticleStatus.PUBLISHED and not article.chunks.exists():
        reindex_article(article)
    return article


def restore_revision(revision: ArticleRevision, *, author=None, reindex: str = "async") -> Article:
    """Put an old title and body back. It is an ordinary save, so the restore is itself a
    revision and can be undone the same way; status, area and tags stay as they are now."""
    article = revision.article
    return save_article(
        article=article,
        title=revision.title,
        body=revision.body,
        area=article.area,
        tags=list(article.tags),
        source_url=article.source_url,
        author=author,
        reindex=reindex,
    )


def reindex_article(article: Article) -> int:
    """Replace the article's chunks with fresh passages and embeddings; returns the chunk count."""
    reindex_articles([article])
    return article.chunks.count()


def reindex_articles(articles: list[Article], batch_size: int = 64) -> None:
    """Chunk and embed many articles in one encoder batch (imports, seeding)."""
    from knowledge.embeddings import embed

    rows: list[Chunk] = []
    for article in articles:
        for ordinal, passage in enumerate(chunk_markdown(article.title, article.body)):
            rows.append(Chunk(article=article, ordinal=ordinal, heading=passage.heading[:300], text=passage.text))
    vectors = embed([f"{row.article.title}. {row.heading}. {row.text}" for row in rows], batch_size=batch_size)
    for row, vector in zip(rows, vectors, strict=True):
        row.embedding = vector
    with transaction.atomic():
        # Row locks (in id order, so two reindexes never deadlock) serialise a Celery reindex and
        # a synchronous one of the same article; without them both could insert a set of chunks.
        list(Article.objects.select_for_update().filter(pk__in=[a.pk for a in articles]).order_by("pk")
             .values_list("pk", flat=True))
        Chunk.objects.filter(article__in=articles).delete()
        Chunk.objects.bulk_create(rows, batch_size=500)
