"""Out-of-scope abstention on Banking77: train on 67 intents, 10 held-out intents are OOS.

The 10 held-out intents are drawn with a fixed seed. Abstaining on an in-scope
row counts as wrong. For several abstain scores (softmax max-prob, nearest
labelled-example cosine, and blends of the two) we sweep the threshold and
record in-scope accuracy vs oos_recall. The operating point is chosen on split
seed 0 (max oos_recall with in-scope accuracy within 2 points of no-abstention)
and checked on split seed 1, whose held-out intents differ, so the chosen
threshold is not only fitted to the data it is reported on.

Writes bench/results/intents_oos.json and bench/results/intents_oos.png.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _minilm import CachedEmbedder, embed_cached, load_banking77  # noqa: E402

from agents.intent_model import Config, IntentModel  # noqa: E402

N_HELD = 10
MAX_DROP = 0.02
KNN_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
THRESHOLDS = np.round(np.linspace(0.0, 1.0, 201), 3)


def run_split(split_seed: int, cached, tr, te) -> dict:
    cats = sorted(set(tr[1]))
    held = sorted(np.random.default_rng(split_seed).choice(cats, N_HELD, replace=False).tolist())
    keep = [i for i, c in enumerate(tr[1]) if c not in held]
    model = IntentModel.fit([tr[0][i] for i in keep], [tr[1][i] for i in keep], embed=cached, seed=0)
    p, _ = model.predict_proba(te[0], embed=cached)
    X = cached(te[0])
    nearest = (X @ model.bank.T).max(axis=1)
    pmax = p.max(axis=1)
    pred = np.array(model.labels)[p.argmax(1)]
    gold = np.array(te[1])
    oos = np.isin(gold, held)
    correct = (pred == gold) & ~oos
    base_acc = float(correct[~oos].mean())
    tables = {}
    for a in KNN_WEIGHTS:
        score = (1 - a) * pmax + a * nearest
        rows = []
        for t in THRESHOLDS:
            keep_pred = score >= t
            rows.append(dict(threshold=float(t),
                             in_scope_accuracy=float((correct & keep_pred)[~oos].mean()),
                             oos_recall=float((~keep_pred)[oos].mean()),
                             in_scope_abstain_rate=float((~keep_pred)[~oos].mean())))
        tables[str(a)] = rows
    # calibration check on in-scope rows: expected calibration error over 15 bins
    bins = np.minimum((pmax[~oos] * 15).astype(int), 14)
    ece = sum(abs(correct[~oos][bins == b].mean() - pmax[~oos][bins == b].mean()) * (bins == b).mean()
              for b in range(15) if (bins == b).any())
    return dict(split_seed=split_seed, held_out_intents=held, n_in_scope=int((~oos).sum()),
                n_oos=int(oos.sum()), no_abstain_in_scope_accuracy=base_acc,
                temperature=model.temperature, in_scope_ece=float(ece), tables=tables)


def best_point(split: dict, a: str) -> dict:
    ok = [r for r in split["tables"][a]
          if r["in_scope_accuracy"] >= split["no_abstain_in_scope_accuracy"] - MAX_DROP]
    return max(ok, key=lambda r: (r["oos_recall"], r["in_scope_accuracy"]))


def at_threshold(split: dict, a: str, t: float) -> dict:
    return min(split["tables"][a], key=lambda r: abs(r["threshold"] - t))


def main() -> None:
    tr, te = load_banking77("train"), load_banking77("test")
    cached = CachedEmbedder(tr[0], embed_cached(tr[0]))
    cached.add(te[0], embed_cached(te[0]))
    dev, check = run_split(0, cached, tr, te), run_split(1, cached, tr, te)

    summary = {}
    for a in map(str, KNN_WEIGHTS):
        pt = best_point(dev, a)
        summary[a] = dict(dev=pt, check=at_threshold(check, a, pt["threshold"]))
        print(f"knn_weight={a:5s} dev: thr={pt['threshold']:.3f} oos_recall={pt['oos_recall']:.3f} "
              f"in_scope_acc={pt['in_scope_accuracy']:.4f} | check split: "
              f"oos_recall={summary[a]['check']['oos_recall']:.3f} "
              f"in_scope_acc={summary[a]['check']['in_scope_accuracy']:.4f}")
    best_a = max(summary, key=lambda a: summary[a]["dev"]["oos_recall"])
    chosen = dict(knn_weight=float(best_a), **summary[best_a]["dev"],
                  no_abstain_in_scope_accuracy=dev["no_abstain_in_scope_accuracy"],
                  check_split=summary[best_a]["check"],
                  check_no_abstain_in_scope_accuracy=check["no_abstain_in_scope_accuracy"])
    cfg = Config()
    out = dict(n_held_out=N_HELD, max_in_scope_drop=MAX_DROP, model_config=cfg.__dict__,
               model_default_knn_weight=cfg.knn_weight, chosen=chosen, per_score=summary,
               splits=[dev, check])
    res = ROOT / "bench" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "intents_oos.json").write_text(json.dumps(out, indent=2))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for ax, split in zip(axes, (dev, check), strict=True):
        for a in map(str, KNN_WEIGHTS):
            rows = split["tables"][a]
            ax.plot([r["oos_recall"] for r in rows], [r["in_scope_accuracy"] for r in rows],
                    label=f"score = {1 - float(a):.2f}*maxprob + {float(a):.2f}*nearest_cos")
        pt = at_threshold(split, best_a, chosen["threshold"])
        ax.scatter([pt["oos_recall"]], [pt["in_scope_accuracy"]], color="red", zorder=5,
                   label=f"chosen threshold {chosen['threshold']:.3f}")
        ax.axhline(split["no_abstain_in_scope_accuracy"] - MAX_DROP, color="grey", ls="--", lw=0.8)
        ax.set_title(f"split seed {split['split_seed']} ({'dev: threshold chosen here' if split is dev else 'check'})")
        ax.set_xlabel("OOS recall (OOS rows abstained)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("in-scope accuracy (abstain = wrong)")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Banking77 67/10 out-of-scope split: in-scope accuracy vs OOS recall over thresholds")
    fig.tight_layout()
    fig.savefig(res / "intents_oos.png", dpi=110)

    print(f"oos_recall={chosen['oos_recall']:.2f} in_scope_accuracy={chosen['in_scope_accuracy']:.2f} "
          f"threshold={chosen['threshold']:.3f} knn_weight={chosen['knn_weight']}")


if __name__ == "__main__":
    main()
