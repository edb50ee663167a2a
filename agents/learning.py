"""The intent model's life cycle: fit from examples, guard, promote, serve.

`IntentModel.fit` with FIT_SEED is the one training path: the live model's refreshes and
`eval_intents` reach it through `fit_intent_model`, `simulate_learning`'s background refreshes
through `intent_model.fit_with_vectors`. `refresh_intent_model` turns the examples table into a
candidate ModelVersion, scores it and the live one on the same held-back slice, and promotes the
candidate only if it is not worse.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.intent_model import IntentModel, IntentPrediction
from agents.models import Intent, IntentExample, ModelStatus, ModelVersion
from inbox.models import Label, LabelKind
from knowledge.embeddings import embed

log = logging.getLogger(__name__)

INTENT = "intent"
HOLDOUT_SIZE = 500  # enough to tell models apart within about a point and a half
PROMOTION_TOLERANCE = 0.005  # "not worse" allows for noise of half a point
RETRAIN_MIN = 10  # new labels since the live model before a refresh is due…
RETRAIN_FRACTION = 0.1  # …or a tenth of what it was trained on: often while small, less often once large
# An intent's description outweighs its examples' centroid when matching it to an article: on the
# Banking77 workspace the centroid of 30 customer questions picks the right article for 73 % of
# intents (customers describe symptoms, and look-alike articles sit close), the description alone
# for 99 %, description x2 + centroid for 97 % (bench/intent_article_mapping.py).
DESCRIPTION_WEIGHT = 2.0


FIT_SEED = 0  # every refresh fits with the same seed: the same examples give the same model


def fit_intent_model(texts: list[str], labels: list[str], *, seed: int = FIT_SEED,
                     previous: IntentModel | None = None) -> IntentModel:
    return IntentModel.fit(texts, labels, embed=embed, seed=seed, previous=previous)


def _held_back(text: str, n: int) -> bool:
    """In the held-back slice: 10 % of examples, shrinking towards HOLDOUT_SIZE as data grow.

    Keyed by a hash of the text, and the share only ever shrinks, so an example can move from
    the slice into training but never back: a live model is never scored on what it trained on.
    """
    percent = min(10, max(3, math.ceil(100 * HOLDOUT_SIZE / max(1, n))))
    return int(hashlib.sha1(text.encode()).hexdigest(), 16) % 100 < percent


def intent_text(name: str, description: str = "") -> str:
    """How an intent reads in words: its description, or its name spelled out."""
    return description.strip() or name.replace("_", " ").replace("-", " ").strip().capitalize()


def _descriptions() -> tuple[list[str], list[str]]:
    """Every defined intent in words: a definition is an example, so an intent is known before any
    customer asked it (zero-shot) and never held back."""
    rows = list(Intent.objects.order_by("name").values_list("name", "description"))
    return [intent_text(name, description) for name, description in rows], [name for name, _ in rows]


AGENT_LABEL = "agent_label"  # the source of an example that is an agent's intent label in the inbox


def training_examples() -> tuple[list[tuple[str, str, str, int | None]], int]:
    """What the intent model learns from, as (text, intent, source, message id), and the newest example's id:
    seed and confirmed examples, plus every intent label agents gave in the inbox (read in place).

    A message an agent labelled overrides any other example of the same message.
    """
    labels = {
        message_id: (body, value["intent"])
        for message_id, body, value in Label.objects.filter(kind=LabelKind.INTENT, message__isnull=False)
        .exclude(conversation__is_spam=True)
        # In the order agents gave them, not the order rows lie in the table (updates and vacuum move
        # them): the fit depends on the order, and two runs of the same stream must fit the same model.
        .order_by("id")
        .values_list("message_id", "message__body", "value")
        if value.get("intent")
    }
    rows = list(
        IntentExample.objects.exclude(message__conversation__is_spam=True)
        .exclude(message_id__in=list(labels))
        .order_by("id")
        .values_list("text", "intent__name", "source", "message_id", "id")
    )
    last_id = rows[-1][4] if rows else 0
    return [r[:4] for r in rows] + [(body, intent, AGENT_LABEL, message_id)
                                    for message_id, (body, intent) in labels.items()], last_id


def _accuracy(model: IntentModel, texts: list[str], labels: list[str]) -> float | None:
    if not texts:
        return None
    predictions = model.predict(texts, embed=embed)
    return sum(p.intent == y for p, y in zip(predictions, labels, strict=True)) / len(texts)


@dataclass
class RefreshJob:
    """One refresh's inputs, read at one moment, so that the fit itself needs no database and may run
    anywhere (the simulation runs it on a second process while conversations go on, as a worker would)."""

    trigger: str
    train_x: list[str]
    train_y: list[str]
    test_x: list[str]
    test_y: list[str]
    live: ModelVersion | None
    live_model: IntentModel | None
    last_id: int
    read_at: datetime


def start_refresh(*, trigger: str = "schedule") -> RefreshJob | None:
    examples, last_id = training_examples()
    texts, labels = [e[0] for e in examples], [e[1] for e in examples]
    defined_x, defined_y = _descriptions()
    if len(set(labels) | set(defined_y)) < 2:
        return None
    # Held back by a hash of the text (see _held_back): a live model is never scored on examples it
    # trained on. An intent whose every example hashes into the slice trains on them instead.
    held = [_held_back(t, len(texts)) for t in texts]
    trainable = {y for y, h in zip(labels, held, strict=True) if not h}
    hold = {i for i, (y, h) in enumerate(zip(labels, held, strict=True)) if h and y in trainable}
    live = live_version(INTENT)
    return RefreshJob(
        trigger=trigger,
        train_x=[t for i, t in enumerate(texts) if i not in hold] + defined_x,
        train_y=[y for i, y in enumerate(labels) if i not in hold] + defined_y,
        test_x=[texts[i] for i in sorted(hold)], test_y=[labels[i] for i in sorted(hold)],
        live=live, live_model=load_model(live), last_id=last_id, read_at=timezone.now(),
    )


def finish_refresh(job: RefreshJob, candidate: IntentModel, *, fit_seconds: float) -> ModelVersion:
    """Score the candidate and the model it would replace on the same held-back slice; promote it
    unless it is worse."""
    cand_acc = _accuracy(candidate, job.test_x, job.test_y)
    live_acc = _accuracy(job.live_model, job.test_x, job.test_y) if job.live else None
    # "Not worse" within the slice's own noise: one standard error, at least half a point.
    tolerance = max(PROMOTION_TOLERANCE, (live_acc * (1 - live_acc) / max(1, len(job.test_x))) ** 0.5) if live_acc else 0
    metrics = {
        "holdout_accuracy": cand_acc, "live_holdout_accuracy": live_acc, "holdout_size": len(job.test_x),
        "n_intents": len(set(job.train_y)), "train_seconds": round(fit_seconds, 3),
        "last_example_id": job.last_id, "trigger": job.trigger, "calibrated_on": candidate.calibrated_n,
        "promotion_tolerance": round(tolerance, 4),
    }
    version = ModelVersion.objects.create(
        kind=INTENT, n_examples=len(job.train_x), metrics=metrics, blob=candidate.to_bytes()
    )
    # Trained on the data as they were when read: labels given since count towards the next refresh.
    ModelVersion.objects.filter(pk=version.pk).update(trained_at=job.read_at)
    version.trained_at = job.read_at
    new_intents = set(job.train_y) - set(job.live_model.labels) if job.live else set()
    worse = live_acc is not None and cand_acc is not None and cand_acc < live_acc - tolerance
    if worse and not new_intents:
        version.status = ModelStatus.REJECTED
        version.note = f"Held-back accuracy {cand_acc:.3f} < live {live_acc:.3f}; kept the live model."
        version.save(update_fields=["status", "note"])
        return version
    promote(version, note="new intents: " + ", ".join(sorted(new_intents)) if new_intents else "")
    return version


REFRESH_SLOT = "agents:intent-refresh"
REFRESH_SLOT_SECONDS = 30 * 60  # longer than any fit; a worker that died mid-fit frees it then


@contextmanager
def refresh_slot():
    """One background refresh at a time, across worker processes: a second one would read the same
    labels, and two fits would take both of a small deployment's workers from the customers.
    Labels that arrive meanwhile count towards the next refresh (beat checks every 10 minutes)."""
    from django.core.cache import cache

    mine = cache.add(REFRESH_SLOT, 1, timeout=REFRESH_SLOT_SECONDS)
    try:
        yield mine
    finally:
        if mine:
            cache.delete(REFRESH_SLOT)


def refresh_intent_model(*, trigger: str = "schedule") -> ModelVersion | None:
    """Read, fit and guard in one go (a Celery worker, the retrain button, the seed)."""
    job = start_refresh(trigger=trigger)
    if job is None:
        return None
    started = time.perf_counter()
    candidate = fit_intent_model(job.train_x, job.train_y, previous=job.live_model)
    return finish_refresh(job, candidate, fit_seconds=time.perf_counter() - started)


def promote(version: ModelVersion, *, note: str = "") -> None:
    with transaction.atomic():
        ModelVersion.objects.select_for_update().filter(kind=version.kind, status=ModelStatus.LIVE).exclude(
            pk=version.pk
        ).update(status=ModelStatus.RETIRED)
        version.status = ModelStatus.LIVE
        if note:
            version.note = note
        version.save(update_fields=["status", "note"])


def rollback(kind: str = INTENT) -> ModelVersion | None:
    """Make the most recent retired version live again (the manager's undo)."""
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(kind=kind, status=ModelStatus.LIVE).first()
        previous = ModelVersion.objects.filter(kind=kind, status=ModelStatus.RETIRED)
        if current:
            previous = previous.filter(trained_at__lte=current.trained_at).exclude(pk=current.pk)
        previous = previous.first()
        if previous is None:
            return None
        if current:
            current.status = ModelStatus.RETIRED
            current.note = (current.note + " · rolled back").strip(" ·")
            current.save(update_fields=["status", "note"])
        previous.status = ModelStatus.LIVE
        previous.save(update_fields=["status"])
    return previous


def refresh_due() -> bool:
    """Due after enough new labels, or at once when agents start using an intent the model lacks."""
    if not settings.LEARNING_ENABLED:
        return False
    live = live_version(INTENT)
    examples = IntentExample.objects.all()
    labels = Label.objects.filter(kind=LabelKind.INTENT)
    if live is None:
        return examples.exists() or labels.exists()
    # Count from the last attempt, promoted or not: a refused candidate must not be retried
    # on every new label with the same evidence.
    last = ModelVersion.objects.filter(kind=INTENT).only("trained_at").first()
    since = last.trained_at if last else live.trained_at
    new = examples.filter(created_at__gt=since).count() + labels.filter(created_at__gt=since).count()
    if new >= max(RETRAIN_MIN, RETRAIN_FRACTION * live.n_examples):
        return True
    known = set(load_model(live).labels)
    fresh = set(labels.filter(created_at__gt=since).values_list("value__intent", flat=True))
    return bool(fresh - known)


# ---------------------------------------------------------------- serving

_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple, IntentModel]] = {}


