"""What the agent knows about intents, the examples it learns from, and its model versions."""

from django.db import models


class Intent(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    human_only = models.BooleanField(default=False, help_text="Always hand off (refund exceptions, security).")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ExampleSource(models.TextChoices):
    SEED = "seed", "Seed"
    AGENT_CORRECTION = "agent_correction", "Agent correction"
    CONFIRMED_OUTCOME = "confirmed_outcome", "Confirmed outcome"
    IMPORT = "import", "Import"


class IntentExample(models.Model):
    """A labelled customer message; the intent model trains on these and nothing else."""

    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="examples")
    text = models.TextField()
    source = models.CharField(max_length=20, choices=ExampleSource.choices, default=ExampleSource.SEED)
    message = models.ForeignKey("inbox.Message", null=True, blank=True, on_delete=models.SET_NULL)
    customer = models.ForeignKey("inbox.Customer", null=True, blank=True, on_delete=models.SET_NULL)
    weight = models.FloatField(default=1.0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "source"], condition=models.Q(message__isnull=False), name="example_once_per_message"
            )
        ]

    def __str__(self) -> str:
        return f"{self.intent_id}: {self.text[:40]}"


class ModelStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    LIVE = "live", "Live"
    RETIRED = "retired", "Retired"
    REJECTED = "rejected", "Rejected"


class ModelVersion(models.Model):
    kind = models.CharField(max_length=30, db_index=True)  # intent | escalation
    trained_at = models.DateTimeField(auto_now_add=True)
    n_examples = models.PositiveIntegerField()
    metrics = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE)
    blob = models.BinaryField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-trained_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} v{self.pk} ({self.status})"


class ArticleStat(models.Model):
    """Outcome counts for answering an intent (in a segment) with an article: the ranking learner's state.

    segment "" is the intent-wide level; "plan:growth" or "area:billing" are finer levels used
    once they have enough evidence (backing off to the intent-wide level before that).
    """

    intent = models.CharField(max_length=100, db_index=True)
    article = models.ForeignKey("knowledge.Article", on_delete=models.CASCADE, related_name="stats")
    segment = models.CharField(max_length=60, blank=True, default="")
    successes = models.FloatField(default=0)
    failures = models.FloatField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["intent", "article", "segment"], name="article_stat_once")]

    def __str__(self) -> str:
        return f"{self.intent}/{self.segment or '*'} → {self.article_id}: {self.successes:.1f}/{self.failures:.1f}"


class AppliedSignal(models.Model):
    """Ledger of outcomes already applied to the statistics: replays change nothing."""

    outcome_id = models.BigIntegerField(unique=True)
    customer_id = models.BigIntegerField(null=True, db_index=True)
    article_id = models.BigIntegerField(null=True)
    reward = models.FloatField()
    counted = models.BooleanField(default=True, help_text="False when the customer's influence cap was reached.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"outcome {self.outcome_id}"


class EscalationStat(models.Model):
    """Outcomes of AI answers given in one kind of situation: the escalation policy's state.

    key is "<feature>:<value>", e.g. "expected:7" (the ranking's expected-success bucket),
    "intent:card_arrival", "frustration:high", "value:high", "repeat:yes", "area:billing", "all:".
    """

    key = models.CharField(max_length=140, unique=True)
    successes = models.FloatField(default=0)
    failures = models.FloatField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.successes:.1f}/{self.failures:.1f}"
