"""Entity-extraction benchmark on NLU++ banking entities.

Usage: python bench/entities_nlupp.py [path/to/banking-entities.jsonl]

Lines 1-1000 are the part the span conventions were tuned on; lines 1001-end
are held out.  Writes bench/results/entities_nlupp.json and prints
``micro_f1=...`` (all lines) as its last line.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.entities import extract_entities, spacy_available, warm_up  # noqa: E402
from agents.entity_eval import DEFAULT_LABELS, load_jsonl, score  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "nlupp" / "banking-entities.jsonl"
TUNE_LINES = 1000
NOW = datetime(2024, 6, 15, 12, 0)  # fixed anchor so values are reproducible


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return 0.0
    k = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return xs[k]


def _summary(res: dict) -> dict:
    return {
        "micro": {k: round(res["micro"][k], 4) if isinstance(res["micro"][k], float) else res["micro"][k]
                  for k in res["micro"]},
        "macro_f1": round(res["macro_f1"], 4),
        "per_label": {lab: {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}
                      for lab, d in res["per_label"].items()},
        "n_docs": res["n_docs"],
    }


def main(argv: list[str]) -> int:
    data = Path(argv[1]) if len(argv) > 1 else DEFAULT_DATA
    rows = load_jsonl(data)
    warm_up()
    preds, lat = [], []
    for r in rows:
        t0 = time.perf_counter()
        ents = extract_entities(r["text"], now=NOW)
        lat.append((time.perf_counter() - t0) * 1000)
        preds.append([{"start": e.start, "end": e.end, "label": e.label} for e in ents])
    gold = [r.get("entities", []) for r in rows]
    parts = {
        "all": (0, len(rows)),
        "tune_1_1000": (0, TUNE_LINES),
        f"heldout_{TUNE_LINES + 1}_{len(rows)}": (TUNE_LINES, len(rows)),
    }
    out = {
        "data": str(data),
        "n_messages": len(rows),
        "spacy_model": spacy_available(),
        "labels": list(DEFAULT_LABELS),
        "latency_ms": {
            "p50": round(statistics.median(lat), 3),
            "p95": round(_pct(lat, 95), 3),
            "p99": round(_pct(lat, 99), 3),
            "mean": round(statistics.fmean(lat), 3),
        },
    }
    for name, (a, b) in parts.items():
        out[name] = _summary(score(gold[a:b], preds[a:b]))
    res_dir = ROOT / "bench" / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / "entities_nlupp.json").write_text(json.dumps(out, indent=2) + "\n")
    for name in parts:
        pl = out[name]["per_label"]
        print(f"{name:>22}: micro_f1={out[name]['micro']['f1']:.4f}  "
              + "  ".join(f"{lab}={pl[lab]['f1']:.3f}" for lab in DEFAULT_LABELS))
    print(f"latency ms p50={out['latency_ms']['p50']} p95={out['latency_ms']['p95']}")
    print(f"micro_f1={out['all']['micro']['f1']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
