"""Broadcasts to WebSocket groups, sent only after the transaction that caused them commits."""

from __future__ import annotations

from collections.abc import Callable

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


_modules_loaded = False
#: Offline runs may take a task over by name (the simulation fits model refreshes on a second process).
inline_handlers: dict[str, Callable[..., object]] = {}


def enqueue_on_commit(task_name: str, *args) -> None:
    """Start another app's Celery work by name, so inbox never imports agents.

    Offline runs (INLINE_TASKS, the learning simulation) execute the same task code in this
    process, in order, unless a handler in `inline_handlers` takes the task over.
    """

    def send():
        from helpdesk.celery import app

        if not settings.INLINE_TASKS:
            app.send_task(task_name, args=list(args))
            return
        if task_name in inline_handlers:
            inline_handlers[task_name](*args)
            return
        global _modules_loaded
        if not _modules_loaded:  # the tasks modules, as a worker would load them (once: it runs model checks)
            app.loader.import_default_modules()
            _modules_loaded = True
        app.tasks[task_name].apply(args=list(args), throw=True)

    transaction.on_commit(send)
