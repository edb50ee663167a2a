"""What the inbox's actions store as training data when an agent works a conversation.

Each human judgement is one action call that writes the state change and its Label/Outcome in
one transaction; these tests read the rows back from the real database.
"""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from inbox import actions
from inbox.models import Conversation, Draft, DraftStatus, Label, Message, Outcome
from tests import factories
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db

TRACE = {"decision": "answer", "why": "intent billing_invoice (0.82)", "intent": "billing_invoice",
         "confidence": 0.82, "top_intents": [["billing_invoice", 0.82], ["refund_request", 0.1]]}


@pytest.fixture
def convo():
    message, _ = actions.post_customer_message(customer=factories.customer(factories.account()),
                                               body="I was charged twice on 3 March", respond=False)
    return Conversation.objects.get(pk=message.conversation_id)


@pytest.fixture
def ai_answer(convo):
    return actions.post_ai_reply(convo, "Here is how refunds work …", trace=TRACE, intent="billing_invoice",
                                 confidence=0.82)


def handed_off(convo, reason="low_confidence"):
    return actions.hand_off(convo, reason, note="intent unclear", customer_notice="A teammate will reply.")


def draft_for(convo, body="Hi! Refunds take 5 days."):
    return actions.save_draft(convo, body, {"intent": "billing_invoice", "why": "suggested"})


# ---------------------------------------------------------------- intents


def test_an_intent_correction_stores_a_label_and_sets_the_conversation_intent(convo, ai_answer, agent_user):
    label = actions.correct_intent(convo, intent="Refund Request", by=agent_user)
    convo.refresh_from_db()
    assert convo.intent == "refund_request" and convo.intent_confidence == 1.0
    assert label.kind == "intent" and label.value == {"intent": "refund_request", "previous": "billing_invoice"}
    assert label.message.sender_kind == "customer" and label.author == agent_user


def test_correcting_the_same_message_twice_counts_once(convo, agent_user):
    actions.correct_intent(convo, intent="refund_request", by=agent_user)
    actions.correct_intent(convo, intent="billing_invoice", by=agent_user)
    assert list(Label.objects.filter(kind="intent").values_list("value__intent", flat=True)) == ["billing_invoice"]


def test_a_malformed_intent_is_refused(convo, agent_user):
    with pytest.raises(actions.InboxError):
        actions.correct_intent(convo, intent="<b>x</b>", by=agent_user)
    assert not Label.objects.exists()


# ---------------------------------------------------------------- entities


def test_entity_labels_replace_the_messages_entities(convo, agent_user):
    message = convo.messages.get()
    label = actions.label_entities(message, entities=[{"start": 23, "end": 30, "label": "date"}], by=agent_user)
    message.refresh_from_db()
    assert message.entities == [{"start": 23, "end": 30, "label": "DATE", "text": "3 March"}]
    assert label.kind == "entity" and label.value["entities"][0]["text"] == "3 March"
    actions.label_entities(message, entities=[], by=agent_user)  # "no entities here" is a label too
    assert Label.objects.filter(kind="entity").count() == 1 and Message.objects.get(pk=message.pk).entities == []


def test_an_entity_span_outside_the_message_is_refused(convo, agent_user):
    with pytest.raises(actions.InboxError, match="outside the message"):
        actions.label_entities(convo.messages.get(), entities=[{"start": 5, "end": 500, "label": "DATE"}],
                               by=agent_user)


# ---------------------------------------------------------------- answers and articles


def test_marking_an_ai_answer_right_or_wrong_stores_a_label_and_one_outcome(convo, ai_answer, agent_user):
    actions.mark_answer(ai_answer, correct=True, by=agent_user)
    assert Outcome.objects.get(message=ai_answer).kind == "helpful"
    actions.mark_answer(ai_answer, correct=False, by=agent_user)  # changed their mind
    label = Label.objects.get(kind="answer")
    assert label.value == {"correct": False} and label.message == ai_answer
    outcome = Outcome.objects.get(message=ai_answer)
    assert outcome.kind == "not_helpful" and outcome.reward == -1.0


def test_only_ai_answers_can_be_marked(convo, agent_user):
    with pytest.raises(actions.InboxError):
        actions.mark_answer(convo.messages.get(), correct=True, by=agent_user)


