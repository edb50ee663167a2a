"""Score entity extraction on a JSONL file (contract in DESIGN.md)."""

import json
import time

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from agents.entities import extract_entities
from agents.entity_eval import load_jsonl, score


class Command(BaseCommand):
    help = "Evaluate entity extraction: --data JSONL [--out JSON]"

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True)
        parser.add_argument("--out", default=None)

    def handle(self, *args, data, out, **opts):
        try:
            rows = load_jsonl(data)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        predictions, timings = [], []
        extract_entities("warm up on 3 May")
        for row in rows:
            t0 = time.perf_counter()
            entities = extract_entities(row["text"])
            timings.append((time.perf_counter() - t0) * 1000)
            predictions.append([{"start": e.start, "end": e.end, "label": e.label} for e in entities])
        result = score([row["entities"] for row in rows], predictions)
        result["n"] = len(rows)
        result["predict_ms_p50"] = round(float(np.percentile(timings, 50)), 2)
        result["predict_ms_p95"] = round(float(np.percentile(timings, 95)), 2)
        if out:
            with open(out, "w") as fh:
                json.dump(result, fh, indent=2)
        self.stdout.write(json.dumps(result))
        self.stdout.write(f"micro_f1={result['micro']['f1']:.4f}")
