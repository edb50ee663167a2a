"""The learning simulation: a labelled stream of customer questions through the real product.

Each row becomes a conversation: the simulated customer writes through
`inbox.actions.post_customer_message`, the real `agents.pipeline.respond` answers, and the
customer reacts through the same actions the widget uses (“that helped” and resolve; or “not
helpful”, upon which the agent tries once more or hands off, and then resolve or asking for a
human), their signal flipped with probability `noise`. A simulated human agent
handles every hand-off through the inbox actions a person uses (intent label, reply,
resolve). Learning happens only through those signals and labels, exactly as in production
(Celery tasks run in-process). Ground truth (did the answer use the true category's
article?) is measured beside it and never shown to the system.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from agents import learning, outcomes, pipeline
from agents.actions import REFRESH_TASK, add_intent_example, ensure_intent
from agents.intent_model import IntentModel, fit_with_vectors, name_as_example
from agents.models import ExampleSource, ModelVersion
from inbox import actions, events
from inbox.actions import intent_name
from inbox.models import Account, Conversation, Customer, Message, Plan, SenderKind, Site
from knowledge.actions import reindex_articles, save_article
from knowledge.embeddings import embed
from knowledge.models import ArticleStatus

CUSTOMERS = 1500


@dataclass
class Result:
    steps: list[dict] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)
    handoffs: int = 0
    human_labels: int = 0
    test_accuracy_start: float = 0.0
    test_accuracy_end: float = 0.0
    test_end: dict = field(default_factory=dict)  # test_scores() at the last checkpoint
    retrains: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)  # labelled_examples at the end


def humanise(category: str) -> str:
    """A category's name in words: the article title and the intent description of the workspace."""
    return learning.intent_text(category)


def article_body(title: str) -> str:
    return (f"# {title}\n\n## {title}: what to know\n\nThis article is about {title.lower()}. "
            f"It explains {title.lower()} and the steps to take if you have a question about it.\n")


def build_workspace(categories: list[str], seeds: list[tuple[str, str]]) -> dict[str, int]:
    """One short article per category (title from its name) and K labelled examples per category."""
    articles = {}
    for category in categories:
        title = humanise(category)
        articles[category] = save_article(title=title, body=article_body(title), status=ArticleStatus.PUBLISHED,
                                          import_key=f"sim:{category}", reindex="none")
    reindex_articles(list(articles.values()))
    for category in categories:
        ensure_intent(category, description=humanise(category))
    for text, category in seeds:
        add_intent_example(category, text, source=ExampleSource.SEED, retrain=False)
    learning.refresh_intent_model(trigger="seed")  # the intents' descriptions alone already make a model
    # Statistics from the first conversation on: otherwise the planner's choices (an approximate HNSW
    # scan of the passages, or an exact one) change whenever autovacuum first wakes, a wall-clock
    # moment, and two runs of the same stream part ways there.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {category: article.pk for category, article in articles.items()}


def test_scores(texts: list[str], labels: list[str]) -> dict:
    """The live model on the test rows. `accuracy` counts an abstention (a hand-off) as wrong, as
    eval_intents does; `top1_accuracy` judges its top guess even then, the way a classifier that
    never abstains is scored, so the two sides of that comparison are in one run."""
    model = learning.load_model(learning.live_version(learning.INTENT))
    if model is None:
        return {"accuracy": 0.0, "top1_accuracy": 0.0, "abstain_rate": 1.0}
    predictions = model.predict(texts, embed=embed)
    # Labels reach the model through the inbox, which spells intents one way (lower case).
    truth = [intent_name(y) for y in labels]
    return {
        "accuracy": float(np.mean([p.intent == t for p, t in zip(predictions, truth, strict=True)])),
        "top1_accuracy": float(np.mean([bool(p.top) and p.top[0][0] == t for p, t in zip(predictions, truth, strict=True)])),
        "abstain_rate": float(np.mean([p.intent is None for p in predictions])),
    }


def refresh_lag(n_examples: int) -> int:
    """Conversations between a refresh being read and going live: about what a worker's fit of that
    many examples takes, counted in this stream's conversations (about 13 a second here; a fit, about
    a second per 1,000 examples while it shares the machine), so that the stream seldom waits for it."""
    return n_examples // 50


