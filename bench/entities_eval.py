"""NLU++ banking entities through `manage.py eval_entities` (the command's contract, per label and micro).

bench/entities_nlupp.py keeps the tune/held-out split used while developing the extractor.
"""

import json
import tempfile

from _common import DATA, manage, write


def main() -> None:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        manage("eval_entities", "--data", str(DATA / "nlupp" / "banking-entities.jsonl"), "--out", out.name)
        result = json.load(open(out.name))
    write("entities_eval", result)
    per = " ".join(f"{label}={v['f1']:.3f}" for label, v in result["per_label"].items())
    print(f"{per} micro_f1={result['micro']['f1']:.4f}")


if __name__ == "__main__":
    main()
