"""A real browser signs in through the real login page."""

import pytest

from tests.conftest import make_staff

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_sign_in_through_the_login_page_and_land_in_the_inbox(live_server, page):
    make_staff("alex@example.com", "agent", password="s3cret-pass-word")
    page.goto(f"{live_server.url}/inbox/")
    assert "/accounts/login/" in page.url
    page.fill("#id_login", "alex@example.com")
    page.fill("#id_password", "wrong password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").is_visible()
    page.fill("#id_password", "s3cret-pass-word")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/inbox/")
    assert page.locator("h2", has_text="Queues").is_visible()
    assert "alex@example.com" in page.locator(".who").inner_text()
