"""Banking77 intent accuracy through `manage.py eval_intents`: full data and 10-shot (mean of 3 seeds).

Targets (issue): full ≥ 0.94, 10-shot ≥ 0.87; predict p95 ≤ 20 ms per message.
Writes bench/results/intents_banking77.json; the last line is the summary.
"""

import json
import statistics
import tempfile

from _common import BANKING77, manage, write


def run(*extra: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        manage("eval_intents", "--train", str(BANKING77 / "train.csv"), "--test", str(BANKING77 / "test.csv"),
               "--out", out.name, *extra)
        return json.load(open(out.name))


def main() -> None:
    full = run()
    shots = [run("--shots", "10", "--seed", str(seed)) for seed in (0, 1, 2)]
    result = {
        "full": full,
        "ten_shot": shots,
        "ten_shot_mean_accuracy": statistics.mean(s["accuracy"] for s in shots),
    }
    write("intents_banking77", result)
    print(f"full_accuracy={full['accuracy']:.4f} ten_shot_accuracy={result['ten_shot_mean_accuracy']:.4f} "
          f"train_seconds={full['train_seconds']} predict_ms_p95={full['predict_ms_p95']}")


if __name__ == "__main__":
    main()
