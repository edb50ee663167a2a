"""Broadcasts to WebSocket groups, sent only after the transaction that caused them commits."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

INBOX_GROUP = "inbox"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def send_on_commit(group: str, event: dict) -> None:
    transaction.on_commit(lambda: send_now(group, event))


def send_now(group: str, event: dict) -> None:
    if not settings.BROADCAST_EVENTS:
        return  # offline runs (the learning simulation) have nobody listening
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, {"type": "broadcast", "event": event})


def enqueue_on_commit(task_name: str, *args) -> None:
    """Start another app's Celery work by name, so inbox never imports agents."""

    def send():
        from helpdesk.celery import app

        if settings.INLINE_TASKS:
            app.loader.import_default_modules()  # the tasks modules, as a worker would load them
            app.tasks[task_name].apply(args=list(args), throw=True)  # same task code, this process
        else:
            app.send_task(task_name, args=list(args))

    transaction.on_commit(send)
