"""Every state change of a conversation goes through one function here (the Zulip pattern).

Each function validates, then writes the change and the training signal it implies (a Label
or Outcome row) in one transaction, then broadcasts and enqueues work on commit. Views,
consumers, the API, the simulator and tests all call these and nothing else.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from inbox import events
from inbox.models import (
    Conversation,
    Customer,
    Draft,
    DraftStatus,
    EscalationReason,
    HandledBy,
    Label,
    LabelKind,
    Message,
    Outcome,
    OutcomeKind,
    SenderKind,
    Status,
)
from inbox.serializers import message_json

MAX_BODY = 4000
RESPOND_TASK = "agents.tasks.respond"
DRAFT_TASK = "agents.tasks.suggest_draft"
LEARN_TASK = "agents.tasks.learn_from_signal"
MENTION = re.compile(r"@([\w.+-]+@[\w-]+\.[\w.-]+|[\w.-]+)")


class InboxError(ValueError):
    """Bad input to an action; `code` is stable for clients (the widget shows `str(err)`)."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.code = code


class StaleConversation(InboxError):
    def __init__(self):
        super().__init__("Someone else changed this conversation; reload to see the change.", "stale")


# ---------------------------------------------------------------- helpers

INTENT_NAME = re.compile(r"[\w\-?.!/&']{1,100}")


def intent_name(raw: str) -> str:
    """One spelling per intent ("Refund Request" is refund_request); anything odd is refused, not mangled."""
    name = re.sub(r"\s+", "_", (raw or "").strip().lower())
    if not INTENT_NAME.fullmatch(name):
        raise InboxError("An intent is a short name of letters, digits and underscores.", "bad_intent")
    return name



def _clean_body(body: str) -> str:
    if not isinstance(body, str):
        raise InboxError("A message must be text.", "bad_body")
    body = body.replace("\x00", "").strip()
    if not body:
        raise InboxError("The message is empty.", "empty")
    if len(body) > MAX_BODY:
        raise InboxError(f"The message is too long ({len(body)} characters; the limit is {MAX_BODY}).", "too_long")
    return body


def clean_page(page: dict) -> dict:
    """What the host page says about itself, as a bounded map of plain strings PostgreSQL can store
    (no NUL), however odd the keys and values a host sends."""
    return {str(k)[:100].replace("\x00", ""): str(v)[:500].replace("\x00", "") for k, v in list(page.items())[:20]}


def _clean_text(text, limit: int = 2000) -> str:
    """A staff member's free text (a note, a reason, a label) as PostgreSQL can store it."""
    return str(text or "").replace("\x00", "").strip()[:limit]


def _clean_client_id(client_id) -> str:
    return (client_id if isinstance(client_id, str) else "").replace("\x00", "")[:64]


def _lock(conversation: Conversation, expected_version: int | None = None) -> Conversation:
    """Row-lock the conversation so concurrent actions apply in order, and refuse stale edits."""
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleConversation()
    return locked


def _save(conversation: Conversation, *fields: str) -> None:
    """Save a conversation that _lock() returned in this transaction: the row lock is what makes
    the next version safe to count here, without reading it back."""
    conversation.version += 1
    conversation.save(update_fields=[*fields, "version"])


def _index_text(conversation_id: int, text: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inbox_conversation SET search = coalesce(search, ''::tsvector) || to_tsvector('english', %s)"
            " WHERE id = %s",
            [text[:2000], conversation_id],
        )


def _broadcast_message(message: Message) -> None:
    payload = {"type": "message", "message": message_json(message, for_staff=False)}
    if message.sender_kind != SenderKind.NOTE:
        events.send_on_commit(events.conversation_group(message.conversation_id), payload)
    events.send_on_commit(
        events.INBOX_GROUP,
        {"type": "conversation_changed", "conversation_id": message.conversation_id, "sender": message.sender_kind},
    )


def _broadcast_conversation(conversation: Conversation) -> None:
    event = {"type": "conversation_changed", "conversation_id": conversation.pk, "status": conversation.status,
             "needs_human": conversation.needs_human, "version": conversation.version}
    events.send_on_commit(events.INBOX_GROUP, event)
    events.send_on_commit(events.conversation_group(conversation.pk), {**event, "type": "status"})


def _system_message(conversation: Conversation, body: str, at: datetime | None = None) -> Message:
    message = Message.objects.create(
        conversation=conversation, sender_kind=SenderKind.SYSTEM, body=body, created_at=at or timezone.now()
    )
    _broadcast_message(message)
    return message


