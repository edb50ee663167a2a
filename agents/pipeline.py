"""The agent: enrich → understand → decide → retrieve → compose → record (DESIGN.md).

Every reply carries a decision trace (model versions, intent and confidence, entities,
retrieved chunks and scores, the ranking learner's numbers, the decision and why), which is
what outcome signals attach to later and what agents read in the inbox.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlparse

import numpy as np
from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from agents import escalation, learning, llm, outcomes, ranking
from agents.entities import Catalog, extract_entities
from agents.models import Intent
from agents.sentiment import frustration_score
from inbox import actions as inbox
from inbox.events import conversation_group, send_now
from inbox.models import Conversation, EscalationReason, Message, OutcomeKind, SenderKind
from knowledge.embeddings import embed_one, embed_soon
from knowledge.models import Area, Article, Chunk
from knowledge.search import Hit, search

HUMAN_REQUEST = re.compile(
    r"\b(talk|speak|chat|connect|get|want|need)\b.{0,25}\b(human|person|agent|someone|somebody|representative|"
    r"operator|real people|support team|staff)\b|\b(human|real person|live agent)\s*(please|now|pls)?\s*[!.?]*$",
    re.I,
)
FRUSTRATION_HANDOFF = 0.7
MIN_SIMILARITY = 0.25  # below this the best passage is not about the question at all
MAX_AI_ATTEMPTS = 2  # AI answers in one conversation before a still-asking customer gets a human
REASON_TEXT = {
    EscalationReason.CUSTOMER_REQUEST: "you asked for a person",
    EscalationReason.ANGRY_CUSTOMER: "I can tell this has been frustrating, and a person should take it from here",
    EscalationReason.POLICY_EXCEPTION: "this is something only our support staff can decide",
    EscalationReason.MISSING_KNOWLEDGE: "I couldn't find a reliable answer in our help centre",
    EscalationReason.LOW_CONFIDENCE: "I'm not sure I understood the question correctly",
    EscalationReason.HIGH_VALUE_ACCOUNT: "your account has a dedicated team",
}


@dataclass
class Understanding:
    intent: str | None
    confidence: float
    top: list[tuple[str, float]]
    entities: list[dict]
    frustration: float
    model_version: int | None
    vector: object = None


@dataclass
class Plan:
    decision: str  # answer | clarify | handoff
    why: str
    reason: str = ""
    hits: list[Hit] = field(default_factory=list)
    ranking: list[dict] = field(default_factory=list)
    chosen: Hit | None = None
    expected: float = 0.0
    credited_intent: str | None = None
    credited_confidence: float = 0.0
    credit: dict[str, float] = field(default_factory=dict)
    judgement: escalation.Judgement | None = None


# ---------------------------------------------------------------- enrich


def page_area(page: dict | None) -> str | None:
    """The product area of the page the customer is on: explicit metadata, else the URL path."""
    if not page:
        return None
    if page.get("area") in Area.values:
        return page["area"]
    path = urlparse(str(page.get("url", ""))).path.lower()
    for area in Area.values:
        if area in path or area.replace("-", "_") in path:
            return area
    return None


def enrich(conversation: Conversation) -> dict:
    customer, account = conversation.customer, conversation.account
    return {
        "customer_id": customer.pk,
        "first_name": (customer.name or "").split(" ")[0] if customer.is_verified else "",
        "verified": customer.is_verified,
        "plan": account.plan if account else None,
        "plan_label": account.get_plan_display() if account else None,
        "seats": account.seats if account else None,
        "mrr": float(account.mrr) if account else 0.0,
        "page": conversation.page_context,
        "area": page_area(conversation.page_context),
    }


@lru_cache(maxsize=1)
def _catalog_cached(stamp: int) -> Catalog:
    from inbox.models import Plan as PlanChoice

    tags = set()
    for article_tags in Article.objects.filter(status="published").values_list("tags", flat=True):
        tags.update(t for t in article_tags if len(t) > 3)
    return Catalog(plans=[label for _, label in PlanChoice.choices], features=sorted(tags))


def catalog() -> Catalog:
    return _catalog_cached(int(time.time() // 300))


# ---------------------------------------------------------------- understand


def understand(text: str, *, entities: bool = True) -> Understanding:
    """Intent, frustration and (unless entities=False: the caller extracts them itself) entities."""
    frustration = round(frustration_score(text), 3)  # first: the vector the model needs may be on its way
    prediction, version = learning.predict_intent(text)
    return Understanding(
        intent=prediction.intent if prediction else None,
        confidence=float(prediction.confidence) if prediction else 0.0,
        top=[(name, round(float(p), 4)) for name, p in (prediction.top if prediction else [])],
        entities=_entities(text) if entities else [],
        frustration=frustration,
        model_version=version,
    )


# ---------------------------------------------------------------- decide + retrieve


def _ai_attempts(conversation: Conversation) -> int:
    return conversation.messages.filter(sender_kind=SenderKind.AI, trace__decision="answer").count()


def _asked_to_clarify(conversation: Conversation) -> bool:
    return conversation.messages.filter(sender_kind=SenderKind.AI, trace__decision="clarify").exists()


def _can_clarify(conversation: Conversation, u: Understanding, context: dict) -> bool:
    """Ask once, when the model abstains between candidates, before giving up on the customer."""
    return (u.intent is None and len(u.top) >= 2 and context.get("allow_clarify", True)
            and not (context.get("earlier", True) and _asked_to_clarify(conversation)))


def _not_helpful(conversation: Conversation) -> int:
    return conversation.outcomes.filter(kind=OutcomeKind.NOT_HELPFUL).count()


def decide(conversation: Conversation, text: str, u: Understanding, context: dict, rng: random.Random) -> Plan:
    if HUMAN_REQUEST.search(text) or u.intent == "talk_to_human":
        return Plan("handoff", "the customer asked for a human", EscalationReason.CUSTOMER_REQUEST)
    if u.frustration >= FRUSTRATION_HANDOFF:
        return Plan("handoff", f"frustration {u.frustration:.2f} ≥ {FRUSTRATION_HANDOFF}",
                    EscalationReason.ANGRY_CUSTOMER)
    if u.intent and Intent.objects.filter(name=u.intent, human_only=True).exists():
        return Plan("handoff", f"intent {u.intent} is marked human-only", EscalationReason.POLICY_EXCEPTION)
    # A conversation's first message has no history to count (most replies: two queries saved).
    if context.get("earlier", True) and (_ai_attempts(conversation) >= MAX_AI_ATTEMPTS
                                         or _not_helpful(conversation) >= 2):
        return Plan("handoff", "the AI already answered twice without resolving", EscalationReason.MISSING_KNOWLEDGE)
    plan = retrieve(text, u, context, rng)
    if plan.decision != "answer":
        if _can_clarify(conversation, u, context):
            return Plan("clarify", "no confident intent and no matching passage: asking one clarifying question",
                        hits=plan.hits)
        return plan
    # The learned escalation policy: answer only when this kind of answer, in this kind of
    # situation, has a fair chance of resolving the conversation.
    plan.judgement = escalation.judge(escalation.situation(
        expected=plan.expected, intent=plan.credited_intent or u.intent, frustration=u.frustration, context=context,
        repeat=conversation.follow_up_of_id is not None,
    ))
    if plan.judgement.answer:
        plan.why = f"{plan.why}; {plan.judgement.why()}"
        return plan
    if _can_clarify(conversation, u, context):
        return Plan("clarify", f"intent unclear and {plan.judgement.why()}: asking one clarifying question",
                    hits=plan.hits, judgement=plan.judgement)
    return Plan("handoff", f"handing off early: {plan.judgement.why()}", plan.judgement.reason, hits=plan.hits,
                ranking=plan.ranking, judgement=plan.judgement)


def retrieve(text: str, u: Understanding, context: dict, rng: random.Random) -> Plan:
    rejected = set(context.get("rejected", ()))  # answers the customer said did not help, this conversation
    hits = [h for h in search(text, k=6, vector=u.vector, area=context.get("area")) if h.article_id not in rejected]
    known = {h.article_id for h in hits} | rejected
    likely = [name for name, p in u.top if p >= ranking.CREDIT_MIN_PROBABILITY]
    evidence = ranking.evidence([name for name, p in u.top if p > ranking.READING_MIN_PROBABILITY], context)
    extra = [a for a in ranking.proven_articles(likely, evidence) if a not in known]
    if extra:
        hits += _best_chunks(extra, u.vector)
    # The articles that fit each likely intent best are candidates too: search on the customer's
    # words can miss the answer to a question the model has already understood.
    hits += _fitting_chunks(likely, known | set(extra), hits)
    if not hits or max((h.similarity or 0) for h in hits) < MIN_SIMILARITY and not extra:
        # Knowledge is missing only if we know what was asked; otherwise we did not understand.
        reason = EscalationReason.MISSING_KNOWLEDGE if u.intent else EscalationReason.LOW_CONFIDENCE
        return Plan("handoff", "no passage in the knowledge base matches the question", reason, hits=hits)
    affinity, similarity = _affinity(u, hits)
    choice = ranking.choose(u.top, [h.article_id for h in hits], context, rng,
                            affinity=affinity, similarity=similarity, known=evidence)
    ranking_trace = [
        {"article_id": row["article_id"], "expected": round(row["expected"], 4), "prior": round(row["prior"], 3),
         "by_intent": {name: round(v, 4) for name, v in row["parts"].items()}}
        for row in choice.table
    ]
    best = next(h for h in hits if h.article_id == choice.article_id)
    basis = f"intent {choice.credited_intent} ({choice.credited_confidence:.2f})" if choice.credited_intent else (
        "search order (no confident intent)")
    why = f"“{best.title}” chosen on {basis}, expected to resolve {choice.expected:.2f}"
    return Plan("answer", why, hits=hits, ranking=ranking_trace, chosen=best, expected=choice.expected,
                credited_intent=choice.credited_intent, credited_confidence=choice.credited_confidence,
                credit=choice.credit)


def reconsider(u: Understanding, rejected_trace: dict) -> None:
    """Bayes on “not helpful”: each reading of the question loses the chance that the rejected
    answer would have resolved it, as the ranking believed when it chose that answer.

    An intent the rejected article plainly answers drops out; readings it did not serve become
    the likely ones, so the second try answers the question the customer did not mean first.
    """
    row = next((r for r in rejected_trace.get("ranking") or []
                if r["article_id"] == (rejected_trace.get("chosen") or {}).get("article_id")), None)
    if row is None:
        return
    p_of = dict(rejected_trace.get("top_intents") or [])
    belief = {name: part / p_of[name] for name, part in row["by_intent"].items() if p_of.get(name)}
    top = [(name, p * (1 - min(1.0, belief.get(name, 0.0)))) for name, p in u.top]
    unknown = max(0.0, 1.0 - sum(p for _, p in u.top)) * (1 - row.get("prior", 0.0))
    total = sum(p for _, p in top) + unknown
    if total <= 0:
        return
    u.top = sorted(((name, round(p / total, 4)) for name, p in top), key=lambda x: x[1], reverse=True)
    u.confidence = u.top[0][1] if u.top else 0.0
    u.intent = u.top[0][0] if u.top and u.confidence >= 0.5 else None


def _affinity(u: Understanding, hits: list[Hit]) -> tuple[dict[str, dict[int, float]], dict[int, float]]:
    """Cosine of each candidate's passage to what each likely intent is about, and to the question."""
    vectors = {h.chunk_id: h.vector for h in hits if h.vector is not None}
    missing = [h.chunk_id for h in hits if h.vector is None]
    if missing:
        vectors.update((cid, np.asarray(v, dtype=np.float32)) for cid, v in
                       Chunk.objects.filter(pk__in=missing).values_list("id", "embedding"))

    def closeness(target) -> dict[int, float]:
        sims: dict[int, float] = {}
        for h in hits:
            if h.chunk_id in vectors:
                sims[h.article_id] = max(float(np.dot(target, vectors[h.chunk_id])), sims.get(h.article_id, -1.0))
        return sims

    targets = learning.intent_targets([name for name, p in u.top if p > ranking.READING_MIN_PROBABILITY])
    question = closeness(u.vector) if u.vector is not None else {}
    return {name: closeness(target) for name, target in targets.items()}, question


