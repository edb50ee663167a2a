"""PNG of the learning curves (matplotlib, headless)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_learning(runs: list[dict], path: str) -> None:
    fig, ax = plt.subplots(figsize=(9, 5))
    for run in runs:
        steps = [p["step"] for p in run["curve"]]
        label = f"learning {run.get('learning', 'on')}"
        style = "-" if run.get("learning", "on") == "on" else "--"
        ax.plot(steps, [p["window_resolution_rate"] for p in run["curve"]], style, label=f"{label}: resolution rate")
        ax.plot(steps, [p["test_accuracy"] for p in run["curve"]], style, alpha=0.6, label=f"{label}: test accuracy")
    ax.set_xlabel("conversations")
    ax.set_ylabel("rate (last 500 conversations) / accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("The agent learns from outcomes and agents' labels")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