def last_ai_reply(conversation: Conversation) -> Message | None:
    return conversation.messages.filter(sender_kind=SenderKind.AI).order_by("-created_at", "-id").first()


def record_outcome(
    conversation: Conversation, kind: str, reward: float, *, message: Message | None = None,
    value: dict | None = None, at: datetime | None = None,
) -> Outcome | None:
    """One outcome per (reply, kind): replays and double clicks count once."""
    if conversation.is_spam:
        return None  # spam and abuse never feed learning
    message = message if message is not None else last_ai_reply(conversation)
    try:
        with transaction.atomic():
            outcome = Outcome.objects.create(
                conversation=conversation, message=message, kind=kind, reward=reward, value=value or {},
                created_at=at or timezone.now(),
            )
    except IntegrityError:
        return None
    events.enqueue_on_commit(LEARN_TASK, outcome.pk)
    return outcome


# ---------------------------------------------------------------- customers


def post_customer_message(
    *,
    customer: Customer,
    body: str,
    client_id: str = "",
    conversation: Conversation | None = None,
    channel: str = "chat",
    page_context: dict | None = None,
    at: datetime | None = None,
    respond: bool = True,
) -> tuple[Message, bool]:
    """Persist a customer's message before anything else happens with it.

    Returns (message, created). A retry with the same client id returns the stored message.
    """
    body = _clean_body(body)
    client_id = _clean_client_id(client_id)
    page_context = clean_page(page_context) if page_context else None
    now = at or timezone.now()
    with transaction.atomic():
        if client_id:
            existing = Message.objects.filter(conversation__customer=customer, client_id=client_id).first()
            if existing:
                return existing, False
        if conversation is None or conversation.status in (Status.RESOLVED, Status.CLOSED):
            previous = conversation
            conversation = Conversation.objects.create(
                customer=customer, account_id=customer.account_id, channel=channel, subject=body[:120],
                created_at=now, last_message_at=now, page_context=page_context or {},
                session_trail=[page_context] if page_context else [],
            )
            if previous is not None:
                conversation.follow_up_of = previous  # reopened by writing again: the same thread of work
                conversation.save(update_fields=["follow_up_of"])
        conversation = _lock(conversation)
        now = at or max(timezone.now(), now)  # stamped under the row lock, so time order matches id order
        message = Message.objects.create(
            conversation=conversation, sender_kind=SenderKind.CUSTOMER, body=body, client_id=client_id, created_at=now
        )
        conversation.last_message_at = now
        fields = ["last_message_at"]
        if page_context and page_context != conversation.page_context:
            conversation.page_context = page_context
            conversation.session_trail = [*conversation.session_trail, page_context][-50:]
            fields += ["page_context", "session_trail"]
        if conversation.status == Status.PENDING:
            conversation.status = Status.OPEN
            fields.append("status")
        if conversation.snoozed_until:
            conversation.snoozed_until = None  # a customer writing wakes a snoozed conversation
            fields.append("snoozed_until")
        _save(conversation, *fields)
        _index_text(conversation.pk, body)
        # The reply's task is queued first (on-commit hooks run in order): the broadcasts are
        # channel-layer round trips the customer's answer need not wait for.
        if respond:
            if conversation.needs_human or conversation.handled_by == HandledBy.HUMAN:
                events.enqueue_on_commit(DRAFT_TASK, conversation.pk)
            else:
                # The words ride along so the worker starts encoding them before it reads the message.
                events.enqueue_on_commit(RESPOND_TASK, conversation.pk, message.pk, False, message.body)
        _broadcast_message(message)
    return message, True


def record_page_view(conversation: Conversation, page: dict) -> None:
    page = clean_page(page)
    with transaction.atomic():
        conversation = _lock(conversation)
        conversation.page_context = page
        conversation.session_trail = [*conversation.session_trail, page][-50:]
        _save(conversation, "page_context", "session_trail")


def rate(conversation: Conversation, score: int) -> Outcome | None:
    """CSAT 1–5 after resolution; 4–5 is a positive signal for the AI reply, 1–2 negative."""
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise InboxError("A rating is a whole number from 1 to 5.", "bad_rating")
    with transaction.atomic():
        conversation = _lock(conversation)
        conversation.csat = score
        _save(conversation, "csat")
        return record_outcome(conversation, OutcomeKind.CSAT, (score - 3) / 2, value={"score": score})


