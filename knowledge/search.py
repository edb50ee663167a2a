"""Hybrid retrieval: pgvector cosine and PostgreSQL full-text, fused by reciprocal rank.

Dense search finds paraphrases ("card got declined" ≈ "failed payment"); full-text finds
exact identifiers and rare words (error codes, feature names). RRF needs no score
calibration between the two. `boost` lets callers reweight articles (page context now,
learned outcome statistics in the agent) without this module knowing about either.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.db import connection

from knowledge.embeddings import embed_one

RRF_K = 60
CANDIDATES = 40
WORD = re.compile(r"[A-Za-z0-9]{2,}")
# The full-text branch must score every row it matches (there is no top-k shortcut in a GIN
# index), and an OR of a question's words matches most of a large KB: 30-90k of 100k chunks,
# 0.5-1.5 s. So the rows to score are those holding the question's rarer words, added rarest
# first while their estimated matches stay within LEXICAL_BUDGET; every word still counts in the
# score. On a small KB every word fits. Too-common words are left to the dense branch.
# LEXICAL_POOL caps the rows scored whatever the estimates say (stale statistics).
LEXICAL_BUDGET = 3000
LEXICAL_POOL = 6000
STATS_TTL = 600.0  # seconds; re-read sooner when the table's row count moves by a quarter


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
    vector: np.ndarray | None = None  # the passage's embedding, when the caller fetched it


def _or_query(words: list[str]) -> str:
    """Questions rarely contain every word of the answer: OR the words, let ts_rank order them."""
    return " | ".join(words)


# Lexeme document frequencies per database: (read at, rows, {lexeme: fraction}, floor fraction).
_stats: dict[str, tuple[float, float, dict[str, float], float]] = {}

PRELUDE = """
SELECT (SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'knowledge_chunk'::regclass),
       ARRAY(SELECT coalesce((tsvector_to_array(to_tsvector('english', w)))[1], '')
             FROM unnest(%s::text[]) WITH ORDINALITY AS t(w, i) ORDER BY i)
