"""Refit the intent model on the label set a learning simulation ended with, in seconds, not half an hour.

    python manage.py simulate_learning ... --labels-out /tmp/labels.jsonl
    python bench/label_replay.py /tmp/labels.jsonl [variant ...]

Each variant trains IntentModel on the same rows the live model learns from (the description of
every intent added, the held-back slice left out as agents.learning.refresh_intent_model leaves it
out) and scores it on the Banking77 test set: `strict` counts an abstention as wrong (the
simulation's test_accuracy), `argmax` takes the top intent whatever the score. The variants split
the final model's shortfall into its causes: the held-back slice, wrong labels (clean_only keeps
only rows whose label is right: an upper bound no learner can reach, since the system never sees
the truth), and abstentions. The first-order effect only: a different learner would also have
collected a different label set. Writes bench/results/label_replay.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

import django  # noqa: E402

django.setup()

from _common import write  # noqa: E402
from _minilm import CachedEmbedder, embed_cached, load_banking77  # noqa: E402

from agents.intent_model import IntentModel  # noqa: E402
from agents.learning import _held_back, intent_text  # noqa: E402
from inbox.actions import intent_name  # noqa: E402

VARIANTS = {
    "as_learned": (lambda r: True, True),
    "no_holdout": (lambda r: True, False),
    "clean_only": (lambda r: r["intent"] == r["true_intent"], True),
    # A confirmed label whose intent was not among the answering model's top five has no probability: below 0.1.
    "confirmed_p_at_least_0.1": (lambda r: not r["source"].startswith("confirmed_outcome")
                                 or (r["decision_probability"] or 0.0) >= 0.1, True),
}
BINS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8, 1.01)


def label_bins(rows: list[dict]) -> dict:
    """Per source and decision-probability bin: how many labels, and how many are right."""
    out: dict[str, dict] = {}
    for source in sorted({r["source"] for r in rows}):
        mine = [r for r in rows if r["source"] == source]
        bins = {}
        for lo, hi in zip(BINS, BINS[1:], strict=False):
            part = [r for r in mine if r["decision_probability"] is not None and lo <= r["decision_probability"] < hi]
            if part:
                bins[f"[{lo},{min(hi, 1.0)})"] = {"n": len(part), "right": round(np.mean(
                    [r["intent"] == r["true_intent"] for r in part]), 3)}
        out[source] = {"n": len(mine), "right": round(np.mean([r["intent"] == r["true_intent"] for r in mine]), 4),
                       **({"by_decision_probability": bins} if bins else {})}
    return out


def main(path: str, names: list[str]) -> None:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    tr_x, _ = load_banking77("train")
    te_x, te_y = load_banking77("test")
    te_y = [intent_name(y) for y in te_y]
    intents = sorted(set(te_y))
    descriptions = [intent_text(name) for name in intents]
    embed = CachedEmbedder(tr_x, embed_cached(tr_x))
    embed.add(te_x, embed_cached(te_x))
    results = {}
    for name in names:
        keep, holdout = VARIANTS[name]
        kept = [r for r in rows if keep(r)]
        train = [r for r in kept if not (holdout and _held_back(r["text"], len(kept)))]
        t0 = time.perf_counter()
        model = IntentModel.fit([r["text"] for r in train] + descriptions, [r["intent"] for r in train] + intents,
                                embed=embed, seed=0)
        fit_s = time.perf_counter() - t0
        p, score = model.predict_proba(te_x, embed=embed)
        top = [model.labels[i] for i in p.argmax(1)]
        sure = score >= model.abstain_threshold
        results[name] = {
            "examples": len(train),
            "argmax": round(float(np.mean([a == b for a, b in zip(top, te_y, strict=True)])), 4),
            "strict": round(float(np.mean([a == b and s for a, b, s in zip(top, te_y, sure, strict=True)])), 4),
            "abstain_rate": round(float(1 - sure.mean()), 4),
            "abstain_threshold": round(model.abstain_threshold, 3),
            "fit_seconds": round(fit_s, 1),
        }
        print(name, results[name], flush=True)
    out = write("label_replay", {"labels": path, "rows": len(rows), "label_quality": label_bins(rows),
                                 "variants": results})
    print(f"wrote {out}")
    print(" ".join(f"{n}_strict={r['strict']:.4f} {n}_argmax={r['argmax']:.4f}" for n, r in results.items()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or list(VARIANTS))
