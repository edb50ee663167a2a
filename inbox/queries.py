"""Read-side helpers for the inbox: what a user may see, and the queues.

Sized for 100,000+ conversations (bench/inbox_latency.py). What keeps the queue page cheap:
- each queue's list reads a partial index in (last_message_at, id) order and stops after one page
  (inbox/migrations/0002_queue_indexes.py); "Older" pages continue from a keyset cursor, not OFFSET;
- the six queue badges are one query, and each count stops at COUNT_CAP rows ("1k+"), because an
  exact count of a big queue (resolved: ~90% of all rows) costs a scan of all of them on every
  refresh, and nobody acts on 91,873 versus 1k+;
- the intent filter's choices come from a loose index scan (one index probe per distinct intent)
  instead of DISTINCT over every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from helpdesk.accounts import is_manager
from inbox.models import Conversation, Status

QUEUES = {
    "needs_human": ("Needs a human", lambda user: Q(needs_human=True, status__in=[Status.OPEN, Status.PENDING])),
    "mine": ("Mine", lambda user: Q(assignee=user, status__in=[Status.OPEN, Status.PENDING])),
    "unassigned": ("Unassigned", lambda user: Q(assignee=None, needs_human=True, status=Status.OPEN)),
    "open": ("All open", lambda user: Q(status__in=[Status.OPEN, Status.PENDING])),
    "snoozed": ("Snoozed", lambda user: Q(snoozed_until__gt=timezone.now())),
    "resolved": ("Resolved", lambda user: Q(status__in=[Status.RESOLVED, Status.CLOSED])),
}
PAGE_SIZE = 50
COUNT_CAP = 1000


def _manager(user) -> bool:
    """is_manager once per request: it reads the user's groups, and one page asks four times."""
    cached = getattr(user, "_inbox_is_manager", None)
    if cached is None:
        cached = is_manager(user)
        user._inbox_is_manager = cached
    return cached


def visible_to(user) -> QuerySet[Conversation]:
    """Managers see everything; agents see unassigned work, their own, and their teams'."""
    qs = Conversation.objects.all()
    if _manager(user):
        return qs
    teams = user.support_teams.values_list("id", flat=True)
    return qs.filter(Q(team__isnull=True) | Q(team__in=teams) | Q(assignee=user))


def _in_queue(user, name: str, now: datetime) -> QuerySet[Conversation]:
    qs = visible_to(user).filter(QUEUES[name][1](user))
    if name != "snoozed":
        qs = qs.exclude(snoozed_until__gt=now)
    return qs


def queue(user, name: str, params) -> QuerySet[Conversation]:
    """One page of a queue, newest first; params are the filter bar's (and `before`, the cursor)."""
    if name not in QUEUES:
        name = "needs_human"
    qs = _in_queue(user, name, timezone.now())
    # A hand-edited URL may hold anything: what PostgreSQL cannot take (NUL) is dropped, an
    # account that is not a number matches nothing, rather than a server error.
    params = {key: str(params.get(key) or "").replace("\x00", "")
              for key in ("intent", "channel", "status", "plan", "account", "q", "before")}
    for field in ("intent", "channel", "status"):
        if params[field]:
            qs = qs.filter(**{field: params[field]})
    if params["plan"]:
        qs = qs.filter(account__plan=params["plan"])
    if params["account"]:
        qs = qs.filter(account_id=int(params["account"])) if _number(params["account"]) else qs.none()
    if params["q"]:
        qs = qs.filter(search=SearchQuery(params["q"], config="english", search_type="websearch"))
    cursor = parse_cursor(params.get("before", ""))
    if cursor:
        at, pk = cursor
        # The lte bound is what the index can seek to; the OR breaks ties between equal timestamps.
        qs = qs.filter(last_message_at__lte=at).filter(Q(last_message_at__lt=at) | Q(pk__lt=pk))
    return qs.select_related("customer", "account", "assignee").order_by("-last_message_at", "-pk")[:PAGE_SIZE]


def cursor_after(conversation: Conversation) -> str:
    """The `before` value that continues a queue after this row (keyset pagination)."""
    return f"{conversation.last_message_at.isoformat()}~{conversation.pk}"


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18


def parse_cursor(raw: str) -> tuple[datetime, int] | None:
    """A mangled cursor (not a date, a 30th of February, not a number) shows the first page."""
    at, _, pk = (raw or "").rpartition("~")
    try:
        when = parse_datetime(at) if at else None
    except ValueError:
        return None
    if when is None or not _number(pk):
        return None
    return when, int(pk)


