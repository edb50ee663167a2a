"""WebSocket consumers: the customer's chat widget and the staff inbox's live updates.

Thin: parse and check the frame, call an `inbox.actions` function, answer. Every customer
message is committed by `post_customer_message` before it is acknowledged or answered.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from functools import lru_cache
from urllib.parse import urlparse

import redis
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.http.request import validate_host
from django.utils import timezone

from inbox import actions, events, identity
from inbox.models import Conversation, Message, SenderKind, Site, Status
from inbox.serializers import CUSTOMER_VISIBLE, message_json

log = logging.getLogger("inbox.widget")
MAX_FRAME = 16_384
RATE_LIMIT = (8, 10)  # messages per seconds, per visitor
# From one address, whoever it says it is: a script that opens socket after socket gets a new
# anonymous visitor (and a fresh per-visitor window) each time. Generous, for offices behind one NAT.
ADDRESS_RATE_LIMIT = (60, 10)  # messages per seconds
NEW_VISITOR_LIMIT = (100, 600)  # anonymous visitors created per seconds
HISTORY_LIMIT = 200
SYNC_MIN_SECONDS = 1.0  # the widget syncs every 4 s while it waits; faster is a client to slow down
CUSTOMER_EVENTS = {"message", "status", "token"}


@lru_cache(maxsize=1)
def _counter() -> redis.Redis:
    """The cache's Redis, for what Django's cache API takes three round trips to do (add, exists, incr)."""
    return redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])


class WidgetConsumer(AsyncJsonWebsocketConsumer):
    site: Site | None = None
    customer = None
    conversation: Conversation | None = None
    last_sync = 0.0

    async def connect(self):
        key = self.scope["query_string"].decode().partition("site=")[2].split("&")[0]
        self.site = await database_sync_to_async(Site.objects.filter(key=key).first)()
        if self.site is None:
            await self.accept()
            await self.send_json({"type": "error", "code": "unknown_site", "message": "Unknown site key."})
            await self.close(code=4404)
            return
        origin = dict(self.scope.get("headers", [])).get(b"origin", b"").decode()
        if self.site.allowed_origins and origin not in self.site.allowed_origins:
            log.warning("widget: origin %r refused for site %s", origin, self.site.key)
            await self.accept()
            await self.send_json({"type": "error", "code": "bad_origin", "message": "This site may not embed the chat."})
            await self.close(code=4403)
            return
        await self.accept()

    async def disconnect(self, code):
        if self.conversation is not None:
            await self.channel_layer.group_discard(events.conversation_group(self.conversation.pk), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if bytes_data is not None or text_data is None:
            return await self._error("bad_frame", "Send JSON text frames.")
        if len(text_data) > MAX_FRAME:
            return await self._error("too_large", f"Frames are limited to {MAX_FRAME} bytes.")
        try:
            frame = json.loads(text_data)
        except ValueError:
            return await self._error("bad_json", "That frame was not valid JSON.")
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return await self._error("bad_frame", "A frame is a JSON object with a type.")
        handler = getattr(self, f"on_{frame['type']}", None)
        if handler is None:
            return await self._error("unknown_type", f"Unknown frame type {frame['type'][:40]!r}.")
        if frame["type"] != "hello" and self.customer is None:
            return await self._error("hello_first", "Say hello first.")
        try:
            await handler(frame)
        except actions.InboxError as exc:
            await self._error(exc.code, str(exc), client_id=frame.get("client_id"))
        except Exception:  # a bug of ours must not take the visitor's chat down with it
            log.exception("widget: a %r frame failed", frame["type"][:40])
            await self._error("server_error", "Something went wrong on our side. Please try again.",
                              client_id=frame.get("client_id"))

    async def _error(self, code: str, message: str, **extra):
        await self.send_json({"type": "error", "code": code, "message": message, **extra})

    # ------------------------------------------------------------ frames

    async def on_hello(self, frame):
        user = frame.get("user") if isinstance(frame.get("user"), dict) else None
        if self.customer is None and not frame.get("visitor_token") and not user and await self._too_many_new():
            log.warning("widget: too many new visitors from %s on site %s", self._address(), self.site.key)
            await self._error("too_many_visitors", "Too many new chats from your network. Please try again later.")
            await self.close(code=4429)
            return
        self.page = actions.clean_page(frame.get("page") if isinstance(frame.get("page"), dict) else {})
        verified, token = await database_sync_to_async(self._identify)(frame.get("visitor_token"), user)
        if self.conversation is not None:
            await self._join()
        after = frame.get("last_message_id") if isinstance(frame.get("last_message_id"), int) else 0
        history = await database_sync_to_async(self._resume)(after)  # read after joining: nothing falls between
        await self.send_json({
            "type": "welcome",
            "visitor_token": token,
            "verified": verified,
            "name": self.customer.name.split(" ")[0] if verified else "",
            "conversation": self._conversation_json(),
            "messages": history,
            "business_hours": self.site.business_hours,
        })

    def _identify(self, visitor_token, user) -> tuple[bool, str]:
        """Who this is and the chat they have in progress: one thread hop (daphne has one sync thread)."""
        self.customer, verified = identity.identify(self.site, token=visitor_token, user=user)
        self.conversation = self._current_conversation()
        return verified, identity.visitor_token(self.customer)

    def _resume(self, after: int) -> list[dict]:
        if self.conversation is not None and self.page:
            actions.record_page_view(self.conversation, self.page)
        return self._history(after)

    async def on_message(self, frame):
        client_id = frame.get("client_id") if isinstance(frame.get("client_id"), str) else ""
        # One thread hop for the whole frame (rate limit, persist, resume, serialise): each
        # database_sync_to_async call is a queue slot on daphne's one sync thread, shared by every chat.
        outcome = await database_sync_to_async(self._store_message)(frame.get("body"), client_id)
        if outcome is None:
            return await self._error("rate_limited", "You're sending messages very fast; wait a few seconds.",
                                     client_id=frame.get("client_id"))
        message_frame, created, joined = outcome
        if joined:
            await self._join()
            # The worker may have answered before this socket joined the new conversation's
            # group: send what was already written after the customer's message (read after joining).
            for m in await database_sync_to_async(self._history)(message_frame["id"]):
                await self.send_json({"type": "message", "message": m})
        await self.send_json({"type": "ack", "client_id": client_id, "duplicate": not created,
                              "message": message_frame})
        if created and not self.conversation.needs_human:
            await self.send_json({"type": "typing", "sender": "ai"})

    def _store_message(self, body, client_id: str):
        """Rate limit, then persist (before anything else happens with the message); None when limited."""
        if self._hit_rate_limit():
            return None
        message, created = actions.post_customer_message(
            customer=self.customer, body=body, client_id=client_id,
            conversation=self.conversation, page_context=self.page or None,
        )
        joined = self.conversation is None or self.conversation.pk != message.conversation_id
        if joined:
            self.conversation = Conversation.objects.get(pk=message.conversation_id)
        return message_json(message), created, joined

    async def on_page(self, frame):
        page = frame.get("page") if isinstance(frame.get("page"), dict) else None
        if not page:
            raise actions.InboxError("A page event needs a page object.", "bad_page")
        self.page = actions.clean_page(page)
        if self.conversation is not None:
            await database_sync_to_async(actions.record_page_view)(self.conversation, self.page)

    async def on_human(self, frame):
        if self.conversation is None:
            raise actions.InboxError("Write your question first, then ask for a person.", "no_conversation")
        await database_sync_to_async(self._hand_off)()

    async def on_feedback(self, frame):
        message = await database_sync_to_async(self._own_message)(frame.get("message_id"))
        helpful = frame.get("helpful")
        if not isinstance(helpful, bool):
            raise actions.InboxError("Feedback is helpful: true or false.", "bad_feedback")
        await database_sync_to_async(actions.give_feedback)(message, helpful)
        if helpful:
            await database_sync_to_async(actions.resolve)(self.conversation)

    async def on_csat(self, frame):
        if self.conversation is None:
            raise actions.InboxError("Nothing to rate yet.", "no_conversation")
        await database_sync_to_async(actions.rate)(self.conversation, frame.get("score"))
        await self.send_json({"type": "csat_thanks"})

    async def on_idle(self, frame):
        if self.conversation is not None:
            await database_sync_to_async(actions.mark_abandoned)(self.conversation)

    on_close = on_idle

    async def on_ping(self, frame):
        await self.send_json({"type": "pong"})

    async def on_sync(self, frame):
        """What was written after the last message the client saw. A broadcast can be lost (the
        channel layer delivers at most once); a client still waiting for a reply asks, and misses nothing."""
        after = frame.get("last_message_id")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise actions.InboxError("A sync needs last_message_id: the id of the last message seen.", "bad_sync")
        now = time.monotonic()
        if now - self.last_sync < SYNC_MIN_SECONDS:
            raise actions.InboxError("Syncing too often; once a second is plenty.", "rate_limited")
        self.last_sync = now
        messages = await database_sync_to_async(self._history)(after)
        await self.send_json({"type": "history", "messages": messages})

    # ------------------------------------------------------------ group events

    async def broadcast(self, event):
        payload = event["event"]
        if payload.get("type") not in CUSTOMER_EVENTS:
            return  # staff presence and queue events are not the customer's business
        if payload.get("type") == "message" and payload["message"]["sender"] not in CUSTOMER_VISIBLE:
            return
        if payload.get("type") == "status":
            payload = {k: payload[k] for k in ("type", "conversation_id", "status", "needs_human")}
        await self.send_json(payload)

    # ------------------------------------------------------------ helpers (sync, run in a thread)

    async def _join(self):
        await self.channel_layer.group_add(events.conversation_group(self.conversation.pk), self.channel_name)

    async def _too_many_new(self) -> bool:
        """Another anonymous visitor from this address, over NEW_VISITOR_LIMIT?"""
        if not settings.WIDGET_LIMIT_BY_ADDRESS:
            return False
        key = f"new-visitors:{self.site.pk}:{self._address()}"
        return await database_sync_to_async(self._over)([(key, NEW_VISITOR_LIMIT)])

    def _address(self) -> str:
        return str((self.scope.get("client") or ["unknown"])[0])

    def _hit_rate_limit(self) -> bool:
        """Per visitor and per address (it runs before every message is stored)."""
        windows = [(f"visitor:{self.customer.pk}", RATE_LIMIT)]
        if settings.WIDGET_LIMIT_BY_ADDRESS:
            windows.append((f"address:{self.site.pk}:{self._address()}", ADDRESS_RATE_LIMIT))
        return self._over(windows)

    def _over(self, windows: list[tuple[str, tuple[int, int]]]) -> bool:
        """Count one more event in each fixed window, in one round trip; True when any is over its limit."""
        counting = _counter().pipeline(transaction=False)
        for key, (_, seconds) in windows:
            key = cache.make_key(f"widget-rate:{key}")
            counting.set(key, 0, ex=seconds, nx=True)  # the window starts with the first event in it
            counting.incr(key)
        counts = counting.execute()[1::2]
        return any(count > limit for count, (_, (limit, _)) in zip(counts, windows, strict=True))

    def _current_conversation(self) -> Conversation | None:
        """The chat still in progress (or resolved today, for its rating); otherwise a fresh start."""
        since = timezone.now() - timedelta(hours=24)
        return (Conversation.objects.filter(customer=self.customer)
                .filter(Q(status__in=[Status.OPEN, Status.PENDING]) | Q(resolved_at__gte=since))
                .select_related("customer").order_by("-last_message_at").first())

    def _history(self, after: int) -> list[dict]:
        if self.conversation is None:
            return []
        qs = (self.conversation.messages.filter(id__gt=after, sender_kind__in=list(CUSTOMER_VISIBLE))
              .select_related("author").order_by("id"))
        return [message_json(m) for m in qs[:HISTORY_LIMIT]]

    def _conversation_json(self) -> dict | None:
        if self.conversation is None:
            return None
        c = self.conversation
        return {"id": c.pk, "status": c.status, "needs_human": c.needs_human, "csat": c.csat}

    def _own_message(self, message_id) -> Message:
        message = Message.objects.filter(pk=message_id if isinstance(message_id, int) else None,
                                         conversation__customer=self.customer,
                                         sender_kind=SenderKind.AI).select_related("conversation").first()
        if message is None:
            raise actions.InboxError("No such answer in your conversation.", "bad_message")
        return message

    def _hand_off(self) -> None:
        from agents.pipeline import handoff_notice

        conversation = Conversation.objects.get(pk=self.conversation.pk)
        if conversation.status in (Status.RESOLVED, Status.CLOSED):
            actions.reopen(conversation)
        actions.hand_off(conversation, "customer_request", note="Customer pressed “talk to a human”.",
                         customer_notice=handoff_notice("customer_request", self.site.business_hours))


def _own_origin(origin: str) -> bool:
    """The helpdesk's own pages: a host it serves (ALLOWED_HOSTS) or a trusted origin (CSRF_TRUSTED_ORIGINS)."""
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    host = urlparse(origin).hostname
    return bool(host) and validate_host(host, settings.ALLOWED_HOSTS)


