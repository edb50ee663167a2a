"""Evaluation data loading and scoring shared by the eval commands and the benchmarks."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path


class EvalDataError(ValueError):
    pass


def load_labelled_csv(path: str | Path) -> list[tuple[str, str]]:
    """Rows of a `text,category` CSV; a clear error naming the file and line on bad input."""
    path = Path(path)
    if not path.is_file():
        raise EvalDataError(f"{path}: no such file")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise EvalDataError(f"{path}: the file is empty; expected a header `text,category`")
            if [h.strip().lower() for h in header[:2]] != ["text", "category"]:
                raise EvalDataError(f"{path}:1: bad header {','.join(header)!r}; expected `text,category`")
            rows = []
            for line_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) < 2 or not row[0].strip() or not row[1].strip():
                    raise EvalDataError(f"{path}:{line_no}: expected two non-empty columns, got {row!r}")
                rows.append((row[0].strip(), row[1].strip()))
    except UnicodeDecodeError as exc:
        raise EvalDataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    if not rows:
        raise EvalDataError(f"{path}: no data rows after the header")
    return rows


def sample_shots(rows: list[tuple[str, str]], shots: int, seed: int) -> list[tuple[str, str]]:
    """K seeded-random examples per category (all of them where a category has fewer)."""
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    rng = random.Random(seed)
    out = []
    for label in sorted(by_label):
        items = by_label[label]
        out.extend(rng.sample(items, min(shots, len(items))))
    return out


def intent_scores(gold: list[str], predicted: list[str | None], known: set[str]) -> dict:
    """accuracy on in-scope rows (abstaining is wrong), oos_recall, macro-F1 over in-scope labels."""
    in_scope = [(g, p) for g, p in zip(gold, predicted, strict=True) if g in known]
    oos = [(g, p) for g, p in zip(gold, predicted, strict=True) if g not in known]
    accuracy = sum(g == p for g, p in in_scope) / len(in_scope) if in_scope else None
    oos_recall = sum(p is None for _, p in oos) / len(oos) if oos else None
    abstain = sum(p is None for _, p in in_scope) / len(in_scope) if in_scope else None
    labels = sorted({g for g, _ in in_scope})
    f1s = []
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in in_scope)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {
        "accuracy": accuracy,
        "oos_recall": oos_recall,
        "macro_f1": sum(f1s) / len(f1s) if f1s else None,
        "in_scope_abstain_rate": abstain,
        "n_in_scope": len(in_scope),
        "n_oos": len(oos),
    }