def give_feedback(message: Message, helpful: bool) -> Outcome | None:
    """The widget's “that helped / not helpful” on one AI answer.

    “Not helpful” on the latest answer of a conversation the AI still handles asks the agent to
    try again: the next best answer, or a person (agents.pipeline.respond, try_again).
    """
    if message.sender_kind != SenderKind.AI:
        raise InboxError("Feedback is for AI answers.", "bad_feedback")
    kind = OutcomeKind.HELPFUL if helpful else OutcomeKind.NOT_HELPFUL
    with transaction.atomic():
        conversation = _lock(message.conversation)
        outcome = record_outcome(conversation, kind, 1.0 if helpful else -1.0, message=message)
        if (outcome is not None and not helpful and conversation.status == Status.OPEN and not conversation.needs_human
                and conversation.handled_by == HandledBy.AI and message.trace.get("replying_to")
                and last_ai_reply(conversation) == message):
            events.enqueue_on_commit(RESPOND_TASK, conversation.pk, message.trace["replying_to"], True)
        return outcome


def mark_abandoned(conversation: Conversation) -> bool:
    """The customer left after an AI answer without resolving: a (weak) negative signal."""
    with transaction.atomic():
        conversation = _lock(conversation)
        last = conversation.messages.exclude(sender_kind=SenderKind.NOTE).order_by("-created_at", "-id").first()
        if (conversation.status != Status.OPEN or conversation.needs_human or last is None
                or last.sender_kind != SenderKind.AI):
            return False
        conversation.abandoned = True
        _save(conversation, "abandoned")
        record_outcome(conversation, OutcomeKind.ABANDONED, -0.5, message=last)
    return True


def record_engagement(customer: Customer, event: str, at: datetime | None = None) -> int:
    """Product use after a chat (from the events endpoint): positive for that chat's last AI answer."""
    until = at or timezone.now()
    count = 0
    # Chats of the two days before the use, not after it: use cannot vouch for an answer it preceded.
    for conversation in Conversation.objects.filter(customer=customer, created_at__gte=until - timedelta(days=2),
                                                    created_at__lte=until, needs_human=False):
        with transaction.atomic():
            if record_outcome(conversation, OutcomeKind.ENGAGED, 0.5, value={"event": event[:100]}, at=at):
                count += 1
    return count


# ---------------------------------------------------------------- the AI


def post_ai_reply(
    conversation: Conversation,
    body: str,
    *,
    trace: dict,
    intent: str | None = None,
    confidence: float | None = None,
    at: datetime | None = None,
    message_fields: dict | None = None,
) -> Message:
    body = _clean_body(body if len(body) <= MAX_BODY else body[:MAX_BODY])
    with transaction.atomic():
        conversation = _lock(conversation)
        now = at or timezone.now()  # stamped under the row lock, so time order matches id order
        message = Message.objects.create(
            conversation=conversation, sender_kind=SenderKind.AI, body=body, trace=trace, created_at=now,
            **(message_fields or {}),
        )
        fields = ["last_message_at"]
        conversation.last_message_at = now
        if intent is not None:
            conversation.intent, conversation.intent_confidence = intent, confidence
            fields += ["intent", "intent_confidence"]
        if conversation.first_response_at is None:
            conversation.first_response_at = now
            conversation.first_response_seconds = max(0, int((now - conversation.created_at).total_seconds()))
            fields += ["first_response_at", "first_response_seconds"]
        _save(conversation, *fields)
        _broadcast_message(message)
    return message


def update_understanding(message: Message, *, entities: list[dict], frustration: float) -> None:
    Message.objects.filter(pk=message.pk).update(entities=entities, frustration=frustration)


