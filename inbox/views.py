"""Staff inbox pages and htmx partials.

Thin on purpose: `staff_required` + `queries.conversation_for_user` decide access (404 for what
a user may not see), every change is one `inbox.actions` call, and the response is a partial
that shows the fresh state — also when the action was refused (stale version, bad input).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from functools import wraps

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from helpdesk.decorators import staff_required
from inbox import actions, events, macros, queries, unread
from inbox.actions import InboxError, StaleConversation
from inbox.models import EscalationReason, Label, LabelKind, Macro, SenderKind, Status, Team
from inbox.trace import explain

PARTS = {"workspace", "head", "thread", "draft"}
STALE_NOTICE = "Someone else changed this conversation while you had it open. This is its current state; " \
               "check it and try again."


# ---------------------------------------------------------------- queues


def _queue_context(request) -> dict:
    name = request.GET.get("queue", "needs_human")
    if name not in queries.QUEUES:
        name = "needs_human"
    conversations = list(queries.queue(request.user, name, request.GET))
    counts = unread.unread_counts(request.user, [c.pk for c in conversations])
    for c in conversations:
        c.unread = counts.get(c.pk, 0)
    older = None
    if len(conversations) == queries.PAGE_SIZE:  # maybe more: link the next page by keyset cursor
        params = request.GET.copy()
        params["before"] = queries.cursor_after(conversations[-1])
        older = params.urlencode()
    newest = None
    if request.GET.get("before"):
        params = request.GET.copy()
        del params["before"]
        newest = params.urlencode()
    return {
        "queue_name": name,
        "queue_label": queries.QUEUES[name][0],
        "conversations": conversations,
        "unread_total": sum(1 for c in conversations if c.unread),
        "filters": request.GET,
        "older_query": older,
        "newest_query": newest,
    }


@staff_required
def queue(request):
    context = _queue_context(request)
    if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        return render(request, "inbox/_list.html", context)  # filter bar and live refresh
    return render(request, "inbox/queue.html", {
        **context, "queues": queries.queue_counts(request.user), "options": queries.filter_options(request.user),
    })


@staff_required
def queue_counts(request):
    name = request.GET.get("queue", "needs_human")
    return render(request, "inbox/_counts.html", {"queues": queries.queue_counts(request.user), "queue_name": name})


# ---------------------------------------------------------------- one conversation


def _conversation_context(request, convo) -> dict:
    from agents.models import Intent  # the outer layer may read other apps; inbox's core never does

    messages = list(convo.messages.select_related("author"))
    verdicts = dict(Label.objects.filter(conversation=convo, kind=LabelKind.ANSWER).values_list("message_id", "value"))
    for m in messages:
        m.explained = explain(m.trace, m.sender_kind)
        m.verdict = verdicts.get(m.pk)
        m.spans = "\n".join(f"{e.get('start')},{e.get('end')},{e.get('label')}" for e in m.entities or []
                            if isinstance(e, dict))
    draft = queries.pending_draft(convo)
    latest = queries.latest_trace(convo)
    labels = Label.objects.filter(conversation=convo).select_related("author").order_by("-created_at")
    return {
        "conversation": convo,
        "thread": messages,
        "draft": draft,
        "draft_explained": explain({**draft.trace, "decision": draft.trace.get("decision", "answer")}, "ai")
        if draft else None,
        "top_intents": [name for name, _ in (latest.get("top_intents") or [])[:5]],
        "known_intents": list(Intent.objects.order_by("name").values_list("name", flat=True)[:500]),
        "intent_label": labels.filter(kind=LabelKind.INTENT).first(),
        "escalation_label": labels.filter(kind=LabelKind.ESCALATION).first(),
        "reasons": EscalationReason.choices,
        "teammates": queries.teammates(convo),
        "macros": macros.for_conversation(convo, request.user),
        "previous": queries.previous_conversations(convo, request.user),
        "trail": [_page_label(p) for p in convo.session_trail or []][-20:],
        "client_id": uuid.uuid4().hex,
        "is_open": convo.status in (Status.OPEN, Status.PENDING),
        "snoozed": bool(convo.snoozed_until and convo.snoozed_until > timezone.now()),
    }


def _page_label(page) -> dict:
    if not isinstance(page, dict):
        return {"label": str(page)[:200], "url": ""}
    label = page.get("title") or page.get("screen") or page.get("url") or "page"
    return {"label": str(label)[:200], "url": str(page.get("url", ""))[:500] if page.get("url") != label else ""}


@staff_required
def conversation(request, conversation_id: int):
    convo = queries.conversation_for_user(request.user, conversation_id)
    unread.mark_seen(request.user, convo)
    return render(request, "inbox/conversation.html", _conversation_context(request, convo))


@staff_required
def conversation_part(request, conversation_id: int, part: str):
    """One region of the conversation page, re-fetched by inbox.js when a live event arrives."""
    if part not in PARTS:
        raise Http404("No such part")
    convo = queries.conversation_for_user(request.user, conversation_id)
    if part in ("thread", "workspace"):
        unread.mark_seen(request.user, convo)
    return render(request, f"inbox/_{part}.html", _conversation_context(request, convo))


def conversation_action(fn):
    """POST-only, access-checked; runs one action and answers with the fresh workspace.

    Refusals are shown, not swallowed: a stale version (409) and bad input (400) re-render the
    current state with the reason, so the agent sees what changed instead of overwriting it.
    """

    @staff_required
    @require_POST
    @wraps(fn)
    def view(request, conversation_id: int, **kwargs):
        convo = queries.conversation_for_user(request.user, conversation_id)
        status, extra = 200, {}
        try:
            extra = fn(request, convo, **kwargs) or {}
        except StaleConversation:
            status, extra = 409, {"notice": STALE_NOTICE}
        except InboxError as exc:
            status, extra = 400, {"error": str(exc)}
        if not request.headers.get("HX-Request"):
            if status == 200:
                return redirect("inbox:conversation", conversation_id=convo.pk)
            template = "inbox/conversation.html"
        else:
            template = "inbox/_workspace.html"
        convo = queries.conversation_for_user(request.user, conversation_id)  # the state after the action
        return render(request, template, {**_conversation_context(request, convo), **extra}, status=status)

    return view


def _version(request) -> int | None:
    raw = request.POST.get("version", "")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InboxError("The form was malformed; reload the page.", "bad_version") from exc


def _int(request, field: str) -> int:
    try:
        return int(request.POST.get(field, ""))
    except ValueError as exc:
        raise InboxError(f"Missing or malformed {field.replace('_', ' ')}.", f"bad_{field}") from exc


@conversation_action
def reply(request, convo):
    draft = None
    if request.POST.get("draft_id"):
        draft = convo.drafts.filter(pk=_int(request, "draft_id")).first()
        if draft is None:
            raise InboxError("That draft no longer exists; a newer suggestion replaced it.", "bad_draft")
    actions.post_agent_reply(convo, by=request.user, body=request.POST.get("body", ""), draft=draft,
                             client_id=request.POST.get("client_id", ""))
    return {"reset_composer": draft is None}


@conversation_action
def note(request, convo):
    actions.add_note(convo, by=request.user, body=request.POST.get("body", ""))
    return {"reset_composer": True}


@conversation_action
def reject_draft(request, convo, draft_id: int):
    draft = get_object_or_404(convo.drafts, pk=draft_id)
    actions.reject_draft(draft, by=request.user, reason=request.POST.get("reason", ""))
    return {"notice": "Draft rejected; the reason is stored for the AI to learn from."}


@conversation_action
def suggest(request, convo):
    if queries.pending_draft(convo) is None:
        events.enqueue_on_commit(actions.DRAFT_TASK, convo.pk)
    return {"notice": "Asked the AI for a suggested reply; it appears here in a few seconds."}


@conversation_action
def correct_intent(request, convo):
    message = None
    if request.POST.get("message_id"):
        message = get_object_or_404(convo.messages, pk=_int(request, "message_id"))
    actions.correct_intent(convo, intent=request.POST.get("intent", ""), by=request.user, message=message)


@conversation_action
def label_entities(request, convo):
    message = get_object_or_404(convo.messages, pk=_int(request, "message_id"), sender_kind=SenderKind.CUSTOMER)
    entities = []
    for number, line in enumerate(request.POST.get("spans", "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3:
            raise InboxError(f"Line {number}: write start,end,LABEL (for example 10,18,DATE).", "bad_entity")
        entities.append({"start": parts[0], "end": parts[1], "label": parts[2]})
    actions.label_entities(message, entities=entities, by=request.user)


@conversation_action
def mark_answer(request, convo):
    message = get_object_or_404(convo.messages, pk=_int(request, "message_id"))
    actions.mark_answer(message, correct=request.POST.get("correct") == "yes", by=request.user)


@conversation_action
def flag_article(request, convo):
    from knowledge.models import Article

    article_id = _int(request, "article_id")
    if not Article.objects.filter(pk=article_id).exists():
        raise InboxError("That article no longer exists.", "bad_article")
    actions.flag_article_outdated(convo, article_id=article_id, by=request.user, note=request.POST.get("note", ""))
    return {"notice": "Article flagged as outdated for the knowledge-base editors."}


@conversation_action
def escalate(request, convo):
    actions.escalate(convo, reason=request.POST.get("reason", ""), note=request.POST.get("note", ""),
                     by=request.user)


@conversation_action
def assign(request, convo):
    to, version = request.POST.get("to", ""), _version(request)
    if to == "round_robin":
        actions.assign_round_robin(convo, by=request.user, candidates=queries.teammates(convo),
                                   expected_version=version)
        return None
    if to == "me":
        assignee = request.user
    elif to in ("", "none"):
        assignee = None
    else:
        assignee = queries.teammates(convo).filter(pk=_int(request, "to")).first()
        if assignee is None:
            raise InboxError("That person is not on this conversation's team.", "bad_assignee")
    actions.assign(convo, assignee, by=request.user, expected_version=version)


@conversation_action
def set_status(request, convo):
    actions.set_status(convo, request.POST.get("status", ""), by=request.user, expected_version=_version(request))


SNOOZES = {"1h": "1 hour", "tomorrow": "tomorrow 9:00", "next_week": "next Monday 9:00"}


def snooze_until(choice: str, now=None):
    now = timezone.localtime(now or timezone.now())
    morning = now.replace(hour=9, minute=0, second=0, microsecond=0)
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "tomorrow":
        return morning + timedelta(days=1)
    if choice == "next_week":
        return morning + timedelta(days=7 - now.weekday())
    raise InboxError("Snooze for 1 hour, until tomorrow or until next week.", "bad_snooze")


@conversation_action
def snooze(request, convo):
    actions.snooze(convo, until=snooze_until(request.POST.get("until", "")), by=request.user,
                   expected_version=_version(request))


# ---------------------------------------------------------------- macros (canned replies)


class MacroForm(forms.Form):
    name = forms.CharField(max_length=100)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=actions.MAX_BODY)
    shared = forms.BooleanField(required=False)
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), required=False, empty_label="Everyone")


def _macro_for_user(request, macro_id: int) -> Macro:
    """The macro if this user may use it; 404 otherwise (someone's personal macro, another team's)."""
    try:
        return macros.usable_by(request.user).get(pk=macro_id)
    except Macro.DoesNotExist as exc:
        raise Http404("No such macro") from exc


def _rw_macro_for_user(request, macro_id: int) -> Macro:
    """The macro if this user may change it; 403 for a shared macro they can only use."""
    macro = _macro_for_user(request, macro_id)
    if not macros.can_edit(request.user, macro):
        raise PermissionDenied("Only managers change shared macros.")
    return macro


def _save_macro(request, form: MacroForm, macro: Macro | None):
    """Run the create/update action; refusals become form errors (bad input) or 403 (not allowed)."""
    if not form.is_valid():
        return None
    data = form.cleaned_data
    try:
        if macro is None:
            return actions.create_macro(by=request.user, name=data["name"], body=data["body"],
                                        shared=data["shared"], team=data["team"])
        return actions.update_macro(macro, by=request.user, name=data["name"], body=data["body"],
                                    shared=data["shared"], team=data["team"])
    except actions.MacroForbidden as exc:
        raise PermissionDenied(str(exc)) from exc
    except InboxError as exc:
        form.add_error(None, str(exc))
        return None


def _saved(request, macro: Macro):
    unknown = macros.unknown_variables(macro.body)
    if unknown:
        messages.warning(request, f"Saved “{macro.name}”. Not a known variable, so it stays as typed: "
                                  f"{', '.join(unknown)}.")
    else:
        messages.success(request, f"Saved “{macro.name}”.")
    return redirect("inbox:macros")


def _macro_rows(user) -> list[dict]:
    rows = []
    for macro in macros.usable_by(user):
        rows.append({"macro": macro, "editable": macros.can_edit(user, macro),
                     "preview": macros.render(macro.body, macros.VARIABLES),
                     "unknown": macros.unknown_variables(macro.body)})
    return rows


@staff_required
def macro_list(request):
    """Everyone's and the user's own macros; the form below creates one (personal unless a manager shares it)."""
    form = MacroForm(request.POST or None)
    if request.method == "POST":
        macro = _save_macro(request, form, None)
        if macro is not None:
            return _saved(request, macro)
    return render(request, "inbox/macros.html", {
        "rows": _macro_rows(request.user), "form": form, "can_share": macros.can_share(request.user),
        "variables": macros.VARIABLES,
    }, status=400 if form.errors else 200)


@staff_required
def macro_edit(request, macro_id: int):
    macro = _rw_macro_for_user(request, macro_id)
    initial = {"name": macro.name, "body": macro.body, "shared": macro.shared, "team": macro.team_id}
    form = MacroForm(request.POST or None, initial=initial)
    if request.method == "POST":
        saved = _save_macro(request, form, macro)
        if saved is not None:
            return _saved(request, saved)
    return render(request, "inbox/macro_edit.html", {
        "macro": macro, "form": form, "can_share": macros.can_share(request.user), "variables": macros.VARIABLES,
    }, status=400 if form.errors else 200)


@staff_required
@require_POST
def macro_delete(request, macro_id: int):
    macro = _rw_macro_for_user(request, macro_id)
    actions.delete_macro(macro, by=request.user)
    messages.success(request, f"Deleted “{macro.name}”.")
    return redirect("inbox:macros")
