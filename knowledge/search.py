"""Hybrid retrieval: pgvector cosine and PostgreSQL full-text, fused by reciprocal rank.

Dense search finds paraphrases ("card got declined" ≈ "failed payment"); full-text finds
exact identifiers and rare words (error codes, feature names). RRF needs no score
calibration between the two. `boost` lets callers reweight articles (page context now,
learned outcome statistics in the agent) without this module knowing about either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.db import connection

from knowledge.embeddings import embed_one

RRF_K = 60
CANDIDATES = 40
WORD = re.compile(r"[A-Za-z0-9]{2,}")


@dataclass
class Hit:
    chunk_id: int
    article_id: int
    title: str
    slug: str
    area: str
    heading: str
    text: str
    score: float
    similarity: float | None = None  # cosine similarity, when the dense search found it
    text_rank: float | None = None
    reasons: list[str] = field(default_factory=list)


def _or_query(text: str) -> str:
    """Questions rarely contain every word of the answer: OR the words, let ts_rank order them."""
    words = WORD.findall(text.lower())[:32]
    return " | ".join(dict.fromkeys(words))


SQL = """
WITH dense AS (
    SELECT c.id, 1 - (c.embedding <=> %(vec)s) AS sim,
           row_number() OVER (ORDER BY c.embedding <=> %(vec)s) AS rnk
    FROM knowledge_chunk c
    JOIN knowledge_article a ON a.id = c.article_id AND a.status = 'published'
    WHERE c.embedding IS NOT NULL
    ORDER BY c.embedding <=> %(vec)s
    LIMIT %(n)s
), lexical AS (
    SELECT c.id, ts_rank_cd(c.search, q) AS tr,
           row_number() OVER (ORDER BY ts_rank_cd(c.search, q) DESC) AS rnk
    FROM knowledge_chunk c
    JOIN knowledge_article a ON a.id = c.article_id AND a.status = 'published',
         to_tsquery('english', %(tsq)s) q
    WHERE %(tsq)s <> '' AND c.search @@ q
    ORDER BY tr DESC
    LIMIT %(n)s
), fused AS (
    SELECT coalesce(d.id, l.id) AS id, d.sim, l.tr,
           coalesce(1.0 / (%(k)s + d.rnk), 0) + coalesce(1.0 / (%(k)s + l.rnk), 0) AS rrf
    FROM dense d FULL OUTER JOIN lexical l ON d.id = l.id
)
SELECT f.id, a.id, a.title, a.slug, a.area, c.heading, c.text, f.rrf, f.sim, f.tr
FROM fused f
JOIN knowledge_chunk c ON c.id = f.id
JOIN knowledge_article a ON a.id = c.article_id
ORDER BY f.rrf DESC
"""


def search(
    query: str,
    *,
    k: int = 5,
    vector: np.ndarray | None = None,
    area: str | None = None,
    boost: Callable[[Hit], float] | None = None,
    per_article: int = 1,
) -> list[Hit]:
    """Top passages for a question; at most `per_article` per article so citations differ."""
    query = (query or "").strip()
    if not query:
        return []
    vec = vector if vector is not None else embed_one(query)
    with connection.cursor() as cursor:
        cursor.execute(
            SQL,
            {"vec": _vector_literal(vec), "tsq": _or_query(query), "n": CANDIDATES, "k": RRF_K},
        )
        rows = cursor.fetchall()
    hits = [
        Hit(chunk_id=r[0], article_id=r[1], title=r[2], slug=r[3], area=r[4], heading=r[5], text=r[6],
            score=float(r[7]), similarity=None if r[8] is None else float(r[8]),
            text_rank=None if r[9] is None else float(r[9]))
        for r in rows
    ]
    for hit in hits:
        if area and hit.area == area:
            hit.score *= 1.15
            hit.reasons.append(f"on a {area} page")
        if boost is not None:
            hit.score *= boost(hit)
    hits.sort(key=lambda h: h.score, reverse=True)
    chosen: list[Hit] = []
    seen: dict[int, int] = {}
    for hit in hits:
        if seen.get(hit.article_id, 0) >= per_article:
            continue
        seen[hit.article_id] = seen.get(hit.article_id, 0) + 1
        chosen.append(hit)
        if len(chosen) == k:
            break
    return chosen


def _vector_literal(vec: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in np.asarray(vec, dtype=np.float32)) + "]"
