"""Articles, their revisions, and the chunks the agent retrieves (pgvector + full-text)."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, VectorField

EMBEDDING_DIM = 384


class Area(models.TextChoices):
    BILLING = "billing", "Billing"
    ONBOARDING = "onboarding", "Onboarding"
    INTEGRATIONS = "integrations", "Integrations"
    KNOWN_BUGS = "known-bugs", "Known bugs"
    ACCOUNT_ADMIN = "account-admin", "Account administration"
    LEARNED = "learned", "Learned answers"
    OTHER = "other", "Other"


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class Article(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    body = models.TextField(help_text="Markdown.")
    status = models.CharField(max_length=10, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT, db_index=True)
    area = models.CharField(max_length=20, choices=Area.choices, default=Area.OTHER, db_index=True)
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    source_url = models.URLField(blank=True)
    # Where an import found it (path or export id): re-imports update instead of duplicating.
    import_key = models.CharField(max_length=500, blank=True, db_index=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.title


class ArticleRevision(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="revisions")
    title = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=ArticleStatus.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.created_at:%Y-%m-%d %H:%M})"


class Chunk(models.Model):
    """A heading-bounded passage of an article: the unit the agent retrieves and cites."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    heading = models.CharField(max_length=300, blank=True)
    text = models.TextField()
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True)
    search = models.GeneratedField(
        expression=SearchVector("heading", weight="A", config="english")
        + SearchVector("text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["article_id", "ordinal"]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search"], name="chunk_search_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.article.title} §{self.ordinal}"


class LearnedAnswerStatus(models.TextChoices):
    SUGGESTED = "suggested", "Suggested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class LearnedAnswer(models.Model):
    """An agent's reply that resolved a conversation, redacted, waiting for (or past) a staff decision.

    Approval turns it into a published Article (`article`); until then nobody outside the staff
    review page sees it, and customers never do.
    """

    question = models.TextField(help_text="The customer's first message, redacted.")
    answer = models.TextField(help_text="The agent reply that resolved it, redacted.")
    # Of the question: a near-duplicate question raises times_seen instead of adding a suggestion.
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, editable=False)
    conversation = models.ForeignKey("inbox.Conversation", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="learned_answers", help_text="Where the answer came from.")
    suggested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", help_text="The agent who wrote the reply.")
    status = models.CharField(max_length=10, choices=LearnedAnswerStatus.choices,
                              default=LearnedAnswerStatus.SUGGESTED, db_index=True)
    times_seen = models.PositiveIntegerField(default=1)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    reject_reason = models.TextField(blank=True)
    article = models.OneToOneField(Article, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="learned_answer")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-times_seen", "-created_at"]
        indexes = [models.Index(fields=["status", "-times_seen"], name="learned_status_seen")]

    def __str__(self) -> str:
        return self.question[:80]


class LearnedAnswerSource(models.Model):
    """A conversation that produced or repeated a learned answer; one per conversation, so
    re-running the suggestion job never counts a conversation twice. No learned answer: it was
    looked at and had no reply worth keeping, so the job does not look at it again."""

    learned_answer = models.ForeignKey(LearnedAnswer, null=True, blank=True, on_delete=models.CASCADE,
                                       related_name="sources")
    conversation = models.OneToOneField("inbox.Conversation", on_delete=models.CASCADE,
                                        related_name="learned_answer_source")
    similarity = models.FloatField(null=True, blank=True, help_text="To the suggestion's question, when merged.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"#{self.conversation_id} → {self.learned_answer_id}"
