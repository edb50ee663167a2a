"""Exact-span scoring for entity extraction, plus a strict JSONL loader.

Pure Python (no Django).  Spans are dicts with at least ``start``, ``end`` and
``label``; a prediction is correct only when all three equal a gold span
(exact match, the CoNLL convention).  Labels outside ``labels`` are ignored on
both sides, so an extractor that also emits EMAIL/URL/PLAN... is not penalised
on a data set that does not annotate them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

DEFAULT_LABELS = ("DATE", "TIME", "MONEY", "ORG", "PERSON", "NUMBER")


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn,
            "support": tp + fn}


def _keys(spans: Iterable[dict], labels: frozenset) -> Counter:
    return Counter((int(s["start"]), int(s["end"]), s["label"])
                   for s in spans if s["label"] in labels)


def score(gold: list[list[dict]], pred: list[list[dict]],
          labels: Iterable[str] = DEFAULT_LABELS) -> dict:
    """Exact-span precision/recall/F1 per label and micro-averaged.

    ``gold[i]`` and ``pred[i]`` are the spans of the i-th text.  Returns
    ``{"per_label": {LABEL: {precision, recall, f1, tp, fp, fn, support}},
    "micro": {...}, "macro_f1": float, "n_docs": int}``.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} documents but pred has {len(pred)}")
    labels = tuple(labels)
    wanted = frozenset(labels)
    tp, fp, fn = Counter(), Counter(), Counter()
    for g_spans, p_spans in zip(gold, pred, strict=True):
        g, p = _keys(g_spans, wanted), _keys(p_spans, wanted)
        for k in g.keys() | p.keys():
            hit = min(g[k], p[k])
            tp[k[2]] += hit
            fp[k[2]] += p[k] - hit
            fn[k[2]] += g[k] - hit
    per_label = {lab: _prf(tp[lab], fp[lab], fn[lab]) for lab in labels}
    micro = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    macro = sum(v["f1"] for v in per_label.values()) / len(labels) if labels else 0.0
    return {"per_label": per_label, "micro": micro, "macro_f1": macro, "n_docs": len(gold)}


def load_jsonl(path: str | Path) -> list[dict]:
    """Read a JSON-lines file into a list of objects.

    Blank lines are skipped.  A line that is not valid JSON, or is not a JSON
    object, raises ``ValueError`` naming the file and the 1-based line number.
    """
    path = Path(path)
    rows: list[dict] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: malformed JSON line: {exc.msg}") from exc
            if not isinstance(obj, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            rows.append(obj)
    return rows