def test_flagging_an_article_as_outdated_is_a_label(convo, agent_user):
    label = actions.flag_article_outdated(convo, article_id=7, by=agent_user, note="prices changed")
    assert label.kind == "article_outdated" and label.value == {"article_id": 7, "note": "prices changed"}


# ---------------------------------------------------------------- escalation


def test_an_escalation_label_keeps_the_reason_the_ai_inferred(convo, ai_answer, agent_user):
    handed_off(convo, "low_confidence")
    label = actions.escalate(convo, reason="billing_error", note="double charge", by=agent_user)
    assert label.value == {"reason": "billing_error", "note": "double charge", "inferred": "low_confidence"}
    convo.refresh_from_db()
    assert convo.escalation_reason == "billing_error" and convo.handled_by == "human"
    assert convo.assignee == agent_user
    assert Outcome.objects.filter(kind="escalated", message=ai_answer).exists()


def test_an_unknown_escalation_reason_is_refused(convo, agent_user):
    with pytest.raises(actions.InboxError):
        actions.escalate(convo, reason="bored", by=agent_user)


# ---------------------------------------------------------------- drafts


def test_a_draft_sent_as_is_is_marked_sent_without_a_negative_signal(convo, agent_user):
    handed_off(convo)
    draft = draft_for(convo)
    message = actions.post_agent_reply(convo, by=agent_user, body=draft.body, draft=draft)
    draft.refresh_from_db()
    assert draft.status == DraftStatus.SENT and draft.sent_body == draft.body and draft.sent_message == message
    assert not Outcome.objects.filter(kind="draft_edited").exists()


def test_an_edited_draft_stores_what_was_sent_and_a_draft_edited_outcome(convo, ai_answer, agent_user):
    draft = draft_for(convo)
    actions.post_agent_reply(convo, by=agent_user, body="Hi Pat, I've refunded the second charge.", draft=draft)
    draft.refresh_from_db()
    assert draft.status == DraftStatus.EDITED and draft.sent_body == "Hi Pat, I've refunded the second charge."
    assert draft.decided_by == agent_user
    assert Outcome.objects.get(kind="draft_edited").value == {"draft_id": draft.pk}


def test_rejecting_a_draft_needs_a_reason_and_records_draft_rejected(convo, ai_answer, agent_user):
    draft = draft_for(convo)
    with pytest.raises(actions.InboxError):
        actions.reject_draft(draft, by=agent_user, reason=" ")
    actions.reject_draft(draft, by=agent_user, reason="wrong article")
    draft.refresh_from_db()
    assert draft.status == DraftStatus.REJECTED and draft.reject_reason == "wrong article"
    assert Outcome.objects.get(kind="draft_rejected").value["reason"] == "wrong article"


def test_a_staff_members_text_with_nul_characters_is_stored_without_them(convo, ai_answer, agent_user):
    """PostgreSQL stores no NUL: a pasted note or reason must be kept, not lost to a server error."""
    label = actions.escalate(convo, reason="billing_error", note="double\x00 charge", by=agent_user)
    assert label.value["note"] == "double charge"
    assert actions.flag_article_outdated(convo, article_id=7, by=agent_user, note="old\x00").value["note"] == "old"
    draft = draft_for(convo)
    assert actions.reject_draft(draft, by=agent_user, reason="wrong\x00 article").reject_reason == "wrong article"
    reply = actions.post_agent_reply(convo, by=agent_user, body="On it\x00!", client_id="r\x00-1")
    assert (reply.body, reply.client_id) == ("On it!", "r-1")
    message = convo.messages.filter(sender_kind="customer").first()
    actions.label_entities(message, entities=[{"start": 0, "end": 1, "label": "da\x00te"}], by=agent_user)
    assert Message.objects.get(pk=message.pk).entities[0]["label"] == "DATE"


def test_an_ai_reply_longer_than_a_message_may_be_is_cut_and_cleaned(convo):
    reply = actions.post_ai_reply(convo, "a\x00" * 5000, trace=TRACE, intent="billing_invoice", confidence=0.8)
    assert "\x00" not in reply.body and set(reply.body) == {"a"}


