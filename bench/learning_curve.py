"""The improvement curve: `simulate_learning` on Banking77 with learning on, and the static baseline off.

Same stream, same seed, same noise; both curves in one PNG (bench/results/learning_curve.png).
Defaults are the issue's: --seed-per-intent 0 --stream 10000 --noise 0.1. Pass --noise-zero to
also run the noise-free variant. Targets: resolution_last_1000 ≥ 0.93, test_accuracy_end ≥ 0.93,
hand-offs ≤ 18 % of the stream, first-500 resolution above the plain learner's 0.59, ≤ 20 min.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from _common import BANKING77, RESULTS, ROOT, write


def simulate(learning: str, noise: float, stream: int, seed: int, out: str) -> dict:
    """One simulation, alone on the machine: its wall time is its own."""
    args = [sys.executable, str(ROOT / "manage.py"), "simulate_learning", "--train", str(BANKING77 / "train.csv"),
            "--test", str(BANKING77 / "test.csv"), "--seed-per-intent", "0", "--stream", str(stream),
            "--noise", str(noise), "--seed", str(seed), "--learning", learning, "--out", out]
    if subprocess.run(args, cwd=ROOT).returncode != 0:
        raise SystemExit(f"simulation failed ({args})")
    return json.load(open(out))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stream", type=int, default=10000)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise-zero", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from agents.plots import plot_learning

    tmp = tempfile.mkdtemp()
    # Both curves from one run of this script (the same stream and seed), one after the other: on
    # a 2-core machine a baseline running beside it took CPU and database time from the learning run.
    result = {"learning_on": simulate("on", args.noise, args.stream, args.seed, f"{tmp}/on.json"),
              "learning_off": simulate("off", args.noise, args.stream, args.seed, f"{tmp}/off.json")}
    if args.noise_zero:
        result["learning_on_noise_0"] = simulate("on", 0.0, args.stream, args.seed, f"{tmp}/zero.json")
    result["conditions"] = {"load_average_at_end": os.getloadavg(), "cpus": os.cpu_count()}
    on, off = result["learning_on"], result["learning_off"]
    write("learning_curve", result)
    plot_learning([on, off], str(RESULTS / "learning_curve.png"))
    print(f"resolution_first={on['resolution_rate_first_500']:.2f} resolution_last={on['resolution_rate_last_1000']:.2f} "
          f"test_acc_end={on['test_accuracy_end']:.4f} test_top1_end={on['test_top1_accuracy_end']:.4f} "
          f"abstain_end={on['test_abstain_rate_end']:.4f} handoff_rate={on['handoff_rate']:.3f} "
          f"human_labels={on['human_labels']} baseline_resolution_last={off['resolution_rate_last_1000']:.2f} "
          f"wall_seconds={on['wall_seconds']}")


if __name__ == "__main__":
    main()
