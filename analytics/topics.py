"""Topic intelligence: cluster recent customer questions and flag topics that spike.

The pure functions (`cluster_questions`, `label_clusters`, `detect_spike`) take arrays and
return arrays so the benchmark can run them on a generated stream; `refresh_topics` reads the
inbox, writes TopicCluster/SpikeAlert snapshots, and is what the Celery task calls.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from analytics.models import InsightRun, SpikeAlert, TopicCluster
from analytics.rollups import local_day

WINDOW_DAYS = 28
DISTANCE_THRESHOLD = 0.55  # cosine distance, average linkage: same question, different words
MIN_CLUSTER = 3
FIT_LIMIT = 3000  # agglomerative clustering is O(n²) in memory; fit on a sample, assign the rest
SPIKE_K = 3.0
SPIKE_MIN_COUNT = 5
SPIKE_ALPHA = 0.001


@dataclass
class Question:
    conversation_id: int
    created_at: dt.datetime
    text: str
    intent: str


def recent_questions(now: dt.datetime, days: int = WINDOW_DAYS, limit: int = 20000) -> list[Question]:
    """The first customer message of each conversation started in the window (spam excluded).

    Above `limit` conversations every k-th one (by id) is kept: thinning evenly across days keeps
    each topic's daily counts comparable with its own baseline, where "the most recent N" would
    make the older days look quiet and every recent day look like a spike.
    """
    since = now - dt.timedelta(days=days)
    window = "c.created_at >= %s AND c.created_at <= %s AND NOT c.is_spam"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM inbox_conversation c WHERE {window}", [since, now])
        step = max(1, math.ceil(cursor.fetchone()[0] / limit))
        cursor.execute(f"""
            SELECT c.id, c.created_at, m.body, c.intent FROM inbox_conversation c
            CROSS JOIN LATERAL (SELECT body FROM inbox_message m WHERE m.conversation_id = c.id
                                AND m.sender_kind = 'customer' ORDER BY m.id LIMIT 1) m
            WHERE {window} AND c.id %% %s = 0 ORDER BY c.id
        """, [since, now, step])
        return [Question(cid, at, body[:500], intent or "") for cid, at, body, intent in cursor.fetchall()]


def cluster_questions(vectors: np.ndarray, threshold: float = DISTANCE_THRESHOLD, seed: int = 0) -> np.ndarray:
    """Cluster labels per row (-1: in a cluster smaller than MIN_CLUSTER).

    Agglomerative clustering with a cosine distance threshold needs no k: a new topic becomes
    its own cluster instead of being forced into an old one, which is what spike detection needs.
    """
    from sklearn.cluster import AgglomerativeClustering

    n = len(vectors)
    if n < MIN_CLUSTER:
        return np.full(n, -1)
    rng = np.random.default_rng(seed)
    fit_idx = np.sort(rng.choice(n, FIT_LIMIT, replace=False)) if n > FIT_LIMIT else np.arange(n)
    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                    distance_threshold=threshold)
    fit_labels = model.fit_predict(vectors[fit_idx])
    labels = np.full(n, -1)
    labels[fit_idx] = fit_labels
    if n > FIT_LIMIT:  # the rest join the nearest centroid if it is close enough
        ids = np.unique(fit_labels)
        centroids = np.stack([vectors[fit_idx][fit_labels == i].mean(axis=0) for i in ids])
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
        rest = np.setdiff1d(np.arange(n), fit_idx)
        sims = vectors[rest] @ centroids.T
        best = sims.argmax(axis=1)
        labels[rest] = np.where(1 - sims[np.arange(len(rest)), best] <= threshold, ids[best], -1)
    sizes = Counter(labels.tolist())
    return np.array([lab if lab >= 0 and sizes[lab] >= MIN_CLUSTER else -1 for lab in labels])


def label_clusters(texts: list[str], labels: np.ndarray, top: int = 3) -> dict[int, list[str]]:
    """Top TF-IDF terms of each cluster (mean TF-IDF of its members against the whole window)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not texts:
        return {}
    try:
        vec = TfidfVectorizer(stop_words="english", ngram_range=(1, 2), min_df=1, max_features=20000,
                              token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9]+\b")
        matrix = vec.fit_transform(texts)
    except ValueError:  # only stop words
        return {}
    vocab = np.array(vec.get_feature_names_out())
    out = {}
    for lab in sorted(set(labels.tolist()) - {-1}):
        scores = np.asarray(matrix[labels == lab].mean(axis=0)).ravel()
        terms = []
        for i in scores.argsort()[::-1]:
            term = vocab[i]
            if scores[i] <= 0 or len(terms) >= top:
                break
            if any(term in t or t in term for t in terms):  # "invoice" and "invoice pdf": keep one
                continue
            terms.append(term)
        out[lab] = terms
    return out


def poisson_sf(count: int, mu: float) -> float:
    """P(X >= count) for X ~ Poisson(mu)."""
    from scipy.stats import poisson

    return float(poisson.sf(count - 1, mu))


