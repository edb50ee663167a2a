import asyncio
import gc
import os
import threading

from celery import Celery
from celery.signals import task_prerun, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

app = Celery("helpdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes the database connection before and after every task unless this is
# set: a new PostgreSQL connection (a forked backend, ~4 ms plus its CPU) for every customer message.
# Keep it for this many tasks instead; _between_tasks below drops a broken one.
app.conf.CELERY_DB_REUSE_MAX = 5000
# The customer is waiting for agents.tasks.respond; nobody waits for a draft, a learning signal or a
# rollup. The Redis transport pops its priority lists in order (0 first), so an answer never queues
# behind the hand-off drafts and other background work (tasks are sent by name, hence routes).
app.conf.task_routes = [{"agents.tasks.respond": {"priority": 0}}, {"*": {"priority": 6}}]
app.autodiscover_tasks()


@worker_process_init.connect
def _warm_up(**kwargs) -> None:
    """Load the encoder, the NLP models and the live intent model before the first customer waits."""
    from agents.pipeline import warm_up

    warm_up()
    # What warm-up loaded lives as long as the process: out of the collector's sight, a full
    # collection no longer walks the models' objects in the middle of a customer's reply.
    gc.freeze()


@worker_ready.connect
def _freeze_parent(**kwargs) -> None:
    """The same for the worker's main process, which hands each task to a pool process: its full
    collections took 140 ms, and a customer's answer waited for the hand-over meanwhile."""
    gc.freeze()


_loops: dict[int, asyncio.AbstractEventLoop] = {}
_loops_lock = threading.Lock()


def _kept_loop() -> asyncio.AbstractEventLoop:
    """One event loop per worker process, on its own thread, for channel-layer sends."""
    pid = os.getpid()
    with _loops_lock:
        if pid not in _loops:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer", daemon=True).start()
            _loops.clear()  # a forked child must not use its parent's (threads do not survive fork)
            _loops[pid] = loop
        return _loops[pid]


@task_prerun.connect
def _between_tasks(**kwargs) -> None:
    """Per task: what Django does between requests for a kept connection, and a kept event loop.

    Broadcasts (inbox.events.send_now) are async_to_sync calls; from a plain thread each builds a new
    event loop and a new Redis connection (~3 ms per send, 2–4 sends per reply and one per streamed
    token). Marking the kept loop as this thread's main loop (what asgiref's own sync_to_async does)
    runs them there instead, on reused connections (~0.3 ms).
    """
    from asgiref.sync import SyncToAsync
    from django.db import connections

    local = SyncToAsync.threadlocal
    if getattr(local, "main_event_loop_pid", None) != os.getpid():
        local.main_event_loop, local.main_event_loop_pid = _kept_loop(), os.getpid()
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        if conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"] or (conn.errors_occurred and not conn.is_usable()):
            conn.close()
        else:
            conn.errors_occurred = False