def cache_key(version: ModelVersion) -> tuple:
    """A model version's identity for per-process caches: a primary key alone repeats across
    databases (every simulation workspace starts again at 1)."""
    return version.pk, version.trained_at


_reading = threading.local()


@contextmanager
def one_reading():
    """Within a reply every reader sees the same live model, looked up once (not once per reader)."""
    _reading.versions = {}
    try:
        yield
    finally:
        _reading.versions = None


def live_version(kind: str) -> ModelVersion | None:
    versions = getattr(_reading, "versions", None)
    if versions is not None and kind in versions:
        return versions[kind]
    version = ModelVersion.objects.filter(kind=kind, status=ModelStatus.LIVE).defer("blob").first()
    if versions is not None:
        versions[kind] = version
    return version


def load_model(version: ModelVersion | None) -> IntentModel | None:
    if version is None:
        return None
    with _cache_lock:
        cached = _cache.get(version.kind)
        if cached and cached[0] == cache_key(version):
            return cached[1]
    blob = ModelVersion.objects.values_list("blob", flat=True).get(pk=version.pk)
    model = IntentModel.from_bytes(bytes(blob))
    with _cache_lock:
        _cache[version.kind] = (cache_key(version), model)
    return model


def predict_intent(text: str) -> tuple[IntentPrediction | None, int | None]:
    """The live model's reading of one message, and the version that made it."""
    version = live_version(INTENT)
    model = load_model(version)
    if model is None:
        return None, None
    return model.predict([text], embed=embed)[0], version.pk


