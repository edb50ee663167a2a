"""A customer on the demo host page chats with the AI in a real browser, asks for a human, reloads."""

import pytest

from inbox.models import Conversation
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_ask_get_a_cited_answer_ask_for_a_human_and_keep_the_history_after_reload(demo_kb, asgi_server, page):
    page.goto(f"{asgi_server}/demo/billing/?as=anonymous")
    page.click("button.launcher")
    box = page.locator("#rm-input")
    box.fill("my card keeps getting declined when I pay, what can I do?")
    box.press("Enter")

    answer = page.locator(".msg.ai").first
    answer.wait_for(timeout=30000)
    assert "help centre" in answer.inner_text()
    link = answer.locator(".cites a").first
    assert "/help/" in link.get_attribute("href")
    assert page.locator(".fb button", has_text="That helped").count() == 1

    page.click("button.human")
    notice = page.locator(".msg.system", has_text="support team")
    notice.wait_for(timeout=15000)
    convo = wait_for(lambda: Conversation.objects.filter(needs_human=True).first())
    assert convo.escalation_reason == "customer_request"
    assert convo.page_context["screen"] == "billing"

    before = page.locator(".msg").count()
    page.reload()  # the panel stays open across reloads, with the whole history
    page.locator(".msg.system", has_text="support team").wait_for(timeout=15000)
    assert page.locator(".msg").count() == before
    assert page.locator(".msg.customer").first.inner_text().startswith("my card keeps getting declined")


def test_the_widget_works_on_a_narrow_phone_screen_by_keyboard(demo_kb, asgi_server, browser):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto(f"{asgi_server}/demo/?as=anonymous")
    page.keyboard.press("Tab")  # the host page's first link
    page.focus("button.launcher")
    page.keyboard.press("Enter")
    panel = page.locator(".panel")
    panel.wait_for()
    assert panel.bounding_box()["width"] == 375  # full screen on a phone
    assert page.evaluate("document.querySelector('#relaymark-chat').shadowRoot.activeElement.id") == "rm-input"
    page.keyboard.press("Escape")
    assert page.locator(".panel").is_hidden()
    context.close()


def test_the_demo_billing_page_shows_the_plan_the_agent_will_quote(demo_kb, client):
    """The host page and the AI read the same account: no "Growth" on the page beside a "Starter" answer."""
    from inbox.models import Site
    from inbox.widget_views import DEMO_SITE_KEY
    from tests import factories

    site = Site.objects.get(key=DEMO_SITE_KEY)
    factories.customer(factories.account(plan="starter", seats=27), site=site, is_verified=True, external_id="u-7")
    assert "Plan: Starter · 27 seats" in client.get("/demo/billing/").content.decode()
    anonymous = client.get("/demo/billing/?as=anonymous").content.decode()
    assert "Your plan, seats and invoices." in anonymous and "27 seats" not in anonymous
