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


_background = None  # one "worker" thread for slow tasks in offline runs
_pending: set[str] = set()
_modules_loaded = False


def enqueue_on_commit(task_name: str, *args) -> None:
    """Start another app's Celery work by name, so inbox never imports agents.

    Offline runs (INLINE_TASKS) execute the same task code in this process; tasks listed in
    BACKGROUND_TASKS (model refreshes) run on one background thread, as a separate worker
    would, so conversations keep flowing while a model trains — a queued duplicate is dropped.
    """

    def send():
        from helpdesk.celery import app

        if not settings.INLINE_TASKS:
            app.send_task(task_name, args=list(args))
            return
        global _modules_loaded
        if not _modules_loaded:  # the tasks modules, as a worker would load them (once: it runs model checks)
            app.loader.import_default_modules()
            _modules_loaded = True
        task = app.tasks[task_name]
        if task_name not in settings.BACKGROUND_TASKS:
            task.apply(args=list(args), throw=True)
            return
        global _background
        if task_name in _pending:
            return
        if _background is None:
            from concurrent.futures import ThreadPoolExecutor

            _background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inline-worker")
        _pending.add(task_name)

        def run():
            from django.db import connection

            _pending.discard(task_name)
            try:
                task.apply(args=list(args), throw=True)
            finally:
                connection.close()

        _background.submit(run)

    transaction.on_commit(send)


def drain_background() -> None:
    """Wait for background work of an offline run to finish."""
    global _background
    if _background is not None:
        _background.shutdown(wait=True)
        _background = None
