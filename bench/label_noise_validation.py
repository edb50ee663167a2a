"""Which intent-model settings learn best from the noisy labels a learning simulation collects?

    python manage.py simulate_learning ... --labels-out /tmp/labels.jsonl
    python bench/label_noise_validation.py /tmp/labels.jsonl [variant ...]

Chosen without the test set: the label rows (all drawn from Banking77's train split) are split by a
hash of the text, 80 % to fit on with the labels the system gave them (wrong ones included) and 20 %
to score against their true intents. `strict` counts an abstention as wrong (as the simulation's
test_accuracy does). Only a variant that wins here is worth a full simulation run, which alone says
what it does to the curve (a different learner collects a different label set).
Writes bench/results/label_noise_validation.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

import django  # noqa: E402

django.setup()

from _common import write  # noqa: E402
from _minilm import CachedEmbedder, embed_cached  # noqa: E402

from agents.intent_model import Config, IntentModel  # noqa: E402
from agents.learning import intent_text  # noqa: E402

BASE = Config()
VARIANTS = {
    "current": BASE,
    "knn_mix_0.2": replace(BASE, knn_prob_mix=0.2),
    "knn_mix_0.6": replace(BASE, knn_prob_mix=0.6),
    "knn_mix_0": replace(BASE, knn_prob_mix=0.0),
    "knn_top3": replace(BASE, knn_mode="top3"),
    "smoothing_0.2": replace(BASE, label_smoothing=0.2),
    "steps_1200": replace(BASE, max_steps=1200),
    "no_tfidf": replace(BASE, use_tfidf=False),
    # Longer fits, affordable once the simulation fits on a second process (the epoch cap binds too).
    "steps_1800": replace(BASE, max_steps=1800, epochs=30),
    "steps_2400": replace(BASE, max_steps=2400, epochs=40),
    "dropout_0.3": replace(BASE, dropout=0.3),
}
# Labels of unequal trust: a confirmation the answering model was unsure of (the article's intent) or
# that came from a second try counts this much in the loss; agents' labels and sure confirmations count 1.
FIT_SEED = int(os.environ.get("BENCH_FIT_SEED", 0))  # another seed: is a difference more than the fit's own spread?
UNSURE_SOURCES = ("confirmed_outcome (article's intent)", "confirmed_outcome (second try)")
WEIGHTED = {f"unsure_weight_{w}": w for w in (0.25, 0.5, 0.75)}


def validation(text: str) -> bool:
    return int(hashlib.md5(text.encode()).hexdigest(), 16) % 5 == 0


def main(path: str, names: list[str]) -> None:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    train = [r for r in rows if not validation(r["text"])]
    val = [r for r in rows if validation(r["text"])]
    intents = sorted({r["true_intent"] for r in rows} | {r["intent"] for r in rows})
    descriptions = [intent_text(name) for name in intents]
    texts = [r["text"] for r in rows] + descriptions
    embed = CachedEmbedder(texts, embed_cached(texts))
    val_x, val_y = [r["text"] for r in val], [r["true_intent"] for r in val]
    results = {}
    for name in names:
        t0 = time.perf_counter()
        unsure = WEIGHTED.get(name)
        weights = None if unsure is None else [unsure if r["source"] in UNSURE_SOURCES else 1.0 for r in train] + [
            1.0] * len(intents)
        model = IntentModel.fit([r["text"] for r in train] + descriptions, [r["intent"] for r in train] + intents,
                                embed=embed, seed=FIT_SEED, config=VARIANTS.get(name, BASE), weights=weights)
        fit_s = time.perf_counter() - t0
        p, score = model.predict_proba(val_x, embed=embed)
        top = [model.labels[i] for i in p.argmax(1)]
        sure = score >= model.abstain_threshold
        results[name] = {
            "argmax": round(float(np.mean([a == b for a, b in zip(top, val_y, strict=True)])), 4),
            "strict": round(float(np.mean([a == b and s for a, b, s in zip(top, val_y, sure, strict=True)])), 4),
            "abstain_rate": round(float(1 - sure.mean()), 4),
            "fit_seconds": round(fit_s, 1),
        }
        print(name, results[name], flush=True)
    wrong = sum(r["intent"] != r["true_intent"] for r in train)
    out = write("label_noise_validation", {"labels": path, "fit_seed": FIT_SEED, "fit_rows": len(train), "fit_rows_wrong": wrong,
                                           "validation_rows": len(val), "variants": results})
    print(f"wrote {out}")
    print(" ".join(f"{n}_strict={r['strict']:.4f}" for n, r in results.items()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or [*VARIANTS, *WEIGHTED])
