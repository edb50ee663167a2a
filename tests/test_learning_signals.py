"""Outcome signals reach the ranking learner exactly once, attached to the reply they judge."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from agents import learning, pipeline
from agents.models import AppliedSignal, ArticleStat, IntentExample
from agents.outcomes import CONFIRM_MIN_CONFIDENCE
from agents.tasks import learn_from_signal
from inbox import actions
from inbox.models import Conversation, Customer, Outcome, Site
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(demo_kb):
    """A verified Growth customer asked a billing question and the AI answered it."""
    acct = factories.account(plan="growth")
    customer = factories.customer(acct, site=Site.objects.first(), is_verified=True, external_id="u-1")
    message, _ = actions.post_customer_message(customer=customer, body="my card was declined when paying",
                                               page_context={"area": "billing"}, respond=False)
    reply = pipeline.respond(message.conversation_id, message.pk)
    assert reply.trace["decision"] == "answer"
    return reply


def stat(reply, segment=""):
    return ArticleStat.objects.get(intent=reply.trace["intent"], article_id=reply.trace["chosen"]["article_id"],
                                   segment=segment)


def apply_all():
    """What the worker does after each commit (on_commit hooks don't run inside test transactions)."""
    for outcome_id in Outcome.objects.values_list("id", flat=True):
        learn_from_signal(outcome_id)


def test_that_helped_counts_one_success_at_every_level_and_a_replay_changes_nothing(answered):
    actions.give_feedback(answered, True)
    apply_all()
    apply_all()  # the same signal delivered twice (a retried task)
    for segment in ("", "plan:growth", "area:billing"):
        assert (stat(answered, segment).successes, stat(answered, segment).failures) == (1.0, 0.0)
    actions.give_feedback(answered, True)  # a double click
    assert Outcome.objects.filter(kind="helpful").count() == 1


@pytest.mark.parametrize("signal, successes, failures", [
    (lambda r: actions.give_feedback(r, False), 0.0, 1.0),
    (lambda r: actions.rate(r.conversation, 5), 1.0, 0.0),
    (lambda r: actions.rate(r.conversation, 1), 0.0, 1.0),
    (lambda r: actions.mark_abandoned(r.conversation), 0.0, 0.5),
    (lambda r: actions.escalate(r.conversation, reason="bug", note="sync broken",
                                by=factories_user()), 0.0, 1.0),
])
def test_each_signal_moves_the_statistics_of_the_answer_it_judges(answered, signal, successes, failures):
    signal(answered)
    apply_all()
    assert (stat(answered).successes, stat(answered).failures) == (successes, failures)


def factories_user():
    from tests.conftest import make_staff

    return make_staff("agent-x@example.com", "agent")


def test_a_resolution_with_no_follow_up_in_the_window_is_a_success_and_a_follow_up_is_a_failure(answered):
    from agents.outcomes import close_resolution_windows, detect_follow_up

    convo = actions.resolve(answered.conversation)
    assert close_resolution_windows(now=timezone.now()) == 0  # the window is still open
    assert close_resolution_windows(now=timezone.now() + timedelta(days=4)) == 1
    apply_all()
    assert stat(answered).successes == 1.0

    again, _ = actions.post_customer_message(customer=convo.customer, body="my card is still declined when paying",
                                             respond=False)
    follow_up = Conversation.objects.get(pk=again.conversation_id)
    follow_up.created_at = convo.created_at + timedelta(hours=2)
    follow_up.save()
    assert detect_follow_up(follow_up, again.body) == convo
    apply_all()
    assert Conversation.objects.get(pk=follow_up.pk).follow_up_of_id == convo.pk
    assert stat(answered).failures == 1.0


def test_one_customer_cannot_steer_an_article_alone(answered):
    customer = answered.conversation.customer
    for i in range(5):
        message, _ = actions.post_customer_message(customer=customer, body=f"card declined again ({i})",
                                                   respond=False)
        reply = pipeline.respond(message.conversation_id, message.pk)
        if reply and reply.trace.get("chosen", {}).get("article_id") == answered.trace["chosen"]["article_id"]:
            actions.give_feedback(reply, True)
    actions.give_feedback(answered, True)
    apply_all()
    assert stat(answered).successes <= 3
    assert AppliedSignal.objects.filter(counted=False).exists()


def test_spam_never_feeds_learning(answered):
    agent = factories_user()
    actions.mark_spam(answered.conversation, by=agent)
    actions.give_feedback(answered, True)
    apply_all()
    assert not ArticleStat.objects.filter(successes__gt=0).exists()


def test_a_confident_answer_that_resolved_becomes_a_confirmed_example(answered):
    actions.give_feedback(answered, True)
    apply_all()
    example = IntentExample.objects.get(source="confirmed_outcome")
    assert example.text == "my card was declined when paying"
    assert example.intent.name == answered.trace["intent"]


def test_a_second_try_that_resolved_moves_its_own_statistics_and_labels_the_question(answered):
    actions.give_feedback(answered, False)
    second = pipeline.respond(answered.conversation_id, answered.trace["replying_to"], try_again=True)
    assert second.trace["try_again_after"] == answered.pk and second.trace["decision"] == "answer"
    actions.give_feedback(second, True)
    apply_all()
    first_stat = ArticleStat.objects.get(intent=answered.trace["intent"], segment="",
                                         article_id=answered.trace["chosen"]["article_id"])
    assert (first_stat.successes, first_stat.failures) == (0.0, 1.0)
    second_stat = ArticleStat.objects.get(intent=second.trace["credited_intent"], segment="",
                                          article_id=second.trace["chosen"]["article_id"])
    assert second_stat.successes == 1.0
    example = IntentExample.objects.get(source="confirmed_outcome")
    assert example.text == "my card was declined when paying"
    assert example.message_id == second.trace["replying_to"]
    # The model is sure it is a failed payment and never read it as anything else: that reading stands,
    # although the article that resolved answers another intent.
    assert second.trace["credited_intent"] == "failed_payment"
    assert second.trace["credited_confidence"] >= CONFIRM_MIN_CONFIDENCE
    assert learning.intent_of_article(second.trace["chosen"]["article_id"]) != "failed_payment"
    assert example.intent.name == "failed_payment"


def test_a_second_try_that_resolved_labels_the_question_with_the_reading_its_article_answers(demo_kb):
    """The rejected answer's intent keeps most of the probability and takes the credit for the second
    answer too; but that answer is plainly the article of another reading the model had, and it resolved."""
    customer = factories.customer(factories.account(plan="growth"), site=Site.objects.first(), is_verified=True)
    message, _ = actions.post_customer_message(customer=customer, body="our slack messages from relaymark come an hour late",
                                               respond=False)
    first = pipeline.respond(message.conversation_id, message.pk)
    assert first.trace["credited_intent"] == "bug_slack_delayed"
    actions.give_feedback(first, False)
    second = pipeline.respond(message.conversation_id, message.pk, try_again=True)
    readings = dict(second.trace["top_intents"])
    assert second.trace["credited_intent"] == "bug_slack_delayed" and readings["bug_slack_delayed"] >= CONFIRM_MIN_CONFIDENCE
    assert learning.intent_of_article(second.trace["chosen"]["article_id"]) == "slack_integration"
    assert readings["slack_integration"] > 0.01
    actions.give_feedback(second, True)
    apply_all()
    example = IntentExample.objects.get(source="confirmed_outcome")
    assert (example.text, example.intent.name) == ("our slack messages from relaymark come an hour late", "slack_integration")


def test_learning_off_changes_nothing(answered, settings):
    settings.LEARNING_ENABLED = False
    actions.give_feedback(answered, True)
    apply_all()
    assert not ArticleStat.objects.exists()


def send_event(client, site, payload: dict, *, signed_at: float | None = None, signature: str | None = None):
    """POST a product event the way the host app's server does: timestamp + "." + body, HMAC-SHA256."""
    body = json.dumps(payload).encode()
    stamp = str(int(time.time() if signed_at is None else signed_at))
    if signature is None:
        signature = "sha256=" + hmac.new(site.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return client.post("/api/v1/events/", body, content_type="application/json", HTTP_X_RELAYMARK_SITE=site.key,
                       HTTP_X_RELAYMARK_TIMESTAMP=stamp, HTTP_X_RELAYMARK_SIGNATURE=signature)


def test_product_events_must_be_signed_and_count_as_engagement(answered, client):
    site = Site.objects.first()
    event = {"user_id": "u-1", "event": "exported_timesheet"}
    forged = send_event(client, site, event, signature="sha256=" + "0" * 64)
    assert forged.status_code == 403 and forged.json()["error"] == "bad_signature"
    odd = send_event(client, site, event, signature="sha256=\u00e9")
    assert odd.status_code == 403 and odd.json()["error"] == "bad_signature"
    ok = send_event(client, site, event)
    assert ok.status_code == 202 and ok.json()["recorded"] == 1
    invalid = send_event(client, site, {"event": "x"})
    assert invalid.status_code == 400 and "user_id" in invalid.json()
    refused = send_event(client, site, {"user_id": "u-1", "event": "x", "at": "0001-01-01T00:00:00Z"})
    assert refused.status_code == 400 and "at" in refused.json()
    apply_all()
    assert stat(answered).successes == 0.5


def test_a_captured_product_event_cannot_be_replayed(answered, client):
    """Whoever saw one signed request (a log, a proxy) must not credit the AI with it again, now or later."""
    site = Site.objects.first()
    # A body of its own: the replay store outlives a test, and another one may sign the same bytes in this second.
    event = {"user_id": "u-1", "event": "exported_timesheet", "at": timezone.now().isoformat()}
    stale = send_event(client, site, event, signed_at=time.time() - 600)
    assert stale.status_code == 403 and stale.json()["error"] == "stale_timestamp"
    signed_at = time.time()
    assert send_event(client, site, event, signed_at=signed_at).status_code == 202
    again = send_event(client, site, event, signed_at=signed_at)
    assert again.status_code == 409 and again.json()["error"] == "replayed"
    apply_all()
    assert stat(answered).successes == 0.5


def test_an_article_that_keeps_failing_stops_being_shown(answered):
    article_id = answered.trace["chosen"]["article_id"]
    shown = []
    for _ in range(40):
        customer = Customer.objects.create(site=Site.objects.first(), created_at=timezone.now())
        message, _ = actions.post_customer_message(customer=customer, body="my card was declined when paying",
                                                   respond=False)
        reply = pipeline.respond(message.conversation_id, message.pk)
        chosen = reply is not None and reply.trace.get("chosen", {}).get("article_id") == article_id
        shown.append(chosen)
        if chosen:  # every customer who gets it says it did not help
            actions.give_feedback(reply, False)
            apply_all()
    assert sum(shown) <= 8, "it kept being shown after failing eight times"
    assert not any(shown[-10:]), "it came back"


def test_an_article_that_resolved_the_intent_before_is_a_candidate_even_when_search_misses_it(answered):
    import random

    from knowledge.embeddings import embed_one
    from knowledge.models import Article

    text = "my card was declined when paying"
    searched = {hit["article_id"] for hit in answered.trace["retrieved"]}
    proven = Article.objects.filter(status="published").exclude(pk__in=searched).order_by("pk").first()
    ArticleStat.objects.create(intent=answered.trace["intent"], article=proven, successes=5)
    understanding = pipeline.understand(text)
    understanding.vector = embed_one(text)
    plan = pipeline.retrieve(text, understanding, {}, random.Random(0))
    offered = [hit for hit in plan.hits if hit.article_id == proven.pk]
    assert len(offered) == 1 and offered[0].reasons == ["resolved this intent before"]
    assert offered[0].title == proven.title and offered[0].text