def hand_off(
    conversation: Conversation,
    reason: str,
    *,
    note: str = "",
    customer_notice: str,
    trace: dict | None = None,
    intent: str | None = None,
    confidence: float | None = None,
    at: datetime | None = None,
) -> Conversation:
    """The AI gives the conversation to humans: queue it, say so honestly, judge the last answer."""
    if reason not in EscalationReason.values:
        raise InboxError(f"Unknown escalation reason “{reason}”.", "bad_reason")
    with transaction.atomic():
        conversation = _lock(conversation)
        now = at or timezone.now()
        if conversation.needs_human:
            return conversation
        conversation.needs_human = True
        conversation.escalation_reason, conversation.escalation_note = reason, _clean_text(note)
        fields = ["needs_human", "escalation_reason", "escalation_note", "last_message_at"]
        if intent is not None:
            conversation.intent, conversation.intent_confidence = intent, confidence
            fields += ["intent", "intent_confidence"]
        conversation.last_message_at = now
        _save(conversation, *fields)
        Message.objects.create(conversation=conversation, sender_kind=SenderKind.SYSTEM, body=customer_notice,
                               created_at=now, trace={**(trace or {}), "handoff_reason": reason})
        _broadcast_message(conversation.messages.order_by("-id").first())
        if reason in (EscalationReason.CUSTOMER_REQUEST, EscalationReason.ANGRY_CUSTOMER) and last_ai_reply(conversation):
            record_outcome(conversation, OutcomeKind.ESCALATED, -1.0, value={"reason": reason}, at=now)
        _broadcast_conversation(conversation)
        events.enqueue_on_commit(DRAFT_TASK, conversation.pk)
    return conversation


# ---------------------------------------------------------------- staff


def _staff_name(user) -> str:
    return user.first_name or user.email.split("@")[0]


def assign(conversation: Conversation, assignee, *, by, expected_version: int | None = None) -> Conversation:
    with transaction.atomic():
        conversation = _lock(conversation, expected_version)
        conversation.assignee = assignee
        _save(conversation, "assignee")
        note = f"Assigned to {_staff_name(assignee)} by {_staff_name(by)}" if assignee else "Unassigned"
        Message.objects.create(conversation=conversation, sender_kind=SenderKind.NOTE, author=by, body=note,
                               created_at=timezone.now())
        _broadcast_conversation(conversation)
    return conversation


def assign_round_robin(conversation: Conversation, *, by, candidates, expected_version: int | None = None
                       ) -> Conversation:
    """Give unassigned work to the candidate with the fewest open conversations."""
    candidates = list(candidates)
    if not candidates:
        raise InboxError("Nobody to assign to.", "no_candidates")
    loads = {
        user.pk: Conversation.objects.filter(assignee=user, status__in=[Status.OPEN, Status.PENDING]).count()
        for user in candidates
    }
    chosen = min(candidates, key=lambda user: (loads[user.pk], user.pk))
    return assign(conversation, chosen, by=by, expected_version=expected_version)


def escalate(conversation: Conversation, *, reason: str, note: str = "", by) -> Label:
    """An agent takes over (or confirms/fixes the AI's hand-off reason): a labelled escalation."""
    note = _clean_text(note)
    if reason not in EscalationReason.values:
        raise InboxError(f"Unknown escalation reason “{reason}”.", "bad_reason")
    with transaction.atomic():
        conversation = _lock(conversation)
        inferred = conversation.escalation_reason
        conversation.needs_human, conversation.handled_by = True, HandledBy.HUMAN
        conversation.escalation_reason, conversation.escalation_note = reason, note
        if conversation.assignee_id is None:
            conversation.assignee = by
        _save(conversation, "needs_human", "handled_by", "escalation_reason", "escalation_note", "assignee")
        label = Label.objects.create(
            kind=LabelKind.ESCALATION, conversation=conversation, author=by, created_at=timezone.now(),
            value={"reason": reason, "note": note, "inferred": inferred or None},
        )
        if last_ai_reply(conversation):
            record_outcome(conversation, OutcomeKind.ESCALATED, -1.0, value={"reason": reason})
        _broadcast_conversation(conversation)
        events.enqueue_on_commit(LEARN_TASK, None)
    return label


