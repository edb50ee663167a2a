"""Record of the intent-classifier experiments on Banking77.

For each variant: full-data test accuracy, 10-shot accuracy averaged over seeds
0,1,2, full-data training seconds (embeddings precomputed, so this is the
classifier's own cost; encoding 10k train texts adds ~22 s on 2 cores) and
single-message predict latency p50/p95 (classifier only, and end-to-end with the
real encoder call).

    python bench/intent_experiments.py                 # all variants
    python bench/intent_experiments.py final lr_emb    # some
    python bench/intent_experiments.py fit_speed [dropout|optimizer]  # fit seconds at n = 300..10,003, before/after
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _minilm import CachedEmbedder, embed, embed_cached, load_banking77  # noqa: E402

from agents.intent_model import Config, IntentModel  # noqa: E402

SHOT_SEEDS = (0, 1, 2)


def few_shot(texts: list[str], labels: list[str], k: int, seed: int) -> tuple[list[str], list[str]]:
    """k seeded-random examples per category (categories in sorted order)."""
    rng = np.random.default_rng(seed)
    lab = np.array(labels)
    idx: list[int] = []
    for c in sorted(set(labels)):
        pool = np.flatnonzero(lab == c)
        idx.extend(rng.choice(pool, size=min(k, len(pool)), replace=False).tolist())
    return [texts[i] for i in idx], [labels[i] for i in idx]


# --------------------------------------------------------------- baselines
class SklearnVariant:
    """Adapter giving sklearn baselines the same fit/predict shape as IntentModel."""

    def __init__(self, kind: str):
        self.kind = kind

    def fit(self, texts, labels, *, embed, seed=0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        self.vecs = []
        if self.kind in ("tfidf_svc", "concat_svc"):
            self.vecs = [TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                         TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                         min_df=2 if len(texts) >= 200 else 1)]
            for v in self.vecs:
                v.fit(texts)
        clf = LogisticRegression(C=10, max_iter=2000) if self.kind == "lr_emb" else LinearSVC(C=1.0)
        self.clf = clf.fit(self._features(texts, embed), labels)
        return self

    def _features(self, texts, embed):
        from scipy.sparse import csr_matrix, hstack

        parts = []
        if self.kind in ("lr_emb", "concat_svc"):
            e = embed(texts)
            parts.append(csr_matrix(e * 2.0) if self.kind == "concat_svc" else e)
        parts += [v.transform(texts) for v in self.vecs]
        return parts[0] if len(parts) == 1 else hstack(parts, format="csr")

    def predict_labels(self, texts, embed):
        return list(self.clf.predict(self._features(texts, embed)))


class ModelVariant:
    def __init__(self, cfg: Config):
        self.cfg = cfg

    def fit(self, texts, labels, *, embed, seed=0):
        self.m = IntentModel.fit(texts, labels, embed=embed, seed=seed, config=self.cfg)
        return self

    def predict_labels(self, texts, embed):
        p, _ = self.m.predict_proba(texts, embed=embed)
        return [self.m.labels[i] for i in p.argmax(1)]

    def predict_one(self, text, embed):
        return self.m.predict([text], embed=embed)


BASE = Config()
VARIANTS: dict[str, Callable[[], object]] = {
    "lr_emb": lambda: SklearnVariant("lr_emb"),
    "tfidf_svc": lambda: SklearnVariant("tfidf_svc"),
    "concat_svc": lambda: SklearnVariant("concat_svc"),
    "linear_emb": lambda: ModelVariant(replace(BASE, use_mlp=False, use_tfidf=False, calibrate=False)),
    "mlp_emb": lambda: ModelVariant(replace(BASE, use_tfidf=False, calibrate=False)),
    "linear_emb+tfidf": lambda: ModelVariant(replace(BASE, use_mlp=False, calibrate=False)),
    "mlp_emb+tfidf": lambda: ModelVariant(replace(BASE, calibrate=False)),
    "mlp_emb+tfidf+knnmix": lambda: ModelVariant(replace(BASE, calibrate=False, knn_prob_mix=0.3)),
    "final": lambda: ModelVariant(BASE),
}


def latency(variant, texts: list[str], emb_fn, n: int = 200) -> tuple[float, float]:
    ts = []
    for t in texts[:n]:
        t0 = time.perf_counter()
        if hasattr(variant, "predict_one"):
            variant.predict_one(t, emb_fn)
        else:
            variant.predict_labels([t], emb_fn)
        ts.append(time.perf_counter() - t0)
    return float(np.percentile(ts, 50) * 1000), float(np.percentile(ts, 95) * 1000)


def main(names: list[str]) -> None:
    tr_x, tr_y = load_banking77("train")
    te_x, te_y = load_banking77("test")
    cached = CachedEmbedder(tr_x, embed_cached(tr_x))
    cached.add(te_x, embed_cached(te_x))
    yte = np.array(te_y)
    results = []
    hdr = f"{'variant':24s} {'full':>7s} {'10shot':>7s} {'shots(0,1,2)':>22s} {'train_s':>8s} {'p50ms':>6s} {'p95ms':>6s} {'e2e_p95':>7s}"
    print(hdr, flush=True)
    for name in names:
        t0 = time.time()
        v = VARIANTS[name]().fit(tr_x, tr_y, embed=cached, seed=0)
        train_s = time.time() - t0
        full = float(np.mean(np.array(v.predict_labels(te_x, cached)) == yte))
        p50, p95 = latency(v, te_x, cached)
        _, e2e95 = latency(v, te_x, embed, n=100)
        shots = []
        for s in SHOT_SEEDS:
            fx, fy = few_shot(tr_x, tr_y, 10, s)
            vs = VARIANTS[name]().fit(fx, fy, embed=cached, seed=s)
            shots.append(float(np.mean(np.array(vs.predict_labels(te_x, cached)) == yte)))
        row = dict(variant=name, full_acc=full, shot10_acc=float(np.mean(shots)), shot10_per_seed=shots,
                   train_s=train_s, p50_ms=p50, p95_ms=p95, e2e_p95_ms=e2e95)
        results.append(row)
        print(f"{name:24s} {full:7.4f} {row['shot10_acc']:7.4f} {str([round(x, 4) for x in shots]):>22s} "
              f"{train_s:8.1f} {p50:6.2f} {p95:6.2f} {e2e95:7.2f}", flush=True)
    out = ROOT / "bench" / "results" / "intent_experiments.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    prev = json.loads(out.read_text()) if out.exists() else {}
    prev.update({r["variant"]: r for r in results})
    out.write_text(json.dumps(prev, indent=2))


FIT_SIZES = (300, 1000, 3000, 8000)


#: fit_speed's side-by-side pairs: (name, the change measured), the new default second.
FIT_SPEED_PAIRS = {
    "optimizer": (("plain_adamw", replace(BASE, fused_adamw=False, byte_dropout=False)),
                  ("fused_adamw", replace(BASE, byte_dropout=False))),
    "dropout": (("torch_dropout", replace(BASE, byte_dropout=False)), ("byte_dropout", BASE)),
}


def fit_speed(pair: str = "dropout") -> None:
    """IntentModel.fit seconds on n random Banking77 rows (embeddings precomputed: fit only), and
    full-data test accuracy, for one FIT_SPEED_PAIRS pair.

    The two variants run interleaved at each n, so both see the same machine load; medians over
    the repeats and their ratio are recorded.
    """
    import os
    import statistics

    tr_x, tr_y = load_banking77("train")
    te_x, te_y = load_banking77("test")
    cached = CachedEmbedder(tr_x, embed_cached(tr_x))
    cached.add(te_x, embed_cached(te_x))
    names = [c.replace("_", " ") for c in sorted(set(tr_y))]
    cached.add(names, embed_cached(names))
    (before_name, before_cfg), (after_name, after_cfg) = FIT_SPEED_PAIRS[pair]
    rows = []
    for n in (*FIT_SIZES, len(tr_x)):
        idx = np.random.default_rng(0).choice(len(tr_x), n, replace=False)
        x, y = [tr_x[i] for i in idx], [tr_y[i] for i in idx]
        times: dict[str, list[float]] = {before_name: [], after_name: []}
        accuracy: dict[str, float] = {}
        load = [os.getloadavg()[0]]
        for _ in range(3 if n <= 1000 else 2):
            for name, cfg in ((before_name, before_cfg), (after_name, after_cfg)):
                t0 = time.perf_counter()
                model = IntentModel.fit(x, y, embed=cached, seed=0, config=cfg)
                times[name].append(time.perf_counter() - t0)
                if n == len(tr_x):
                    p, _ = model.predict_proba(te_x, embed=cached)
                    accuracy[name] = float(np.mean(np.array([model.labels[i] for i in p.argmax(1)]) == np.array(te_y)))
        load.append(os.getloadavg()[0])
        before, after = statistics.median(times[before_name]), statistics.median(times[after_name])
        rows.append(dict(n=n, **{f"{before_name}_s": round(before, 2), f"{after_name}_s": round(after, 2)},
                         speedup=round(before / after, 2), runs=times, load_avg_1m=load,
                         **({"test_accuracy": accuracy} if accuracy else {})))
        print(f"n={n:5d} {before_name} {before:6.1f}s {after_name} {after:6.1f}s  x{before / after:.2f}  "
              f"load {load} {accuracy or ''}", flush=True)
    out = ROOT / "bench" / "results" / "intent_experiments.json"
    prev = json.loads(out.read_text()) if out.exists() else {}
    prev[f"fit_speed_{pair}"] = dict(note="fit only (embeddings precomputed), torch_threads=1; variants interleaved "
                                     "per n; test accuracy is argmax on the full test set at full data", sizes=rows)
    out.write_text(json.dumps(prev, indent=2))


if __name__ == "__main__":
    if sys.argv[1:2] == ["fit_speed"]:
        fit_speed(*sys.argv[2:3])
    else:
        main(sys.argv[1:] or list(VARIANTS))