FITTING_TTL = 60.0  # seconds an intent's nearest passages are reused; meanwhile search finds new articles
_fitting: dict[tuple[tuple, str], tuple[float, list[int]]] = {}


def _fitting_chunks(intents: list[str], known: set[int], hits: list[Hit], per_intent: int = 2) -> list[Hit]:
    """The passages closest to what each likely intent is about, from articles not yet candidates.

    They depend on the live model and the knowledge base, not on the question: looked up once a
    minute per intent, then fetched by id in one query for all the question's likely intents.
    The same query brings the vectors of `hits` (the candidates so far), which the affinity needs.
    """
    from pgvector.django import CosineDistance

    targets = learning.intent_targets(intents)
    if not targets:
        return []
    version = learning.cache_key(learning.live_version(learning.INTENT))
    now = time.monotonic()
    nearest: dict[str, list[int]] = {}
    for name, target in targets.items():
        cached = _fitting.get((version, name))
        if cached is None or now - cached[0] > FITTING_TTL:
            if len(_fitting) > 10_000:
                _fitting.clear()
            ids = list(Chunk.objects.filter(article__status="published")
                       .order_by(CosineDistance("embedding", target)).values_list("id", flat=True)[: per_intent * 2])
            cached = _fitting[(version, name)] = (now, ids)
        nearest[name] = cached[1]
    unvectored = {h.chunk_id: h for h in hits if h.vector is None}
    chunks = _passages(Chunk.objects.filter(pk__in=[*unvectored, *(i for ids in nearest.values() for i in ids)])
                       ).in_bulk()
    for chunk_id, hit in unvectored.items():
        if chunk_id in chunks:
            hit.vector = np.asarray(chunks[chunk_id].embedding, dtype=np.float32)
    hits: list[Hit] = []
    for name, ids in nearest.items():
        fresh = [chunks[i] for i in ids if i in chunks and chunks[i].article_id not in known][:per_intent]
        for chunk in fresh:
            known.add(chunk.article_id)
            hits.append(_candidate(chunk, f"fits intent {name}"))
    return hits


