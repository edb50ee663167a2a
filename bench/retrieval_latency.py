"""Hybrid retrieval latency, one question at a time: over the demo KB and over 100,000 chunks.

Runs in its own throw-away database (nothing touches the demo data). The 100k corpus is the demo
KB's passages repeated with perturbed embeddings (unit vectors near real ones) and varied text,
so the HNSW and GIN indexes do realistic work without 100k encoder calls.
Targets (issue): p95 ≤ 20 ms over the demo KB and ≤ 50 ms over 100,000 chunks.

Besides latency it records a top-3 hit rate: the share of demo questions with an article whose
top 3 passages include one of that article's (for a generated chunk: one copied from it; the
copies are spread over all articles, so this ignores the article a copy is filed under). It is a
rough check that speed did not come from dropping results. Load average goes in "conditions":
the machine is shared, so figures are comparable only under similar load.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from _common import write  # noqa: E402
from django.db import connection  # noqa: E402
from tqdm import tqdm  # noqa: E402

N_CHUNKS = int(os.environ.get("BENCH_CHUNKS", 100_000))


def percentile(values, q):
    return float(np.percentile(values, q))


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def origins() -> dict[int, str]:
    """Chunk id -> slug of the article its text comes from (generated chunks: the one copied)."""
    from knowledge.models import Article, Chunk

    slug = {a.pk: a.import_key.removeprefix("demo:") for a in Article.objects.all()}
    base = [a for a, in Chunk.objects.filter(ordinal__lt=1000).values_list("article_id")]  # grow_corpus's order
    return {cid: slug[art] if ordinal < 1000 else slug[base[(ordinal - 1000) % len(base)]]
            for cid, art, ordinal in Chunk.objects.values_list("id", "article_id", "ordinal")}


def measure(questions, vectors, wanted, repeats=1):
    from knowledge.search import search

    for q, v in zip(questions[:5], vectors[:5], strict=True):
        search(q, vector=v)  # warm caches and plans
    timings, asked, found = [], 0, 0
    origin = origins()
    load_before = load_average()
    for _ in range(repeats):
        for q, v, want in zip(questions, vectors, wanted, strict=True):
            t0 = time.perf_counter()
            hits = search(q, vector=v, k=6)
            timings.append((time.perf_counter() - t0) * 1000)
            if want:
                asked += 1
                found += want in {origin[h.chunk_id] for h in hits[:3]}
    return {"p50_ms": round(percentile(timings, 50), 2), "p95_ms": round(percentile(timings, 95), 2),
            "n": len(timings), "top3_hit_rate": round(found / asked, 3),
            "load_average_before": load_before, "load_average_after": load_average()}


def grow_corpus(n_total: int) -> None:
    from knowledge.models import Article, Chunk

    base = list(Chunk.objects.values_list("article_id", "heading", "text", "embedding"))
    rng = np.random.default_rng(0)
    words = " ".join(t for _, _, t, _ in base).split()
    articles = list(Article.objects.all())
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS chunk_embedding_hnsw")
    batch, made = [], len(base)
    with tqdm(total=n_total - made, desc="Generating chunks", unit="chunk") as bar:
        while made < n_total:
            _, heading, text, vec = base[made % len(base)]
            noisy = np.asarray(vec) + rng.normal(0, 0.04, size=len(vec))
            noisy /= np.linalg.norm(noisy)
            extra = " ".join(rng.choice(words, size=12))
            batch.append(Chunk(article=articles[made % len(articles)], ordinal=1000 + made, heading=heading,
                               text=f"{text} {extra}", embedding=noisy.astype(np.float32)))
            made += 1
            if len(batch) == 5000:
                Chunk.objects.bulk_create(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            Chunk.objects.bulk_create(batch)
            bar.update(len(batch))
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("CREATE INDEX chunk_embedding_hnsw ON knowledge_chunk USING hnsw (embedding vector_cosine_ops)"
                       " WITH (m = 16, ef_construction = 64)")
        cursor.execute("ANALYZE knowledge_chunk")
    from knowledge import search

    search._rows.clear()  # the size it learnt on the demo KB: a server would re-read it within ROWS_TTL
    print(f"HNSW index over {n_total} chunks built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def main() -> None:
    from helpdesk.demo import content
    from helpdesk.management.commands.seed_demo import Command
    from knowledge.embeddings import embed

    real = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = "helpdesk_bench_retrieval"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        Command()._articles()
        questions = [q for intent in content.intents() for q in intent["questions"]]
        wanted = [intent["article"] for intent in content.intents() for _ in intent["questions"]]
        vectors = embed(questions)
        demo = measure(questions, vectors, wanted, repeats=2)
        t0 = time.perf_counter()
        embed_ms = []
        for q in questions[:100]:
            t0 = time.perf_counter()
            embed([q + " ?"])  # uncached: the real per-message encoder cost
            embed_ms.append((time.perf_counter() - t0) * 1000)
        grow_corpus(N_CHUNKS)
        large = measure(questions, vectors, wanted)
    finally:
        connection.creation.destroy_test_db(real, verbosity=0)
    result = {"demo_kb": demo, "large": {**large, "chunks": N_CHUNKS},
              "query_embedding_ms": {"p50": round(statistics.median(embed_ms), 2),
                                     "p95": round(percentile(embed_ms, 95), 2)},
              "conditions": {"cpus": os.cpu_count(), "load_average_at_end": load_average(),
                             "note": "1/5/15-minute load averages; the machine is shared with other jobs",
                             "date": time.strftime("%Y-%m-%d %H:%M %Z")}}
    write("retrieval_latency", result)
    print(f"demo p50/p95 {demo['p50_ms']}/{demo['p95_ms']} ms top3 {demo['top3_hit_rate']} | "
          f"{N_CHUNKS} chunks p50/p95 {large['p50_ms']}/{large['p95_ms']} ms top3 {large['top3_hit_rate']} | "
          f"embedding p95 {result['query_embedding_ms']['p95']} ms | load {load_average()}")


if __name__ == "__main__":
    main()
