"""Canned replies (the Macro model): who may use and change them, and filling their variables.

Variables are substituted from a fixed whitelist with a regex, in one pass, never through Django's
template engine: a macro body written by staff cannot reach other context, and a customer whose
name is "{{agent.first_name}}" or "<script>" stays exactly that text (the page escapes it, the
composer inserts it as plain text). A variable that is not on the list is left as typed and
reported, so the agent sees it and fixes it before sending.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from inbox.models import Macro

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
SHOWN = 200  # macros offered in one conversation's composer

# What a macro may use, with what a preview shows for it (the management page lists these).
VARIABLES = {
    "customer.first_name": "Pat",
    "customer.name": "Pat Lee",
    "customer.email": "pat@example.com",
    "account.name": "Acme Ltd",
    "account.plan": "Growth",
    "agent.first_name": "Sam",
    "agent.name": "Sam Rivera",
}

# The five canned replies the demo always had (they were a constant list before the model).
# Migration 0004 seeds existing databases with a frozen copy; `restore_defaults` puts them back
# after a flush.
DEFAULTS = [
    ("Greeting", "Hi {{customer.first_name}}, thanks for getting in touch! I'm {{agent.first_name}} and I'll help "
                 "you with this."),
    ("Looking into it", "Thanks {{customer.first_name}}, I'm looking into this now and will get back to you shortly."),
    ("Billing: current plan", "I can see your account is on the {{account.plan}} plan. Let me check the invoice "
                              "details for you."),
    ("Ask for details", "Could you send me a screenshot or the exact error message you see? That helps me find the "
                        "cause faster."),
    ("Closing", "Glad we could sort this out, {{customer.first_name}}. If anything else comes up, just reply here. "
                "— {{agent.first_name}}"),
]


# ---------------------------------------------------------------- access


def _is_manager(user) -> bool:
    from inbox.queries import _manager  # one cached role lookup per request, shared with the queues

    return _manager(user)


def usable_by(user) -> QuerySet[Macro]:
    """Shared macros for everyone or for the user's teams (managers: all shared), and their own."""
    shared = Q(shared=True)
    if not _is_manager(user):
        shared &= Q(team__isnull=True) | Q(team__in=user.support_teams.values_list("id", flat=True))
    return Macro.objects.filter(shared | Q(shared=False, created_by=user)).select_related("team", "created_by")


def can_edit(user, macro: Macro) -> bool:
    """Shared macros are the team's voice, so managers own them; a personal one is its author's alone."""
    if macro.shared:
        return _is_manager(user)
    return macro.created_by_id is not None and macro.created_by_id == user.pk


def can_share(user) -> bool:
    return _is_manager(user)


# ---------------------------------------------------------------- variables


@dataclass(frozen=True)
class Filled:
    body: str
    unknown: list[str] = field(default_factory=list)  # as typed, e.g. "{{ customer.shoe_size }}"


def unknown_variables(body: str) -> list[str]:
    return list(dict.fromkeys(m.group(0) for m in VARIABLE.finditer(body) if m.group(1) not in VARIABLES))


def fill(body: str, values: dict[str, str]) -> Filled:
    """Fill known variables in one pass (values are never re-scanned); unknown ones stay visible."""
    filled = VARIABLE.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), body)
    return Filled(filled, unknown_variables(body))


def render(body: str, values: dict[str, str]) -> str:
    return fill(body, values).body


def variables(conversation, agent) -> dict[str, str]:
    customer, account = conversation.customer, conversation.account
    first = (customer.name or "").split(" ")[0] if customer.name else ""
    agent_first = agent.first_name or agent.email.split("@")[0]
    return {
        "customer.first_name": first or "there",
        "customer.name": customer.name or "there",
        "customer.email": customer.email,
        "account.name": account.name if account else "",
        "account.plan": account.get_plan_display() if account else "Free",
        "agent.first_name": agent_first,
        "agent.name": agent.get_full_name() or agent_first,
    }


def for_conversation(conversation, agent) -> list[dict]:
    """The agent's macros, filled from this conversation, for the composer's "Insert macro" menu."""
    values = variables(conversation, agent)
    out = []
    for macro in usable_by(agent).order_by("-shared", "name", "id")[:SHOWN]:
        filled = fill(macro.body, values)
        out.append({"id": macro.pk, "key": str(macro.pk), "title": macro.name, "body": filled.body,
                    "unknown": filled.unknown, "unknown_json": json.dumps(filled.unknown) if filled.unknown else "",
                    "shared": macro.shared})
    return out


def restore_defaults(app_config=None, using: str = "default", apps=None, **kwargs) -> None:
    """post_migrate: a database with no macros at all gets the default ones back.

    The data migration seeds them once; `flush` (a demo reset, the test runner between
    transactional tests) empties the table afterwards, and this puts them back, the way
    django.contrib.sites restores its default site. A team that deleted them all gets them
    again on the next migrate; they can delete them again.
    """
    if app_config is None or app_config.label != "inbox" or apps is None:
        return
    try:
        model = apps.get_model("inbox", "Macro")
    except LookupError:  # migrating backwards past the model
        return
    from django.utils import timezone

    if model.objects.using(using).exists():
        return
    now = timezone.now()
    model.objects.using(using).bulk_create(
        [model(name=name, body=body, shared=True, created_at=now, updated_at=now) for name, body in DEFAULTS])
