"""`make bench`: every benchmark, one after another; each writes bench/results/<name>.json and one line."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    "intents_banking77.py",
    "intents_oos.py",
    "intent_article_mapping.py",
    "entities_eval.py",
    "retrieval_latency.py",
    "chat_latency.py",
    "llm_first_token.py",
    "inbox_latency.py",
    "learning_curve.py",
    "analytics_spikes.py",
    "analytics_scale.py",
]


def main() -> int:
    failed = []
    for name in BENCHES:
        if not (HERE / name).exists():
            continue
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(HERE / name)], cwd=HERE).returncode:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