def detect_spike(counts: list[int] | np.ndarray, *, k: float = SPIKE_K, min_count: int = SPIKE_MIN_COUNT,
                 alpha: float = SPIKE_ALPHA, check_last: int = 2) -> list[dict]:
    """Flag the last `check_last` days (yesterday and today) whose count breaks the baseline.

    Baseline: the days before them. A day is a spike only when all three hold: count ≥ min_count
    (three questions are never a spike), count > mean + k·sd (unusual for this topic), and a
    Poisson tail p < alpha with the mean floored at 0.5 (so a sd of 0 on a quiet topic does not
    make every small bump "infinitely" unusual).
    """
    counts = np.asarray(counts, dtype=float)
    if len(counts) <= check_last + 6:
        return []
    base = counts[:-check_last]
    mu, sd = float(base.mean()), float(base.std(ddof=1)) if len(base) > 1 else 0.0
    out = []
    for offset in range(check_last):
        idx = len(counts) - check_last + offset
        c = int(counts[idx])
        if c < min_count or c <= mu + k * sd:
            continue
        p = poisson_sf(c, max(mu, 0.5))
        if p < alpha:
            out.append({"index": idx, "count": c, "mean": round(mu, 3), "sd": round(sd, 3), "p_value": p})
    return out


def daily_counts(days: list[dt.date], questions: list[Question], labels: np.ndarray) -> dict[int, list[int]]:
    index = {d: i for i, d in enumerate(days)}
    out: dict[int, list[int]] = {}
    for q, lab in zip(questions, labels.tolist(), strict=True):
        if lab < 0:
            continue
        i = index.get(local_day(q.created_at))
        if i is not None:
            out.setdefault(lab, [0] * len(days))[i] += 1
    return out


def compute_topics(questions: list[Question], now: dt.datetime) -> tuple[list[dict], list[dt.date], dict]:
    """Clusters with labels, examples, daily counts and spikes; pure (reads and writes nothing)."""
    from knowledge.embeddings import embed

    today = local_day(now)
    days = [today - dt.timedelta(days=WINDOW_DAYS - i) for i in range(WINDOW_DAYS + 1)]
    vectors = embed([q.text for q in questions]) if questions else np.zeros((0, 384), dtype=np.float32)
    labels = cluster_questions(vectors)
    terms = label_clusters([q.text for q in questions], labels)
    counts = daily_counts(days, questions, labels)
    clusters = []
    for lab in sorted(set(labels.tolist()) - {-1}):
        members = np.flatnonzero(labels == lab)
        centre = vectors[members].mean(axis=0)
        order = members[np.argsort(-(vectors[members] @ centre))]
        intents = Counter(questions[i].intent for i in members if questions[i].intent)
        intent, hits = intents.most_common(1)[0] if intents else ("", 0)
        intent = intent if hits >= 0.5 * len(members) else ""
        words = terms.get(lab) or []
        label = " · ".join(words) if words else (intent.replace("_", " ") or f"Topic {lab}")
        seen, examples = set(), []
        for i in order:
            text = questions[i].text.strip()
            if text.lower() not in seen:
                seen.add(text.lower())
                examples.append({"conversation_id": questions[i].conversation_id, "text": text[:300]})
            if len(examples) >= 5:
                break
        series = counts.get(lab, [0] * len(days))
        clusters.append({
            "label": label[:200], "terms": words, "intent": intent, "size": len(members), "examples": examples,
            "daily_counts": [[d.isoformat(), c] for d, c in zip(days, series, strict=True)],
            "conversation_ids": [questions[i].conversation_id for i in order[:500]],
            "spikes": detect_spike(series),
        })
    detail = {"questions": len(questions), "clusters": len(clusters),
              "alerts": sum(len(c["spikes"]) for c in clusters), "unclustered": int((labels == -1).sum())}
    return clusters, days, detail


def refresh_topics(now: dt.datetime | None = None, questions: list[Question] | None = None) -> dict:
    """Recompute clusters and spike alerts for the last WINDOW_DAYS and replace the snapshot."""
    started = time.monotonic()
    now = now or timezone.now()
    questions = recent_questions(now) if questions is None else questions
    clusters, days, detail = compute_topics(questions, now)
    with transaction.atomic():
        TopicCluster.objects.all().delete()
        alerts = []
        for c in clusters:
            spikes = c.pop("spikes")
            cluster = TopicCluster.objects.create(computed_at=now, **c)
            alerts += [SpikeAlert(cluster=cluster, day=days[sp["index"]], count=sp["count"],
                                  baseline_mean=sp["mean"], baseline_sd=sp["sd"], p_value=sp["p_value"],
                                  created_at=now) for sp in spikes]
        SpikeAlert.objects.bulk_create(alerts)
        InsightRun.objects.update_or_create(kind="topics", defaults={
            "finished_at": timezone.now(), "seconds": round(time.monotonic() - started, 2), "detail": detail})
    return detail


def cluster_of_conversations() -> dict[int, TopicCluster]:
    out = {}
    for cluster in TopicCluster.objects.all():
        for cid in cluster.conversation_ids:
            out[cid] = cluster
    return out
