"""Customers, accounts, conversations and messages, and the labels staff attach to them.

Labels and outcomes live here, beside what they judge, so one `inbox.actions` function can
write a state change and its training signal in one transaction. The agents app reads them.
"""

import secrets

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models


class Plan(models.TextChoices):
    FREE = "free", "Free"
    STARTER = "starter", "Starter"
    GROWTH = "growth", "Growth"
    ENTERPRISE = "enterprise", "Enterprise"


class Site(models.Model):
    """A web property that embeds the chat widget: its public key and the secret for identity HMACs."""

    name = models.CharField(max_length=200)
    key = models.CharField(max_length=64, unique=True, default=secrets.token_urlsafe)
    secret = models.CharField(max_length=128, default=secrets.token_hex)
    allowed_origins = models.JSONField(default=list, blank=True, help_text="Empty list: any origin.")
    business_hours = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="support_teams", blank=True)

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """A customer company: what it pays and where it is in its lifecycle."""

    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=100, blank=True, db_index=True)
    crm_id = models.CharField(max_length=100, blank=True)
    billing_id = models.CharField(max_length=100, blank=True)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.FREE, db_index=True)
    mrr = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    seats = models.PositiveIntegerField(default=1)
    signed_up_at = models.DateTimeField()
    renews_at = models.DateTimeField(null=True, blank=True)
    churned_at = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    """A contact at an account, or an anonymous widget visitor (no account, no email)."""

    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="customers")
    email = models.EmailField(blank=True, db_index=True)
    name = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.SET_NULL)
    is_verified = models.BooleanField(default=False, help_text="Identity proven by the host app's HMAC.")
    attributes = models.JSONField(default=dict, blank=True, help_text="CRM and billing context.")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "external_id"], condition=~models.Q(external_id=""), name="customer_unique_external_id"
            )
        ]

    def __str__(self) -> str:
        return self.name or self.email or f"Visitor {self.pk}"


class Channel(models.TextChoices):
    CHAT = "chat", "Chat"
    EMAIL = "email", "Email"
    API = "api", "API"


class Status(models.TextChoices):
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


class HandledBy(models.TextChoices):
    AI = "ai", "AI"
    HUMAN = "human", "Human"


class EscalationReason(models.TextChoices):
    BILLING_ERROR = "billing_error", "Billing error"
    BUG = "bug", "Bug"
    ANGRY_CUSTOMER = "angry_customer", "Angry customer"
    HIGH_VALUE_ACCOUNT = "high_value_account", "High-value account"
    POLICY_EXCEPTION = "policy_exception", "Policy exception"
    MISSING_KNOWLEDGE = "missing_knowledge", "Missing knowledge"
    CUSTOMER_REQUEST = "customer_request", "Customer asked for a human"
    LOW_CONFIDENCE = "low_confidence", "AI not confident"
    OTHER = "other", "Other"