def _best_chunks(article_ids: list[int], vector) -> list[Hit]:
    """The closest passage of each proven article, for candidates search did not surface."""
    from pgvector.django import CosineDistance

    best = (_passages(Chunk.objects.filter(article_id__in=article_ids))
            .order_by("article_id", CosineDistance("embedding", vector)).distinct("article_id"))
    by_article = {chunk.article_id: chunk for chunk in best}  # one query, not one per article
    return [_candidate(by_article[a], "resolved this intent before") for a in article_ids if a in by_article]


def _passages(chunks):
    """Published passages with what a candidate shows and its vector (the affinity needs it),
    without the tsvectors and bodies."""
    return (chunks.filter(article__status="published").select_related("article")
            .only("id", "article_id", "heading", "text", "embedding", "article__title", "article__slug",
                  "article__area"))


def _candidate(chunk: Chunk, reason: str) -> Hit:
    """A candidate passage the learners brought in (search did not rank it, so no search score)."""
    article = chunk.article
    return Hit(chunk_id=chunk.pk, article_id=chunk.article_id, title=article.title, slug=article.slug,
               area=article.area, heading=chunk.heading, text=chunk.text, score=0.0, reasons=[reason],
               vector=np.asarray(chunk.embedding, dtype=np.float32))


# ---------------------------------------------------------------- compose


