"""Broadcasts to WebSocket groups, sent only after the transaction that caused them commits."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

INBOX_GROUP = "inbox"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def send_on_commit(group: str, event: dict) -> None:
    transaction.on_commit(lambda: send_now(group, event))


def send_now(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, {"type": "broadcast", "event": event})


def enqueue_on_commit(task_name: str, *args) -> None:
    """Start another app's Celery work by name, so inbox never imports agents."""

    def send():
        from helpdesk.celery import app

        app.send_task(task_name, args=list(args))

    transaction.on_commit(send)
