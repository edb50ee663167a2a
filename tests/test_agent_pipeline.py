"""The agent answers from the knowledge base with a citation and a decision trace, or hands off honestly."""

import time

import pytest
from celery.worker import state as celery_state
from django.utils import timezone

from agents import pipeline
from agents.models import AppliedSignal
from inbox import actions
from inbox.models import Conversation, Customer, SenderKind, Site
from tests import factories
from tests.conftest import wait_for
from tests.fake_llm import FakeLLM

pytestmark = pytest.mark.django_db


def ask(text, *, page=None, customer=None, conversation=None, **kw):
    customer = customer or Customer.objects.create(site=Site.objects.first(), created_at=timezone.now())
    message, _ = actions.post_customer_message(customer=customer, body=text, page_context=page,
                                               conversation=conversation, respond=False)
    reply = pipeline.respond(message.conversation_id, message.pk, **kw)
    return Conversation.objects.get(pk=message.conversation_id), reply


def test_a_question_from_the_demo_kb_gets_a_cited_extractive_answer_with_a_trace(demo_kb):
    convo, reply = ask("my card keeps getting declined when I try to pay the invoice")
    assert reply is not None and reply.sender_kind == SenderKind.AI
    trace = reply.trace
    assert trace["decision"] == "answer"
    assert trace["intent"] == "failed_payment" and trace["confidence"] > 0.3, trace["top_intents"]
    assert trace["citations"][0]["url"].startswith("/help/")
    assert "payment" in trace["citations"][0]["title"].lower()
    assert trace["retrieved"] and all("chunk_id" in r and "score" in r for r in trace["retrieved"])
    assert trace["model_versions"]["intent"] is not None
    assert trace["composer"] == "extractive"
    assert convo.intent == "failed_payment" and convo.first_response_at is not None


def test_the_agent_knows_the_verified_customers_plan_on_billing_questions(demo_kb):
    acct = factories.account(plan="growth", mrr=228, seats=12)
    customer = factories.customer(acct, name="Noor Haddad", is_verified=True, site=Site.objects.first())
    convo, reply = ask("how much will it cost to add more seats to our plan?", customer=customer)
    assert reply.body.startswith("Hi Noor!")
    if reply.trace["chosen"]["title"] and "seat" in reply.trace["chosen"]["title"].lower():
        assert "Growth plan with 12 seats" in reply.body


def test_asking_for_a_human_hands_off_with_the_reason_and_tells_the_customer_what_happens(demo_kb):
    convo, reply = ask("I want to talk to a real person please")
    assert reply is None
    assert convo.needs_human and convo.escalation_reason == "customer_request"
    notice = convo.messages.filter(sender_kind=SenderKind.SYSTEM).last()
    assert "support team" in notice.body and "reply right here" in notice.body
    assert "Mon–Fri" in notice.body  # the demo site's business hours


def test_a_human_only_intent_is_never_answered_by_the_ai(demo_kb):
    convo, reply = ask("Please delete our whole workspace and all our data permanently")
    assert reply is None
    assert convo.needs_human and convo.escalation_reason in ("policy_exception", "customer_request")


def test_a_furious_customer_goes_to_a_human(demo_kb):
    convo, _ = ask("THIS IS THE THIRD TIME!!! Your sync is STILL broken, this is ridiculous, I want to cancel!!!")
    assert convo.needs_human and convo.escalation_reason == "angry_customer"


def test_an_out_of_scope_question_gets_one_clarifying_question_then_a_human(demo_kb):
    convo, reply = ask("what's the best pizza topping in naples")
    assert reply is not None and reply.trace["decision"] == "clarify"
    convo, again = ask("seriously, pizza", conversation=convo, customer=convo.customer)
    assert again is None and convo.needs_human and convo.escalation_reason == "low_confidence"


def test_repeated_failure_in_one_conversation_hands_off(demo_kb):
    convo, first = ask("how do I connect slack to relaymark")
    convo, second = ask("it still does not post to my slack channel", conversation=convo, customer=convo.customer)
    convo, third = ask("still nothing in slack", conversation=convo, customer=convo.customer)
    assert first is not None and third is None
    assert convo.needs_human


@pytest.mark.django_db(transaction=True)
def test_not_helpful_gets_the_next_best_answer_once_and_then_a_person(demo_kb, celery_worker):
    convo, first = ask("my card keeps getting declined when I try to pay the invoice")
    actions.give_feedback(first, False)  # the worker answers again once this commits
    second = wait_for(lambda: (m := actions.last_ai_reply(convo)) != first and m)
    assert second.trace["decision"] == "answer"
    assert second.trace["try_again_after"] == first.pk and second.trace["replying_to"] == first.trace["replying_to"]
    assert second.trace["chosen"]["article_id"] != first.trace["chosen"]["article_id"]
    assert second.body.startswith("Sorry that didn't help.")
    actions.give_feedback(second, False)
    convo = wait_for(lambda: Conversation.objects.filter(pk=convo.pk, needs_human=True).first())
    assert convo.escalation_reason == "missing_knowledge"
    assert actions.last_ai_reply(convo) == second  # no third try