def _plain(text: str) -> str:
    text = re.sub(r"\*\*|__|`", "", text)
    text = re.sub(r"^#+\s*", "", text, flags=re.M)
    return re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text).strip()


def extractive_answer(hit: Hit, context: dict, max_chars: int = 600, sorry: bool = False) -> str:
    body = _plain(hit.text)
    if len(body) > max_chars:
        cut = body[:max_chars]
        body = cut[: max(cut.rfind("\n"), cut.rfind(". ") + 1)] or cut
        body = body.rstrip() + " …"
    lead = "Sorry that didn't help. " if sorry else f"Hi {context['first_name']}! " if context.get("first_name") else ""
    heading = hit.heading if hit.heading and hit.heading != hit.title else hit.title
    account = ""
    if context.get("plan_label") and hit.area == Area.BILLING:
        account = f" (you're on the {context['plan_label']} plan with {context['seats']} seats)"
    return f"{lead}Here's what our help centre says about “{heading}”{account}:\n\n{body}"


def citations(hits: list[Hit]) -> list[dict]:
    return [{"article_id": h.article_id, "title": h.title, "url": f"/help/{h.slug}/", "chunk_id": h.chunk_id}
            for h in hits]


def clarifying_question(u: Understanding) -> str:
    names = [name for name, _ in u.top[:2]]
    intents = {i.name: i for i in Intent.objects.filter(name__in=names)}

    def describe(name: str) -> str:
        intent = intents.get(name)
        return (intent.description if intent and intent.description else name.replace("_", " ")).rstrip(".")

    return ("I want to make sure I get this right. Is your question about "
            f"{describe(names[0]).lower()}, or about {describe(names[1]).lower()}? A few more words help too.")


