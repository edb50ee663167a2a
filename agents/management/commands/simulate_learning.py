"""Stream Banking77-style rows through the real product in an isolated database and report learning."""

import json
import logging
import os
import random
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import override_settings
from tqdm import tqdm

from agents import simulation
from agents.evaluation import EvalDataError, load_labelled_csv, sample_shots


class Command(BaseCommand):
    help = "Simulate customers and agents on a labelled stream; prove (or disprove) that the agent learns."

    def add_arguments(self, parser):
        parser.add_argument("--train", required=True)
        parser.add_argument("--test", required=True)
        parser.add_argument("--seed-per-intent", type=int, default=0)
        parser.add_argument("--stream", type=int, default=10000)
        parser.add_argument("--noise", type=float, default=0.1)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--learning", choices=["on", "off"], default="on",
                            help="off = the static baseline: nothing learns from the stream")
        parser.add_argument("--eval-every", type=int, default=500)
        parser.add_argument("--out", default=None)
        parser.add_argument("--plot", default=None)
        parser.add_argument("--labels-out", default=None,
                            help="JSON lines: every example the intent model ends up learning from, with its "
                                 "source and true intent (bench/label_replay.py refits on them in seconds)")

    def handle(self, *args, **opts):
        if not 0 <= opts["noise"] <= 1:
            raise CommandError("--noise is a probability between 0 and 1")
        try:
            train, test = load_labelled_csv(opts["train"]), load_labelled_csv(opts["test"])
        except EvalDataError as exc:
            raise CommandError(str(exc)) from exc
        rng = random.Random(opts["seed"])
        seeds = sample_shots(train, opts["seed_per_intent"], opts["seed"]) if opts["seed_per_intent"] else []
        seed_set = set(seeds)
        pool = [row for row in train if row not in seed_set]
        rng.shuffle(pool)
        stream = pool[: opts["stream"]]
        categories = sorted({c for _, c in train})

        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)  # one line per inline task is noise here
        started = time.perf_counter()
        real_name = connection.settings_dict["NAME"]
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"helpdesk_sim_{os.getpid()}"
        # The isolated workspace: a fresh, migrated database that is dropped afterwards.
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            # DEBUG off: a debug cursor times and keeps every one of the run's ~10^6 queries.
            with override_settings(INLINE_TASKS=True, BROADCAST_EVENTS=False, DEBUG=False,
                                   LEARNING_ENABLED=opts["learning"] == "on"):
                self.stdout.write(f"Workspace ready: {len(categories)} articles and intents, {len(seeds)} seed examples.")
                article_of = simulation.build_workspace(categories, seeds)
                with tqdm(total=len(stream), desc=f"Conversations (learning {opts['learning']})", unit="conv",
                          disable=opts["verbosity"] < 1) as bar:
                    result = simulation.run(stream, test, article_of, noise=opts["noise"], seed=opts["seed"],
                                            eval_every=opts["eval_every"], progress=bar.update)
        finally:
            connection.creation.destroy_test_db(real_name, verbosity=0)
        summary = simulation.summarise(result, started)
        summary.update(learning=opts["learning"], noise=opts["noise"], seed=opts["seed"],
                       seed_per_intent=opts["seed_per_intent"], stream=len(stream))
        if opts["out"]:
            with open(opts["out"], "w") as fh:
                json.dump(summary, fh, indent=2)
        if opts["labels_out"]:
            with open(opts["labels_out"], "w") as fh:
                fh.writelines(json.dumps(row) + "\n" for row in result.examples)
        if opts["plot"]:
            from agents.plots import plot_learning

            plot_learning([summary], opts["plot"])
        self.stdout.write(
            f"resolution_first={summary['resolution_rate_first_500']:.2f} "
            f"resolution_last={summary['resolution_rate_last_1000']:.2f} "
            f"test_acc_end={summary['test_accuracy_end']:.2f}"
        )