class BackgroundRefresh:
    """The intent model's refreshes fitted on a second process while the conversations go on, as a
    Celery worker fits them beside the chats in production (inline, every fit stopped the stream).

    Deterministic all the same: a refresh that is due at conversation s reads its examples then, and
    is guarded and promoted at conversation s + refresh_lag(n), waiting for the fit if it is not done;
    so the same stream fits the same models at the same points, however fast the machine is.
    One refresh at a time, as the label-count trigger asks again once it is done.
    """

    def __init__(self) -> None:
        self.step = 0
        self.job: learning.RefreshJob | None = None
        self.future: Future | None = None
        self.live_at = 0
        self.waited = 0.0
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> BackgroundRefresh:
        events.inline_handlers[REFRESH_TASK] = self.request
        return self

    def __exit__(self, *exc) -> None:
        events.inline_handlers.pop(REFRESH_TASK, None)
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def request(self) -> None:
        """The refresh task, handed over by the inline queue."""
        if self.job is not None or not learning.refresh_due():
            return
        job = learning.start_refresh(trigger="label_count")
        if job is None:
            return
        # Sorted: the encoder's batches (and so the last bits of a vector) follow the order it is given.
        needed = list(dict.fromkeys(job.train_x + [name_as_example(name) for name in sorted(set(job.train_y))]))
        vectors = dict(zip(needed, embed(needed), strict=True))  # the parent's memo: encoded once, here
        if self.pool is None:  # spawn: the parent has threads (encoder, entities) a fork would copy mid-call
            self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self.future = self.pool.submit(fit_with_vectors, job.train_x, job.train_y, vectors, seed=learning.FIT_SEED,
                                       previous=job.live_model.to_bytes() if job.live_model else None)
        self.job, self.live_at = job, self.step + refresh_lag(len(job.train_x))

    def at(self, step: int, *, last: bool = False) -> None:
        """Conversation `step` begins (or the stream ended): a refresh whose time has come goes live."""
        self.step = step
        if self.job is None or (step < self.live_at and not last):
            return
        started = time.perf_counter()
        blob, fit_seconds = self.future.result()
        self.waited += time.perf_counter() - started
        job, self.job, self.future = self.job, None, None
        learning.finish_refresh(job, IntentModel.from_bytes(blob), fit_seconds=fit_seconds)