def handoff_notice(reason: str, site_hours: str) -> str:
    why = REASON_TEXT.get(reason, "this needs a person")
    hours = f" Our team is available {site_hours}." if site_hours else ""
    return (f"I'm passing this to our support team because {why}. A teammate will reply right here in this chat; "
            f"you can close the window and come back, the conversation stays.{hours}")


# ---------------------------------------------------------------- the whole turn


def respond(conversation_id: int, message_id: int, *, allow_clarify: bool = True,
            try_again: bool = False, text: str | None = None) -> Message | None:
    """Answer one customer message (the Celery task's body).

    try_again: the customer said the answer to this message did not help; give the next best
    answer (never the rejected one), or hand off if nothing else is likely enough to resolve it.
    text: the message's words, when the caller has them: encoding starts before the message is
    read back (what is answered is always the stored message).
    """
    if text:
        embed_soon(text)
    with learning.one_reading():
        return _respond(conversation_id, message_id, allow_clarify=allow_clarify and not try_again,
                        try_again=try_again)


def _rejected_answer(conversation: Conversation, message: Message) -> Message | None:
    """The AI's latest answer, if it answered this message and the customer said it did not help."""
    last = inbox.last_ai_reply(conversation)
    if (last is None or last.trace.get("replying_to") != message.pk or last.trace.get("decision") != "answer"
            or not last.outcomes.filter(kind=OutcomeKind.NOT_HELPFUL).exists()):
        return None
    return last


