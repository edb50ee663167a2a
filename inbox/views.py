"""Staff inbox pages. Thin: access checks via `staff_required`, reads via `inbox.queries`."""

from django.shortcuts import render

from helpdesk.decorators import staff_required
from inbox import queries


@staff_required
def queue(request):
    queue_name = request.GET.get("queue", "needs_human")
    conversations = queries.queue(request.user, queue_name, request.GET)
    return render(
        request,
        "inbox/queue.html",
        {
            "queue_name": queue_name,
            "queues": queries.queue_counts(request.user),
            "conversations": conversations,
            "filters": request.GET,
        },
    )


@staff_required
def conversation(request, conversation_id: int):
    convo = queries.conversation_for_user(request.user, conversation_id)
    return render(
        request,
        "inbox/conversation.html",
        {
            "conversation": convo,
            "messages": convo.messages.select_related("author"),
            "previous": queries.previous_conversations(convo),
        },
    )
