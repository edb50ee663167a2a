"""Spike detection: an injected spike is flagged within one simulated day; the demo data flags none.

Usage: python bench/analytics_spikes.py [--seed 7] [--per-day 25] [--spike 15]

1. Generated stream (no database): 28 days of steady questions sampled from the demo intents'
   questions (Poisson volume per day), then a day on which a brand-new problem ("PDF export
   crashes") arrives `--spike` times spread over the day. The detector (the same
   compute_topics the Celery task runs) is run as of the end of each of the 5 quiet days before
   (false alarms) and every 3 hours through the spike day (time to flag).
2. The unmodified demo data in the dev database (read only), as of each of its last 14 days.
Writes bench/results/analytics_spikes.json; the last line is the summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
RESULTS = ROOT / "bench" / "results" / "analytics_spikes.json"
SPIKE = [
    "The PDF export button crashes the app", "Exporting a report to PDF makes the whole app crash",
    "App crashes every time I export to PDF", "PDF export crashed again, lost my work",
    "Crash when exporting the monthly report as PDF", "export to pdf = instant crash??",
    "Since this morning PDF exports crash the browser tab", "Whenever I click Export PDF the app freezes and crashes",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-day", type=float, default=25)
    parser.add_argument("--spike", type=int, default=15)
    args = parser.parse_args()
    import django

    django.setup()
    import numpy as np

    from analytics.topics import WINDOW_DAYS, Question, compute_topics, recent_questions
    from helpdesk.demo import content

    rng, nprng = random.Random(args.seed), np.random.default_rng(args.seed)
    intents = [i for i in content.intents() if i["questions"]]
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    spike_day = start + dt.timedelta(days=WINDOW_DAYS + 5)
    stream, cid = [], 0
    day = start
    while day < spike_day + dt.timedelta(days=1):
        for _ in range(int(nprng.poisson(args.per_day))):
            intent = rng.choice(intents)
            cid += 1
            stream.append(Question(cid, day + dt.timedelta(seconds=rng.randint(0, 86399)),
                                   rng.choice(intent["questions"]), intent["name"]))
        day += dt.timedelta(days=1)
    for i in range(args.spike):
        cid += 1
        stream.append(Question(cid, spike_day + dt.timedelta(seconds=int(86399 * (i + 0.5) / args.spike)),
                               SPIKE[i % len(SPIKE)], ""))

    def run(now: dt.datetime) -> dict:
        window = [q for q in stream if now - dt.timedelta(days=WINDOW_DAYS) <= q.created_at <= now]
        clusters, _, detail = compute_topics(window, now)
        flagged = [c for c in clusters if c["spikes"]]
        return {"as_of": now.isoformat(), "questions": len(window), "clusters": detail["clusters"],
                "alerts": [{"label": c["label"], "count": c["spikes"][-1]["count"],
                            "is_injected": any("pdf" in e["text"].lower() for e in c["examples"])} for c in flagged]}

    started = time.perf_counter()
    quiet = [run(spike_day - dt.timedelta(days=d, seconds=1)) for d in range(5, 0, -1)]
    through = [run(spike_day + dt.timedelta(hours=h)) for h in (3, 6, 9, 12, 15, 18, 21, 24)]
    false_alarms = sum(1 for r in quiet + through for a in r["alerts"] if not a["is_injected"])
    first = next((r for r, h in zip(through, (3, 6, 9, 12, 15, 18, 21, 24), strict=True)
                  if any(a["is_injected"] for a in r["alerts"])), None)
    hours_to_flag = None if first is None else (dt.datetime.fromisoformat(first["as_of"]) - spike_day).seconds / 3600
    synthetic_seconds = time.perf_counter() - started

    from django.utils import timezone

    started = time.perf_counter()
    now = timezone.now()
    demo_runs = []
    for d in range(14):
        as_of = now - dt.timedelta(days=d)
        clusters, _, detail = compute_topics(recent_questions(as_of), as_of)
        demo_runs.append({"as_of": as_of.isoformat(), "questions": detail["questions"], "clusters": detail["clusters"],
                          "alerts": [{"label": c["label"], "spikes": c["spikes"]} for c in clusters if c["spikes"]]})
    demo_alerts = sum(len(r["alerts"]) for r in demo_runs)

    result = {
        "seed": args.seed, "per_day": args.per_day, "spike_size": args.spike,
        "flagged_within_one_day": first is not None and hours_to_flag <= 24, "hours_to_flag": hours_to_flag,
        "false_alarms_synthetic": false_alarms, "synthetic_runs": quiet + through,
        "synthetic_seconds": round(synthetic_seconds, 1),
        "demo_alerts": demo_alerts, "demo_runs": demo_runs, "demo_seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    print(f"spike_flagged={str(result['flagged_within_one_day']).lower()} hours_to_flag={hours_to_flag} "
          f"false_alarms_synthetic={false_alarms} demo_alerts={demo_alerts}")


if __name__ == "__main__":
    main()
