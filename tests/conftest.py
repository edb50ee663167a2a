"""Shared fixtures: real PostgreSQL (embedded or DATABASE_URL), real Valkey/Redis, real Chromium."""

import os
import shutil

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Playwright's sync API runs an event loop in the test thread; Django's ORM calls from that
# thread are still plain synchronous calls, so the guard would only get in the way.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: Playwright's sync API keeps an event loop running while it is open, which
    must not overlap the pytest-asyncio tests (the channels consumer tests) in other modules."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM} and REQUIRE_BROWSER=1 (run `make browser`).")
        pytest.skip("Chromium is not installed (run `make browser`); set REQUIRE_BROWSER=1 to fail instead.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def sign_in_at(page, url: str, email: str, password: str, lands_on: str) -> None:
    """Open a staff page, get sent to the real login form, sign in, land back where we wanted."""
    page.goto(url)
    assert "/accounts/login/" in page.url
    page.fill("#id_login", email)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lands_on)


def make_staff(email: str, role: str, password: str = "correct horse battery"):
    from django.contrib.auth import get_user_model

    from helpdesk.accounts import ensure_roles

    groups = ensure_roles()
    user = get_user_model().objects.create_user(
        username=email, email=email, password=password, is_staff=True, is_superuser=(role == "admin")
    )
    user.groups.add(groups[role])
    return user


@pytest.fixture
def agent_user(db):
    return make_staff("agent@example.com", "agent")


@pytest.fixture
def manager_user(db):
    return make_staff("manager@example.com", "manager")


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker (thread, solo pool) on the real broker, consuming this run's own queue."""
    from celery.contrib.testing.worker import start_worker

    from helpdesk.celery import app

    with django_db_blocker.unblock(), start_worker(app, pool="solo", perform_ping_check=False,
                                                   loglevel="WARNING", shutdown_timeout=20) as worker:
        yield worker


@pytest.fixture(autouse=True)
def _worker_idle_before_flush(request):
    """A transactional test ends by truncating every table. A task the test left on the queue or
    still running on the session worker would hold row locks against that TRUNCATE (a deadlock) or
    write rows into the next test, so the queue is emptied and the worker let finish first."""
    needs_flush = any(name in request.fixturenames for name in ("transactional_db", "live_server")) or any(
        marker.kwargs.get("transaction") for marker in request.node.iter_markers("django_db")
    )
    if not needs_flush:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so torn down (flushed) after this
    yield
    from celery.worker import state

    from helpdesk.celery import app

    app.control.purge()
    wait_for(lambda: not state.active_requests and not state.reserved_requests, timeout=60)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    """Poll until predicate() is truthy (work done by the worker or the browser); return its value."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


_DEMO_SNAPSHOT: dict = {}


def _demo_models():
    from agents.models import Intent, IntentExample, ModelVersion
    from inbox.models import Site
    from knowledge.models import Article, Chunk

    return [Site, Article, Chunk, Intent, IntentExample, ModelVersion]


def _vacuum_chunks():
    """Every test's restore is rolled back, and its chunks stay in the HNSW graph until a vacuum: a
    hundred copies of each vector is a graph no production table has, and nearest-neighbour recall
    drops (the best passage goes missing). A vacuum on a second connection, as autovacuum would."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True) as conn:
        conn.execute("VACUUM knowledge_chunk")


@pytest.fixture
def demo_kb(db):
    """The Relaymark demo site, articles (embedded), intents and a trained intent model.

    Built once per run through the real seed code path, then restored from a snapshot of the
    rows, because embedding 30 articles and training a model for every test would be slow.
    """
    from helpdesk.management.commands.seed_demo import Command

    _vacuum_chunks()
    if not _DEMO_SNAPSHOT:
        command = Command()
        command.stdout = command.stdout.__class__(open(os.devnull, "w"))
        command._site()
        command._articles()
        command._intents(None)
        command._train()
        for model in _demo_models():
            _DEMO_SNAPSHOT[model] = list(model.objects.values())
        return command
    for model in _demo_models():
        model.objects.bulk_create([model(**row) for row in _DEMO_SNAPSHOT[model]])
    from django.db import connection

    with connection.cursor() as cursor:  # keep sequences past the restored ids
        for model in _demo_models():
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{model._meta.db_table}', 'id'), "
                f"coalesce((SELECT max(id) FROM {model._meta.db_table}), 1))"
            )


@pytest.fixture
def asgi_server(transactional_db, celery_worker):
    """daphne in a subprocess on the test database and this run's broker prefixes (HTTP + WebSocket)."""
    import socket
    import subprocess
    import sys

    from django.conf import settings
    from django.db import connection

    from helpdesk.embedded import wait_for_port

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(os.environ["DATABASE_URL"])
    url = urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update(
        DATABASE_URL=url, REDIS_URL=settings.REDIS_URL, DEBUG="true",
        CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        CACHE_PREFIX=settings.CACHES["default"]["KEY_PREFIX"], CELERY_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        OPENAI_BASE_URL=settings.OPENAI_BASE_URL, OPENAI_MODEL=settings.OPENAI_MODEL,
    )
    proc = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                             "helpdesk.asgi:application"], env=env)
    try:
        assert wait_for_port(port, timeout=60), "daphne did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # daphne waits on open sockets a browser left behind
            proc.kill()
            proc.wait(10)