def test_a_draft_already_sent_by_a_teammate_cannot_be_sent_again(convo, agent_user):
    other = make_staff("kim@example.com", "agent")
    draft = draft_for(convo)
    actions.post_agent_reply(convo, by=other, body=draft.body, draft=draft, client_id="a")
    with pytest.raises(actions.InboxError, match="already sent"):
        actions.post_agent_reply(convo, by=agent_user, body="my version", draft=draft, client_id="b")
    draft.refresh_from_db()
    assert draft.status == DraftStatus.SENT and draft.decided_by == other
    assert convo.messages.filter(sender_kind="agent").count() == 1


# ---------------------------------------------------------------- double submits, concurrency, stale edits


def test_a_double_submitted_reply_is_stored_once(convo, agent_user):
    first = actions.post_agent_reply(convo, by=agent_user, body="On it", client_id="form-1")
    second = actions.post_agent_reply(convo, by=agent_user, body="On it", client_id="form-1")
    assert first.pk == second.pk and convo.messages.filter(sender_kind="agent").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_agents_replying_at_once_both_land_in_order(convo, agent_user):
    other = make_staff("kim@example.com", "agent")
    start = threading.Barrier(2)
    errors = []

    def reply(user, text):
        try:
            start.wait()
            actions.post_agent_reply(Conversation.objects.get(pk=convo.pk), by=user, body=text)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reply, args=(u, t)) for u, t in ((agent_user, "one"), (other, "two"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    replies = list(convo.messages.filter(sender_kind="agent").order_by("id"))
    assert sorted(m.body for m in replies) == ["one", "two"]
    assert replies[0].created_at <= replies[1].created_at  # the row lock serialises them
    assert Conversation.objects.get(pk=convo.pk).version == convo.version + 2  # neither update was lost


@pytest.mark.parametrize("change", ["resolve", "assign", "snooze"])
def test_a_change_based_on_a_stale_version_is_refused(convo, agent_user, change):
    seen = convo.version
    actions.add_note(convo, by=agent_user, body="looking")  # notes don't bump the version…
    actions.assign(convo, agent_user, by=agent_user)  # …but a teammate's assignment does
    with pytest.raises(actions.StaleConversation):
        if change == "resolve":
            actions.resolve(convo, by=agent_user, expected_version=seen)
        elif change == "assign":
            actions.assign(convo, None, by=agent_user, expected_version=seen)
        else:
            actions.snooze(convo, until=timezone.now() + timezone.timedelta(hours=1), by=agent_user,
                           expected_version=seen)
    convo.refresh_from_db()
    assert convo.status == "open" and convo.assignee == agent_user and convo.snoozed_until is None


def test_resolve_and_reopen_write_a_note_and_clear_needs_human(convo, agent_user):
    handed_off(convo)
    convo.refresh_from_db()
    actions.resolve(convo, by=agent_user, expected_version=convo.version)
    convo.refresh_from_db()
    assert convo.status == "resolved" and not convo.needs_human and convo.resolved_at
    actions.reopen(convo, by=agent_user)
    convo.refresh_from_db()
    assert convo.status == "open" and convo.resolved_at is None
    assert list(convo.messages.filter(sender_kind="note").values_list("body", flat=True)) == [
        "Resolved by agent", "Open by agent"]


def test_a_note_mentioning_a_teammate_records_the_mention(convo, agent_user):
    kim = make_staff("kim@example.com", "agent")
    kim.first_name = "Kim"
    kim.save()
    note = actions.add_note(convo, by=agent_user, body="@kim can you check the invoice?")
    assert note.sender_kind == "note" and note.trace == {"mentions": [kim.pk]}


def test_round_robin_gives_the_conversation_to_the_least_loaded_teammate(convo, agent_user):
    kim = make_staff("kim@example.com", "agent")
    factories.conversation(factories.customer(email="b@x.example"), assignee=agent_user)
    actions.assign_round_robin(convo, by=agent_user, candidates=[agent_user, kim])
    convo.refresh_from_db()
    assert convo.assignee == kim


def test_draft_rows_are_created_pending_and_a_new_one_supersedes_the_old(convo):
    draft_for(convo, "first")
    draft_for(convo, "second")
    assert list(Draft.objects.values_list("body", "status")) == [("second", "pending")]
