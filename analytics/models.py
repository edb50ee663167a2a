"""Analytics state: pre-aggregated rollups and the snapshots the insight task refreshes.

Pages read these tables, never raw conversations, so they stay fast as history grows.
Nothing here is a source of truth: every row can be rebuilt from the inbox tables.
"""

from django.db import models


class RollupLevel(models.TextChoices):
    BASE = "base", "By channel, plan, intent, area"
    COHORT = "cohort", "By channel, plan, tenure, segment"
    ACCOUNT = "account", "By account, plan, channel, intent"


class DailyRollup(models.Model):
    """Counts and sums for the conversations created on one day, at three grouping levels.

    One grouped INSERT … SELECT per day writes all three levels (GROUPING SETS): the levels
    keep each read small — the overview never scans per-account rows, the account filter
    never scans cohort rows. Dimensions a level does not group by are stored as "" / 0.
    """

    day = models.DateField()
    level = models.CharField(max_length=10, choices=RollupLevel.choices)
    channel = models.CharField(max_length=10, blank=True, default="")
    plan = models.CharField(max_length=20, blank=True, default="")
    intent = models.CharField(max_length=100, blank=True, default="")
    area = models.CharField(max_length=20, blank=True, default="")
    tenure = models.CharField(max_length=10, blank=True, default="")
    segment = models.CharField(max_length=60, blank=True, default="")
    account_id = models.BigIntegerField(default=0, help_text="0: no account, or a level without accounts.")

    conversations = models.PositiveIntegerField(default=0)
    ai_involved = models.PositiveIntegerField(default=0)
    ai_resolved = models.PositiveIntegerField(default=0)
    deflected = models.PositiveIntegerField(default=0)
    escalated = models.PositiveIntegerField(default=0)
    escalation_reasons = models.JSONField(default=dict)
    resolved = models.PositiveIntegerField(default=0)
    first_contact_resolved = models.PositiveIntegerField(default=0)
    follow_ups = models.PositiveIntegerField(default=0)
    abandoned = models.PositiveIntegerField(default=0)
    billing = models.PositiveIntegerField(default=0)
    first_response_sum = models.BigIntegerField(default=0)
    first_response_count = models.PositiveIntegerField(default=0)
    resolution_sum = models.BigIntegerField(default=0)
    resolution_count = models.PositiveIntegerField(default=0)
    csat_sum = models.PositiveIntegerField(default=0)
    csat_count = models.PositiveIntegerField(default=0)
    csat_low = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "level", "channel", "plan", "intent", "area", "tenure", "segment", "account_id"],
                name="analytics_rollup_key",
            )
        ]
        indexes = [
            models.Index(fields=["level", "day"], name="analytics_rollup_level_day"),
            models.Index(fields=["account_id", "day"], name="analytics_rollup_account_day",
                         condition=models.Q(level="account")),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.level} {self.conversations}"


class RollupState(models.Model):
    """The watermark of the last incremental run: changes after it mark their days dirty."""

    name = models.CharField(max_length=30, unique=True)
    watermark = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.watermark:%Y-%m-%d %H:%M}"


class TopicCluster(models.Model):
    """A cluster of recent first customer messages, from the latest topic refresh."""

    computed_at = models.DateTimeField(db_index=True)
    label = models.CharField(max_length=200)
    terms = models.JSONField(default=list)
    intent = models.CharField(max_length=100, blank=True, help_text="Most common intent among members.")
    size = models.PositiveIntegerField()
    examples = models.JSONField(default=list, help_text="[{conversation_id, text}] nearest the centre.")
    daily_counts = models.JSONField(default=list, help_text="[[iso day, count]] over the window.")
    conversation_ids = models.JSONField(default=list)

    class Meta:
        ordering = ["-size", "id"]

    def __str__(self) -> str:
        return self.label


class SpikeAlert(models.Model):
    """A topic whose daily volume broke clearly above its own baseline."""

    cluster = models.ForeignKey(TopicCluster, on_delete=models.CASCADE, related_name="alerts")
    day = models.DateField()
    count = models.PositiveIntegerField()
    baseline_mean = models.FloatField()
    baseline_sd = models.FloatField()
    p_value = models.FloatField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "-count"]

    def __str__(self) -> str:
        return f"{self.cluster.label}: {self.count} on {self.day}"


class InsightRun(models.Model):
    """When topics/gaps/drift were last refreshed and how long it took (shown on the pages)."""

    kind = models.CharField(max_length=20, unique=True)
    finished_at = models.DateTimeField()
    seconds = models.FloatField(default=0)
    detail = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.kind} @ {self.finished_at:%Y-%m-%d %H:%M}"