def post_agent_reply(
    conversation: Conversation, *, by, body: str, draft: Draft | None = None, client_id: str = "",
    at: datetime | None = None,
) -> Message:
    """A human's reply; sending an AI draft stores the (draft, sent) pair as a label."""
    body = _clean_body(body)
    client_id = _clean_client_id(client_id)
    with transaction.atomic():
        if client_id:
            existing = Message.objects.filter(conversation=conversation, client_id=client_id).first()
            if existing:
                return existing  # a double submit
        conversation = _lock(conversation)
        now = at or timezone.now()  # stamped under the row lock, so time order matches id order
        message = Message.objects.create(conversation=conversation, sender_kind=SenderKind.AGENT, author=by,
                                         body=body, client_id=client_id, created_at=now)
        conversation.last_message_at = now
        fields = ["last_message_at", "handled_by"]
        conversation.handled_by = HandledBy.HUMAN
        if conversation.assignee_id is None:
            conversation.assignee = by
            fields.append("assignee")
        if conversation.first_response_at is None:
            conversation.first_response_at = now
            conversation.first_response_seconds = max(0, int((now - conversation.created_at).total_seconds()))
            fields += ["first_response_at", "first_response_seconds"]
        if conversation.status == Status.OPEN:
            conversation.status = Status.PENDING  # waiting on the customer now
            fields.append("status")
        _save(conversation, *fields)
        _index_text(conversation.pk, body)
        if draft is not None:
            draft = Draft.objects.select_for_update().get(pk=draft.pk)
            if draft.conversation_id != conversation.pk:
                raise InboxError("That draft belongs to another conversation.", "bad_draft")
            if draft.status != DraftStatus.PENDING:
                # Two agents sending the same suggestion: the second reply must not relabel the pair.
                raise InboxError("That draft was already sent or rejected by a teammate.", "draft_decided")
            edited = draft.body.strip() != body
            draft.status = DraftStatus.EDITED if edited else DraftStatus.SENT
            draft.sent_message, draft.sent_body, draft.decided_by, draft.decided_at = message, body, by, now
            draft.save()
            if edited:
                record_outcome(conversation, OutcomeKind.DRAFT_EDITED, -0.5, value={"draft_id": draft.pk})
        _broadcast_message(message)
    return message


def reject_draft(draft: Draft, *, by, reason: str) -> Draft:
    reason = _clean_text(reason)
    if not reason:
        raise InboxError("Say why the draft is wrong; the agent learns from it.", "reason_required")
    with transaction.atomic():
        draft = Draft.objects.select_for_update().get(pk=draft.pk)
        if draft.status != DraftStatus.PENDING:
            return draft
        draft.status, draft.reject_reason = DraftStatus.REJECTED, reason[:2000]
        draft.decided_by, draft.decided_at = by, timezone.now()
        draft.save()
        record_outcome(draft.conversation, OutcomeKind.DRAFT_REJECTED, -1.0, value={"draft_id": draft.pk,
                                                                                     "reason": reason[:500]})
    return draft


def save_draft(conversation: Conversation, body: str, trace: dict) -> Draft:
    """The AI's suggestion for a human; an older pending one is superseded."""
    with transaction.atomic():
        conversation.drafts.filter(status=DraftStatus.PENDING).delete()
        draft = Draft.objects.create(conversation=conversation, body=body[:MAX_BODY], trace=trace,
                                     created_at=timezone.now())
    events.send_on_commit(events.INBOX_GROUP, {"type": "draft", "conversation_id": conversation.pk})
    return draft


def correct_intent(conversation: Conversation, *, intent: str, by, message: Message | None = None) -> Label:
    """Confirm or fix the intent of a customer message: a labelled example for the intent model."""
    intent = intent_name(intent)
    with transaction.atomic():
        conversation = _lock(conversation)
        if message is None:
            message = conversation.messages.filter(sender_kind=SenderKind.CUSTOMER).order_by("created_at", "id").first()
        if message is None or message.conversation_id != conversation.pk or message.sender_kind != SenderKind.CUSTOMER:
            raise InboxError("Intents label customer messages.", "bad_message")
        previous = conversation.intent
        # One label per message: a second correction replaces the first, so it counts once.
        Label.objects.filter(kind=LabelKind.INTENT, message=message).delete()
        label = Label.objects.create(kind=LabelKind.INTENT, conversation=conversation, message=message, author=by,
                                     value={"intent": intent, "previous": previous or None},
                                     created_at=timezone.now())
        conversation.intent, conversation.intent_confidence = intent, 1.0
        _save(conversation, "intent", "intent_confidence")
        _broadcast_conversation(conversation)
        events.enqueue_on_commit("agents.tasks.refresh_intent_model_if_due")
    return label