def run(
    stream: list[tuple[str, str]],
    test_rows: list[tuple[str, str]],
    article_of: dict[str, int],
    *,
    noise: float,
    seed: int,
    eval_every: int = 500,
    window: int = 500,
    progress: Callable[[int], None] | None = None,
) -> Result:
    rng = random.Random(seed)
    agent = get_user_model().objects.create_user("sim-agent@example.com", "sim-agent@example.com", is_staff=True,
                                                 first_name="Sim")
    site = Site.objects.create(name="Simulation", business_hours="")
    plans = list(Plan.values)
    accounts = [Account.objects.create(name=f"Sim account {i}", plan=plans[i % len(plans)],
                                       signed_up_at=timezone.now()) for i in range(40)]
    customers = Customer.objects.bulk_create([
        Customer(site=site, account=accounts[i % len(accounts)], name=f"Customer {i}", is_verified=True,
                 external_id=f"sim-{i}", created_at=timezone.now()) for i in range(CUSTOMERS)
    ])
    test_texts, test_labels = [t for t, _ in test_rows], [c for _, c in test_rows]
    embed(test_texts)  # once, so checkpoints cost only the classifier
    result = Result(test_accuracy_start=test_scores(test_texts, test_labels)["accuracy"])
    clock = timezone.now()
    with BackgroundRefresh() as refresher:
        for step, (text, category) in enumerate(stream, start=1):
            refresher.at(step)
            clock += timedelta(minutes=7)
            customer = customers[rng.randrange(len(customers))]
            message, _ = actions.post_customer_message(customer=customer, body=text, respond=False, at=clock)
            reply = pipeline.respond(message.conversation_id, message.pk, allow_clarify=False)
            conversation = Conversation.objects.get(pk=message.conversation_id)
            answered = reply is not None and reply.trace.get("decision") == "answer"
            truly = answered and reply.trace["chosen"]["article_id"] == article_of[category]
            handed_off = not answered
            tried_again = right_again = False
            if answered:
                satisfied = truly if rng.random() >= noise else not truly
                if not satisfied:
                    # The customer follows up: “Not helpful” (the widget's button) asks the agent to try again.
                    actions.give_feedback(reply, helpful=False)
                    conversation.refresh_from_db()
                    again = actions.last_ai_reply(conversation)
                    if again.pk != reply.pk and again.trace.get("decision") == "answer":
                        tried_again = True
                        right_again = again.trace["chosen"]["article_id"] == article_of[category]
                        truly = truly or right_again
                        satisfied = right_again if rng.random() >= noise else not right_again
                if satisfied:  # the customer's problem is solved: the chat resolves, nobody comes back
                    conversation = actions.resolve(conversation, at=clock)
                    # No follow-up comes in the simulation, so the window closes with a positive signal.
                    actions.close_resolution_window(conversation, window=timedelta(0), now=clock)
                else:  # escalates (if the agent did not hand off itself)
                    actions.hand_off(conversation, "customer_request", note="simulated customer escalated",
                                     customer_notice="Passing you to a teammate.", at=clock)
                    handed_off = True
            if handed_off:
                result.handoffs += 1
                actions.correct_intent(conversation, intent=category, by=agent)
                result.human_labels += 1
                actions.post_agent_reply(conversation, by=agent, body=f"(resolved: {humanise(category)})", at=clock)
                actions.resolve(conversation, by=agent, at=clock)
            top = (reply.trace.get("top_intents") or [[None, 0.0]])[0] if answered else (None, 0.0)
            offered = answered and any(h["article_id"] == article_of[category] for h in reply.trace["retrieved"])
            result.steps.append({"resolved": truly, "handoff": handed_off, "answered": answered, "tried_again": tried_again,
                                 "right_again": right_again,
                                 "understood": top[0] == intent_name(category), "top_p": top[1], "offered": offered})
            if step == len(stream):
                refresher.at(step, last=True)  # the worker finishes the refresh it had begun
            if step % eval_every == 0 or step == len(stream):
                recent = result.steps[-window:]
                result.test_end = test_scores(test_texts, test_labels)
                result.curve.append({
                    "step": step,
                    "window_resolution_rate": round(sum(s["resolved"] for s in recent) / len(recent), 4),
                    "test_accuracy": round(result.test_end["accuracy"], 4),
                })
            if progress:
                progress(1)
    result.test_accuracy_end = result.curve[-1]["test_accuracy"] if result.curve else result.test_accuracy_start
    result.examples = labelled_examples(dict(stream), article_of)
    result.labels = label_quality(result.examples)
    fits = [v.metrics.get("train_seconds", 0.0) for v in ModelVersion.objects.filter(kind=learning.INTENT).defer("blob")]
    result.retrains = {"intent_models_trained": len(fits), "train_seconds_median": round(float(np.median(fits)), 1) if fits else None,
                       "train_seconds_total": round(sum(fits), 1), "stream_waited_for_fits_seconds": round(refresher.waited, 1)}
    return result


def labelled_examples(truth: dict[str, str], article_of: dict[str, int]) -> list[dict]:
    """What the intent model learns from, one row per example: its text, the intent it was given, its
    source, the true intent, and (for a confirmed outcome) the probability the answering model gave
    that intent before anyone confirmed it, and the answer that confirmed it.

    A confirmed example is split by the answer that confirmed it: a second try, or a first answer
    the model was sure of ("model's intent") or not ("article's intent"); see outcomes.confirmed_intent.
    """
    how: dict[int, tuple[str, dict]] = {}
    for question, second, trace in (
            Message.objects.filter(sender_kind=SenderKind.AI, trace__decision="answer").order_by("id")
            .values_list("trace__replying_to", "trace__try_again_after", "trace")):
        if second:
            how[question] = (" (second try)", trace)
        elif question not in how:
            sure = (trace.get("credited_confidence") or 0) >= outcomes.CONFIRM_MIN_CONFIDENCE
            how[question] = (" (model's intent)" if sure else " (article's intent)", trace)
    category_of = {article: intent_name(category) for category, article in article_of.items()}
    answers_intent = {article: learning.intent_of_article(article) for article in category_of}
    rows = []
    for text, intent, source, message_id in learning.training_examples()[0]:
        if text not in truth:
            continue
        kind, trace = how.get(message_id, ("", {})) if source == ExampleSource.CONFIRMED_OUTCOME else ("", {})
        top = dict(map(tuple, trace.get("top_intents") or []))
        row = {"text": text, "intent": intent, "source": source + kind, "true_intent": intent_name(truth[text]),
               "decision_probability": top.get(intent) if kind else None}
        if kind:  # the answer that confirmed it, for studying how confirmations are credited
            chosen = trace["chosen"]["article_id"]
            row["answer"] = {"article_category": category_of.get(chosen), "article_intent": answers_intent.get(chosen),
                             "top_intents": trace.get("top_intents"),
                             "credited_intent": trace.get("credited_intent"), "credit": trace.get("credit"),
                             "credited_confidence": trace.get("credited_confidence"),
                             "by_intent": next((r["by_intent"] for r in trace.get("ranking") or []
                                                if r["article_id"] == chosen), None)}
        rows.append(row)
    return rows


