"""The whole loop in real browsers: a customer's hand-off reaches an agent live, the agent works it.

Two browser contexts on one daphne server (HTTP + WebSockets) with a real Celery worker running
the AI pipeline and the draft task; the database is checked for the labels the agent left.
"""

import pytest
from playwright.sync_api import expect

from inbox.models import Conversation, Draft, Label
from tests.conftest import make_staff, sign_in_at

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _daphne_can_check_passwords(settings):
    """daphne runs with the real settings, which don't know the tests' fast MD5 hasher."""
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS

EDITED = "Hi! I've checked your invoice: the second charge was a duplicate and I've refunded it."


def close(*contexts):
    """Leave the pages first so their sockets close cleanly before daphne is asked to stop."""
    for context in contexts:
        for page in context.pages:
            page.goto("about:blank")
        context.close()


def sign_in(page, base_url, email, password):
    sign_in_at(page, f"{base_url}/inbox/", email, password, lands_on=f"{base_url}/inbox/")


def test_a_hand_off_reaches_the_agent_live_and_the_agents_work_becomes_labels(demo_kb, asgi_server, browser):
    agent_user = make_staff("alex@example.com", "agent", password="s3cret-pass-word")
    agent_user.first_name = "Alex"
    agent_user.save()
    agent_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    customer_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        agent = agent_ctx.new_page()
        agent.set_default_timeout(20000)
        customer = customer_ctx.new_page()
        customer.set_default_timeout(20000)

        # The agent signs in through the real login page and waits on the empty "Needs a human" queue.
        sign_in(agent, asgi_server, "alex@example.com", "s3cret-pass-word")
        agent.locator("#inbox-page[data-live=true]").wait_for()
        assert agent.locator("#conversation-list tr.row").count() == 0
        agent.evaluate("window.__sameDocument = true")

        # The customer asks the AI for a person on the demo site.
        customer.goto(f"{asgi_server}/demo/?as=anonymous")
        customer.click("button.launcher")
        customer.fill("#rm-input", "I want to talk to a person about my invoice")
        customer.press("#rm-input", "Enter")
        customer.locator(".msg.system", has_text="support team").wait_for(timeout=60000)

        # It appears in the agent's queue without a reload, with counts updated.
        row = agent.locator("#conversation-list tr.row", has_text="talk to a person")
        row.wait_for(timeout=30000)
        assert agent.evaluate("window.__sameDocument") is True
        # The counts refresh separately from the list: wait for it rather than race it.
        expect(agent.locator('#queue-counts a[data-queue=needs_human] .count')).to_have_text("1", timeout=15000)
        convo = Conversation.objects.get(needs_human=True)
        row.locator("a").click()
        agent.wait_for_url(f"{asgi_server}/inbox/c/{convo.pk}/")
        assert "Handed off to a human: Customer asked for a human" in agent.locator("#thread").inner_text()
        assert agent.locator("#escalation-reason").inner_text() == "Customer asked for a human"

        # The AI draft arrives (Celery task after the hand-off); the agent edits it and sends it.
        draft_box = agent.locator("#draft-body")
        draft_box.wait_for(timeout=90000)
        assert draft_box.input_value().strip()
        draft_box.fill(EDITED)
        agent.click("#draft-send")
        agent.locator("#thread .msg.agent", has_text="refunded it").wait_for()
        assert agent.locator("#draft-body").count() == 0

        # The customer sees the agent's reply live in the widget.
        customer.locator(".msg.agent", has_text="refunded it").wait_for(timeout=20000)

        # The agent fixes the intent, confirms the hand-off reason, and resolves with the keyboard.
        agent.fill("#intent-box input[name=intent]", "billing_duplicate_charge")
        agent.click("#intent-btn")
        agent.locator("#convo-intent", has_text="billing_duplicate_charge").wait_for()
        agent.select_option("#escalation-box select[name=reason]", "billing_error")
        agent.fill("#escalation-box input[name=note]", "charged twice")
        agent.click("#escalate-btn")
        agent.locator("#escalation-reason", has_text="Billing error").wait_for()
        agent.locator("body").click(position={"x": 5, "y": 300})  # leave any text box; shortcuts ignore typing
        agent.keyboard.press("e")
        agent.locator("#convo-status", has_text="Resolved").wait_for()

        # The database holds the training data the agent's work implies.
        draft = Draft.objects.get(conversation=convo)
        assert draft.status == "edited" and draft.sent_body == EDITED and draft.decided_by == agent_user
        intent = Label.objects.get(kind="intent", conversation=convo)
        assert intent.value["intent"] == "billing_duplicate_charge" and intent.author == agent_user
        escalation = Label.objects.get(kind="escalation", conversation=convo)
        assert escalation.value == {"reason": "billing_error", "note": "charged twice",
                                    "inferred": "customer_request"}
        convo.refresh_from_db()
        assert convo.status == "resolved" and convo.escalation_reason == "billing_error"
        assert convo.outcomes.filter(kind="draft_edited").exists()
    finally:
        close(agent_ctx, customer_ctx)


def test_a_second_agent_sees_who_else_is_viewing_and_a_teammates_change_live(demo_kb, asgi_server, browser):
    from tests import factories

    make_staff("alex@example.com", "agent", password="s3cret-pass-word")
    make_staff("kim@example.com", "agent", password="s3cret-pass-word")
    # Plain rows, not actions: actions broadcast with async_to_sync, which can't run beside Playwright's loop.
    convo = factories.conversation(factories.customer(), subject="Where is my invoice?", needs_human=True,
                                   escalation_reason="missing_knowledge")
    factories.message(convo, "Where is my invoice?")
    ctx_a, ctx_k = browser.new_context(), browser.new_context()
    try:
        alex, kims = ctx_a.new_page(), ctx_k.new_page()
        sign_in(alex, asgi_server, "alex@example.com", "s3cret-pass-word")
        sign_in(kims, asgi_server, "kim@example.com", "s3cret-pass-word")
        alex.goto(f"{asgi_server}/inbox/c/{convo.pk}/")
        kims.goto(f"{asgi_server}/inbox/c/{convo.pk}/")
        alex.locator("#viewers", has_text="kim@example.com is also viewing").wait_for()

        # Kim resolves; Alex's open page shows it without reloading, so Alex doesn't act on old state.
        kims.click("#resolve-btn")
        kims.locator("#convo-status", has_text="Resolved").wait_for()
        alex.locator("#convo-status", has_text="Resolved").wait_for()
        assert Conversation.objects.get(pk=convo.pk).status == "resolved"
    finally:
        close(ctx_a, ctx_k)