"""
# Table size per database: (read at, rows). A small KB's searches skip the prelude's round trip.
_rows: dict[str, tuple[float, float]] = {}
ROWS_TTL = 60.0  # seconds a KB known to be small is taken to still be small (LEXICAL_POOL caps the cost if not)


def _match_words(cursor, words: list[str]) -> list[str]:
    """The words the full-text branch may match on: all of them on a small KB (stop words match
    nothing), else the selective ones, which needs the table's size and the words' stems."""
    key, now = connection.settings_dict["NAME"], time.monotonic()
    cached = _rows.get(key)
    if cached is not None and now - cached[0] < ROWS_TTL and cached[1] <= LEXICAL_BUDGET:
        return words
    cursor.execute(PRELUDE, [words])
    rows, stems = cursor.fetchone()
    _rows[key] = (now, float(rows))
    return _selective(cursor, words, float(rows), stems)


def _selective(cursor, words: list[str], rows: float, stems: list[str]) -> list[str]:
    """The words whose combined matches fit LEXICAL_BUDGET, rarest first (all of them on a small KB).

    Frequencies are the per-lexeme ones ANALYZE keeps for the tsvector column; a lexeme missing
    from that list gets half the rarest listed frequency, as in the planner's own estimate.
    Stop words (no lexeme) match nothing and are dropped.
    """
    kept = [(w, s) for w, s in zip(words, stems, strict=True) if s]
    if rows <= LEXICAL_BUDGET:  # small, or never analysed: every word is affordable
        return [w for w, _ in kept]
    freqs, floor = _lexeme_frequencies(cursor, rows)
    if not freqs:  # no statistics on the column yet: no basis to choose, LEXICAL_POOL caps the work
        return [w for w, _ in kept]
    estimate = {w: freqs.get(s, floor) * rows for w, s in kept}
    chosen, total = set(), 0.0
    for word in sorted(estimate, key=estimate.__getitem__):
        if total + estimate[word] > LEXICAL_BUDGET:
            break
        total += estimate[word]
        chosen.add(word)
    return [w for w, _ in kept if w in chosen]


def _lexeme_frequencies(cursor, rows: float) -> tuple[dict[str, float], float]:
    key = connection.settings_dict["NAME"]
    cached = _stats.get(key)
    now = time.monotonic()
    if cached is None or now - cached[0] > STATS_TTL or abs(rows - cached[1]) > 0.25 * max(cached[1], 1):
        cursor.execute(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats"
            " WHERE schemaname = current_schema() AND tablename = 'knowledge_chunk' AND attname = 'search'"
        )
        row = cursor.fetchone()
        # most_common_elem_freqs ends with three summary numbers after the per-lexeme ones.
        freqs = dict(zip(row[0], row[1], strict=False)) if row and row[0] else {}
        cached = _stats[key] = (now, rows, freqs, min(freqs.values(), default=1.0) / 2)
    return cached[2], cached[3]


# Only published articles. The filter is an array test on the chunk row rather than a join, so the
# planner cannot trade the HNSW index scan (or the single GIN bitmap scan) for a nested loop over
# articles when its estimate of the published ones is off (tiny tables are rarely analysed).
# With hnsw.iterative_scan the index keeps scanning when the filter rejects chunks of drafts.
# In the full-text branch the filter sits above the pool's LIMIT, else the planner ANDs the GIN
# bitmap with an article_id index scan over every published chunk.
SQL = """
WITH published AS (
    SELECT array_agg(id) AS ids FROM knowledge_article WHERE status = 'published'
), dense AS MATERIALIZED (
    SELECT c.id, c.embedding <=> %(vec)s::vector AS dist
    FROM knowledge_chunk c
    WHERE c.embedding IS NOT NULL AND c.article_id = ANY ((SELECT ids FROM published)::bigint[])
    ORDER BY c.embedding <=> %(vec)s::vector
    LIMIT %(n)s
), lexical AS MATERIALIZED (
    SELECT m.id, ts_rank(m.search, to_tsquery('english', %(tsq)s)) AS tr
    FROM (
        SELECT c.id, c.search, c.article_id
        FROM knowledge_chunk c
        WHERE %(match)s <> '' AND c.search @@ to_tsquery('english', %(match)s)
        LIMIT %(pool)s
    ) m
    WHERE m.article_id = ANY ((SELECT ids FROM published)::bigint[])
    ORDER BY tr DESC, m.id
    LIMIT %(n)s
), fused AS (
    SELECT coalesce(d.id, l.id) AS id, 1 - d.dist AS sim, l.tr,
           coalesce(1.0 / (%(k)s + d.rnk), 0) + coalesce(1.0 / (%(k)s + l.rnk), 0) AS rrf
    FROM (SELECT id, dist, row_number() OVER (ORDER BY dist, id) AS rnk FROM dense) d
    FULL OUTER JOIN (SELECT id, tr, row_number() OVER (ORDER BY tr DESC, id) AS rnk FROM lexical) l
        ON d.id = l.id
)
SELECT f.id, a.id, a.title, a.slug, a.area, c.heading, c.text, f.rrf, f.sim, f.tr
FROM fused f
JOIN knowledge_chunk c ON c.id = f.id
JOIN knowledge_article a ON a.id = c.article_id
ORDER BY f.rrf DESC, f.id  -- ties in a fixed order (the heap's changes as rows are updated)
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
    words = list(dict.fromkeys(WORD.findall(query.lower())[:32]))
    # One round trip on a small KB: hnsw.iterative_scan is set per connection (knowledge.apps).
    with connection.cursor() as cursor:
        match = _match_words(cursor, words)
        cursor.execute(SQL, {"vec": _vector_literal(vec), "tsq": _or_query(words), "match": _or_query(match),
                             "n": CANDIDATES, "k": RRF_K, "pool": LEXICAL_POOL})
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
