"""The improvement curve: `simulate_learning` on Banking77 with learning on, and the static baseline off.

Same stream, same seed, same noise; both curves in one PNG (bench/results/learning_curve.png).
Defaults are the issue's: --seed-per-intent 0 --stream 10000 --noise 0.1. Pass --noise-zero to
also run the noise-free variant. Targets: resolution_last_1000 ≥ 0.93, test_accuracy_end ≥ 0.93,
hand-offs ≤ 18 % of the stream, first-500 resolution above the plain learner's 0.59, ≤ 20 min.
"""

import argparse
import json
import tempfile

from _common import BANKING77, RESULTS, manage, write


def simulate(learning: str, noise: float, stream: int, seed: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        manage("simulate_learning", "--train", str(BANKING77 / "train.csv"), "--test", str(BANKING77 / "test.csv"),
               "--seed-per-intent", "0", "--stream", str(stream), "--noise", str(noise), "--seed", str(seed),
               "--learning", learning, "--out", out.name)
        return json.load(open(out.name))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stream", type=int, default=10000)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise-zero", action="store_true")
    args = parser.parse_args()

    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from agents.plots import plot_learning

    on = simulate("on", args.noise, args.stream, args.seed)
    off = simulate("off", args.noise, args.stream, args.seed)
    result = {"learning_on": on, "learning_off": off}
    if args.noise_zero:
        result["learning_on_noise_0"] = simulate("on", 0.0, args.stream, args.seed)
    write("learning_curve", result)
    plot_learning([on, off], str(RESULTS / "learning_curve.png"))
    print(f"handoff_rate={on['handoff_rate']:.3f} human_labels={on['human_labels']} "
          f"baseline_resolution_last={off['resolution_rate_last_1000']:.2f} wall_seconds={on['wall_seconds']}")
    print(f"resolution_first={on['resolution_rate_first_500']:.2f} resolution_last={on['resolution_rate_last_1000']:.2f} "
          f"test_acc_end={on['test_accuracy_end']:.2f}")


if __name__ == "__main__":
    main()