def label_quality(rows: list[dict]) -> dict:
    """Per source: how many examples, and how many are right."""
    out = {}
    for source in sorted({r["source"] for r in rows}):
        mine = [r for r in rows if r["source"] == source]
        out[source] = {"examples": len(mine), "right": round(sum(r["intent"] == r["true_intent"] for r in mine)
                                                             / len(mine), 4)}
    return out


def breakdown(steps: list[dict]) -> dict:
    """Where resolutions are lost: not answered, the question misread, or the wrong article for it."""
    answered = [s for s in steps if s.get("answered")]
    understood = [s for s in answered if s["understood"]]
    misread = [s for s in answered if not s["understood"]]
    share = lambda part, whole: round(len(part) / max(1, len(whole)), 4)  # noqa: E731
    missed = [s for s in understood if not s["resolved"]]
    return {
        "answered": share(answered, steps),
        "top_intent_right_when_answered": share(understood, answered),
        "resolved_when_intent_right": share([s for s in understood if s["resolved"]], understood),
        "resolved_when_intent_wrong": share([s for s in misread if s["resolved"]], misread),
        # “Not helpful”, then the agent's second answer: how often, and how often that one resolved.
        "tried_again": share([s for s in answered if s.get("tried_again")], answered),
        "second_answer_right": share([s for s in answered if s.get("right_again")],
                                     [s for s in answered if s.get("tried_again")]),
        # Intent right, answer wrong: was the right article even a candidate, and how sure was the model?
        "intent_right_answer_wrong": {
            "right_article_not_offered": share([s for s in missed if not s["offered"]], missed),
            "top_p_median": round(float(np.median([s["top_p"] for s in missed])), 3) if missed else None,
            "top_p_median_when_resolved": round(float(np.median([s["top_p"] for s in understood if s["resolved"]])), 3)
            if understood else None,
        },
    }


def summarise(result: Result, started: float) -> dict:
    steps = result.steps
    first, last = steps[:500], steps[-1000:]
    half = len(steps) // 2
    return {
        "resolution_rate_first_half": round(sum(s["resolved"] for s in steps[:half]) / max(1, half), 4),
        "resolution_rate_second_half": round(sum(s["resolved"] for s in steps[half:]) / max(1, len(steps) - half), 4),
        "resolution_rate_first_500": round(sum(s["resolved"] for s in first) / max(1, len(first)), 4),
        "resolution_rate_last_1000": round(sum(s["resolved"] for s in last) / max(1, len(last)), 4),
        # What the system itself saw: every conversation not handed off resolved on the customer's (noisy) word.
        "signal_resolution_rate_last_1000": round(sum(not s["handoff"] for s in last) / max(1, len(last)), 4),
        "handoffs": result.handoffs,
        "handoff_rate": round(result.handoffs / max(1, len(steps)), 4),
        "human_labels": result.human_labels,
        "test_accuracy_start": round(result.test_accuracy_start, 4),
        "test_accuracy_end": round(result.test_accuracy_end, 4),
        "test_top1_accuracy_end": round(result.test_end.get("top1_accuracy", 0.0), 4),
        "test_abstain_rate_end": round(result.test_end.get("abstain_rate", 0.0), 4),
        "curve": result.curve,
        "last_1000_breakdown": breakdown(last),
        "first_half_breakdown": breakdown(steps[:half]),
        "retrains": result.retrains,
        "labels": result.labels,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