class InboxConsumer(AsyncJsonWebsocketConsumer):
    """Live updates for signed-in staff: queue changes, and the thread they are looking at."""

    async def connect(self):
        from helpdesk.accounts import role_of

        origin = dict(self.scope.get("headers", [])).get(b"origin", b"").decode("latin-1")
        if origin and not _own_origin(origin):
            # A page elsewhere riding on a signed-in agent's session cookie (cross-site WebSocket hijacking).
            log.warning("inbox socket: origin %r refused", origin)
            await self.close(code=4403)
            return
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not await database_sync_to_async(role_of)(user):
            await self.close(code=4401)
            return
        self.user = user
        self.watching: int | None = None
        await self.channel_layer.group_add(events.INBOX_GROUP, self.channel_name)
        await self.channel_layer.group_add(f"user.{user.pk}", self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "user", None) is None:
            return
        await self._unwatch()
        await self.channel_layer.group_discard(events.INBOX_GROUP, self.channel_name)
        await self.channel_layer.group_discard(f"user.{self.user.pk}", self.channel_name)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            return
        if content.get("type") == "watch" and isinstance(content.get("conversation_id"), int):
            await self._unwatch()
            allowed = await database_sync_to_async(self._may_see)(content["conversation_id"])
            if not allowed:
                await self.send_json({"type": "error", "code": "not_found"})
                return
            self.watching = content["conversation_id"]
            await self.channel_layer.group_add(events.conversation_group(self.watching), self.channel_name)
            await self._presence(+1)

    async def broadcast(self, event):
        await self.send_json(event["event"])

    def _may_see(self, conversation_id: int) -> bool:
        from inbox.queries import visible_to

        return visible_to(self.user).filter(pk=conversation_id).exists()

    async def _unwatch(self):
        if self.watching is not None:
            await self._presence(-1)
            await self.channel_layer.group_discard(events.conversation_group(self.watching), self.channel_name)
            self.watching = None

    async def _presence(self, delta: int):
        """Who else has this conversation open: shown as a notice so two agents don't both reply."""
        key = f"viewers:{self.watching}"
        name = self.user.first_name or self.user.email

        def update():
            viewers = cache.get(key, {})
            count = viewers.get(name, 0) + delta
            if count > 0:
                viewers[name] = count
            else:
                viewers.pop(name, None)
            cache.set(key, viewers, timeout=3600)
            return sorted(viewers)

        names = await database_sync_to_async(update)()
        await self.channel_layer.group_send(events.conversation_group(self.watching),
                                            {"type": "broadcast", "event": {"type": "viewers", "names": names}})