@dataclass(frozen=True)
class QueueCount:
    key: str
    label: str
    count: int  # capped at COUNT_CAP + 1

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP

    @property
    def display(self) -> str:
        return f"{COUNT_CAP // 1000}k+" if self.capped else str(self.count)


def queue_counts(user) -> list[QueueCount]:
    """Every queue's size in one round trip, each counted up to COUNT_CAP + 1 rows and no further."""
    now = timezone.now()
    parts, params = [], []
    for key in QUEUES:
        sql, p = _in_queue(user, key, now).values("pk")[:COUNT_CAP + 1].query.sql_with_params()
        parts.append(f"(SELECT count(*) FROM ({sql}) AS q_{key})")
        params.extend(p)
    with connection.cursor() as cur:
        cur.execute("SELECT " + ", ".join(parts), params)
        counts = cur.fetchone()
    return [QueueCount(key, label, n) for (key, (label, _)), n in zip(QUEUES.items(), counts, strict=True)]


def conversation_for_user(user, conversation_id: int) -> Conversation:
    """The conversation if this user may see it; 404 otherwise, so nothing leaks its existence."""
    try:
        return visible_to(user).select_related("customer", "account", "assignee").get(pk=conversation_id)
    except Conversation.DoesNotExist as exc:
        raise Http404("No such conversation") from exc


def previous_conversations(convo: Conversation, user=None) -> QuerySet[Conversation]:
    """The customer's other conversations; with a user, only those that user may open."""
    return (
        (visible_to(user) if user is not None else Conversation.objects).filter(customer_id=convo.customer_id)
        .exclude(pk=convo.pk)
        .order_by("-created_at")[:10]
    )


# ---------------------------------------------------------------- inbox page helpers


def filter_options(user) -> dict:
    """Choices for the filter bar, limited to what this user can see (no other teams' accounts)."""
    from inbox.models import Account, Channel, Plan

    visible = visible_to(user)
    accounts = Account.objects.filter(Exists(visible.filter(account_id=OuterRef("pk")))).order_by("name")[:200]
    return {
        "intents": distinct_intents(user),
        "accounts": list(accounts.values_list("id", "name")),
        "plans": Plan.choices,
        "channels": Channel.choices,
        "statuses": Status.choices,
    }


def distinct_intents(user, limit: int = 200) -> list[str]:
    """The intents on conversations this user can see, A–Z, by a loose index scan.

    DISTINCT reads every row's intent (100k index entries, ~10 ms); PostgreSQL has no skip scan
    for it, so this walks the intent index one value at a time: each step asks for the smallest
    visible intent after the previous one, which is one index probe. The visibility rule stays
    the ORM's (visible_to), compiled into both halves of the recursive query.
    """
    visible = visible_to(user).order_by("intent").values("intent")
    first_sql, first_params = visible.exclude(intent="")[:1].query.sql_with_params()
    next_sql, next_params = visible.filter(intent__gt=RawSQL("walk.intent", []))[:1].query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute(
            f"WITH RECURSIVE walk(intent) AS (({first_sql}) UNION ALL "
            f"SELECT ({next_sql}) FROM walk WHERE walk.intent IS NOT NULL) "
            "SELECT intent FROM walk WHERE intent IS NOT NULL LIMIT %s",
            [*first_params, *next_params, limit],
        )
        return [row[0] for row in cur.fetchall()]


def teammates(conversation: Conversation):
    """Who may take this conversation: its team's members, or every active staff member with a role."""
    from django.contrib.auth import get_user_model

    from helpdesk.accounts import ROLES

    users = get_user_model().objects.filter(is_active=True, is_staff=True).filter(
        Q(groups__name__in=ROLES) | Q(is_superuser=True)
    )
    if conversation.team_id:
        users = users.filter(support_teams=conversation.team_id)
    return users.distinct().order_by("first_name", "email")


def pending_draft(conversation: Conversation):
    return conversation.drafts.filter(status="pending").order_by("-created_at", "-id").first()


def latest_trace(conversation: Conversation) -> dict:
    """The newest AI decision trace (reply, hand-off notice or draft): where top intents come from."""
    message = (conversation.messages.filter(sender_kind__in=["ai", "system"]).exclude(trace={})
               .order_by("-created_at", "-id").first())
    return message.trace if message else {}
