"""Train the intent model on a CSV and score it on another (contract in DESIGN.md)."""

import json
import time

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from agents.evaluation import EvalDataError, intent_scores, load_labelled_csv, sample_shots
from agents.learning import fit_intent_model
from knowledge.embeddings import embed


class Command(BaseCommand):
    help = "Evaluate intent classification: --train CSV --test CSV [--shots K] [--seed S] [--out JSON]"

    def add_arguments(self, parser):
        parser.add_argument("--train", required=True)
        parser.add_argument("--test", required=True)
        parser.add_argument("--shots", type=int, default=None)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", default=None)

    def handle(self, *args, train, test, shots, seed, out, **opts):
        try:
            train_rows, test_rows = load_labelled_csv(train), load_labelled_csv(test)
        except EvalDataError as exc:
            raise CommandError(str(exc)) from exc
        if shots is not None:
            if shots < 1:
                raise CommandError("--shots must be at least 1")
            train_rows = sample_shots(train_rows, shots, seed)

        started = time.perf_counter()
        model = fit_intent_model([t for t, _ in train_rows], [c for _, c in train_rows], seed=seed)
        train_seconds = time.perf_counter() - started

        embed(["warm up"])
        predicted, timings = [], []
        for text, _ in tqdm(test_rows, desc="Predicting", unit="msg", disable=opts["verbosity"] < 1):
            t0 = time.perf_counter()
            prediction = model.predict([text], embed=embed)[0]
            timings.append((time.perf_counter() - t0) * 1000)
            predicted.append(prediction.intent)

        scores = intent_scores([c for _, c in test_rows], predicted, set(model.labels))
        result = {
            "accuracy": scores["accuracy"],
            "oos_recall": scores["oos_recall"],
            "macro_f1": scores["macro_f1"],
            "in_scope_abstain_rate": scores["in_scope_abstain_rate"],
            "n_train": len(train_rows),
            "n_test": len(test_rows),
            "n_oos": scores["n_oos"],
            "shots": shots,
            "seed": seed,
            "abstain_threshold": model.abstain_threshold,
            "train_seconds": round(train_seconds, 2),
            "predict_ms_p50": round(float(np.percentile(timings, 50)), 2),
            "predict_ms_p95": round(float(np.percentile(timings, 95)), 2),
        }
        if out:
            with open(out, "w") as fh:
                json.dump(result, fh, indent=2)
        oos = "null" if result["oos_recall"] is None else f"{result['oos_recall']:.4f}"
        self.stdout.write(json.dumps(result))
        self.stdout.write(f"accuracy={result['accuracy']:.4f} oos_recall={oos}")
