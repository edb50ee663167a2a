"""The widget's WebSocket: identity, persistence before anything else, idempotent retries, resume, bad input.

Runs the real consumer on the real channel layer (Valkey/Redis) with channels' communicator.
"""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from helpdesk.asgi import application
from inbox.identity import user_hash
from inbox.models import Conversation, Customer, Message, Site

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def site(transactional_db):
    return Site.objects.create(name="Shop", key="site-1", secret="s3cret", allowed_origins=["https://shop.example"])


async def connect(key="site-1", origin="https://shop.example"):
    comm = WebsocketCommunicator(application, f"/ws/widget/?site={key}", headers=[(b"origin", origin.encode())])
    connected, _ = await comm.connect()
    assert connected
    return comm


async def hello(comm, **frame):
    await comm.send_json_to({"type": "hello", **frame})
    welcome = await comm.receive_json_from(timeout=5)
    assert welcome["type"] == "welcome"
    return welcome


async def post(comm, body, client_id):
    await comm.send_json_to({"type": "message", "body": body, "client_id": client_id})
    while True:
        frame = await comm.receive_json_from(timeout=5)
        if frame["type"] in ("ack", "error"):
            return frame


async def test_a_message_is_stored_before_it_is_acknowledged_and_a_retry_does_not_duplicate(site):
    comm = await connect()
    await hello(comm)
    ack = await post(comm, "How do I export invoices?", "c-1")
    assert ack["duplicate"] is False
    stored = await database_sync_to_async(Message.objects.get)(pk=ack["message"]["id"])
    assert stored.body == "How do I export invoices?"
    again = await post(comm, "How do I export invoices?", "c-1")  # the network blinked; the widget resends
    assert again["duplicate"] is True and again["message"]["id"] == ack["message"]["id"]
    assert await database_sync_to_async(Message.objects.filter(client_id="c-1").count)() == 1
    await comm.disconnect()


async def test_an_anonymous_visitor_keeps_the_conversation_across_reloads_and_resumes_after_the_last_seen_id(site):
    comm = await connect()
    welcome = await hello(comm)
    first = await post(comm, "first question", "c-1")
    second = await post(comm, "second question", "c-2")
    await comm.disconnect()

    comm = await connect()  # a reload: same token, resume after the first message
    again = await hello(comm, visitor_token=welcome["visitor_token"], last_message_id=first["message"]["id"])
    # Everything after the last seen id, in order: the second question, and whatever the agent
    # has already written (a worker may answer either question before the reload, or not yet).
    resumed = [m["id"] for m in again["messages"]]
    assert resumed == sorted(resumed) and all(i > first["message"]["id"] for i in resumed)
    assert [m["id"] for m in again["messages"] if m["sender"] == "customer"] == [second["message"]["id"]]
    assert again["conversation"]["id"] == first["message"]["conversation_id"]
    await comm.disconnect()


async def test_a_verified_identity_links_the_customer_and_a_forged_one_is_anonymous(site):
    comm = await connect()
    welcome = await hello(comm, user={"id": "u-42", "email": "kim@shop.example", "name": "Kim Ode",
                                      "hash": user_hash(site, "u-42")})
    assert welcome["verified"] is True and welcome["name"] == "Kim"
    await comm.disconnect()
    customer = await database_sync_to_async(Customer.objects.get)(external_id="u-42")
    assert customer.is_verified

    comm = await connect()
    forged = await hello(comm, user={"id": "u-42", "hash": "0" * 64})
    assert forged["verified"] is False
    ack = await post(comm, "show me my invoices", "c-9")
    convo = await database_sync_to_async(Conversation.objects.get)(pk=ack["message"]["conversation_id"])
    assert convo.customer_id != customer.pk  # the forger got a fresh anonymous visitor
    await comm.disconnect()


async def test_a_hash_that_is_not_even_hex_is_a_forgery_not_a_crash(site):
    comm = await connect()
    forged = await hello(comm, user={"id": "u-42", "hash": "é" * 64})
    assert forged["verified"] is False
    assert (await post(comm, "still chatting", "c-1"))["type"] == "ack"
    await comm.disconnect()


async def test_nul_characters_in_the_page_or_the_client_id_lose_nothing(site):
    """PostgreSQL stores no NUL; a host page's odd title or a widget's odd id must not cost the message."""
    comm = await connect()
    await hello(comm, page={"title": "Inv\x00oices", "scr\x00een": "billing", "url": "https://shop.example/a"})
    ack = await post(comm, "where are my invoices?", "c-\x001")
    assert ack["type"] == "ack"
    stored = await database_sync_to_async(Message.objects.select_related("conversation").get)(pk=ack["message"]["id"])
    assert stored.body == "where are my invoices?" and stored.client_id == "c-1"
    assert stored.conversation.page_context["title"] == "Invoices"
    assert stored.conversation.page_context["screen"] == "billing"
    await comm.send_json_to({"type": "page", "page": {"title": "Set\x00tings"}})
    assert (await post(comm, "and my settings?", "c-2"))["type"] == "ack"  # the page event did not kill the socket
    convo = await database_sync_to_async(Conversation.objects.get)(pk=stored.conversation_id)
    assert convo.page_context == {"title": "Settings"}
    await comm.disconnect()


