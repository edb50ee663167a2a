"""Time to first streamed token added by the project, with an OpenAI-compatible LLM configured.

The LLM is tests/fake_llm.FakeLLM (the one allowed fake) running in this process on 127.0.0.1;
daphne and a Celery worker (prefork, --concurrency 2) run on a throw-away database with
OPENAI_BASE_URL/OPENAI_MODEL pointing at it. One chat at a time asks answerable demo questions
(two per visitor: a third would be handed to a human by design).

Per message: client TTFT = customer frame sent → first {"type": "token"} frame at the client.
The fake server's own time to first byte is measured directly (same request bodies, streamed with
httpx, time to the first SSE chunk) and subtracted: what is left is the project's share.
The fake also stamps each request's arrival, which splits the project's share into "before the
LLM call" (persist, enqueue, pipeline) and "after the first byte" (SDK parsing, channel layer,
daphne). Target (issue): ≤ 50 ms added, p50/p95 over ≥ 30 messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import chat_latency as lab  # noqa: E402  (sets up Django, a private Valkey and the helpers)
from _common import write  # noqa: E402

N_MESSAGES = int(os.environ.get("BENCH_LLM_MESSAGES", 40))


class Stamped(list):
    """FakeLLM.requests, with the arrival time of each request (same clock as the client)."""

    def __init__(self):
        super().__init__()
        self.arrivals: list[float] = []

    def append(self, item):
        self.arrivals.append(time.perf_counter())
        super().append(item)


def fake_ttfb(url: str, bodies: list[dict], repeats: int = 2) -> list[float]:
    import httpx

    out = []
    with httpx.Client(timeout=10) as client:
        for _ in range(repeats):
            for body in bodies:
                t0 = time.perf_counter()
                with client.stream("POST", f"{url}/chat/completions", json=body,
                                   headers={"authorization": "Bearer not-needed"}) as response:
                    first = None
                    for chunk in response.iter_raw():
                        if chunk and first is None:
                            first = (time.perf_counter() - t0) * 1000
                    out.append(first)
    return out


async def measure(port: int, fake, pool: list[str], n: int, rng: random.Random) -> list[dict]:
    rows: list[dict] = []
    while len(rows) < n:
        ws = await lab.widget_hello(port)
        try:
            for question in rng.sample(pool, 2):
                seen: dict = {"tokens": []}
                before = len(fake.requests.arrivals)

                def on_frame(frame, dt, seen=seen):
                    if frame.get("type") == "token":
                        seen["tokens"].append(dt * 1000)

                t_send = time.perf_counter()
                kind, ms, final = await lab.ask(ws, question, on_frame=on_frame)
                arrivals = fake.requests.arrivals[before:]
                rows.append({"kind": kind, "final_ms": ms, "tokens": seen["tokens"],
                             "message_id": final.get("message", {}).get("id"),
                             "llm_arrival_ms": (arrivals[0] - t_send) * 1000 if arrivals else None,
                             "llm_requests": len(arrivals)})
                if kind != "answer":
                    break
        finally:
            await ws.close()
    return rows


def stats(rows: list[dict], fake_p50: float) -> dict:
    streamed = [r for r in rows if r["tokens"]]
    client_ttft = [r["tokens"][0] for r in streamed]
    return {
        "messages": len(rows), "streamed": len(streamed),
        "kinds": {k: sum(1 for r in rows if r["kind"] == k) for k in {r["kind"] for r in rows}},
        "client_ttft_ms": lab.summary(client_ttft),
        "added_ttft_ms": lab.summary([t - fake_p50 for t in client_ttft]),
        "added_before_llm_request_ms": lab.summary([r["llm_arrival_ms"] for r in streamed
                                                    if r["llm_arrival_ms"] is not None]),
        "added_after_llm_first_byte_ms": lab.summary([r["tokens"][0] - r["llm_arrival_ms"] - fake_p50 for r in streamed
                                                      if r["llm_arrival_ms"] is not None]),
        "tokens_per_answer": statistics.median([len(r["tokens"]) for r in streamed]) if streamed else None,
        "first_to_last_token_ms": lab.summary([r["tokens"][-1] - r["tokens"][0] for r in streamed]),
        "last_token_to_final_message_ms": lab.summary([r["final_ms"] - r["tokens"][-1] for r in streamed]),
        "final_message_ms": lab.summary([r["final_ms"] for r in streamed]),
    }


def server_stages(rows: list[dict]) -> dict:
    """The replies' own stage stamps (agents.pipeline.respond: ms since the task started)."""
    from inbox.models import Message

    traces = Message.objects.filter(pk__in=[r["message_id"] for r in rows if r.get("message_id")],
                                    sender_kind="ai").values_list("trace", flat=True)
    return lab.stage_summary(list(traces))


