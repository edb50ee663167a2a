"""Builders for analytics tests: conversations whose every metric can be counted by hand.

Collected by pytest but holds no tests; the analytics test modules import these helpers.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from inbox.models import Account, Conversation, Customer, Message, Outcome
from knowledge.models import Article
from tests import factories

NOON = dt.time(12, 0)


def day_at(days_ago: int, hour: int = 12) -> dt.datetime:
    today = timezone.localdate()
    return dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(hour, 0), tzinfo=dt.UTC)


def account(name: str, plan: str, age_days: int, **attributes) -> Account:
    acct = factories.account(name=name, plan=plan, attributes=attributes)
    Account.objects.filter(pk=acct.pk).update(signed_up_at=timezone.now() - dt.timedelta(days=age_days))
    acct.refresh_from_db()
    return acct


def customer(acct: Account | None, email: str) -> Customer:
    return factories.customer(acct, email=email)


def article(title: str, area: str) -> Article:
    slug = title.lower().replace(" ", "-")
    return Article.objects.create(title=title, slug=slug, body=f"# {title}\n\nText.", area=area, status="published")


def convo(cust: Customer, at: dt.datetime, *, intent: str = "", channel: str = "chat", question: str = "Help please",
          art: Article | None = None, ai: bool = True, agent_reply: bool = False, reason: str = "",
          status: str = "resolved", abandoned: bool = False, csat: int | None = None, frt: int | None = 2,
          res: int | None = 600, follow_up_of: Conversation | None = None, outcomes: tuple[str, ...] = (),
          subject: str | None = None) -> Conversation:
    """One conversation with its messages; `res` only counts when the status is resolved/closed."""
    resolved = status in ("resolved", "closed") and not abandoned
    c = factories.conversation(
        cust, subject=subject or question[:100], created_at=at, last_message_at=at, intent=intent, channel=channel,
        status=status, abandoned=abandoned, csat=csat, escalation_reason=reason,
        handled_by="human" if (reason or agent_reply) else "ai", first_response_seconds=frt,
        first_response_at=at + dt.timedelta(seconds=frt) if frt is not None else None,
        resolution_seconds=res if resolved else None,
        resolved_at=at + dt.timedelta(seconds=res) if resolved and res is not None else None,
        follow_up_of=follow_up_of,
    )
    factories.message(c, question, "customer", created_at=at)
    ai_msg = None
    if ai:
        trace = {"decision": "answer", "intent": intent}
        if art is not None:
            trace["chosen"] = {"article_id": art.pk, "title": art.title}
        ai_msg = factories.message(c, "Here is how.", "ai", created_at=at + dt.timedelta(seconds=1), trace=trace)
    if agent_reply:
        factories.message(c, "A human here.", "agent", created_at=at + dt.timedelta(minutes=5))
    for kind in outcomes:
        Outcome.objects.create(conversation=c, message=ai_msg, kind=kind,
                               reward=1.0 if kind in ("resolved", "helpful") else -1.0, created_at=at)
    return c


def ai_message(c: Conversation) -> Message:
    return c.messages.filter(sender_kind="ai").first()