_words_cache: dict[str, np.ndarray] = {}


def _in_words(texts: list[str]) -> np.ndarray:
    """Embeddings of intent descriptions, kept per process (a few hundred short strings at most)."""
    missing = [t for t in dict.fromkeys(texts) if t not in _words_cache]
    if missing:
        for text, vector in zip(missing, embed(missing), strict=True):
            _words_cache[text] = vector
    return np.array([_words_cache[t] for t in texts], dtype=np.float32).reshape(len(texts), -1)


_targets: tuple[tuple, dict[str, np.ndarray]] | None = None


def intent_targets(names: list[str]) -> dict[str, np.ndarray]:
    """What an article answering each intent is about (the ranking's intent–article prior): the
    intent's description, weighted over the centroid of its customers' questions. Kept per live model."""
    global _targets
    version = live_version(INTENT)
    model = load_model(version)
    if model is None:
        return {}
    cached = _targets
    if cached is None or cached[0] != cache_key(version):
        texts, defined = _descriptions()
        in_words = dict(zip(defined, texts, strict=True))
        words = _in_words([in_words.get(name) or intent_text(name) for name in model.labels])
        mixed = model.centroids() + DESCRIPTION_WEIGHT * words
        mixed /= np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-9)
        cached = _targets = (cache_key(version), dict(zip(model.labels, mixed, strict=True)))
    return {name: cached[1][name] for name in names if name in cached[1]}


def intent_of_article(article_id: int) -> str | None:
    """The intent an article answers, when the two pick each other: the article is the nearest
    published passage to the intent's description, and the intent the nearest description to it.

    A confirmed answer then labels the question even when the model had no intent for it yet.
    """
    from pgvector.django import CosineDistance

    from knowledge.models import Chunk

    texts, names = _descriptions()
    chunks = [np.asarray(v, dtype=np.float32) for v in
              Chunk.objects.filter(article_id=article_id, embedding__isnull=False).values_list("embedding", flat=True)]
    if not names or not chunks:
        return None
    words = _in_words(texts)
    best = int(np.argmax((words @ np.array(chunks).T).max(axis=1)))
    nearest = (Chunk.objects.filter(article__status="published", embedding__isnull=False)
               .order_by(CosineDistance("embedding", words[best])).values_list("article_id", flat=True).first())
    return names[best] if nearest == article_id else None