# BENCH_COMPARE_ROOT (and BENCH_COMPARE_ENV), as in chat_latency: that checkout runs as "before",
# this one as "after", alternating every CHUNK messages so both see the same machine load.
CHUNK = 10


def main() -> None:
    from tests.fake_llm import FakeLLM

    load_before = lab.other_load()
    pool = lab.demo_questions(answerable_only=True)
    llm_env = {}
    with lab.throwaway_db("helpdesk_bench_llm"), FakeLLM() as fake, contextlib.ExitStack() as cm:
        fake.requests = Stamped()
        lab.seed_kb()
        llm_env = {"OPENAI_BASE_URL": fake.url, "OPENAI_MODEL": "fake"}
        stacks = {}
        if lab.COMPARE_ROOT:
            stacks["before"] = cm.enter_context(lab.Stack(root=Path(lab.COMPARE_ROOT), name="before",
                                                          extra_env={**lab.COMPARE_ENV, **llm_env}))
            stacks["after"] = cm.enter_context(lab.Stack(name="after", extra_env=llm_env))
        else:
            stacks["current"] = cm.enter_context(lab.Stack(extra_env=llm_env))
        rngs = {name: random.Random(5) for name in stacks}
        for name, stack in stacks.items():
            asyncio.run(measure(stack.port, fake, pool, 8, rngs[name]))  # warm-up: both worker processes, SDK imports
        warm = len(fake.requests)
        rows: dict[str, list[dict]] = {name: [] for name in stacks}
        while any(len(r) < N_MESSAGES for r in rows.values()):
            for name, stack in stacks.items():
                if len(rows[name]) < N_MESSAGES:
                    rows[name] += asyncio.run(measure(stack.port, fake, pool, CHUNK, rngs[name]))
                    stack.check()
        stages = {name: server_stages(r) for name, r in rows.items()}
        bodies = list(fake.requests)[warm:]
        ttfb = fake_ttfb(fake.url, bodies[:80])
    fake_p50 = statistics.median(ttfb)
    result = {
        "config": {"llm": "tests/fake_llm.FakeLLM in the bench process (mode ok)", "worker": "celery prefork -c 2",
                   "server": "daphne (1 process)", "chats": "one at a time, 2 answerable questions per visitor",
                   "channel_layer_socket_timeout": "redis-py default (5 s)" if lab.STOCK_SETTINGS else "None (fix applied)",
                   "debug": lab.settings.DEBUG, "child_env": lab.CHILD_ENV,
                   "compare": {"before_root": lab.COMPARE_ROOT, "before_env": lab.COMPARE_ENV,
                               "alternating_every": CHUNK} if lab.COMPARE_ROOT else None,
                   "conditions": {"start": load_before, "end": lab.other_load()}},
        "fake_server_ttfb_ms": lab.summary(ttfb),
        "variants": {name: {**stats(r, fake_p50), "pipeline_stages_ms": stages[name]} for name, r in rows.items()},
    }
    write("llm_first_token" + os.environ.get("BENCH_RESULT_SUFFIX", ""), result)
    for name, v in result["variants"].items():
        a = v["added_ttft_ms"]
        print(f"[{name}] added_ttft_p50_ms={a['p50_ms']} added_ttft_p95_ms={a['p95_ms']} n={a['n']} "
              f"before_llm_request_p50_ms={v['added_before_llm_request_ms']['p50_ms']} "
              f"client_ttft_p95_ms={v['client_ttft_ms']['p95_ms']}")
    print(f"fake_ttfb_p50_ms={round(fake_p50, 2)} loadavg={load_before['loadavg_1_5_15']}")


if __name__ == "__main__":
    main()
