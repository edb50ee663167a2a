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
                kind, ms, _ = await lab.ask(ws, question, on_frame=on_frame)
                arrivals = fake.requests.arrivals[before:]
                rows.append({"kind": kind, "final_ms": ms, "tokens": seen["tokens"],
                             "llm_arrival_ms": (arrivals[0] - t_send) * 1000 if arrivals else None,
                             "llm_requests": len(arrivals)})
                if kind != "answer":
                    break
        finally:
            await ws.close()
    return rows


def main() -> None:
    from tests.fake_llm import FakeLLM

    load_before = lab.other_load()
    rng = random.Random(5)
    pool = lab.demo_questions(answerable_only=True)
    with lab.throwaway_db("helpdesk_bench_llm"), FakeLLM() as fake:
        fake.requests = Stamped()
        lab.seed_kb()
        with lab.Stack(concurrency=2, extra_env={"OPENAI_BASE_URL": fake.url, "OPENAI_MODEL": "fake"}) as stack:
            asyncio.run(measure(stack.port, fake, pool, 8, rng))  # warm-up: both worker processes, SDK imports
            warm = len(fake.requests)
            rows = asyncio.run(measure(stack.port, fake, pool, N_MESSAGES, rng))
            stack.check()
            bodies = list(fake.requests)[warm:]
        ttfb = fake_ttfb(fake.url, bodies)
    fake_p50 = statistics.median(ttfb)
    streamed = [r for r in rows if r["tokens"]]
    client_ttft = [r["tokens"][0] for r in streamed]
    added = [t - fake_p50 for t in client_ttft]
    before_llm = [r["llm_arrival_ms"] for r in streamed if r["llm_arrival_ms"] is not None]
    after_llm = [r["tokens"][0] - r["llm_arrival_ms"] - fake_p50 for r in streamed if r["llm_arrival_ms"] is not None]
    stream_span = [r["tokens"][-1] - r["tokens"][0] for r in streamed]
    tail = [r["final_ms"] - r["tokens"][-1] for r in streamed]
    result = {
        "config": {"llm": "tests/fake_llm.FakeLLM in the bench process (mode ok)", "worker": "celery prefork -c 2",
                   "server": "daphne (1 process)", "chats": "one at a time, 2 answerable questions per visitor",
                   "channel_layer_socket_timeout": "redis-py default (5 s)" if lab.STOCK_SETTINGS else "None (fix applied)",
                   "load_at_start": load_before, "load_at_end": lab.other_load(), "debug": lab.settings.DEBUG,
                   "child_env": lab.CHILD_ENV},
        "messages": len(rows), "streamed": len(streamed),
        "kinds": {k: sum(1 for r in rows if r["kind"] == k) for k in {r["kind"] for r in rows}},
        "fake_server_ttfb_ms": lab.summary(ttfb),
        "client_ttft_ms": lab.summary(client_ttft),
        "added_ttft_ms": lab.summary(added),
        "added_before_llm_request_ms": lab.summary(before_llm),
        "added_after_llm_first_byte_ms": lab.summary(after_llm),
        "tokens_per_answer": statistics.median([len(r["tokens"]) for r in streamed]) if streamed else None,
        "first_to_last_token_ms": lab.summary(stream_span),
        "last_token_to_final_message_ms": lab.summary(tail),
        "final_message_ms": lab.summary([r["final_ms"] for r in streamed]),
    }
    write("llm_first_token" + os.environ.get("BENCH_RESULT_SUFFIX", ""), result)
    a = result["added_ttft_ms"]
    print(f"added_ttft_p50_ms={a['p50_ms']} added_ttft_p95_ms={a['p95_ms']} n={a['n']} "
          f"client_ttft_p95_ms={result['client_ttft_ms']['p95_ms']} fake_ttfb_p50_ms={round(fake_p50, 2)} "
          f"loadavg={load_before['loadavg_1_5_15'][0]}")


if __name__ == "__main__":
    main()