def _respond(conversation_id: int, message_id: int, *, allow_clarify: bool, try_again: bool = False
             ) -> Message | None:
    started, began = time.perf_counter(), timezone.now()
    # One query: the message, its conversation (customer, site, account), whether the customer has
    # written since and whether anything came before it.
    later = Message.objects.filter(conversation_id=OuterRef("conversation_id"), sender_kind=SenderKind.CUSTOMER,
                                   id__gt=OuterRef("pk"))
    before = Message.objects.filter(conversation_id=OuterRef("conversation_id"), id__lt=OuterRef("pk"))
    message = (Message.objects.select_related("conversation__customer__site", "conversation__account")
               .annotate(newer=Exists(later), earlier=Exists(before))
               .get(pk=message_id, conversation_id=conversation_id))
    conversation = message.conversation
    if conversation.needs_human or conversation.is_spam:
        return None
    if message.newer:
        return None  # the customer kept typing; answer the latest message instead
    text = message.body
    embed_soon(text)  # on the encoder thread, while the database work below that needs no vector runs
    context = {**enrich(conversation), "allow_clarify": allow_clarify, "earlier": message.earlier}
    rejected = None
    if try_again:
        rejected = _rejected_answer(conversation, message)
        if rejected is None:
            return None  # answered again already, or the customer moved on
        rejected_ids = [m.trace["chosen"]["article_id"] for m in conversation.messages.filter(
            sender_kind=SenderKind.AI, outcomes__kind=OutcomeKind.NOT_HELPFUL, trace__has_key="chosen")]
        context.update(earlier=True, rejected=rejected_ids)
    stages = {"loaded": _ms(started)}
    waited = (began - message.created_at).total_seconds()
    if 0 <= waited < 60 and rejected is None:  # none for imported or simulated messages, or a second try
        stages["queued"] = round(waited * 1000, 1)  # stored → this task starting (commit, broker, worker)
    if conversation.follow_up_of_id is None and not message.earlier and rejected is None:
        outcomes.detect_follow_up(conversation, text)
    u = understand(text, entities=False)
    u.vector = embed_one(text)
    if rejected is not None:
        reconsider(u, rejected.trace)
    stages["understood"] = _ms(started)
    rng = random.Random(message.pk)
    plan = decide(conversation, text, u, context, rng)
    stages["decided"] = _ms(started)
    trace = {
        "decision": plan.decision,
        "why": plan.why,
        "intent": u.intent,
        "confidence": round(u.confidence, 4),
        "top_intents": u.top,
        "entities": u.entities,
        "frustration": u.frustration,
        "segments": ranking.segments(context),
        "retrieved": [{"chunk_id": h.chunk_id, "article_id": h.article_id, "title": h.title,
                       "score": round(h.score, 5), "similarity": None if h.similarity is None else round(h.similarity, 4)}
                      for h in plan.hits],
        "ranking": plan.ranking,
        "expected_success": round(plan.expected, 4),
        "credited_intent": plan.credited_intent,
        "credited_confidence": round(plan.credited_confidence, 4),
        "credit": {name: round(share, 4) for name, share in plan.credit.items()},
        "escalation": plan.judgement.as_trace() if plan.judgement else None,
        "model_versions": {"intent": u.model_version, "embedding": settings.EMBEDDING_BACKEND},
        "learning": settings.LEARNING_ENABLED,
        "replying_to": message.pk,
        "try_again_after": rejected.pk if rejected else None,
        "stages_ms": stages,  # since the task started (queued: before it): where the reply's time goes
    }

    def understood() -> None:
        """Extract the entities, then store what was understood about the customer's message.

        Nothing before needs them, and they are extracted only now: spaCy holds the GIL, so on a
        helper thread it slowed whatever ran beside it (the encoder 10 → 14 ms; with an LLM, the
        first streamed token) by about as much as it saved."""
        u.entities = trace["entities"] = _entities(text)
        inbox.update_understanding(message, entities=u.entities, frustration=u.frustration)

    if plan.decision == "handoff":
        understood()
        trace["handoff_reason"] = plan.reason
        site_hours = conversation.customer.site.business_hours if conversation.customer.site else ""
        inbox.hand_off(conversation, plan.reason, note=plan.why, customer_notice=handoff_notice(plan.reason, site_hours),
                       trace=trace, intent=u.intent, confidence=u.confidence)
        return None
    if plan.decision == "clarify":
        understood()
        return inbox.post_ai_reply(conversation, clarifying_question(u), trace=trace, intent=u.intent,
                                   confidence=u.confidence)
    hit = plan.chosen
    trace["chosen"] = {"article_id": hit.article_id, "chunk_id": hit.chunk_id, "title": hit.title}
    trace["citations"] = citations([hit])
    body, info = None, {"used": False}
    if llm.enabled():
        # The LLM request goes out as soon as the decision is made; storing the understanding waits.
        passages = [{"title": h.title, "heading": h.heading, "text": h.text} for h in [hit, *[
            h for h in plan.hits if h.article_id != hit.article_id][:2]]]
        stream_id = f"s{message.pk}"
        group = conversation_group(conversation.pk)
        def on_token(delta: str) -> None:
            stages.setdefault("first_token", _ms(started))
            send_now(group, {"type": "token", "stream_id": stream_id, "delta": delta})

        body, info = llm.generate(text, passages, _account_facts(context), on_token=on_token)
        trace["stream_id"] = stream_id
    understood()
    trace["composer"] = "llm" if body else "extractive"
    trace["llm"] = info
    if body is None:
        body = extractive_answer(hit, context, sorry=rejected is not None)
    trace["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return inbox.post_ai_reply(conversation, body, trace=trace, intent=u.intent, confidence=u.confidence)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


_helpers: dict = {}  # per process (a forked worker must not inherit its parent's threads)
_helpers_lock = threading.Lock()


def _helper(name: str, make):
    key = (name, os.getpid())
    if key not in _helpers:
        with _helpers_lock:
            if key not in _helpers:
                _helpers[key] = make()
    return _helpers[key]


def _entities(text: str) -> list[dict]:
    """extract_entities on the process's one entity thread (spaCy is used by one thread at a time)."""
    cat, now = catalog(), timezone.now()  # the catalogue's database read stays on the caller's thread

    def run() -> list[dict]:
        return [{"start": e.start, "end": e.end, "label": e.label, "text": e.text, "value": e.value}
                for e in extract_entities(text, cat, now=now)]

    return _helper("entities", lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="entities")).submit(run).result()