class Conversation(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversations")
    # Denormalised from the customer so queues filter by account/plan without joins.
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.CHAT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    subject = models.CharField(max_length=200, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    intent = models.CharField(max_length=100, blank=True, db_index=True)
    intent_confidence = models.FloatField(null=True, blank=True)
    handled_by = models.CharField(max_length=10, choices=HandledBy.choices, default=HandledBy.AI)
    needs_human = models.BooleanField(default=False)
    escalation_reason = models.CharField(max_length=30, choices=EscalationReason.choices, blank=True)
    escalation_note = models.TextField(blank=True)
    page_context = models.JSONField(default=dict, blank=True)
    session_trail = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(db_index=True)
    last_message_at = models.DateTimeField(db_index=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    csat = models.PositiveSmallIntegerField(null=True, blank=True)
    abandoned = models.BooleanField(default=False)
    follow_up_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups")
    is_spam = models.BooleanField(default=False, help_text="Spam or abuse: never feeds learning.")
    version = models.PositiveIntegerField(default=0, help_text="Bumped on every change; stale edits are refused.")
    search = SearchVectorField(null=True, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["status", "-last_message_at"]),
            models.Index(fields=["needs_human", "status", "-last_message_at"]),
            models.Index(fields=["assignee", "status", "-last_message_at"]),
            models.Index(fields=["account", "-created_at"]),
            GinIndex(fields=["search"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"


class SenderKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    AI = "ai", "AI"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"
    NOTE = "note", "Internal note"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    sender_kind = models.CharField(max_length=10, choices=SenderKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    body = models.TextField()
    created_at = models.DateTimeField(db_index=True)
    client_id = models.CharField(max_length=64, blank=True, help_text="Widget's id for idempotent retries.")
    trace = models.JSONField(default=dict, blank=True, help_text="The AI's decision trace for this reply.")
    entities = models.JSONField(default=list, blank=True)
    frustration = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"], condition=~models.Q(client_id=""), name="message_idempotent_client_id"
            )
        ]
        indexes = [models.Index(fields=["conversation", "id"])]

    def __str__(self) -> str:
        return f"{self.sender_kind}: {self.body[:50]}"


class DraftStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent as is"
    EDITED = "edited", "Edited then sent"
    REJECTED = "rejected", "Rejected"


class Draft(models.Model):
    """The AI's suggested reply for a human, and what the human actually sent (a training pair)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="drafts")
    body = models.TextField()
    trace = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=DraftStatus.choices, default=DraftStatus.PENDING)
    sent_message = models.OneToOneField(Message, null=True, blank=True, on_delete=models.SET_NULL)
    sent_body = models.TextField(blank=True)
    reject_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Draft {self.pk} ({self.status})"


class LabelKind(models.TextChoices):
    INTENT = "intent", "Intent"
    ENTITY = "entity", "Entity"
    ANSWER = "answer", "AI answer right/wrong"
    ESCALATION = "escalation", "Escalation reason"
    ARTICLE_OUTDATED = "article_outdated", "Article outdated"


class Label(models.Model):
    """A human judgement: the labelled training data the agent learns from."""

    kind = models.CharField(max_length=20, choices=LabelKind.choices, db_index=True)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="labels")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="labels")
    value = models.JSONField(help_text="intent: {intent, previous}; answer: {correct}; escalation: {reason, note}; …")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} label on #{self.conversation_id}"


class OutcomeKind(models.TextChoices):
    RESOLVED = "resolved", "Resolved, no follow-up"
    CSAT = "csat", "CSAT"
    HELPFUL = "helpful", "That helped"
    NOT_HELPFUL = "not_helpful", "Not helpful"
    ESCALATED = "escalated", "Escalated"
    FOLLOW_UP = "follow_up", "Follow-up on the same issue"
    ABANDONED = "abandoned", "Abandoned"
    DRAFT_REJECTED = "draft_rejected", "Agent rejected the draft"
    DRAFT_EDITED = "draft_edited", "Agent rewrote the draft"
    ENGAGED = "engaged", "Used the product after the chat"


class Outcome(models.Model):
    """An outcome signal judging one AI reply; unique per (reply, kind) so replays count once."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="outcomes")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="outcomes")
    kind = models.CharField(max_length=20, choices=OutcomeKind.choices)
    reward = models.FloatField(help_text="+1 good … -1 bad, as the learners read it.")
    value = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "message", "kind"], name="outcome_once", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.reward:+.1f}) on #{self.conversation_id}"


class Macro(models.Model):
    """A canned reply with {{variables}} (inbox.macros fills them from the conversation).

    Shared macros are for everyone (or one team) and only managers change them; personal ones
    belong to the agent who wrote them and only they see and change them.
    """

    name = models.CharField(max_length=100)
    body = models.TextField(help_text="Variables such as {{customer.first_name}} are filled in when inserted.")
    shared = models.BooleanField(default=False, help_text="Shared with everyone, or with the team below.")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="macros",
                             help_text="Only for a shared macro: limit it to this team (and managers).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="macros")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(shared=True) | models.Q(team__isnull=True),
                                   name="macro_team_only_when_shared"),
        ]

    def __str__(self) -> str:
        return self.name


def _restore_default_macros(sender, **kwargs):
    from inbox.macros import restore_defaults

    restore_defaults(**kwargs)


models.signals.post_migrate.connect(_restore_default_macros, dispatch_uid="inbox.restore_default_macros")
