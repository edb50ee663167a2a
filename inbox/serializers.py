"""The one JSON shape of a message, for the widget, the inbox and the API."""

from inbox.models import Message, SenderKind

CUSTOMER_VISIBLE = {SenderKind.CUSTOMER, SenderKind.AI, SenderKind.AGENT, SenderKind.SYSTEM}


def message_json(message: Message, *, for_staff: bool = False) -> dict:
    data = {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "sender": message.sender_kind,
        "body": message.body,  # plain text: every client escapes it (textContent / autoescape)
        "created_at": message.created_at.isoformat(),
        "client_id": message.client_id or None,
        "citations": message.trace.get("citations", []) if message.sender_kind == SenderKind.AI else [],
    }
    if message.author_id and message.sender_kind == SenderKind.AGENT:
        data["author"] = message.author.first_name or "Support team"
    if for_staff:
        data["trace"] = message.trace
    return data