def label_entities(message: Message, *, entities: list[dict], by) -> Label:
    """Tag or fix entities on a customer message (character spans)."""
    clean = []
    for entity in entities:
        try:
            start, end, label = int(entity["start"]), int(entity["end"]), _clean_text(entity["label"], 30).upper()
        except (KeyError, TypeError, ValueError) as exc:
            raise InboxError("Each entity needs start, end and label.", "bad_entity") from exc
        if not 0 <= start < end <= len(message.body):
            raise InboxError(f"Entity span {start}–{end} is outside the message.", "bad_entity")
        clean.append({"start": start, "end": end, "label": label, "text": message.body[start:end]})
    with transaction.atomic():
        Label.objects.filter(kind=LabelKind.ENTITY, message=message).delete()
        label = Label.objects.create(kind=LabelKind.ENTITY, conversation=message.conversation, message=message,
                                     author=by, value={"entities": clean}, created_at=timezone.now())
        Message.objects.filter(pk=message.pk).update(entities=clean)
    return label


def mark_answer(message: Message, *, correct: bool, by) -> Label:
    """A human's verdict on one AI answer — the strongest signal the ranking learner gets."""
    if message.sender_kind != SenderKind.AI:
        raise InboxError("Only AI answers can be marked right or wrong.", "bad_message")
    with transaction.atomic():
        Label.objects.filter(kind=LabelKind.ANSWER, message=message).delete()
        label = Label.objects.create(kind=LabelKind.ANSWER, conversation=message.conversation, message=message,
                                     author=by, value={"correct": bool(correct)}, created_at=timezone.now())
        Outcome.objects.filter(message=message, kind__in=[OutcomeKind.HELPFUL, OutcomeKind.NOT_HELPFUL],
                               value__source="agent").delete()
        record_outcome(message.conversation, OutcomeKind.HELPFUL if correct else OutcomeKind.NOT_HELPFUL,
                       1.0 if correct else -1.0, message=message, value={"source": "agent"})
    return label


def flag_article_outdated(conversation: Conversation, *, article_id: int, by, note: str = "") -> Label:
    with transaction.atomic():
        return Label.objects.create(kind=LabelKind.ARTICLE_OUTDATED, conversation=conversation, author=by,
                                    value={"article_id": int(article_id), "note": _clean_text(note)},
                                    created_at=timezone.now())


def add_note(conversation: Conversation, *, by, body: str) -> Message:
    """Internal note; @mentions (email or first name) are stored so teammates can be notified."""
    body = _clean_body(body)
    users = get_user_model().objects.filter(is_staff=True, is_active=True)
    mentioned = []
    for handle in MENTION.findall(body):
        user = users.filter(email__iexact=handle).first() or users.filter(first_name__iexact=handle).first()
        if user and user.pk not in mentioned:
            mentioned.append(user.pk)
    with transaction.atomic():
        note = Message.objects.create(conversation=conversation, sender_kind=SenderKind.NOTE, author=by, body=body,
                                      trace={"mentions": mentioned}, created_at=timezone.now())
        _broadcast_message(note)
        for user_id in mentioned:
            events.send_on_commit(f"user.{user_id}", {"type": "mention", "conversation_id": conversation.pk,
                                                      "by": _staff_name(by)})
    return note


def set_status(conversation: Conversation, status: str, *, by=None, expected_version: int | None = None,
               at: datetime | None = None) -> Conversation:
    """Resolve, reopen, close or set pending. Resolving starts the no-follow-up window."""
    if status not in Status.values:
        raise InboxError(f"Unknown status “{status}”.", "bad_status")
    now = at or timezone.now()
    with transaction.atomic():
        conversation = _lock(conversation, expected_version)
        if conversation.status == status:
            return conversation
        conversation.status = status
        fields = ["status"]
        if status in (Status.RESOLVED, Status.CLOSED):
            conversation.resolved_at = now
            conversation.resolution_seconds = max(0, int((now - conversation.created_at).total_seconds()))
            conversation.needs_human = False
            conversation.snoozed_until = None
            fields += ["resolved_at", "resolution_seconds", "needs_human", "snoozed_until"]
        else:
            conversation.resolved_at = conversation.resolution_seconds = None
            fields += ["resolved_at", "resolution_seconds"]
        _save(conversation, *fields)
        if by is not None:
            Message.objects.create(conversation=conversation, sender_kind=SenderKind.NOTE, author=by,
                                   body=f"{conversation.get_status_display()} by {_staff_name(by)}", created_at=now)
        _broadcast_conversation(conversation)
    return conversation


def resolve(conversation: Conversation, *, by=None, expected_version: int | None = None, at=None) -> Conversation:
    return set_status(conversation, Status.RESOLVED, by=by, expected_version=expected_version, at=at)


