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


@pytest.fixture(scope="session")
def browser():
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