async def test_unknown_site_and_wrong_origin_are_refused_with_a_reason(site):
    comm = await connect(key="nope")
    assert (await comm.receive_json_from())["code"] == "unknown_site"
    comm = await connect(origin="https://evil.example")
    assert (await comm.receive_json_from())["code"] == "bad_origin"


async def next_frame(comm, kind):
    """The next frame of this kind; before it only "typing", or the session worker's own answer."""
    while (frame := await comm.receive_json_from(timeout=5))["type"] != kind:
        assert frame["type"] in ("typing", "message", "status")
    return frame


async def test_a_reply_whose_broadcast_was_lost_reaches_a_client_that_syncs(site, settings):
    """The channel layer delivers at most once; a waiting widget asks for what came after the last id it saw."""
    from inbox import actions

    comm = await connect()
    await hello(comm)
    ack = await post(comm, "How do I export invoices?", "c-1")
    settings.BROADCAST_EVENTS = False  # the reply's broadcast never reaches this socket
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=ack["message"]["conversation_id"])
    reply = await database_sync_to_async(actions.post_ai_reply)(conversation, "Billing → Invoices → Export.",
                                                               trace={"decision": "answer"})
    await comm.send_json_to({"type": "sync", "last_message_id": ack["message"]["id"]})
    frame = await next_frame(comm, "history")
    ids = [m["id"] for m in frame["messages"]]  # a running worker may have answered too
    assert reply.pk in ids and ids == sorted(ids) and min(ids) > ack["message"]["id"]
    assert {m["id"]: m["body"] for m in frame["messages"]}[reply.pk] == "Billing → Invoices → Export."
    await comm.send_json_to({"type": "sync", "last_message_id": ack["message"]["id"]})  # at once again
    assert (await next_frame(comm, "error"))["code"] == "rate_limited"
    await comm.send_json_to({"type": "sync", "last_message_id": "yesterday"})
    assert (await next_frame(comm, "error"))["code"] == "bad_sync"
    await comm.disconnect()


@pytest.mark.parametrize(
    "raw, code",
    [("not json", "bad_json"), ("[1,2]", "bad_frame"), (json.dumps({"type": "explode"}), "unknown_type"),
     ("x" * 20000, "too_large")],
)
async def test_malformed_frames_get_a_clear_error_and_the_connection_stays_usable(site, raw, code):
    comm = await connect()
    await hello(comm)
    await comm.send_to(text_data=raw)
    error = await comm.receive_json_from()
    assert error["type"] == "error" and error["code"] == code
    ack = await post(comm, "still here?", "c-after")
    assert ack["type"] == "ack"
    await comm.disconnect()


async def test_empty_oversized_and_script_messages(site):
    comm = await connect()
    await hello(comm)
    assert (await post(comm, "   ", "c-1"))["code"] == "empty"
    assert (await post(comm, "a" * 5000, "c-2"))["code"] == "too_long"
    ack = await post(comm, "<script>alert(1)</script>", "c-3")
    assert ack["message"]["body"] == "<script>alert(1)</script>"  # stored as text; every client escapes it
    await comm.disconnect()


async def test_a_flooding_visitor_is_rate_limited(site):
    comm = await connect()
    await hello(comm)
    results = [await post(comm, f"message {i}", f"c-{i}") for i in range(12)]
    codes = [r.get("code") for r in results if r["type"] == "error"]
    assert "rate_limited" in codes
    stored = await database_sync_to_async(Message.objects.filter(sender_kind="customer").count)()
    assert stored == sum(r["type"] == "ack" for r in results)
    await comm.disconnect()


async def test_the_rate_limit_is_a_window_that_passes(site, monkeypatch):
    from inbox import consumers

    monkeypatch.setattr(consumers, "RATE_LIMIT", (2, 1))  # two messages a second
    comm = await connect()
    await hello(comm)
    assert [(await post(comm, f"message {i}", f"w-{i}"))["type"] for i in range(3)] == ["ack", "ack", "error"]
    await asyncio.sleep(1.2)
    assert (await post(comm, "and again, a moment later", "w-3"))["type"] == "ack"
    await comm.disconnect()


async def test_one_address_opening_socket_after_socket_is_limited_in_new_visitors_and_messages(site, monkeypatch):
    """A script that reconnects to get a fresh anonymous visitor (and a fresh per-visitor window) each time."""
    from inbox import consumers

    monkeypatch.setattr(consumers, "NEW_VISITOR_LIMIT", (2, 60))
    monkeypatch.setattr(consumers, "ADDRESS_RATE_LIMIT", (3, 60))
    first, second = await connect(), await connect()
    token = (await hello(first))["visitor_token"]
    await hello(second)
    third = await connect()
    await third.send_json_to({"type": "hello"})
    assert (await third.receive_json_from(timeout=5))["code"] == "too_many_visitors"
    returning = await connect()  # a visitor the site already knows is not a new one
    assert (await hello(returning, visitor_token=token))["visitor_token"] == token
    sent = [await post(first, "one", "a-1"), await post(second, "two", "b-1"), await post(first, "three", "a-2"),
            await post(second, "four", "b-2")]
    assert [f["type"] for f in sent] == ["ack", "ack", "ack", "error"] and sent[-1]["code"] == "rate_limited"
    for comm in (first, second, returning):
        await comm.disconnect()
