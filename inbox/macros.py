"""Canned replies with variables, as a constant list until a Macro model exists.

Variables are substituted from a fixed whitelist with a regex, never through Django's template
engine, so a macro body (later: written by staff in the admin) cannot reach other context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VARIABLE = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")


@dataclass(frozen=True)
class Macro:
    key: str
    title: str
    body: str


MACROS: list[Macro] = [
    Macro("greeting", "Greeting",
          "Hi {{customer.first_name}}, thanks for getting in touch! I'm {{agent.first_name}} and I'll help you "
          "with this."),
    Macro("looking_into_it", "Looking into it",
          "Thanks {{customer.first_name}}, I'm looking into this now and will get back to you shortly."),
    Macro("billing_plan", "Billing: current plan",
          "I can see your account is on the {{account.plan}} plan. Let me check the invoice details for you."),
    Macro("need_more_info", "Ask for details",
          "Could you send me a screenshot or the exact error message you see? That helps me find the cause faster."),
    Macro("closing", "Closing",
          "Glad we could sort this out, {{customer.first_name}}. If anything else comes up, just reply here. "
          "— {{agent.first_name}}"),
]


def variables(conversation, agent) -> dict[str, str]:
    customer, account = conversation.customer, conversation.account
    first = (customer.name or "").split(" ")[0] if customer.name else ""
    return {
        "customer.first_name": first or "there",
        "customer.name": customer.name or "there",
        "customer.email": customer.email,
        "account.name": account.name if account else "",
        "account.plan": account.get_plan_display() if account else "Free",
        "agent.first_name": agent.first_name or agent.email.split("@")[0],
    }


def render(body: str, values: dict[str, str]) -> str:
    """Fill known variables; unknown ones stay visible so the agent notices before sending."""
    return VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), body)


def for_conversation(conversation, agent) -> list[dict]:
    values = variables(conversation, agent)
    return [{"key": m.key, "title": m.title, "body": render(m.body, values)} for m in MACROS]