def _account_facts(context: dict) -> str:
    if not context.get("plan_label"):
        return ""
    return f"plan {context['plan_label']}, {context['seats']} seats"


def suggest_draft(conversation_id: int):
    """A reply suggestion for the human who now owns the conversation (same pipeline, no sending)."""
    conversation = Conversation.objects.select_related("customer", "account").get(pk=conversation_id)
    last = conversation.messages.filter(sender_kind=SenderKind.CUSTOMER).order_by("-created_at", "-id").first()
    if last is None:
        return None
    context = enrich(conversation)
    u = understand(last.body)
    u.vector = embed_one(last.body)
    plan = retrieve(last.body, u, context, random.Random(last.pk))
    trace = {"intent": u.intent, "confidence": round(u.confidence, 4), "top_intents": u.top,
             "decision": plan.decision, "why": plan.why, "replying_to": last.pk}
    if plan.chosen is None:
        name = context["first_name"] or "there"
        body = f"Hi {name}, thanks for reaching out. I'm looking into this for you and will get back to you shortly."
    else:
        trace["chosen"] = {"article_id": plan.chosen.article_id, "title": plan.chosen.title}
        trace["citations"] = citations([plan.chosen])
        body = extractive_answer(plan.chosen, context) + f"\n\nFull article: /help/{plan.chosen.slug}/"
    return inbox.save_draft(conversation, body, trace)


def warm_up() -> None:
    """First use of each model costs seconds; pay it at process start, not on a customer's question."""
    import logging

    try:
        embed_one("warm up")
        _entities("warm up on 3 May at 5pm")  # spaCy, dateparser, the catalogue, the thread
        learning.predict_intent("warm up")
        learning.intent_targets([])  # every intent's description, embedded (~1 s) once per process and model
        frustration_score("warm up: this is not working!!")  # VADER's lexicon loads on first use
        if llm.enabled():
            llm.warm_up()
    except Exception:  # a fresh database without tables must not stop the worker from starting
        logging.getLogger(__name__).warning("warm-up skipped", exc_info=True)