@pytest.mark.django_db(transaction=True)
def test_not_helpful_on_an_older_answer_or_once_a_person_took_over_brings_no_new_answer(
        demo_kb, celery_worker, agent_user):
    convo, first = ask("how do I connect slack to relaymark")
    convo, latest = ask("and how do I export invoices?", conversation=convo, customer=convo.customer)
    actions.give_feedback(first, False)
    actions.post_agent_reply(convo, by=agent_user, body="I'll take it from here.")
    actions.give_feedback(latest, False)
    # A marker: its learning task (priority 6) runs after any answer task (priority 0) queued above.
    marker = actions.give_feedback(latest, True)
    wait_for(lambda: AppliedSignal.objects.filter(outcome_id=marker.pk).exists())
    wait_for(lambda: not celery_state.active_requests and not celery_state.reserved_requests)
    assert actions.last_ai_reply(convo) == latest


def test_a_rejected_answer_makes_the_readings_it_served_unlikely():
    """P(intent | not helpful) ∝ P(intent) · (1 − P(that answer resolves the intent))."""
    u = pipeline.Understanding(intent="card_arrival", confidence=0.8, entities=[], frustration=0.0, model_version=1,
                               top=[("card_arrival", 0.8), ("card_delivery_estimate", 0.15)])
    rejected = {"chosen": {"article_id": 7}, "top_intents": [["card_arrival", 0.8], ["card_delivery_estimate", 0.15]],
                "ranking": [{"article_id": 7, "prior": 0.3,
                             "by_intent": {"card_arrival": 0.72, "card_delivery_estimate": 0.015}}]}
    pipeline.reconsider(u, rejected)
    # card_arrival 0.8 · 0.1 = 0.08; delivery 0.15 · 0.9 = 0.135; unknown 0.05 · 0.7 = 0.035; of 0.25
    assert u.top == [("card_delivery_estimate", 0.54), ("card_arrival", 0.32)]
    assert u.intent == "card_delivery_estimate" and u.confidence == 0.54


def test_page_context_is_recorded_and_shapes_retrieval(demo_kb):
    convo, reply = ask("how do I export?", page={"url": "https://app.relaymark.example/app/timesheets",
                                                 "area": "known-bugs", "screen": "timesheets-export"})
    assert convo.page_context["screen"] == "timesheets-export"
    assert "area:known-bugs" in (reply.trace["segments"] if reply else [])


@pytest.fixture
def fake_llm(settings):
    with FakeLLM() as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_MODEL, settings.OPENAI_TIMEOUT = server.url, "fake", 1.0
        yield server


def test_with_an_llm_the_answer_is_generated_grounded_and_cited(demo_kb, fake_llm):
    convo, reply = ask("how do I upgrade to the Growth plan")
    assert reply.trace["composer"] == "llm"
    assert reply.body == fake_llm.answer
    prompt = fake_llm.requests[0]["messages"][1]["content"]
    assert "[1]" in prompt and "Question: how do I upgrade" in prompt


@pytest.mark.parametrize("mode", ["hang", "error", "garbage", "uncited"])
def test_an_llm_that_hangs_errors_or_returns_garbage_falls_back_to_the_extractive_answer(demo_kb, fake_llm, mode):
    fake_llm.mode = mode
    convo, reply = ask("how do I upgrade to the Growth plan")
    assert reply is not None
    assert reply.trace["composer"] == "extractive"
    assert "help centre" in reply.body
    if mode in ("hang", "error", "garbage"):
        assert reply.trace["llm"]["attempts"] == 2  # one retry


@pytest.mark.parametrize("mode", ["slow", "keepalive"])
def test_an_llm_that_never_finishes_within_the_timeout_falls_back_in_bounded_time(demo_kb, fake_llm, settings, mode):
    """OPENAI_TIMEOUT bounds the whole answer, not each read: a trickle of tokens or keep-alives is no answer."""
    settings.OPENAI_TIMEOUT = 0.5  # the fake needs ~3 s (slow) or 5 s (keepalive) to finish its cited answer
    fake_llm.mode = mode
    started = time.monotonic()
    convo, reply = ask("how do I upgrade to the Growth plan")
    assert time.monotonic() - started < 6
    assert reply.trace["composer"] == "extractive" and "help centre" in reply.body
    assert reply.trace["llm"]["attempts"] == 2 and "TimeoutError" in reply.trace["llm"]["error"]


def test_an_llm_answer_with_an_absurd_citation_number_still_gets_the_customer_an_answer(demo_kb, fake_llm):
    fake_llm.answer = "Go to Settings → Billing [" + "1" * 5000 + "]."  # int() refuses > 4300 digits
    convo, reply = ask("how do I upgrade to the Growth plan")
    assert reply.trace["composer"] == "extractive" and "help centre" in reply.body  # it cites no passage
    assert reply.trace["llm"]["error"] == "answer cites no passage"


def test_a_number_too_big_for_a_float_does_not_stop_the_reply(demo_kb):
    convo, reply = ask("I got error 1e999 when exporting")
    assert reply is not None and reply.trace["decision"] in ("answer", "clarify")
    assert actions.last_ai_reply(convo) == reply
    message = convo.messages.get(sender_kind=SenderKind.CUSTOMER)
    assert [(e["text"], e["value"]) for e in message.entities if e["label"] == "NUMBER"] == [("1e999", None)]
