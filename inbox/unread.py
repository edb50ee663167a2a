"""Per-agent "last seen" per conversation, kept in the cache (Valkey/Redis), not the database.

Why the cache: it is UI state, written on every page view and live refresh; losing it only makes
conversations look unread again, which is harmless, and it keeps `inbox.models` unchanged.
Keys expire after 30 days, by which time the conversation has long been resolved.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db.models import Max

from inbox.models import Message, SenderKind

TTL = 30 * 24 * 3600
# What counts as news for an agent: the customer writing (the AI's and teammates' replies are not).
UNREAD_KINDS = [SenderKind.CUSTOMER]


def _key(user_id: int, conversation_id: int) -> str:
    return f"inbox:seen:{user_id}:{conversation_id}"


def mark_seen(user, conversation) -> None:
    last = conversation.messages.aggregate(last=Max("id"))["last"] or 0
    key = _key(user.pk, conversation.pk)
    if (cache.get(key) or 0) < last:
        cache.set(key, last, timeout=TTL)


def unread_counts(user, conversation_ids: list[int]) -> dict[int, int]:
    """Customer messages newer than what this user last saw, per conversation (one query, one MGET)."""
    if not conversation_ids:
        return {}
    seen = cache.get_many([_key(user.pk, cid) for cid in conversation_ids])
    counts = dict.fromkeys(conversation_ids, 0)
    rows = Message.objects.filter(conversation_id__in=conversation_ids, sender_kind__in=UNREAD_KINDS).values_list(
        "conversation_id", "id")
    for conversation_id, message_id in rows:
        if message_id > (seen.get(_key(user.pk, conversation_id)) or 0):
            counts[conversation_id] += 1
    return counts