def reopen(conversation: Conversation, *, by=None) -> Conversation:
    return set_status(conversation, Status.OPEN, by=by)


def snooze(conversation: Conversation, *, until: datetime, by, expected_version: int | None = None) -> Conversation:
    if until <= timezone.now():
        raise InboxError("Snooze until a time in the future.", "bad_snooze")
    with transaction.atomic():
        conversation = _lock(conversation, expected_version)
        conversation.snoozed_until = until
        _save(conversation, "snoozed_until")
        _broadcast_conversation(conversation)
    return conversation


def close_resolution_window(conversation: Conversation, *, window: timedelta, now: datetime | None = None) -> bool:
    """Resolved and no follow-up within the window: the AI answer gets its positive signal."""
    now = now or timezone.now()
    if conversation.status not in (Status.RESOLVED, Status.CLOSED) or conversation.resolved_at is None:
        return False
    if conversation.resolved_at + window > now or conversation.follow_ups.exists():
        return False
    if conversation.handled_by != HandledBy.AI or conversation.needs_human:
        return False
    with transaction.atomic():
        return record_outcome(conversation, OutcomeKind.RESOLVED, 1.0, at=now) is not None


def link_follow_up(conversation: Conversation, earlier: Conversation, *, similarity: float) -> bool:
    """Same customer, similar question within N days: the earlier answer did not hold."""
    if earlier.pk == conversation.pk or earlier.customer_id != conversation.customer_id:
        return False
    with transaction.atomic():
        conversation = _lock(conversation)
        if conversation.follow_up_of_id:
            return False
        conversation.follow_up_of = earlier
        _save(conversation, "follow_up_of")
        Outcome.objects.filter(conversation=earlier, kind=OutcomeKind.RESOLVED).delete()
        record_outcome(earlier, OutcomeKind.FOLLOW_UP, -1.0, value={"follow_up_id": conversation.pk,
                                                                     "similarity": round(similarity, 3)})
    return True


def mark_spam(conversation: Conversation, *, by) -> Conversation:
    """Spam or abuse: its outcomes and labels stop feeding learning."""
    with transaction.atomic():
        conversation = _lock(conversation)
        conversation.is_spam = True
        conversation.status = Status.CLOSED
        conversation.needs_human = False
        _save(conversation, "is_spam", "status", "needs_human")
        conversation.outcomes.all().delete()
        _broadcast_conversation(conversation)
    events.enqueue_on_commit(LEARN_TASK, None)
    return conversation


# ---------------------------------------------------------------- macros (canned replies)


class MacroForbidden(InboxError):
    def __init__(self, message: str = "Only managers change shared macros; a personal macro only its author."):
        super().__init__(message, "forbidden")


def _macro_fields(name: str, body: str, shared: bool, team, by) -> tuple[str, str, bool, object]:
    from inbox import macros

    name = (name or "").strip()
    if not name:
        raise InboxError("Give the macro a name.", "empty_name")
    if len(name) > 100:
        raise InboxError("Keep the name under 100 characters.", "too_long")
    body = _clean_body(body)
    if shared and not macros.can_share(by):
        raise MacroForbidden("Only managers create or edit shared macros; yours stay personal.")
    if team is not None and not shared:
        raise InboxError("Only a shared macro can belong to a team.", "bad_team")
    return name, body, bool(shared), team


def create_macro(*, by, name: str, body: str, shared: bool = False, team=None):
    """A personal macro for anyone on staff; a shared one (for everyone, or one team) for managers."""
    from inbox.models import Macro

    name, body, shared, team = _macro_fields(name, body, shared, team, by)
    now = timezone.now()
    return Macro.objects.create(name=name, body=body, shared=shared, team=team, created_by=by,
                                created_at=now, updated_at=now)


def update_macro(macro, *, by, name: str, body: str, shared: bool, team=None):
    from inbox import macros
    from inbox.models import Macro

    with transaction.atomic():
        macro = Macro.objects.select_for_update().get(pk=macro.pk)
        if not macros.can_edit(by, macro):
            raise MacroForbidden()
        macro.name, macro.body, macro.shared, macro.team = _macro_fields(name, body, shared, team, by)
        macro.updated_at = timezone.now()
        macro.save()
    return macro


def delete_macro(macro, *, by) -> None:
    from inbox import macros

    if not macros.can_edit(by, macro):
        raise MacroForbidden()
    macro.delete()
