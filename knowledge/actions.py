"""Every change to the knowledge base goes through here (DESIGN.md: one write path).

Saving an article writes a revision in the same transaction; re-chunking and re-embedding
run in Celery after commit, so editors never wait for the encoder.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify
from pgvector.django import CosineDistance

from inbox.models import Conversation, HandledBy, Message, SenderKind, Status
from knowledge.chunking import chunk_markdown
from knowledge.models import (
    Area,
    Article,
    ArticleRevision,
    ArticleStatus,
    Chunk,
    LearnedAnswer,
    LearnedAnswerSource,
    LearnedAnswerStatus,
)

logger = logging.getLogger(__name__)


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


# --- learned answers ----------------------------------------------------------------------
#
# A human reply that resolved a conversation (and held: no follow-up in the resolution window)
# becomes a suggestion; a manager's approval publishes it as an article, so search returns it
# and the agent cites it like any other. A suggestion is redacted *before* it is stored: the
# review page, the admin and later the help centre must never show one customer's data to
# anyone else.

LEARNED_MIN_ANSWER_CHARS = 40
LEARNED_NEAR_DUPLICATE = 0.85  # MiniLM cosine: rewordings ~0.9+, related but different questions ~0.7
LEARNED_LOCK = 0x4C45_4152  # advisory lock: two workers must not both create the same new suggestion

PLACEHOLDERS = {
    "EMAIL": "[email]", "PHONE": "[phone]", "PERSON": "[name]", "URL": "[link]",
    "ACCOUNT_ID": "[account number]", "ORDER_ID": "[order number]", "INVOICE_ID": "[invoice number]",
}
_LONG_NUMBER = re.compile(r"(?<![\w\[])\d(?: ?\d){5,}(?![\w\]])")  # card, tracking, bank numbers
_REPEATED = re.compile(r"(\[[a-z ]+\])(?:[\s,]+\1)+")
# "Hi Pat!", "Hello there,", "Hey team⏎" — but not the "Hi I can't log in" that is the question.
_SALUTATION = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening))\b(?:[ \t]+[^\s.!?,:]+){0,3}[ \t]*"
    r"(?:[.!?,:]+|(?=\n)|$)\s*", re.I)
_PLEASANTRY = re.compile(
    r"^\W*(?:(?:many\s+)?thanks?(?:\s+you)?(?:\s+(?:so|very)\s+much)?(?:\s+(?:for|again)\b[^.!?\n]*)?"
    r"|you(?:'re|\s+are)\s+(?:very\s+|most\s+)?welcome|(?:i'm\s+|we're\s+)?(?:glad|happy)\s+(?:i|we|to)\b[^.!?\n]*"
    r"|no\s+(?:problem|worries)|(?:great|good)\s+to\s+hear\b[^.!?\n]*|(?:hope|i\s+hope)\s+(?:this|that)\s+helps"
    r"|(?:please\s+)?let\s+(?:me|us)\s+know\b[^.!?\n]*|(?:is\s+there\s+)?anything\s+else\b[^.!?\n]*"
    r"|have\s+a\s+(?:great|nice|good|lovely|wonderful)\b[^.!?\n]*|(?:kind\s+|best\s+|warm\s+)?regards|best|cheers"
    r"|all\s+the\s+best|take\s+care|sorry\s+(?:for|about)\s+the\s+(?:wait|delay|trouble|inconvenience)"
    r"|[-–—]*\s*\[name\]|[-–—]+)\W*$",
    re.I,
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


def redact(text: str, known: list[tuple[str, str]] = ()) -> str:
    """Replace personal data with placeholders such as [email] and [name].

    `known` is (value, placeholder) pairs we know are personal (the customer's and agent's names,
    emails, the account's name and ids): they go whatever the entity model thinks. A PERSON span
    made only of words the published knowledge base uses ("Go to Settings") is product vocabulary.
    """
    from agents.entities import extract_entities  # pure Python, no Django: no import cycle

    text = text or ""
    spans: list[tuple[int, int, str]] = []
    for value, placeholder in known:
        flags = 0 if placeholder == "[name]" else re.I  # "Will" is a name, "will" is not
        spans += [(m.start(), m.end(), placeholder)
                  for m in re.finditer(rf"(?<!\w){re.escape(value)}(?!\w)", text, flags)]
    for entity in extract_entities(text):
        placeholder = PLACEHOLDERS.get(entity.label)
        if placeholder is None:
            continue
        if entity.label == "PERSON" and _product_words(entity.text):
            continue
        if entity.label == "URL" and not _private_url(entity.text):
            continue  # a link to a public help page is part of the answer
        spans.append((entity.start, entity.end, placeholder))
    out, cursor = [], 0
    for start, end, placeholder in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if start < cursor:
            continue  # overlaps a span already replaced
        out += [text[cursor:start], placeholder]
        cursor = end
    redacted = "".join(out) + text[cursor:]
    redacted = _LONG_NUMBER.sub("[number]", redacted)
    return _REPEATED.sub(r"\1", redacted)


def _private_url(url: str) -> bool:
    """Query strings, fragments, credentials, ids and token-like path segments identify someone."""
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.query or parts.fragment or "@" in parts.netloc:
        return True
    for segment in parts.path.split("/"):
        if re.fullmatch(r"\d{4,}", segment):
            return True
        if len(segment) >= 16 and re.search(r"\d", segment) and re.search(r"[A-Za-z]", segment):
            return True
    return False


def _product_words(span: str) -> bool:
    """Every word of the span appears in a published article: product vocabulary, not a person."""
    words = re.findall(r"[A-Za-z]+", span)
    published = Article.objects.filter(status=ArticleStatus.PUBLISHED)
    return bool(words) and all(
        published.filter(Q(title__iregex=rf"\m{w}\M") | Q(body__iregex=rf"\m{w}\M")).exists() for w in words)


def _without_pleasantries(text: str) -> str:
    """The reply minus greetings, thanks and sign-offs, line structure (Markdown) kept."""
    text = _SALUTATION.sub("", text.strip(), count=1)
    lines = text.splitlines()
    while lines and (not lines[0].strip() or _only_pleasantries(lines[0])):
        lines.pop(0)
    if lines:  # "Thanks for your patience! You can …": drop leading pleasantry sentences
        sentences = _SENTENCE.findall(lines[0])
        while len(sentences) > 1 and _PLEASANTRY.match(sentences[0].strip()):
            sentences.pop(0)
        lines[0] = "".join(sentences).strip()
    while lines and (not lines[-1].strip() or _only_pleasantries(lines[-1])):
        lines.pop()
    tidy = "\n".join(lines).strip()
    return tidy[:1].upper() + tidy[1:]  # "Hi, this is …" leaves "this is …"


def _only_pleasantries(line: str) -> bool:
    sentences = [s.strip() for s in _SENTENCE.findall(line) if s.strip()]
    return all(_PLEASANTRY.match(s) for s in sentences)


def _substance(text: str) -> str:
    return " ".join(s.strip() for s in _SENTENCE.findall(text) if not _PLEASANTRY.match(s.strip()))


def _known_personal_data(conversation: Conversation, agent) -> list[tuple[str, str]]:
    customer, account = conversation.customer, conversation.account
    known: list[tuple[str, str]] = []
    names = [customer.name]
    if agent is not None:
        names += [agent.get_full_name(), agent.first_name, agent.last_name]
        known += [(agent.email, "[email]")]
    for name in names:
        name = (name or "").strip()
        if name:
            known += [(name, "[name]")] + [(part, "[name]") for part in name.split() if len(part) > 1]
    known += [(customer.email, "[email]"), (customer.external_id, "[account number]")]
    if account is not None:
        known += [(account.name, "[company]")] + [
            (value, "[account number]") for value in (account.external_id, account.crm_id, account.billing_id)]
    # Longest first, so "Pat Lee" is one [name] rather than two.
    return sorted({(v.strip(), p) for v, p in known if v and len(v.strip()) > 1}, key=lambda k: -len(k[0]))


def learning_window() -> timedelta:
    return timedelta(hours=getattr(settings, "RESOLUTION_WINDOW_HOURS", 72))


def _resolved_and_held(conversation: Conversation, now: datetime) -> bool:
    """Only an answer that held is worth keeping: a human resolved it and nobody came back."""
    return (
        not conversation.is_spam
        and conversation.handled_by == HandledBy.HUMAN
        and conversation.status in (Status.RESOLVED, Status.CLOSED)
        and conversation.resolved_at is not None
        and conversation.resolved_at + learning_window() <= now
        and not conversation.follow_ups.exists()
    )


def _question_and_answer(conversation: Conversation) -> tuple[Message, Message] | None:
    """The customer's first real question and the last agent reply before resolution with substance."""
    messages = list(conversation.messages.filter(
        sender_kind__in=[SenderKind.CUSTOMER, SenderKind.AGENT], created_at__lte=conversation.resolved_at,
    ).select_related("author").order_by("created_at", "id"))
    question = next((m for m in messages if m.sender_kind == SenderKind.CUSTOMER
                     and len(_SALUTATION.sub("", m.body).split()) >= 3), None)
    answer = next((m for m in reversed(messages) if m.sender_kind == SenderKind.AGENT
                   and len(_substance(_without_pleasantries(m.body))) >= LEARNED_MIN_ANSWER_CHARS), None)
    if question is None or answer is None or answer.created_at < question.created_at:
        return None
    return question, answer


def suggest_learned_answer(conversation: Conversation, *, now: datetime | None = None) -> LearnedAnswer | None:
    """Turn the reply that resolved a human-handled conversation into a (redacted) suggestion.

    Idempotent per conversation. A question close to an open or approved learned answer counts
    as another sighting of it (times_seen), so reviewers see one card per question, most-asked
    first, and an approved answer is not suggested again.
    """
    from knowledge.embeddings import embed_one

    source = LearnedAnswerSource.objects.filter(conversation_id=conversation.pk).select_related("learned_answer")
    if source.exists():
        return source.first().learned_answer
    conversation = Conversation.objects.select_related("customer", "account").get(pk=conversation.pk)
    if not _resolved_and_held(conversation, now or timezone.now()):
        return None  # not (yet) eligible: a later run may find it so
    pair = _question_and_answer(conversation)
    if pair is not None:
        asked, replied = pair
        known = _known_personal_data(conversation, replied.author)
        # Pleasantries go before redaction (the entity model reads "Glad I could help" as a name)
        # and again after it (a sign-off line "Sam" becomes "[name]").
        question = _without_pleasantries(redact(_without_pleasantries(asked.body) or asked.body, known))
        answer = _without_pleasantries(redact(_without_pleasantries(replied.body), known))
    if pair is None or len(_substance(answer)) < LEARNED_MIN_ANSWER_CHARS:
        # Nothing worth keeping (greetings only, or little left after redaction). Remember that,
        # so the beat job's batch is not spent on the same conversations every run.
        LearnedAnswerSource.objects.get_or_create(conversation=conversation)
        return None
    vector = embed_one(question)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LEARNED_LOCK])
        if (done := LearnedAnswerSource.objects.filter(conversation=conversation).first()) is not None:
            return done.learned_answer  # another worker got here first
        nearest = (LearnedAnswer.objects
                   .filter(status__in=[LearnedAnswerStatus.SUGGESTED, LearnedAnswerStatus.APPROVED],
                           embedding__isnull=False)
                   .annotate(distance=CosineDistance("embedding", vector)).order_by("distance").first())
        if nearest is not None and 1 - nearest.distance >= LEARNED_NEAR_DUPLICATE:
            LearnedAnswer.objects.filter(pk=nearest.pk).update(times_seen=F("times_seen") + 1)
            LearnedAnswerSource.objects.create(learned_answer=nearest, conversation=conversation,
                                               similarity=round(1 - nearest.distance, 4))
            nearest.refresh_from_db()
            return nearest
        learned = LearnedAnswer.objects.create(
            question=question, answer=answer, embedding=vector, conversation=conversation,
            suggested_by=replied.author,
        )
        LearnedAnswerSource.objects.create(learned_answer=learned, conversation=conversation)
    return learned


