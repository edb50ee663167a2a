"""Read-side helpers for the inbox: what a user may see, and the queues."""

from django.contrib.postgres.search import SearchQuery
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

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


def visible_to(user) -> QuerySet[Conversation]:
    """Managers see everything; agents see unassigned work, their own, and their teams'."""
    qs = Conversation.objects.all()
    if is_manager(user):
        return qs
    teams = user.support_teams.values_list("id", flat=True)
    return qs.filter(Q(team__isnull=True) | Q(team__in=teams) | Q(assignee=user))


def queue(user, name: str, params) -> QuerySet[Conversation]:
    label_and_filter = QUEUES.get(name, QUEUES["needs_human"])
    qs = visible_to(user).filter(label_and_filter[1](user))
    if name != "snoozed":
        qs = qs.exclude(snoozed_until__gt=timezone.now())
    for field in ("intent", "channel", "status"):
        if params.get(field):
            qs = qs.filter(**{field: params[field]})
    if params.get("plan"):
        qs = qs.filter(account__plan=params["plan"])
    if params.get("account"):
        qs = qs.filter(account_id=params["account"])
    if params.get("q"):
        qs = qs.filter(search=SearchQuery(params["q"], config="english", search_type="websearch"))
    return qs.select_related("customer", "account", "assignee").order_by("-last_message_at")[:50]


def queue_counts(user) -> list[tuple[str, str, int]]:
    base = visible_to(user)
    now = timezone.now()
    rows = []
    for key, (label, make_filter) in QUEUES.items():
        qs = base.filter(make_filter(user))
        if key != "snoozed":
            qs = qs.exclude(snoozed_until__gt=now)
        rows.append((key, label, qs.count()))
    return rows


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
    intents = visible.exclude(intent="").values_list("intent", flat=True).distinct().order_by("intent")[:200]
    accounts = Account.objects.filter(Exists(visible.filter(account_id=OuterRef("pk")))).order_by("name")[:200]
    return {
        "intents": list(intents),
        "accounts": list(accounts.values_list("id", "name")),
        "plans": Plan.choices,
        "channels": Channel.choices,
        "statuses": Status.choices,
    }


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