def learned_answer_area(learned: LearnedAnswer) -> str:
    """The product area the customer asked from, when the widget knew it; else "Learned answers"."""
    page = learned.conversation.page_context if learned.conversation_id else {}
    area = (page or {}).get("area")
    return area if area in Area.values else Area.LEARNED


def _decidable(learned: LearnedAnswer) -> LearnedAnswer:
    locked = LearnedAnswer.objects.select_for_update().get(pk=learned.pk)
    if locked.status != LearnedAnswerStatus.SUGGESTED:
        raise KnowledgeError(f"This suggestion was already {locked.get_status_display().lower()}.")
    return locked


def approve_learned_answer(
    learned: LearnedAnswer, *, by, question: str | None = None, answer: str | None = None, area: str | None = None,
) -> LearnedAnswer:
    """Publish the (possibly edited) suggestion as an article and index it now, so approval means
    customers, search and the agent can use it at once. The reviewer's wording is kept as is."""
    from knowledge.embeddings import embed_one

    question = " ".join((learned.question if question is None else question).split())
    answer = (learned.answer if answer is None else answer).replace("\r\n", "\n").strip()
    if not question:
        raise KnowledgeError("The question becomes the article's title; it cannot be empty.")
    if len(question) > 200:
        raise KnowledgeError(f"The question becomes the article's title: shorten it to 200 characters "
                             f"(it has {len(question)}).")
    if not answer:
        raise KnowledgeError("The answer becomes the article's body; it cannot be empty.")
    vector = embed_one(question) if question != learned.question else None
    with transaction.atomic():
        learned = _decidable(learned)
        article = save_article(title=question, body=answer, area=area or learned_answer_area(learned),
                               status=ArticleStatus.PUBLISHED, author=by, reindex="none")
        learned.question, learned.answer, learned.article = question, answer, article
        if vector is not None:
            learned.embedding = vector  # later sightings are matched against the approved wording
        learned.status, learned.decided_by, learned.decided_at = LearnedAnswerStatus.APPROVED, by, timezone.now()
        learned.save()
    try:
        reindex_article(article)
    except Exception:  # the encoder failed: the approval stands and the worker indexes it later
        logger.exception("Indexing learned answer %s failed; queued for the worker", learned.pk)
        _enqueue_reindex(article.pk)
    return learned


def reject_learned_answer(learned: LearnedAnswer, *, by, reason: str) -> LearnedAnswer:
    """Keep the suggestion and the reason: what reviewers turn down is a signal too."""
    reason = (reason or "").strip()
    if not reason:
        raise KnowledgeError("Say why the suggestion is rejected (for example: account-specific, wrong, outdated).")
    with transaction.atomic():
        learned = _decidable(learned)
        learned.status, learned.reject_reason = LearnedAnswerStatus.REJECTED, reason[:2000]
        learned.decided_by, learned.decided_at = by, timezone.now()
        learned.save()
    return learned
